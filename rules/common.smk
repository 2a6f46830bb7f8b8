# Helpers of the workflow: the exposure table, each exposure's reference files, the
# input functions and target lists. Everything per exposure is computed once here
# (from on-disk caches) so that input functions are plain dict lookups.
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

try:  # the helper Snakemake's own ioutils (subpath, ...) use on the functions they wrap
    from snakemake.common import get_function_params, overwrite_function_params
except ImportError:  # another Snakemake: the input functions just cost a little more
    get_function_params = overwrite_function_params = None

from snakemake.utils import validate

from snakewebb import exposures, references
from snakewebb.config import check_config
from snakewebb.errors import SnakewebbError

# The configuration first: --config text typed per the schema, one line per wrong value
# (Snakemake's validate() prints the whole schema), then the schema's defaults filled in.
CONFIG_SCHEMA = workflow.source_path("../config/config.schema.yaml")
try:
    check_config(config, CONFIG_SCHEMA)
except SnakewebbError as err:
    raise WorkflowError(str(err)) from None
validate(config, CONFIG_SCHEMA, set_default=True)

OUT = str(config["output_dir"]).rstrip("/") or "."
CACHE_DIR = os.path.join(OUT, ".snakewebb")
SKIP = config["skip"]
SAVE_BSUB = config["save_bsub"]


wildcard_constraints:
    exposure=r"[^/]+",
    calsuffix=r"cal|calints",
    bsubsuffix=r"bsub|bsubints",


def _fail(err):
    """A package error as a one-line WorkflowError (no traceback from json/astropy/crds)."""
    return WorkflowError(str(err))


def _crds_settings():
    """CRDS cache and context: config, else CRDS_PATH/CRDS_CONTEXT, else the demo cache
    and the newest context of the cache (configure_crds checks both exist)."""
    crds_path = config["crds_path"] or os.environ.get("CRDS_PATH")
    if not crds_path:
        if not Path("demo/crds/mappings/jwst").is_dir():
            raise WorkflowError(
                "no CRDS cache: set CRDS_PATH (or --config crds_path=...); the demo "
                "cache demo/crds is not in this directory (make demo writes it)"
            )
        crds_path = "demo/crds"
    context = config["crds_context"] or os.environ.get("CRDS_CONTEXT")
    if not context:
        pmaps = sorted(Path(crds_path, "mappings", "jwst").glob("jwst_*.pmap"))
        context = pmaps[-1].name if pmaps else None
    return crds_path, context


def _used_reftypes():
    """Reference types of the calibrate steps not skipped: only those are job inputs."""
    return tuple(
        reftype
        for step, reftypes in references.REFTYPES.items()
        if not SKIP.get(step, False)
        for reftype in reftypes
    )


try:
    asn_patterns = config["asn"]
    if isinstance(asn_patterns, str):
        asn_patterns = [asn_patterns]
    EXPOSURES = exposures.exposure_table(
        asn_patterns,
        cache_dir=CACHE_DIR,
        tso_exp_types=tuple(config["tso_exp_types"]),
        # a job process (e.g. on SLURM) trusts the cache its main process just checked
        trust_cache=not workflow.is_main_process,
    )
    crds_path, crds_context = _crds_settings()
    CRDS_CONTEXT = references.configure_crds(crds_path=crds_path, context=crds_context)
    REFS = exposures.exposure_references(
        EXPOSURES,
        _used_reftypes(),
        context=CRDS_CONTEXT,
        cache_dir=CACHE_DIR,
        lookup=references.best_references_table,
    )
except SnakewebbError as err:
    raise _fail(err) from None


def _records():
    """Per exposure: (cal suffix, bsub suffix, runs background, science, backgrounds)."""
    run_bkg = EXPOSURES["background"] & (not SKIP["background"])
    return {
        name: (cal, bsub, bool(bkg), science, list(backgrounds))
        for name, cal, bsub, bkg, science, backgrounds in zip(
            EXPOSURES.index,
            EXPOSURES["suffix"],
            EXPOSURES["bsub_suffix"],
            run_bkg,
            EXPOSURES["science"],
            EXPOSURES["backgrounds"],
        )
    }


RECORDS = _records()
# Where each exposure came from, recorded in its products' ASNTABLE/ASNPOOL headers as
# the official pipeline does.
ASN_OF = {
    name: {"table": os.path.basename(asn), "pool": pool}
    for name, asn, pool in zip(EXPOSURES.index, EXPOSURES["asn"], EXPOSURES["asn_pool"])
}
# no _i2d without a WCS: skipping assign_wcs skips resample too (the official
# pipeline fails in its resample step then)
RESAMPLED = (
    set(EXPOSURES.index[EXPOSURES["resample"]])
    if not (SKIP["resample"] or SKIP["assign_wcs"])
    else set()
)

CAL_FILES = [f"{OUT}/{name}_{rec[0]}.fits" for name, rec in RECORDS.items()]
I2D_FILES = [f"{OUT}/{name}_i2d.fits" for name in EXPOSURES.index if name in RESAMPLED]
BSUB_FILES = [f"{OUT}/{name}_{rec[1]}.fits" for name, rec in RECORDS.items() if rec[2]]

IMAGE2_OPTIONS = {
    "tso_exp_types": list(config["tso_exp_types"]),
    "skip_background": SKIP["background"],
    "skip_assign_wcs": SKIP["assign_wcs"],
    "skip_flat_field": SKIP["flat_field"],
    "skip_photom": SKIP["photom"],
    "bkg_sigma": config["background"]["sigma"],
    "bkg_maxiters": config["background"]["maxiters"],
}
# subtract_background gets only what it uses, so that e.g. skipping photom does not
# rerun it
BACKGROUND_OPTIONS = {
    key: IMAGE2_OPTIONS[key] for key in ("tso_exp_types", "bkg_sigma", "bkg_maxiters")
}
# A calibrate job that is given no background members (none in its ASN, a TSO, its
# background skipped, or its input already a _bsub) writes the same product whatever
# the background settings: they are left out of its params, so that changing them
# reruns only the exposures whose background is subtracted in calibrate.
CAL_OPTIONS_NO_BACKGROUND = {
    key: value for key, value in IMAGE2_OPTIONS.items()
    if key not in ("tso_exp_types", "skip_background", "bkg_sigma", "bkg_maxiters")
}
RESAMPLE_OPTIONS = dict(config["resample"])


def input_function(func):
    """Mark ``func`` as an input function whose parameters Snakemake need not inspect.

    For every job, Snakemake looks at an input function's parameters twice
    (``inspect.signature``, to know whether it wants ``input``, ``groupid``, ...):
    ~0.5 s of a 10,000-exposure dry run. Recording them once on the function, as
    Snakemake's own ``subpath()``/``prepend_param()`` wrappers do, skips that; the
    function and what it is called with are unchanged.
    """
    if overwrite_function_params is not None:
        overwrite_function_params(func, get_function_params(func))
    return func


def _record(wildcards, what):
    try:
        return RECORDS[wildcards.exposure]
    except KeyError:
        raise WorkflowError(
            f"{wildcards.exposure}: not an exposure of the campaign's ASN files "
            f"(asked for its {what})"
        ) from None


@input_function
def refs_for(wildcards):
    """Reference files of the exposure, {reftype: path}; N/A types are left out."""
    return REFS[wildcards.exposure]


@input_function
def cal_input(wildcards):
    """Science (or its _bsub when save_bsub), background members, reference files."""
    cal, bsub, bkg, science, backgrounds = _record(wildcards, f"_{wildcards.calsuffix}")
    if wildcards.calsuffix != cal:
        raise WorkflowError(
            f"{wildcards.exposure}: its calibrated product is _{cal}, not _{wildcards.calsuffix}"
        )
    inputs = dict(refs_for(wildcards))
    if bkg and SAVE_BSUB:
        inputs["science"] = f"{OUT}/{wildcards.exposure}_{bsub}.fits"
    else:
        inputs["science"] = science
        if bkg:
            inputs["backgrounds"] = backgrounds
    return inputs


@input_function
def cal_options(wildcards):
    """The calibrate job's params: background settings only where it subtracts one."""
    cal, bsub, bkg, science, backgrounds = _record(wildcards, f"_{wildcards.calsuffix}")
    return IMAGE2_OPTIONS if bkg and not SAVE_BSUB else CAL_OPTIONS_NO_BACKGROUND


@input_function
def asn_names(wildcards):
    """The ASN file name and pool a job records in its product's header."""
    return ASN_OF[wildcards.exposure]


@input_function
def bsub_input(wildcards):
    """Science and background members of an exposure that gets background subtraction."""
    cal, bsub, bkg, science, backgrounds = _record(wildcards, f"_{wildcards.bsubsuffix}")
    if not bkg or wildcards.bsubsuffix != bsub:
        raise WorkflowError(
            f"{wildcards.exposure}: no _{wildcards.bsubsuffix} product (background "
            "subtraction does not run for it)"
        )
    return {"science": science, "backgrounds": backgrounds}


@input_function
def resample_input(wildcards):
    """The _cal of an exposure that is resampled."""
    _record(wildcards, "_i2d")
    if wildcards.exposure not in RESAMPLED:
        raise WorkflowError(f"{wildcards.exposure}: no _i2d (not resampled: TSO, cube or skipped)")
    return {"cal": f"{OUT}/{wildcards.exposure}_cal.fits"}


# ----------------------------------------------------------------- job resources
# What each job asks a scheduler for (SLURM, or a local run with --resources
# mem_mb=N): memory and run time from the exposure's size (full frame, subarray,
# cube; instrument), figures measured in the benchmarks (snakewebb.resources).
# A retry (attempt 2, ...) asks for twice the memory.
from snakewebb import resources as job_resources

SCIENCE_PIXELS = {
    name: job_resources.science_pixels(inst, sub, is_cube=cube, nints=nints)
    for name, inst, sub, cube, nints in zip(
        EXPOSURES.index,
        EXPOSURES["instrument"],
        EXPOSURES["subarray"],
        EXPOSURES["is_cube"],
        EXPOSURES["nints"],
    )
}


def _resource_functions(rule):
    """The named mem_mb and runtime functions of ``rule``'s jobs."""

    def mem_mb(wildcards, attempt):
        pixels = SCIENCE_PIXELS[wildcards.exposure]
        return job_resources.job_memory_mb(rule, pixels, attempt=attempt)

    def runtime(wildcards):
        return job_resources.job_runtime_min(rule, SCIENCE_PIXELS[wildcards.exposure])

    mem_mb.__name__, runtime.__name__ = f"{rule}_mem_mb", f"{rule}_runtime"
    return input_function(mem_mb), input_function(runtime)


subtract_background_mem_mb, subtract_background_runtime = _resource_functions(
    "subtract_background"
)
calibrate_mem_mb, calibrate_runtime = _resource_functions("calibrate")
resample_exposure_mem_mb, resample_exposure_runtime = _resource_functions(
    "resample_exposure"
)


# ------------------------------------------------------------------- on SLURM
# A job process (a SLURM jobstep, one per job of a group, each parsing this file again)
# runs only its --target-jobs: the target rules' input lists (one or two files per
# exposure), which Snakemake turns into rule inputs at parse time (~27% of a jobstep's
# parse for 10,000 exposures, measured with cProfile), are the main process's alone.
if not workflow.is_main_process:
    CAL_FILES, I2D_FILES, BSUB_FILES = [], [], []

# A job step that SLURM kills for its memory takes its Snakemake process with it, and
# the executor plugin says only "SLURM-job N failed": when the run fails, name each
# such exposure in one line, from the plugin's job logs of this run.
import sys
import time

from snakewebb import slurm as slurm_logs

RUN_STARTED = time.time()


onerror:
    for line in slurm_logs.memory_kill_lines(".snakemake/slurm_logs", since=RUN_STARTED):
        print(line, file=sys.stderr)
