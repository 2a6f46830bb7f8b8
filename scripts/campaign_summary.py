"""`campaign_summary` adapter: products, logs, benchmarks -> summary/campaign.html, jobs.png."""

import logging
import sys
from pathlib import Path

try:
    import snakewebb  # noqa: F401 - installed (pip install -e .)
except ImportError:  # a conda env from envs/snakewebb.yaml: use this checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snakewebb.summary import write_summary

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
write_summary(
    snakemake.params.plan,  # noqa: F821 - injected by Snakemake
    snakemake.output.table,  # noqa: F821
    snakemake.output.plot,  # noqa: F821
    output_dir=str(Path(snakemake.output.table).parent.parent),  # noqa: F821
    logs_dir=snakemake.params.logs,  # noqa: F821
    benchmarks_dir=snakemake.params.benchmarks,  # noqa: F821
)
