"""The campaign plan as the named functions a Snakemake rule calls for each of its jobs.

Snakemake calls a rule's input, params, priority and resource functions with the job's
wildcards (a memory function also with ``attempt``: 1, then a retry's number), chooses
what to pass by the functions' parameter names and names the functions in its
messages. :class:`JobFunctions` makes them from :class:`snakewebb.plan.Plan`, each with
its own name and parameters. Snakemake is not imported here: ``rules/common.smk``
passes in how a function is registered with Snakemake (``input_function``,
``rules/compat.smk``) and the error a plan's one-line error is raised as.
"""

from snakewebb.errors import SnakewebbError

__all__ = ["JobFunctions"]


class JobFunctions:
    """Named functions of a job's wildcards over ``plan``.

    Parameters
    ----------
    plan : snakewebb.plan.Plan
        The campaign plan the functions read.
    register : callable
        Applied to every function made (it returns the function).
    error : type
        A :class:`~snakewebb.errors.SnakewebbError` raised by a plan method that
        :meth:`planned` binds is raised as ``error(<its one line>)``, without the chain.
    """

    def __init__(self, plan, *, register, error):
        self.plan = plan
        self.register = register
        self.error = error

    def _named(self, function, name):
        function.__name__ = name
        return self.register(function)

    def planned(self, method):
        """``method(*wildcards)`` (the exposure, then its suffix), named like ``method``."""
        error = self.error

        def function(wildcards):
            try:
                return method(*wildcards)
            except SnakewebbError as err:
                raise error(str(err)) from None

        return self._named(function, method.__name__)

    def of_record(self, attribute, name=None):
        """``attribute`` of the exposure's record, named ``name`` (default: ``attribute``)."""
        records = self.plan.records

        def function(wildcards):
            return getattr(records[wildcards.exposure], attribute)

        return self._named(function, name or attribute)

    def per_rule(self, rule):
        """``<rule>_priority``, ``<rule>_mem_mb`` and ``<rule>_runtime`` of ``rule``'s jobs.

        The scheduling priority and resources of the job on its exposure, from the plan
        (:meth:`~snakewebb.plan.Plan.priority`, :meth:`~snakewebb.plan.Plan.job_resources`;
        a retry asks for more memory).
        """
        plan = self.plan

        def priority(wildcards):
            return plan.priority(wildcards.exposure, rule)

        def mem_mb(wildcards, attempt):
            return plan.job_resources(wildcards.exposure, rule, attempt)["mem_mb"]

        def runtime(wildcards):
            return plan.job_resources(wildcards.exposure, rule)["runtime"]

        return tuple(self._named(function, f"{rule}_{function.__name__}")
                     for function in (priority, mem_mb, runtime))
