# Wiring of the campaign plan (snakewebb.plan) into Snakemake: the config check, the
# plan built once, target lists and the named input functions the rules read.
# Everything about an exposure is in its record, PLAN.records[name] (an ExposurePlan).
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from snakewebb.config import check_config
from snakewebb.errors import SnakewebbError
from snakewebb.jobfunctions import JobFunctions
from snakewebb.plan import build_plan, problem_table

# The configuration first: --config text typed per the schema, one line per wrong value
# (Snakemake's validate() prints the whole schema), then the schema's defaults filled in.
CONFIG_SCHEMA = workflow.source_path("../config/config.schema.yaml")
try:
    check_config(config, CONFIG_SCHEMA)
except SnakewebbError as err:
    raise WorkflowError(str(err)) from None
validate(config, CONFIG_SCHEMA, set_default=True)


include: "compat.smk"


if workflow.is_main_process:  # before planning: what a killed run left (rules/compat.smk)
    clean_up_after_kill()

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


# The named functions the rules call with a job's wildcards (exposure, then its suffix:
# rules/*.smk output patterns), over the plan (snakewebb.jobfunctions); a product the plan
# does not make is a one-line WorkflowError naming the exposure.
JOBS = JobFunctions(PLAN, register=input_function, error=WorkflowError)
cal_input = JOBS.planned(PLAN.cal_inputs)  # science or _bsub, backgrounds, references
bsub_input = JOBS.planned(PLAN.bsub_inputs)  # science, background members
resample_input = JOBS.planned(PLAN.resample_inputs)  # the _cal
cal_options = JOBS.planned(PLAN.calibrate_params)  # background settings where it subtracts one
asn_names = JOBS.of_record("asn_names")  # the ASN file name and pool a product records
problem_of = JOBS.of_record("problem", "problem_of")  # a planning_problem job's one line

# Scheduling priority and resources (memory, run time: SLURM, or a local run with
# --resources mem_mb=N) of each rule's jobs, from the plan (snakewebb.plan.Plan).
subtract_background_priority, subtract_background_mem_mb, subtract_background_runtime = (
    JOBS.per_rule("subtract_background")
)
calibrate_priority, calibrate_mem_mb, calibrate_runtime = JOBS.per_rule("calibrate")
resample_exposure_priority, resample_exposure_mem_mb, resample_exposure_runtime = JOBS.per_rule(
    "resample_exposure"
)

# A job process (the Snakemake a SLURM job starts, parsing this file again) runs only
# its --target-jobs: the target rules' input lists are the main process's.
if not workflow.is_main_process:
    CAL_FILES, I2D_FILES, BSUB_FILES, PROBLEM_FILES = [], [], [], []
