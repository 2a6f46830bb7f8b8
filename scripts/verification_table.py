"""`verification_table` adapter: every comparison row of the campaign in one TSV."""

import logging

from snakewebb.verify import read_rows, write_rows

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)  # noqa: F821
rows = [row for path in snakemake.input for row in read_rows(path)]  # noqa: F821
write_rows(rows, snakemake.output.tsv)  # noqa: F821
failed = sum(row["status"] == "fail" for row in rows)
logging.getLogger("snakewebb.workflow").info(
    "%d products compared with calwebb_image2: %d pass, %d fail, %d excluded", len(rows),
    sum(row["status"] == "pass" for row in rows), failed,
    sum(row["status"] == "excluded" for row in rows))
