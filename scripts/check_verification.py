"""`check_verification` adapter: fails, naming the exposure and its worst array, when
a comparison row of the exposure failed; else writes the `passed` mark."""

from _adapter import run

from snakewebb.errors import SnakewebbError
from snakewebb.verify import failure_message, read_rows


class VerificationFailed(SnakewebbError):
    """A product that differs from the official one beyond the tolerances."""


def job():
    rows = read_rows(snakemake.input.tsv)  # noqa: F821 - injected by Snakemake
    message = failure_message(rows)
    if message:
        raise VerificationFailed(message)
    with open(snakemake.output.passed, "w") as handle:  # noqa: F821
        handle.write("".join(f"{row['product']}\t{row['status']}\n" for row in rows))


run(snakemake, job)  # noqa: F821
