# Verification's sample and named input functions (rules/verify.smk has its rules).
from snakewebb import verify as _verify

VERIFY = config["verify"]
VERIFIED = []
if VERIFY["fraction"] > 0:
    # with --software-deployment-method conda, envs/verify.yaml provides jwst
    _conda = "conda" in {str(m) for m in workflow.deployment_settings.deployment_method}
    if workflow.is_main_process and not _conda:
        _problem = _verify.official_pipeline_problem()
        if _problem:
            raise WorkflowError(_problem)
    import pandas as _pd

    _MODES = _pd.DataFrame.from_records(
        [
            {
                "exposure": name,
                **PLAN.records[name].mode,
                "backgrounds": PLAN.records[name].backgrounds,
            }
            for name in EXPOSURES
        ],
        columns=["exposure", "instrument", "exp_type", "is_cube", "backgrounds"],
    ).set_index("exposure")
    VERIFIED = _verify.select_sample(_MODES, VERIFY["fraction"], VERIFY["seed"])
VERIFIED_SET = set(VERIFIED)
VERIFY_FILES = (
    [f"{OUT}/verification.tsv"] + [f"{OUT}/verify/{name}/passed" for name in VERIFIED]
    if VERIFIED
    else []
)


def _verified_record(wildcards):
    if wildcards.exposure not in VERIFIED_SET:
        raise WorkflowError(
            f"{wildcards.exposure}: not in the verification sample (verify.fraction "
            f"{VERIFY['fraction']}, seed {VERIFY['seed']})"
        )
    return PLAN.records[wildcards.exposure]


def _our_products(name):
    """This project's products of an exposure that are compared: suffix -> path."""
    rec = PLAN.records[name]
    products = {rec.cal_suffix: f"{OUT}/{name}_{rec.cal_suffix}.fits"}
    if rec.resampled:
        products["i2d"] = f"{OUT}/{name}_i2d.fits"
    if rec.subtracts_background and PLAN.save_bsub:
        products[rec.bsub_suffix] = f"{OUT}/{name}_{rec.bsub_suffix}.fits"
    return products


def _not_resampled_reason(name):
    if config["skip"]["resample"] or config["skip"]["assign_wcs"]:
        return None  # skipped by configuration: the official run skips it too
    mode = PLAN.records[name].mode
    return _verify.not_resampled_reason(mode["exp_type"], mode["is_cube"], mode["tso"])


@input_function
def official_input(wildcards):
    """Science, the background members subtracted here, and the job's reference files."""
    rec = _verified_record(wildcards)
    inputs = dict(rec.refs)
    inputs["science"] = rec.science
    if rec.subtracts_background:
        inputs["backgrounds"] = list(rec.backgrounds)
    return inputs


@input_function
def official_plan(wildcards):
    """The official run's step options mirroring this project's plan (a param)."""
    rec = _verified_record(wildcards)
    return _verify.official_plan(
        skip=config["skip"],
        subtracts_background=rec.subtracts_background,
        has_background_members=bool(len(rec.backgrounds)),
        tso=bool(rec.mode["tso"]),
        resampled=rec.resampled,
        resample_reason=None if rec.resampled else _not_resampled_reason(rec.name),
        save_bsub=bool(rec.subtracts_background and PLAN.save_bsub),
        background=config["background"],
        resample=RESAMPLE_OPTIONS,
    )


@input_function
def compare_input(wildcards):
    """The official run's directory and this project's products of the exposure."""
    _verified_record(wildcards)
    return {
        "official": f"{OUT}/verify/{wildcards.exposure}/official",
        **_our_products(wildcards.exposure),
    }
