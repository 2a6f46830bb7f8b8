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

Reference tables are used as the datamodels schemas type them: PHOTMJSR and
every time coefficient are float32, whatever precision the file stores, so
a reference written with double-precision columns gives the same factor as
the official step. An AREA reference is placed on the detector by its own
SUBSTRT1/SUBSTRT2 when it has them (full frame otherwise).
"""

import logging

import numpy as np
from astropy import units as u

from snakewebb import instruments
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


def _column_names(table):
    names = getattr(getattr(table, "columns", None), "names", None)
    return [n.lower() for n in (names if names is not None else table.dtype.names)]


def _match_fields(model, table):
    """The column -> value pairs that select the PHOTOM row for ``model``.

    In the order they are tried (the instrument's keys, :mod:`snakewebb.instruments`).
    """
    instrument = _upper(model.meta.instrument.name)
    info = instruments.instrument(instrument)
    if info is None:
        raise PhotomError(f"no imaging photometry for instrument {instrument}")
    values = {
        "filter": _upper(model.meta.instrument.filter),
        "pupil": _upper(model.meta.instrument.pupil),
        "subarray": _upper(model.meta.subarray.name),
    }
    fields = {key: values[key] for key in info.photom_keys}
    columns = _column_names(table) if info.photom_optional_keys else ()
    fields.update({key: values[key] for key in info.photom_optional_keys if key in columns})
    if info.photom_generic_subarray:
        return [fields, {**fields, "subarray": "GENERIC"}]
    return [fields]


def find_row(table, fields):
    """Index of the one row of ``table`` whose columns equal ``fields``.

    Strings are compared upper-case. Returns None when no row matches; raises PhotomError
    when several do.
    """
    if not fields:
        if len(table) == 0:
            return None
        return 0
    keep = np.ones(len(table), dtype=bool)
    for name, value in fields.items():
        if name not in _column_names(table):
            raise PhotomError(f"PHOTOM table has no {name.upper()} column")
        column = np.asarray(table.field(name))
        if column.dtype.kind == "S":
            column = np.char.decode(column, "ascii", "replace")
        if column.dtype.kind == "U":
            column = np.char.upper(np.char.strip(column))
        keep &= column == value
    rows = np.flatnonzero(keep)
    if len(rows) > 1:
        raise PhotomError(f"{len(rows)} PHOTOM rows match {fields}")
    return int(rows[0]) if len(rows) else None


#: Time-dependence tables and the coefficient columns each must have.
TIME_TABLES = {
    "timecoeff_linear": ("t0", "lossperyear"),
    "timecoeff_exponential": ("t0", "amplitude", "tau", "const"),
    "timecoeff_powerlaw": ("t0", "year1value", "tsoft", "alpha"),
}


def _time_tables(photom_ref):
    """The time-dependence tables ``photom_ref`` carries, checked against its PHOTOM table.

    Like the datamodels validation the official step runs, each table must
    have one row per PHOTOM row with the same selection columns (FILTER,
    PUPIL, SUBARRAY) in the same order. Coefficients are cast to float32 as
    the schemas type them.
    """
    table = photom_ref.phot_table
    phot_names = _column_names(table)
    tables = {}
    for ext, coeffs in TIME_TABLES.items():
        if not photom_ref.hasattr(ext):
            continue
        coeff_table = getattr(photom_ref, ext)
        if coeff_table is None:
            continue
        names = _column_names(coeff_table)
        missing = [c for c in coeffs if c not in names]
        if missing:
            raise PhotomError(f"{ext.upper()} lacks column(s) {', '.join(missing)}")
        if len(coeff_table) != len(table):
            raise PhotomError(
                f"{ext.upper()} has {len(coeff_table)} rows, PHOTOM has {len(table)}"
            )
        for name in ("filter", "pupil", "subarray"):
            if name in phot_names and name in names:
                a = np.char.strip(np.asarray(table.field(name)).astype(str))
                b = np.char.strip(np.asarray(coeff_table.field(name)).astype(str))
                if not np.array_equal(a, b):
                    raise PhotomError(f"{ext.upper()} rows do not match the PHOTOM rows ({name})")
        tables[ext] = {c: np.asarray(coeff_table.field(c), dtype=np.float32) for c in coeffs}
    return tables


def time_correction(photom_ref, row, mid_time):
    """Fraction of the throughput at ``t0`` left at ``mid_time`` (MJD) for PHOTOM ``row``.

    Products of the linear, exponential and power-law laws the reference
    carries; 1.0 when it carries none.

    Raises
    ------
    PhotomError
        A time table that does not fit the PHOTOM table, or tables present
        but no exposure mid time to evaluate them at.
    """
    tables = _time_tables(photom_ref)
    if not tables:
        return 1.0
    if mid_time is None:
        raise PhotomError("EXPMID is missing: cannot evaluate the time-dependence tables")
    # whole columns, then the row: the same float32/float64 arithmetic as the
    # official correction table, so PHOTMJSR agrees to the last bit
    corr = np.ones(len(photom_ref.phot_table))
    # far from T0 a law can overflow or take a negative base: reported below
    with np.errstate(over="ignore", invalid="ignore"):
        if "timecoeff_linear" in tables:
            p = tables["timecoeff_linear"]
            corr *= 1.0 - p["lossperyear"] * (mid_time - p["t0"]) / 365.0
        if "timecoeff_exponential" in tables:
            p = tables["timecoeff_exponential"]
            corr *= p["amplitude"] * np.exp(-(mid_time - p["t0"]) / p["tau"]) + p["const"]
        if "timecoeff_powerlaw" in tables:
            p = tables["timecoeff_powerlaw"]
            norm = ((365.0 + p["tsoft"]) ** p["alpha"]) / p["year1value"]
            corr *= ((mid_time - p["t0"] + p["tsoft"]) ** p["alpha"]) / norm
    value = corr[row]
    if not np.isfinite(value):
        raise PhotomError(
            f"time-dependence correction is {value} at EXPMID {mid_time} "
            "(an exposure time before the tables' T0?)"
        )
    return value


def area_for_science(model, area_ref):
    """The AREA map cut to the science footprint (float32, a new array).

    The science corner is SUBSTRT1/SUBSTRT2 and its size the data's own; the
    reference is placed by its own SUBSTRT1/SUBSTRT2, or taken as full frame
    (starting at pixel 1,1, as the official step always assumes) without them.
    A science array without corner keywords needs an AREA map of its very shape.

    Raises
    ------
    PhotomError
        When the AREA map does not cover the science footprint.
    """
    ny, nx = model.data.shape[-2:]
    shape = tuple(area_ref.data.shape)
    if len(shape) != 2:
        raise PhotomError(f"AREA map is {len(shape)}D, not an image")
    corner = instruments.subarray_corner(model.meta)
    if corner is None:
        if shape != (ny, nx):
            raise PhotomError(
                "SUBSTRT1/SUBSTRT2 missing and the AREA map "
                f"{shape[0]}x{shape[1]} is not the data's {ny}x{nx}: cannot place it"
            )
        corner = (0, 0)
    ref_corner = instruments.subarray_corner(area_ref.meta) or (0, 0)
    y0, x0 = corner[0] - ref_corner[0], corner[1] - ref_corner[1]
    if y0 < 0 or x0 < 0 or y0 + ny > shape[0] or x0 + nx > shape[1]:
        raise PhotomError(
            f"AREA map {shape[1]}x{shape[0]} at ({ref_corner[1] + 1},{ref_corner[0] + 1}) "
            f"does not cover the science subarray {nx}x{ny} at ({corner[1] + 1},{corner[0] + 1})"
        )
    return np.array(area_ref.data[y0 : y0 + ny, x0 : x0 + nx], dtype=np.float32)


def attach_area(model, photom_ref, area_ref):
    """Set PIXAR_SR/PIXAR_A2 and the AREA array on ``model`` in place.

    Keywords come from the AREA reference when there is one (None where it
    lacks them, as in the official step), else from the PHOTOM reference. The
    AREA array is cut to the science subarray (:func:`area_for_science`).
    """
    source = photom_ref
    if area_ref is not None:
        model.area = area_for_science(model, area_ref)
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
    if "photmjsr" not in _column_names(table):
        raise PhotomError("PHOTOM table has no PHOTMJSR column")
    info = instruments.instrument(model.meta.instrument.name)
    niriss_cube = info is not None and not info.photom_cubes and model.data.ndim == 3
    row = None
    if not niriss_cube:
        candidates = _match_fields(model, table)
        for fields in candidates:
            row = find_row(table, fields)
            if row is not None:
                break
        if row is None:
            tried = " nor ".join(dict.fromkeys(  # once each: SUBARRAY may be GENERIC itself
                ", ".join(f"{k.upper()}={v}" for k, v in fields.items()) for fields in candidates))
            raise PhotomError(f"no PHOTOM row for {tried}")
        if apply_time_correction:  # checked before any change to the model
            time_correction(photom_ref, row, model.meta.exposure.mid_time)

    out = model.copy() if copy else model
    attach_area(out, photom_ref, area_ref)

    if niriss_cube:
        log.warning("NIRISS photometry is not defined for per-integration data; not applied")
        return out, False

    # float32 as the schema types it, whatever the file stores
    conversion = np.float32(table.field("photmjsr")[row])
    if apply_time_correction:
        corr = time_correction(photom_ref, row, out.meta.exposure.mid_time)
        if corr != 1.0:
            log.info("time-dependence correction %.6g", corr)
            conversion /= corr
    log.info("PHOTMJSR %.6g", conversion)
    out.meta.photometry.conversion_megajanskys = conversion
    out.meta.photometry.conversion_microjanskys = conversion * MJSR_TO_UJA2

    conversion_sq = conversion * conversion
    out.data *= conversion
    for name in ("err", "var_poisson", "var_rnoise", "var_flat"):
        arr = getattr(out, name, None)
        if arr is not None and np.size(arr) > 0:
            arr *= conversion if name == "err" else conversion_sq
    out.meta.bunit_data = "MJy/sr"
    out.meta.bunit_err = "MJy/sr"
    if not (consistent and np.isfinite(conversion) and conversion != 0):
        mark_invalid(out)
    return out, True
