# snakewebb: JWST stage-2 imaging (calwebb_image2) over a campaign of Level-2 ASNs.
#   snakemake --cores 32 all_cal        # every _cal/_calints
#   snakemake --cores 32                # `all`: _cal/_calints and every applicable _i2d
# See docs/workflow.md.
from snakemake.utils import min_version

min_version("9.0")


# The repository's config (read from beside this file, so that --directory works);
# --configfile and --config override it; rules/common.smk checks it against
# config/config.schema.yaml, which fills in what is missing.
configfile: workflow.source_path("config/config.yaml")


include: "rules/common.smk"
include: "rules/background.smk"
include: "rules/calibrate.smk"
include: "rules/resample.smk"
include: "rules/problems.smk"
include: "rules/report_inputs.smk"
include: "rules/report.smk"
include: "rules/verify_inputs.smk"
include: "rules/verify.smk"
include: "rules/slurm.smk"


localrules:
    all,
    all_cal,
    all_i2d,
    all_bsub,
    planning_problem,


rule all:
    input:
        CAL_FILES,
        I2D_FILES,
        BSUB_FILES if config["save_bsub"] else [],
        PROBLEM_FILES,
        VERIFY_FILES,


rule all_cal:
    input:
        CAL_FILES,
        PROBLEM_FILES,


rule all_i2d:
    input:
        I2D_FILES,
        PROBLEM_FILES,


rule all_bsub:
    input:
        BSUB_FILES,
        PROBLEM_FILES,


# Quick looks and the campaign table for `snakemake --report report.html report`
# (rules/report.smk); makes whatever of `all` is missing first.
localrules:
    report,
    campaign_summary,


rule report:
    input:
        report_input,
