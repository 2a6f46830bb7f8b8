# _cal -> _i2d: only 2D, non-TSO NIRCam/MIRI/NIRISS imaging (see snakewebb.modes).


rule resample_exposure:
    input:
        unpack(resample_input),
    output:
        i2d=f"{OUT}/{{exposure}}_i2d.fits",
    log:
        "logs/resample_exposure/{exposure}.log",
    benchmark:
        "benchmarks/resample_exposure/{exposure}.tsv"
    priority: resample_exposure_priority
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    resources:
        mem_mb=resample_exposure_mem_mb,
        runtime=resample_exposure_runtime,
    params:
        options=RESAMPLE_OPTIONS,
    script:
        "../scripts/resample_exposure.py"
