"""`run_official_image2` adapter: one exposure through jwst's calwebb_image2 (verify extra).

jwst is imported inside the job only (snakewebb.official), never by the workflow.
"""

from _adapter import paths, run

from snakewebb.official import run_official_image2
from snakewebb.references import ALL_REFTYPES, REFTYPES, resolve_crds


def job():
    inputs = snakemake.input  # noqa: F821 - injected by Snakemake
    run_official_image2(
        snakemake.wildcards.exposure,  # noqa: F821
        inputs.science,
        paths(inputs.get("backgrounds")),
        snakemake.output.official,  # noqa: F821
        plan=snakemake.params.plan,  # noqa: F821
        refs={reftype: inputs.get(reftype) for reftype in ALL_REFTYPES},
        reftypes=REFTYPES,
        asn=snakemake.params.asn,  # noqa: F821
        # the cache and context the plan resolved (rules/common.smk)
        crds=resolve_crds(snakemake.config["crds_path"], snakemake.config["crds_context"]),  # noqa: F821
    )


run(snakemake, job)  # noqa: F821
