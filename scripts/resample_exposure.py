"""`resample_exposure` adapter: _cal -> _i2d."""

from _adapter import run

from snakewebb.steps.resample import ResampleOptions, resample_exposure


def job():
    opts = dict(snakemake.params.options)  # noqa: F821 - injected by Snakemake
    for key in ("output_shape", "crpix", "crval"):
        if opts.get(key) is not None:
            opts[key] = tuple(opts[key])
    resample_exposure(
        snakemake.input.cal,  # noqa: F821
        snakemake.output.i2d,  # noqa: F821
        options=ResampleOptions(**opts),
        crds_context=snakemake.config["crds_context"],  # noqa: F821 - resolved by the plan
    )


run(snakemake, job)  # noqa: F821
