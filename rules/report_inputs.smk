# The report's named input functions and planning (rules/report.smk has its rules).
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
