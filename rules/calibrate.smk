# _rate|_bsub -> _cal, _rateints|_bsubints -> _calints: assign_wcs, flat_field, photom
# (and background subtraction unless the input is already a _bsub). The reference
# files the exposure needs are inputs, so a new context reruns only what it changes.


rule calibrate:
    input:
        unpack(cal_input),
    output:
        cal=f"{OUT}/{{exposure}}_{{calsuffix}}.fits",
    log:
        "logs/calibrate/{exposure}_{calsuffix}.log",
    benchmark:
        "benchmarks/calibrate/{exposure}_{calsuffix}.tsv"
    priority: calibrate_priority
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    resources:
        mem_mb=calibrate_mem_mb,
        runtime=calibrate_runtime,
    params:
        options=cal_options,
        asn=asn_names,
    script:
        "../scripts/calibrate.py"
