# _rate -> _cal, _rateints -> _calints: background subtraction, assign_wcs, flat_field,
# photom. The reference files the exposure needs are inputs, so a new context reruns
# only what it changes. (The _bsub of save_bsub is a separate job on the same inputs.)


rule calibrate:
    input:
        unpack(cal_input),
    output:
        cal=f"{OUT}/{{exposure}}_{{calsuffix}}.fits",
    log:
        "logs/calibrate/{exposure}_{calsuffix}.log",
    benchmark:
        "benchmarks/calibrate/{exposure}_{calsuffix}.tsv"
    params:
        options=cal_options,
    threads: 1
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/calibrate.py"
