"""`quicklook` adapter: _i2d / _calints -> quicklook/<product>.png."""

from _adapter import run

from snakewebb.quicklook import write_quicklook


def job():
    write_quicklook(
        snakemake.input.product,  # noqa: F821 - injected by Snakemake
        snakemake.output.png,  # noqa: F821
        stretch=snakemake.params.stretch,  # noqa: F821
    )


run(snakemake, job)  # noqa: F821
