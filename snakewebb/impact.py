"""What a new CRDS context would change in a finished campaign, before anything runs.

For each ``_cal``/``_calints`` in an output directory, the reference files it records
(``R_*`` keywords, i.e. ``meta.ref_file``) are compared with those the new context
selects for its selection keywords (read from the same header), offline, from the
local CRDS cache. An exposure whose files differ has its ``_cal`` remade by the
workflow, and with it its ``_i2d`` (and their quick looks): the same jobs a Snakemake
dry run under the new context schedules, since the selected reference files are the
``calibrate`` jobs' inputs. Nothing is written.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from snakewebb.errors import SnakewebbError
from snakewebb.summary import REF_KEYWORDS

__all__ = ["ExposureImpact", "Impact", "recorded_references", "context_impact", "format_impact"]

log = logging.getLogger(__name__)

_CALIBRATED = ("cal", "calints")


@dataclass
class ExposureImpact:
    """One exposure whose references change: ``changes`` is {reftype: (old, new)}."""

    exposure: str
    changes: dict
    products: list = field(default_factory=list)


@dataclass
class Impact:
    """The exposures a context changes, out of ``n_exposures`` read."""

    context: str
    n_exposures: int
    changed: list = field(default_factory=list)     # ExposureImpact


def recorded_references(header):
    """{reftype: file name or None (N/A)} of the reference types a product records."""
    refs = {}
    for reftype, keyword in REF_KEYWORDS.items():
        if keyword in header:
            value = str(header[keyword]).strip()
            name = value.removeprefix("crds://")
            refs[reftype] = None if not name or name.upper() == "N/A" else Path(name).name
    return refs


def _calibrated_products(output_dir):
    found = {}
    for path in sorted(Path(output_dir).glob("*.fits")):
        exposure, _, suffix = path.name[: -len(".fits")].rpartition("_")
        if exposure and suffix in _CALIBRATED:
            found[exposure] = path
    return found


def _remade(output_dir, exposure, calibrated):
    """Products of ``exposure`` present in ``output_dir`` that a new _cal would remake."""
    output_dir = Path(output_dir)
    products = [calibrated.name]
    i2d = output_dir / f"{exposure}_i2d.fits"
    if i2d.is_file():
        products.append(i2d.name)
    for suffix in ("i2d", "calints"):
        look = output_dir / "quicklook" / f"{exposure}_{suffix}.png"
        if look.is_file():
            products.append(f"quicklook/{look.name}")
    return products


def context_impact(output_dir, context, *, crds_path=None):
    """The exposures of ``output_dir`` whose reference files ``context`` changes.

    Parameters
    ----------
    output_dir : str or Path
        A campaign's output directory (its ``_cal``/``_calints`` are read).
    context : str
        The new context (``jwst_0002.pmap``); it must be in the CRDS cache.
    crds_path : str, optional
        The CRDS cache; default ``CRDS_PATH``.

    Returns
    -------
    Impact

    Raises
    ------
    SnakewebbError
        No such directory, no product in it, no cache or no such context in it, an
        unreadable product, or a reference the context cannot select (naming the
        exposure, as the workflow would at graph time).
    """
    import pandas as pd
    from astropy.io import fits

    from snakewebb import references

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise SnakewebbError(f"{output_dir}: no such directory")
    products = _calibrated_products(output_dir)
    if not products:
        raise SnakewebbError(f"{output_dir}: no _cal or _calints product in it")
    crds = references.resolve_crds(crds_path, context)
    context = crds.context
    rows, recorded = {}, {}
    for exposure, path in products.items():
        try:
            header = fits.getheader(path, 0)
        except (OSError, ValueError) as err:
            raise SnakewebbError(f"{exposure}: cannot read {path.name}: {err}") from None
        # the keywords CRDS may select on, as the workflow reads them from the _rate
        rows[exposure] = {kw: header.get(kw) for kw in references.DATAMODEL_PATHS}
        recorded[exposure] = recorded_references(header)
    reftypes = tuple(t for t in references.ALL_REFTYPES
                     if any(t in refs for refs in recorded.values()))
    params = pd.DataFrame.from_dict(rows, orient="index")
    selected = references.best_references_table(params, crds=crds, reftypes=reftypes)
    impact = Impact(context=context, n_exposures=len(products))
    for exposure, refs in recorded.items():
        changes = {}
        for reftype, old in refs.items():
            new = selected.at[exposure, reftype]
            new = None if new is None else Path(new).name
            if new != old:
                changes[reftype] = (old, new)
        if changes:
            impact.changed.append(ExposureImpact(
                exposure, changes, _remade(output_dir, exposure, products[exposure])))
    return impact


def format_impact(impact):
    """Lines for the terminal: each changed exposure, its changes and products, a summary."""
    lines = []
    for item in impact.changed:
        lines.append(item.exposure)
        for reftype, (old, new) in item.changes.items():
            lines.append(f"  {reftype}: {old or 'N/A'} -> {new or 'N/A'}")
        lines.append(f"  remade: {', '.join(item.products)}")
    k, n = len(impact.changed), impact.n_exposures
    remade = sum(len(i.products) for i in impact.changed)
    lines.append(f"{impact.context}: {k} of {n} exposure{'s' if n != 1 else ''} change "
                 f"reference files; {remade} product{'s' if remade != 1 else ''} would be "
                 "remade")
    return lines
