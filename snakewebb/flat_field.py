"""Flat-field correction of imaging slope data (pure algorithm).

The science signal is divided by the FLAT reference, cut to the science
subarray when the reference is larger. Pixels where the flat cannot be
trusted (NaN, zero, or flagged NO_FLAT_FIELD / DO_NOT_USE) are left
uncorrected (flat taken as 1) and carry DO_NOT_USE + NO_FLAT_FIELD. The
Poisson and read-noise variances are divided by the flat squared, a new
VAR_FLAT holds the flat's own uncertainty propagated to the corrected
signal, and ERR is rebuilt from the three variances. Finally every pixel
that is NaN in any array or flagged DO_NOT_USE is made both.

Arithmetic stays in float32, in the same order as the official
``flat_field`` step, so the products agree to float32 rounding.
"""

import logging

import numpy as np
from stdatamodels.jwst.datamodels import dqflags

__all__ = [
    "FlatShapeError",
    "subarray_box",
    "flat_for_science",
    "apply_flat",
    "apply_flat_arrays",
    "mark_invalid",
]

log = logging.getLogger(__name__)

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.pixel["NO_FLAT_FIELD"]

#: Full-frame (ysize, xsize) assumed when a reference lacks its subarray keywords.
_FULL_FRAME = {"MIRI": (1024, 1032)}
_FULL_FRAME_DEFAULT = (2048, 2048)

#: Arrays whose NaNs mark a pixel invalid, in the order the official products use.
_NAN_ARRAYS = ("data", "err", "var_rnoise", "var_poisson", "var_flat")


class FlatShapeError(ValueError):
    """The flat cannot be matched to the science array."""


def subarray_box(model, *, reference=False):
    """Return the 0-based ``(ystart, xstart, ysize, xsize)`` a model covers on the detector.

    Sizes come from the array itself (as the official step does when the
    SUBSIZE keywords disagree with it). A reference lacking its corner
    keywords is taken as full frame if its shape is the detector's.
    """
    sub = model.meta.subarray
    shape = model.data.shape[-2:]
    if None in (sub.xstart, sub.ystart):
        instrument = (model.meta.instrument.name or "").upper()
        full = _FULL_FRAME.get(instrument, _FULL_FRAME_DEFAULT)
        if tuple(shape) != full:
            kind = "reference" if reference else "science"
            raise FlatShapeError(
                f"{kind} array {shape[0]}x{shape[1]} has no SUBSTRT1/SUBSTRT2 "
                "and is not full frame"
            )
        return 0, 0, shape[0], shape[1]
    if sub.xstart < 1 or sub.ystart < 1:
        raise FlatShapeError(f"invalid subarray corner SUBSTRT1={sub.xstart} SUBSTRT2={sub.ystart}")
    return sub.ystart - 1, sub.xstart - 1, shape[0], shape[1]


def flat_for_science(science, flat):
    """Cut the flat's SCI, DQ and ERR to the science footprint (always new arrays).

    Returns
    -------
    data, dq, err : ndarray
        float32, uint32, float32 copies, each shaped like one science image.

    Raises
    ------
    FlatShapeError
        When the science footprint is not inside the flat.
    """
    sy, sx, sny, snx = subarray_box(science)
    fy, fx, fny, fnx = subarray_box(flat, reference=True)
    y0, x0 = sy - fy, sx - fx
    if y0 < 0 or x0 < 0 or y0 + sny > fny or x0 + snx > fnx:
        raise FlatShapeError(
            f"science subarray {snx}x{sny} at ({sx + 1},{sy + 1}) is not inside the "
            f"flat {fnx}x{fny} at ({fx + 1},{fy + 1})"
        )
    window = (slice(y0, y0 + sny), slice(x0, x0 + snx))
    data = np.array(flat.data[window], dtype=np.float32)
    dq = np.array(flat.dq[window], dtype=np.uint32)
    err = flat.err
    if err is None or not all(err.shape):
        err = np.zeros_like(data)
    else:
        err = np.array(err[window], dtype=np.float32)
    return data, dq, err


def mark_invalid(model):
    """Make NaN and DO_NOT_USE agree across SCI, ERR, variances and DQ, in place."""
    shape = model.data.shape
    arrays = []
    for name in _NAN_ARRAYS:
        arr = getattr(model, name, None)
        if arr is not None and arr.shape == shape:
            arrays.append(arr)
    if not arrays:
        return
    invalid = np.isnan(arrays[0])
    scratch = np.empty(shape, dtype=bool)
    for arr in arrays[1:]:
        invalid |= np.isnan(arr, out=scratch)
    dq = getattr(model, "dq", None)
    dq_ok = dq is not None and dq.shape == shape
    if dq_ok:
        invalid |= np.bitwise_and(dq, DO_NOT_USE, out=scratch, casting="unsafe")
    # invalid pixels are few: work on their flat indices, not on whole-array masks
    where = np.flatnonzero(invalid)
    if where.size == 0:
        return
    if dq_ok:
        dq.flat[where] = dq.flat[where] | DO_NOT_USE
    for arr in arrays:
        arr.flat[where] = np.nan


def apply_flat(model, flat, *, copy=True):
    """Divide an imaging model (ImageModel or CubeModel) by a FLAT reference.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `~stdatamodels.jwst.datamodels.CubeModel`
        Slope data (``_rate``: 2D, or ``_rateints``: one image per integration).
    flat : `~stdatamodels.jwst.datamodels.FlatModel`
        The flat; full frame or any subarray containing the science one. Not modified.
    copy : bool
        If True (default) the input model is left untouched and a corrected
        copy is returned; if False the model is corrected in place and returned
        (for callers that already own a private copy).

    Returns
    -------
    model
        The flat-fielded model, with VAR_FLAT added and ERR recomputed.

    Raises
    ------
    FlatShapeError
        When the flat does not cover the science footprint.
    """
    return apply_flat_arrays(model, *flat_for_science(model, flat), copy=copy)


def apply_flat_arrays(model, flat_data, flat_dq, flat_err, *, copy=True):
    """:func:`apply_flat` with the flat already cut to the science footprint.

    ``flat_data``, ``flat_dq`` and ``flat_err`` (as returned by
    :func:`flat_for_science`) are consumed: they are modified in place.
    """
    out = model.copy() if copy else model

    bad = np.isnan(flat_data)
    bad |= flat_data == 0.0
    flat_dq[bad] |= DO_NOT_USE | NO_FLAT_FIELD
    flat_dq[(flat_dq & NO_FLAT_FIELD) != 0] |= DO_NOT_USE
    np.bitwise_and(flat_dq, DO_NOT_USE, out=bad, casting="unsafe")
    flat_data[bad] = 1.0
    del bad
    log.debug("%d flat pixels unusable; left uncorrected",
              int(np.count_nonzero(flat_dq & DO_NOT_USE)))

    # float32 throughout, each operation in the official step's order, in place
    flat_sq = flat_data * flat_data
    data = out.data
    data /= flat_data
    del flat_data
    var_flat = data * data  # == data**2
    var_flat /= flat_sq
    np.square(flat_err, out=flat_err)
    var_flat *= flat_err
    del flat_err
    out.var_flat = var_flat
    out.var_poisson /= flat_sq
    out.var_rnoise /= flat_sq
    del flat_sq
    err = out.err
    if err is None or err.shape != data.shape:
        err = np.empty_like(data)
    np.add(out.var_poisson, out.var_rnoise, out=err)
    err += out.var_flat
    np.sqrt(err, out=err)
    out.err = err
    dq = out.dq
    np.bitwise_or(dq, flat_dq, out=dq)
    out.dq = dq
    mark_invalid(out)
    return out
