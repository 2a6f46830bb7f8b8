"""`planning_problem` adapter: fail with the one-line problem the plan found."""

from _adapter import run

from snakewebb.errors import SnakewebbError


def job():
    raise SnakewebbError(snakemake.params.problem)  # noqa: F821 - injected by Snakemake


run(snakemake, job)  # noqa: F821
