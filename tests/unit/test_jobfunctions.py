"""The plan's named job functions (snakewebb.jobfunctions), without Snakemake."""

import inspect
from collections import namedtuple
from types import SimpleNamespace

import pytest

from snakewebb.errors import SnakewebbError
from snakewebb.jobfunctions import JobFunctions

#: Snakemake's wildcards: in the output pattern's order, and by name
CalWildcards = namedtuple("CalWildcards", "exposure calsuffix")
Wildcards = namedtuple("Wildcards", "exposure")


class Refused(Exception):
    """Stands for Snakemake's WorkflowError."""


class FakePlan:
    records = {"a": SimpleNamespace(asn_names={"table": "a_asn.json"}, problem=None)}

    def cal_inputs(self, name, cal_suffix):
        if cal_suffix != "cal":
            raise SnakewebbError(f"{name}: not _{cal_suffix}")
        return {"science": f"{name}_rate.fits"}

    def priority(self, name, rule):
        return (name, rule)

    def job_resources(self, name, rule, attempt=1):
        return {"mem_mb": 100 * attempt, "runtime": (name, rule)}


@pytest.fixture
def jobs():
    registered = []
    jobs = JobFunctions(FakePlan(), register=lambda f: registered.append(f) or f,
                        error=Refused)
    jobs.registered = registered
    return jobs


def test_planned_calls_the_method_with_the_wildcards_in_order(jobs):
    cal_input = jobs.planned(jobs.plan.cal_inputs)
    assert cal_input.__name__ == "cal_inputs" and jobs.registered == [cal_input]
    assert list(inspect.signature(cal_input).parameters) == ["wildcards"]
    assert cal_input(CalWildcards("a", "cal")) == {"science": "a_rate.fits"}


def test_planned_raises_the_plans_one_line_as_the_error_given(jobs):
    with pytest.raises(Refused, match=r"^a: not _calints$") as info:
        jobs.planned(jobs.plan.cal_inputs)(CalWildcards("a", "calints"))
    assert info.value.__suppress_context__


def test_of_record_reads_the_exposures_record(jobs):
    asn_names, problem_of = jobs.of_record("asn_names"), jobs.of_record("problem", "problem_of")
    assert (asn_names.__name__, problem_of.__name__) == ("asn_names", "problem_of")
    assert asn_names(CalWildcards("a", "cal")) == {"table": "a_asn.json"}
    assert problem_of(Wildcards("a")) is None
    assert jobs.registered == [asn_names, problem_of]


def test_per_rule_names_each_function_after_its_rule(jobs):
    priority, mem_mb, runtime = jobs.per_rule("calibrate")
    assert [f.__name__ for f in (priority, mem_mb, runtime)] \
        == ["calibrate_priority", "calibrate_mem_mb", "calibrate_runtime"]
    assert [list(inspect.signature(f).parameters) for f in (priority, mem_mb, runtime)] \
        == [["wildcards"], ["wildcards", "attempt"], ["wildcards"]]
    wildcards = CalWildcards("a", "cal")
    assert priority(wildcards) == ("a", "calibrate")
    assert (mem_mb(wildcards, 1), mem_mb(wildcards, 2)) == (100, 200)
    assert runtime(wildcards) == ("a", "calibrate")
    assert jobs.registered == [priority, mem_mb, runtime]
