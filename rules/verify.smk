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


rule run_official_image2:
    input:
        unpack(official_input),
    output:
        official=directory(f"{OUT}/verify/{{exposure}}/official"),
    log:
        "logs/run_official_image2/{exposure}.log",
    benchmark:
        "benchmarks/run_official_image2/{exposure}.tsv"
    conda:
        "../envs/verify.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        plan=official_plan,
        asn=asn_names,
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
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    script:
        "../scripts/compare_with_official.py"


rule check_verification:
    input:
        tsv=f"{OUT}/verify/{{exposure}}/comparison.tsv",
    output:
        passed=f"{OUT}/verify/{{exposure}}/passed",
    log:
        "logs/check_verification/{exposure}.log",
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/check_verification.py"


rule verification_table:
    input:
        expand(f"{OUT}/verify/{{exposure}}/comparison.tsv", exposure=VERIFIED),
    output:
        tsv=f"{OUT}/verification.tsv",
    log:
        "logs/verification_table/verification_table.log",
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/verification_table.py"


rule all_verify:
    input:
        VERIFY_FILES,


localrules:
    check_verification,
    verification_table,
    all_verify,
