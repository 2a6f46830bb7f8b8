"""`subtract_background` adapter: _rate -> _bsub (_rateints -> _bsubints)."""

from _adapter import paths, run

from snakewebb.steps.image2 import Image2Options, subtract_background_file


def job():
    opts = dict(snakemake.params.options)  # noqa: F821 - injected by Snakemake
    opts["tso_exp_types"] = tuple(opts["tso_exp_types"])
    context = snakemake.config["crds_context"]  # noqa: F821 - resolved by the plan
    subtract_background_file(
        snakemake.input.science,  # noqa: F821
        paths(snakemake.input.backgrounds),  # noqa: F821
        snakemake.output.bsub,  # noqa: F821
        options=Image2Options(**opts, crds_context=context),
        asn=snakemake.params.asn,  # noqa: F821
    )


run(snakemake, job)  # noqa: F821
