# Wiring of the campaign plan (snakewebb.plan) into Snakemake: the config check, the
# plan built once, target lists and the named input functions the rules read.
# Everything about an exposure is in its record, PLAN.records[name] (an ExposurePlan).
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from snakewebb.config import check_config
from snakewebb.errors import SnakewebbError
from snakewebb.plan import build_plan, problem_table
from snakewebb.resume import salvage

# The configuration first: --config text typed per the schema, one line per wrong value
# (Snakemake's validate() prints the whole schema), then the schema's defaults filled in.
CONFIG_SCHEMA = workflow.source_path("../config/config.schema.yaml")
try:
    check_config(config, CONFIG_SCHEMA)
except SnakewebbError as err:
    raise WorkflowError(str(err)) from None
validate(config, CONFIG_SCHEMA, set_default=True)


include: "compat.smk"


if workflow.is_main_process:
    _removed_locks = clear_stale_locks()
    if _removed_locks:
        print("removed the locks a killed Snakemake left in .snakemake/locks", file=sys.stderr)
    if _removed_locks is not None:  # no other run live: keep aside what a kill left
        _kept = salvage(incomplete_outputs())
        if _kept:
            print(
                f"{len(_kept)} product(s) finished just before the last run was killed "
                "are kept aside and reinstated by their jobs (snakewebb.resume)",
                file=sys.stderr,
            )

try:  # a job process (e.g. on SLURM) trusts the caches its main process just checked
    PLAN = build_plan(config, trust_cache=not workflow.is_main_process)
except SnakewebbError as err:
    raise WorkflowError(str(err)) from None

OUT = PLAN.output_dir
# The cache and context resolved, for the jobs (CRDS_CTX of the products, the official
# pipeline's lookups): through the config, not params, so that a context switch reruns
# only what its references change.
config["crds_path"], config["crds_context"] = PLAN.crds.path, PLAN.crds.context
EXPOSURES = PLAN.exposures  # names of the exposures planned, problems left out
PROBLEMS = PLAN.problems  # records that fail as a planning_problem job each
if PROBLEMS and config["on_plan_error"] == "fail":
    raise WorkflowError("\n".join(rec.problem for rec in PROBLEMS))
if PROBLEMS and workflow.is_main_process:
    print(
        f"{len(PROBLEMS)} planning problem(s); each fails as a planning_problem job "
        f"(the others run with --keep-going):\n{problem_table(PROBLEMS)}",
        file=sys.stderr,
    )

CAL_FILES = PLAN.cal_files()
I2D_FILES = PLAN.i2d_files()
BSUB_FILES = PLAN.bsub_files()
PROBLEM_FILES = PLAN.problem_files()
BACKGROUND_OPTIONS = PLAN.background_options()
RESAMPLE_OPTIONS = dict(PLAN.resample_options)


wildcard_constraints:
    exposure=r"[^/]+",
    calsuffix=r"cal|calints",
    bsubsuffix=r"bsub|bsubints",


def _planned(method):
    """``method`` of the plan as a named Snakemake function of the job's wildcards; a
    product the plan does not make is a one-line WorkflowError naming the exposure."""

    def function(wildcards):
        try:
            return method(*wildcards)
        except SnakewebbError as err:
            raise WorkflowError(str(err)) from None

    function.__name__ = method.__name__
    return input_function(function)


# wildcards in order: exposure, then its suffix (rules/*.smk output patterns)
cal_input = _planned(PLAN.cal_inputs)  # science or _bsub, backgrounds, references
bsub_input = _planned(PLAN.bsub_inputs)  # science, background members
resample_input = _planned(PLAN.resample_inputs)  # the _cal


cal_options = _planned(PLAN.calibrate_params)  # background settings where it subtracts one


@input_function
def asn_names(wildcards):
    """The ASN file name and pool a job records in its product's header."""
    return PLAN.records[wildcards.exposure].asn_names


@input_function
def problem_of(wildcards):
    """The one-line planning problem a planning_problem job fails with."""
    return PLAN.records[wildcards.exposure].problem


# Scheduling priority and resources (memory, run time: SLURM, or a local run with
# --resources mem_mb=N) of each rule's jobs, from the plan (snakewebb.plan.Plan).
def _per_rule(rule):
    def priority(wildcards):
        return PLAN.priority(wildcards.exposure, rule)

    def mem_mb(wildcards, attempt):
        return PLAN.job_resources(wildcards.exposure, rule, attempt)["mem_mb"]

    def runtime(wildcards):
        return PLAN.job_resources(wildcards.exposure, rule)["runtime"]

    functions = (priority, mem_mb, runtime)
    for function in functions:
        function.__name__ = f"{rule}_{function.__name__}"
    return [input_function(function) for function in functions]


subtract_background_priority, subtract_background_mem_mb, subtract_background_runtime = _per_rule(
    "subtract_background"
)
calibrate_priority, calibrate_mem_mb, calibrate_runtime = _per_rule("calibrate")
resample_exposure_priority, resample_exposure_mem_mb, resample_exposure_runtime = _per_rule(
    "resample_exposure"
)

# A job process (the Snakemake a SLURM job starts, parsing this file again) runs only
# its --target-jobs: the target rules' input lists are the main process's.
if not workflow.is_main_process:
    CAL_FILES, I2D_FILES, BSUB_FILES, PROBLEM_FILES = [], [], [], []
