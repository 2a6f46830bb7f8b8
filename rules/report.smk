# What Snakemake's report (`snakemake --report report.html report`) shows: a quick-look
# PNG of every _i2d and of the first integration of every _calints, grouped by
# instrument and filter, and the campaign table with a plot of time and memory per job.
# Not part of `all` (quick looks would add ~8,000 jobs to a 10,000-exposure graph): the
# `report` target makes them. Exposures whose last job failed (its log says why) are
# left out of `report`, so that the report of a campaign run with --keep-going can
# still be made; `all` retries them. See docs/workflow.md, "Report".
import os

from snakewebb.quicklook import header_labels as _header_labels, optics as _optics
from snakewebb.status import log_path as _log_path, log_reason as _log_reason

QUICKLOOK_SUFFIXES = ("i2d", "calints")


def _planned_products():
    """Exposure -> its products under `all`, in the plan's order."""
    products = {}
    for name in EXPOSURES:
        rec = PLAN.records[name]
        mine = [f"{name}_{rec.cal_suffix}"]
        if PLAN.save_bsub and rec.subtracts_background:
            mine.append(f"{name}_{rec.bsub_suffix}")
        if rec.resampled:
            mine.append(f"{name}_i2d")
        products[name] = mine
    return products


def _failed(product):
    """A product that is absent and whose job's log gives an error (checked at graph time)."""
    return not os.path.exists(f"{OUT}/{product}.fits") and bool(
        _log_reason(_log_path("logs", product))
    )


def _reportable():
    """Products of `all`, less those whose last job failed."""
    return {
        name: [p for p in products if not _failed(p)]
        for name, products in _planned_products().items()
    }


def _label(column):
    """A report label/category: `column` of the product's header (read at report time)."""

    def value(wildcards):
        path = f"{OUT}/{wildcards.exposure}_{wildcards.qlsuffix}.fits"
        return _header_labels(path).get(column, "")

    return value


def quicklook_subcategory(wildcards):
    """Filter/pupil of the exposure, as its report subcategory."""
    return _optics(_label("filter")(wildcards), _label("pupil")(wildcards))


def quicklook_labels(wildcards):
    """Columns of the report's table of quick looks."""
    return {
        "exposure": wildcards.exposure,
        "product": wildcards.qlsuffix,
        "detector": _label("detector")(wildcards),
        "EXP_TYPE": _label("exp_type")(wildcards),
    }


@input_function
def summary_input(wildcards):
    """Every product of `all` that is there or still to make (failed ones left out)."""
    return [f"{OUT}/{p}.fits" for products in _reportable().values() for p in products]


def summary_plan(wildcards):
    """Per exposure: its science file (for its mode) and the products `all` makes of it."""
    planned = _planned_products()
    return {
        name: {"science": PLAN.records[name].science, "products": planned[name]}
        for name in EXPOSURES
    }


@input_function
def report_input(wildcards):
    """Quick looks of the products of `all` whose job has not failed, and the summary."""
    looks = [
        f"{OUT}/quicklook/{p}.png"
        for products in _reportable().values()
        for p in products
        if p.rpartition("_")[2] in QUICKLOOK_SUFFIXES
    ]
    return looks + [f"{OUT}/summary/campaign.html", f"{OUT}/summary/jobs.png"]


rule quicklook:
    input:
        product=f"{OUT}/{{exposure}}_{{qlsuffix}}.fits",
    output:
        png=report(
            f"{OUT}/quicklook/{{exposure}}_{{qlsuffix}}.png",
            caption="../report/quicklook.rst",
            category=_label("instrument"),
            subcategory=quicklook_subcategory,
            labels=quicklook_labels,
        ),
    log:
        "logs/quicklook/{exposure}_{qlsuffix}.log",
    benchmark:
        "benchmarks/quicklook/{exposure}_{qlsuffix}.tsv"
    params:
        stretch="zscale",
    wildcard_constraints:
        qlsuffix="|".join(QUICKLOOK_SUFFIXES),
    threads: 1
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/quicklook.py"


rule campaign_summary:
    input:
        summary_input,
    output:
        table=report(
            f"{OUT}/summary/campaign.html",
            caption="../report/campaign.rst",
            category="Campaign",
            labels={"what": "table of exposures"},
        ),
        plot=report(
            f"{OUT}/summary/jobs.png",
            caption="../report/jobs.rst",
            category="Campaign",
            labels={"what": "time and memory per job"},
        ),
    log:
        "logs/campaign_summary/campaign_summary.log",
    params:
        plan=summary_plan,
        logs="logs",
        benchmarks="benchmarks",
    threads: 1
    conda:
        "../envs/snakewebb.yaml"
    script:
        "../scripts/campaign_summary.py"
