"""`calibrate` adapter: _rate|_bsub -> _cal/_calints with the job's reference files."""

from _adapter import paths, run

from snakewebb.references import ALL_REFTYPES
from snakewebb.steps.image2 import Image2Options, calibrate_exposure


def job():
    inputs = snakemake.input  # noqa: F821 - injected by Snakemake
    # The context is not a param (that would rerun every job on a context switch): the
    # workflow puts the one it resolved in the config. It is provenance only: the
    # reference files themselves are the job's inputs.
    opts = dict(snakemake.params.options)  # noqa: F821
    if "tso_exp_types" in opts:  # absent when no background is subtracted here
        opts["tso_exp_types"] = tuple(opts["tso_exp_types"])
    context = snakemake.config["crds_context"]  # noqa: F821
    options = Image2Options(**opts, crds_context=context)
    # Reference types absent from the inputs are N/A for this exposure (or their step
    # is skipped): None tells the step layer not to look them up.
    refs = {reftype: inputs.get(reftype) for reftype in ALL_REFTYPES}
    calibrate_exposure(
        inputs.science,
        snakemake.output.cal,  # noqa: F821
        backgrounds=paths(inputs.get("backgrounds")),
        refs=refs,
        options=options,
        asn=snakemake.params.asn,  # noqa: F821
    )


run(snakemake, job)  # noqa: F821
