# Verification against the official calwebb_image2 (config `verify`, off by default):
# a deterministic sample of the exposures (snakewebb.verify.select_sample) is also run
# through jwst==3.0.0 with the same inputs, reference files and context, and each of
# this project's products of those exposures is compared with the official one.
#   run_official_image2   _rate (+ members, references) -> verify/{exposure}/official/
#   compare_with_official our products + official/      -> verify/{exposure}/comparison.tsv
#   check_verification    comparison.tsv                -> verify/{exposure}/passed (fails
#                         naming the exposure and its worst array when a row fails)
#   verification_table    every comparison.tsv          -> verification.tsv
# The comparison and the table are written whatever the outcome, so verification.tsv
# shows failing rows while check_verification fails the campaign.
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
    VERIFIED = _verify.select_sample(EXPOSURES, VERIFY["fraction"], VERIFY["seed"])
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
    return RECORDS[wildcards.exposure]


def _our_products(name):
    """This project's products of an exposure that are compared: suffix -> path."""
    cal, bsub, bkg, science, backgrounds = RECORDS[name]
    products = {cal: f"{OUT}/{name}_{cal}.fits"}
    if name in RESAMPLED:
        products["i2d"] = f"{OUT}/{name}_i2d.fits"
    if bkg and SAVE_BSUB:
        products[bsub] = f"{OUT}/{name}_{bsub}.fits"
    return products


def _not_resampled_reason(name):
    if SKIP["resample"] or SKIP["assign_wcs"]:
        return None  # skipped by configuration: the official run skips it too
    row = EXPOSURES.loc[name]
    return _verify.not_resampled_reason(row["exp_type"], row["is_cube"], row["tso"])


@input_function
def official_input(wildcards):
    """Science, the background members subtracted here, and the job's reference files."""
    cal, bsub, bkg, science, backgrounds = _verified_record(wildcards)
    inputs = dict(refs_for(wildcards))
    inputs["science"] = science
    if bkg:
        inputs["backgrounds"] = backgrounds
    return inputs


@input_function
def official_plan(wildcards):
    """The official run's step options mirroring this project's plan (a param)."""
    cal, bsub, bkg, science, backgrounds = _verified_record(wildcards)
    row = EXPOSURES.loc[wildcards.exposure]
    resampled = wildcards.exposure in RESAMPLED
    return _verify.official_plan(
        skip=SKIP,
        subtracts_background=bkg,
        has_background_members=bool(len(backgrounds)),
        tso=bool(row["tso"]),
        resampled=resampled,
        resample_reason=None if resampled else _not_resampled_reason(wildcards.exposure),
        save_bsub=bool(bkg and SAVE_BSUB),
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


rule run_official_image2:
    input:
        unpack(official_input),
    output:
        official=directory(f"{OUT}/verify/{{exposure}}/official"),
    log:
        "logs/run_official_image2/{exposure}.log",
    benchmark:
        "benchmarks/run_official_image2/{exposure}.tsv"
    params:
        plan=official_plan,
        asn=asn_names,
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/verify.yaml"
    script:
        "../scripts/run_official_image2.py"


rule compare_with_official:
    input:
        unpack(compare_input),
    output:
        tsv=f"{OUT}/verify/{{exposure}}/comparison.tsv",
    log:
        "logs/compare_with_official/{exposure}.log",
    benchmark:
        "benchmarks/compare_with_official/{exposure}.tsv"
    threads: 1
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/compare_with_official.py"


rule check_verification:
    input:
        tsv=f"{OUT}/verify/{{exposure}}/comparison.tsv",
    output:
        passed=f"{OUT}/verify/{{exposure}}/passed",
    log:
        "logs/check_verification/{exposure}.log",
    script:
        "../scripts/check_verification.py"


rule verification_table:
    input:
        expand(f"{OUT}/verify/{{exposure}}/comparison.tsv", exposure=VERIFIED),
    output:
        tsv=f"{OUT}/verification.tsv",
    log:
        "logs/verification_table/verification_table.log",
    script:
        "../scripts/verification_table.py"


rule all_verify:
    input:
        VERIFY_FILES,


localrules:
    check_verification,
    verification_table,
    all_verify,
