# Wiring of the campaign plan (snakewebb.plan) into Snakemake: the config check, the
# plan built once, target lists and the named input functions the rules read.
# Everything about an exposure is in its record, PLAN.records[name] (an ExposurePlan).
import os
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
            print(f"{len(_kept)} product(s) finished just before the last run was killed "
                  "are kept aside and reinstated by their jobs (snakewebb.resume)",
                  file=sys.stderr)

try:  # a job process (e.g. on SLURM) trusts the caches its main process just checked
    PLAN = build_plan(config, trust_cache=not workflow.is_main_process)
except SnakewebbError as err:
    raise WorkflowError(str(err)) from None

OUT = PLAN.output_dir
CRDS_CONTEXT = PLAN.crds.context
# The context resolved (a pmap name), for the adapters' provenance (CRDS_CTX): through
# the config, not a param, so that a context switch reruns only what its references change.
config["crds_context"] = CRDS_CONTEXT
EXPOSURES = PLAN.exposures  # names of the exposures planned, problems left out
PROBLEMS = PLAN.problems  # records that fail as a planning_problem job each
if PROBLEMS and config["on_plan_error"] == "fail":
    raise WorkflowError("\n".join(rec.problem for rec in PROBLEMS))
if PROBLEMS and workflow.is_main_process:
    print(f"{len(PROBLEMS)} planning problem(s); each fails as a planning_problem job "
          f"(the others run with --keep-going):\n{problem_table(PROBLEMS)}", file=sys.stderr)

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


def record(wildcards, what):
    """The plan's record of the job's exposure; a one-line WorkflowError for a product
    the plan does not make (or an exposure with a planning problem)."""
    rec = PLAN.records.get(wildcards.exposure)
    if rec is None:
        raise WorkflowError(f"{wildcards.exposure}: not an exposure of the campaign's ASN "
                            f"files (asked for its {what})")
    if rec.problem is not None:
        raise WorkflowError(rec.problem)
    return rec


@input_function
def refs_for(wildcards):
    """Reference files of the exposure, {reftype: path}; N/A types are left out."""
    return dict(PLAN.records[wildcards.exposure].refs)


@input_function
def cal_input(wildcards):
    """Science (or its _bsub when save_bsub), background members, reference files."""
    rec = record(wildcards, f"_{wildcards.calsuffix}")
    if wildcards.calsuffix != rec.cal_suffix:
        raise WorkflowError(f"{rec.name}: its calibrated product is _{rec.cal_suffix}, "
                            f"not _{wildcards.calsuffix}")
    inputs = dict(rec.refs)
    if rec.subtracts_background and PLAN.save_bsub:
        inputs["science"] = PLAN.product(rec.name, rec.bsub_suffix)
    else:
        inputs["science"] = rec.science
        if rec.subtracts_background:
            inputs["backgrounds"] = list(rec.backgrounds)
    return inputs


@input_function
def cal_options(wildcards):
    """The calibrate job's params: background settings only where it subtracts one."""
    return PLAN.cal_options(record(wildcards, f"_{wildcards.calsuffix}"))


@input_function
def asn_names(wildcards):
    """The ASN file name and pool a job records in its product's header."""
    return PLAN.records[wildcards.exposure].asn_names


@input_function
def bsub_input(wildcards):
    """Science and background members of an exposure that gets background subtraction."""
    rec = record(wildcards, f"_{wildcards.bsubsuffix}")
    if not rec.subtracts_background or wildcards.bsubsuffix != rec.bsub_suffix:
        raise WorkflowError(f"{rec.name}: no _{wildcards.bsubsuffix} product (background "
                            "subtraction does not run for it)")
    return {"science": rec.science, "backgrounds": list(rec.backgrounds)}


@input_function
def resample_input(wildcards):
    """The _cal of an exposure that is resampled."""
    rec = record(wildcards, "_i2d")
    if not rec.resampled:
        raise WorkflowError(f"{rec.name}: no _i2d (not resampled: TSO, cube or skipped)")
    return {"cal": PLAN.product(rec.name, "cal")}


def _priority_of(rule):
    """Named priority function of ``rule``'s jobs (snakewebb.plan.Plan.priority)."""

    def priority(wildcards):
        return PLAN.priority(wildcards.exposure, rule)

    priority.__name__ = f"{rule}_priority"
    return input_function(priority)


subtract_background_priority = _priority_of("subtract_background")
calibrate_priority = _priority_of("calibrate")
resample_exposure_priority = _priority_of("resample_exposure")


@input_function
def problem_of(wildcards):
    """The one-line planning problem a planning_problem job fails with."""
    return PLAN.records[wildcards.exposure].problem


# Job resources (SLURM, or a local run with --resources mem_mb=N): memory and run time
# from the exposure's size (instrument full frame, subarray, cube), figures measured in
# the benchmarks (snakewebb.resources); a retry asks for twice the memory.
from snakewebb import resources as job_resources


def _resource_functions(rule):
    """The named mem_mb and runtime functions of ``rule``'s jobs."""

    def pixels(wildcards):
        mode = PLAN.records[wildcards.exposure].mode
        return job_resources.science_pixels(
            mode.get("instrument"), mode.get("subarray"),
            is_cube=bool(mode.get("is_cube")), nints=mode.get("nints"))

    def mem_mb(wildcards, attempt):
        return job_resources.job_memory_mb(rule, pixels(wildcards), attempt=attempt)

    def runtime(wildcards):
        return job_resources.job_runtime_min(rule, pixels(wildcards))

    mem_mb.__name__, runtime.__name__ = f"{rule}_mem_mb", f"{rule}_runtime"
    return input_function(mem_mb), input_function(runtime)


subtract_background_mem_mb, subtract_background_runtime = _resource_functions(
    "subtract_background")
calibrate_mem_mb, calibrate_runtime = _resource_functions("calibrate")
resample_exposure_mem_mb, resample_exposure_runtime = _resource_functions("resample_exposure")

# A job process (the Snakemake a SLURM job starts, parsing this file again) runs only
# its --target-jobs: the target rules' input lists are the main process's.
if not workflow.is_main_process:
    CAL_FILES, I2D_FILES, BSUB_FILES, PROBLEM_FILES = [], [], [], []

# Inside a SLURM job the plugin's Snakemake (executor slurm-jobstep, --jobs 1) would
# start `srun snakemake` again for every job of the job's group: a Snakemake start,
# this file's parse and a DAG per exposure. As local rules there, it runs them itself,
# one at a time, each with its log and benchmark (docs/workflow.md, "SLURM"). Not in
# an array task: its command names the array's first job, and the jobstep picks the
# task's own job by SLURM_ARRAY_TASK_ID.
if workflow.remote_exec and "SLURM_ARRAY_TASK_ID" not in os.environ:

    localrules:
        subtract_background,
        calibrate,
        resample_exposure,
        quicklook,
        run_official_image2,
        compare_with_official,

# A job step that SLURM kills for its memory takes its Snakemake process with it, and
# the executor plugin says only "SLURM-job N failed": when the run fails, name each
# such exposure in one line, from the plugin's job logs of this run.
import time

from snakewebb import slurm as slurm_logs

RUN_STARTED = time.time()


onerror:
    for line in slurm_logs.memory_kill_lines(".snakemake/slurm_logs", since=RUN_STARTED):
        print(line, file=sys.stderr)
