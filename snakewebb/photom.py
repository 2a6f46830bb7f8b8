"""Photometric calibration of imaging slope data (pure algorithm).

The PHOTOM reference holds one row per instrument mode with PHOTMJSR, the
factor from DN/s to MJy/sr. The row is chosen as each instrument's imaging
mode is selected:

* NIRCam: FILTER and PUPIL, plus SUBARRAY when the table has that column;
* NIRISS: FILTER and PUPIL (short-wave filters sit in the pupil wheel);
* MIRI imager: SUBARRAY and FILTER, falling back to SUBARRAY="GENERIC";
* FGS: the single row.

When the reference carries time-dependence tables (TIMECOEFF_LINEAR,
_EXPONENTIAL, _POWERLAW; MIRI imaging in practice), the throughput loss at
the exposure mid time divides PHOTMJSR. SCI and ERR are multiplied by the
factor, the variances by its square; BUNIT becomes MJy/sr. PIXAR_SR and
PIXAR_A2 come from the AREA reference (else from PHOTOM) and the AREA
array, cut to the subarray, is attached to the product.
"""

import logging

import numpy as np
from astropy import units as u

from snakewebb.flat_field import mark_invalid

__all__ = [
    "PhotomError",
    "MJSR_TO_UJA2",
    "find_row",
    "time_correction",
    "attach_area",
    "apply_photom",
]

log = logging.getLogger(__name__)

#: MJy/sr -> uJy/arcsec^2
MJSR_TO_UJA2 = (u.megajansky / u.steradian).to(u.microjansky / u.arcsecond / u.arcsecond)


class PhotomError(ValueError):
    """The PHOTOM reference cannot calibrate this exposure."""


def _upper(value):
    return None if value is None else str(value).upper()


def _match_fields(model, table):
    """The column -> value pairs that select the PHOTOM row for ``model``."""
    instrument = _upper(model.meta.instrument.name)
    filt = _upper(model.meta.instrument.filter)
    pupil = _upper(model.meta.instrument.pupil)
    subarray = _upper(model.meta.subarray.name)
    if instrument == "NIRCAM":
        fields = {"filter": filt, "pupil": pupil}
        if "subarray" in table.columns.names:
            fields["subarray"] = subarray
        return [fields]
    if instrument == "NIRISS":
        return [{"filter": filt, "pupil": pupil}]
    if instrument == "MIRI":
        return [
            {"subarray": subarray, "filter": filt},
            {"subarray": "GENERIC", "filter": filt},
        ]
    if instrument == "FGS":
        return [{}]
    raise PhotomError(f"no imaging photometry for instrument {instrument}")


def find_row(table, fields):
    """Index of the one row of ``table`` whose columns equal ``fields`` (strings compared upper-case).

    Returns None when no row matches; raises PhotomError when several do.
    """
    if not fields:
        if len(table) == 0:
            return None
        return 0
    keep = np.ones(len(table), dtype=bool)
    for name, value in fields.items():
        column = table.field(name)
        if len(column) and isinstance(column[0], str):
            column = np.array([str(s).strip().upper() for s in column])
        keep &= column == value
    rows = np.flatnonzero(keep)
    if len(rows) > 1:
        raise PhotomError(f"{len(rows)} PHOTOM rows match {fields}")
    return int(rows[0]) if len(rows) else None


def time_correction(photom_ref, row, mid_time):
    """Fraction of the throughput at ``t0`` left at ``mid_time`` (MJD) for PHOTOM ``row``.

    Products of the linear, exponential and power-law laws the reference
    carries; 1.0 when it carries none.
    """
    # whole columns, then the row: the same float32/float64 arithmetic as the
    # official correction table, so PHOTMJSR agrees to the last bit
    corr = np.ones(len(photom_ref.phot_table))
    if photom_ref.hasattr("timecoeff_linear"):
        p = photom_ref.timecoeff_linear
        corr *= 1.0 - p["lossperyear"] * (mid_time - p["t0"]) / 365.0
    if photom_ref.hasattr("timecoeff_exponential"):
        p = photom_ref.timecoeff_exponential
        corr *= p["amplitude"] * np.exp(-(mid_time - p["t0"]) / p["tau"]) + p["const"]
    if photom_ref.hasattr("timecoeff_powerlaw"):
        p = photom_ref.timecoeff_powerlaw
        norm = ((365.0 + p["tsoft"]) ** p["alpha"]) / p["year1value"]
        corr *= ((mid_time - p["t0"] + p["tsoft"]) ** p["alpha"]) / norm
    corr = corr[row]
    return corr


def attach_area(model, photom_ref, area_ref):
    """Set PIXAR_SR/PIXAR_A2 and the AREA array on ``model`` in place.

    Keywords come from the AREA reference when it has them, else from the
    PHOTOM reference. The AREA array is cut to the science subarray.
    """
    source = photom_ref
    if area_ref is not None:
        sub = model.meta.subarray
        if None in (sub.xstart, sub.ystart, sub.xsize, sub.ysize):
            raise PhotomError("SUBSTRT1/SUBSTRT2/SUBSIZE1/SUBSIZE2 missing; cannot cut the AREA map")
        y0, x0 = sub.ystart - 1, sub.xstart - 1
        ny, nx = area_ref.data.shape[-2:]
        inside = y0 >= 0 and x0 >= 0 and y0 + sub.ysize <= ny and x0 + sub.xsize <= nx
        area = area_ref.data[y0 : y0 + sub.ysize, x0 : x0 + sub.xsize] if inside else None
        if area is None or area.shape != model.data.shape[-2:]:
            raise PhotomError(
                f"AREA map {area_ref.data.shape} does not cover the science subarray "
                f"{model.data.shape[-2:]} at ({sub.xstart},{sub.ystart})"
            )
        model.area = np.array(area, dtype=np.float32)
        source = area_ref
    sr = source.meta.photometry.pixelarea_steradians
    a2 = source.meta.photometry.pixelarea_arcsecsq
    if sr is None or a2 is None:
        log.warning("PIXAR_SR/PIXAR_A2 missing from %s", source.meta.filename)
    model.meta.photometry.pixelarea_steradians = None if sr is None else float(sr)
    model.meta.photometry.pixelarea_arcsecsq = None if a2 is None else float(a2)


def apply_photom(model, photom_ref, area_ref=None, *, copy=True, apply_time_correction=True,
                 consistent=False):
    """Convert an imaging model from DN/s to MJy/sr.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `~stdatamodels.jwst.datamodels.CubeModel`
        Slope data (2D or one image per integration).
    photom_ref : imaging PHOTOM reference model (``phot_table`` with PHOTMJSR)
    area_ref : `~stdatamodels.jwst.datamodels.PixelAreaModel` or None
    copy : bool
        Work on a copy (default) or, if False, in place on ``model``.
    apply_time_correction : bool
        Divide PHOTMJSR by the throughput loss when the reference carries it.
    consistent : bool
        The caller knows NaN and DO_NOT_USE already agree across the arrays
        (flat_field just ran): scaling by a finite non-zero factor keeps them
        agreeing, so the final consistency pass is skipped.

    Returns
    -------
    model, applied : (model, bool)
        The calibrated model; ``applied`` is False for a NIRISS cube, which the
        official step does not calibrate (AREA and PIXAR_* are still attached,
        the data are left in DN/s).

    Raises
    ------
    PhotomError
        No PHOTOM row for the exposure's mode, or an AREA map that does not fit.
    """
    table = photom_ref.phot_table
    candidates = _match_fields(model, table)
    row = None
    for fields in candidates:
        row = find_row(table, fields)
        if row is not None:
            break
    if row is None:
        raise PhotomError(f"no PHOTOM row for {candidates[0]}")

    out = model.copy() if copy else model
    attach_area(out, photom_ref, area_ref)

    instrument = _upper(out.meta.instrument.name)
    if instrument == "NIRISS" and out.data.ndim == 3:
        log.warning("NIRISS photometry is not defined for per-integration data; not applied")
        return out, False

    conversion = table[row]["photmjsr"]
    if apply_time_correction:
        mid_time = out.meta.exposure.mid_time
        corr = time_correction(photom_ref, row, mid_time) if mid_time is not None else 1.0
        if corr != 1.0:
            log.info("time-dependence correction %.6g", corr)
            conversion /= corr
    log.info("PHOTMJSR %.6g", conversion)
    out.meta.photometry.conversion_megajanskys = conversion
    out.meta.photometry.conversion_microjanskys = conversion * MJSR_TO_UJA2

    conversion_sq = conversion * conversion
    out.data *= conversion
    out.err *= conversion
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        arr = getattr(out, name, None)
        if arr is not None and np.size(arr) > 0:
            arr *= conversion_sq
    out.meta.bunit_data = "MJy/sr"
    out.meta.bunit_err = "MJy/sr"
    if not (consistent and np.isfinite(conversion) and conversion != 0):
        mark_invalid(out)
    return out, True
