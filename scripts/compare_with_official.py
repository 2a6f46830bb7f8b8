"""`compare_with_official` adapter: this project's products of one exposure against
the official run's, one TSV row per product (written whatever the outcome)."""

from _adapter import run

from snakewebb.verify import compare_exposure, write_rows


def job():
    inputs = snakemake.input  # noqa: F821 - injected by Snakemake
    ours = {key: path for key, path in inputs.items() if key != "official"}
    rows = compare_exposure(snakemake.wildcards.exposure, ours, inputs.official)  # noqa: F821
    write_rows(rows, snakemake.output.tsv)  # noqa: F821


run(snakemake, job)  # noqa: F821
