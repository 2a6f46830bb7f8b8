# _rate -> _bsub, _rateints -> _bsubints: only for exposures with background members,
# and only part of `all` when save_bsub is set (then calibrate starts from the _bsub).


rule subtract_background:
    input:
        unpack(bsub_input),
    output:
        bsub=f"{OUT}/{{exposure}}_{{bsubsuffix}}.fits",
    log:
        "logs/subtract_background/{exposure}_{bsubsuffix}.log",
    benchmark:
        "benchmarks/subtract_background/{exposure}_{bsubsuffix}.tsv"
    priority: subtract_background_priority
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    resources:
        mem_mb=subtract_background_mem_mb,
        runtime=subtract_background_runtime,
    params:
        options=BACKGROUND_OPTIONS,
        asn=asn_names,
    script:
        "../scripts/subtract_background.py"
