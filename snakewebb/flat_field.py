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

from snakewebb.instruments import full_frame

__all__ = [
    "FlatShapeError",
    "FlatTooSmallError",
    "dq_from_definitions",
    "subarray_box",
    "flat_window",
    "flat_for_science",
    "apply_flat",
    "apply_flat_arrays",
    "mark_invalid",
]

log = logging.getLogger(__name__)

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.pixel["NO_FLAT_FIELD"]

#: Arrays whose NaNs mark a pixel invalid, in the order the official products use.
_NAN_ARRAYS = ("data", "err", "var_rnoise", "var_poisson", "var_flat")


class FlatShapeError(ValueError):
    """The flat cannot be matched to the science array."""


class FlatTooSmallError(FlatShapeError):
    """The flat array is smaller than the science one (the official step skips then)."""


def subarray_box(model, *, reference=False):
    """Return the 0-based ``(ystart, xstart, ysize, xsize)`` a model covers on the detector.

    Sizes come from the array itself (as the official step does when the
    SUBSIZE keywords disagree with it). A model lacking its corner keywords
    is taken as full frame if its shape is the detector's, and is an error
    otherwise. A reference of full-frame shape lacking any of SUBSTRT1/2,
    SUBSIZE1/2 is full frame whatever corner it states (as in the official
    step); one of another shape with corners but no sizes is placed at its
    corners (the official step refuses it; the science data need only corners).
    """
    sub = model.meta.subarray
    shape = tuple(model.data.shape[-2:])
    kind = "reference" if reference else "science"
    full = full_frame(model.meta.instrument.name)
    sizes_missing = None in (sub.xsize, sub.ysize)
    if None in (sub.xstart, sub.ystart) or (reference and sizes_missing and shape == full):
        if shape != full:
            raise FlatShapeError(
                f"{kind} array {shape[0]}x{shape[1]} has no SUBSTRT1/SUBSTRT2 "
                "and is not full frame"
            )
        return 0, 0, shape[0], shape[1]
    if sub.xstart < 1 or sub.ystart < 1:
        raise FlatShapeError(
            f"invalid {kind} subarray corner SUBSTRT1={sub.xstart} SUBSTRT2={sub.ystart}"
        )
    return sub.ystart - 1, sub.xstart - 1, shape[0], shape[1]


def flat_window(science, flat):
    """Return the ``(rows, cols)`` slices of the flat that cover the science footprint.

    Raises
    ------
    FlatTooSmallError
        When the flat array is smaller than the science image on either axis
        (the official step skips the correction then).
    FlatShapeError
        When the science footprint is not inside the flat.
    """
    sny, snx = science.data.shape[-2:]
    fny, fnx = flat.data.shape[-2:]
    if snx > fnx or sny > fny:
        raise FlatTooSmallError(
            f"flat array {fnx}x{fny} is smaller than the science array {snx}x{sny}"
        )
    sy, sx, sny, snx = subarray_box(science)
    fy, fx, fny, fnx = subarray_box(flat, reference=True)
    y0, x0 = sy - fy, sx - fx
    if y0 < 0 or x0 < 0 or y0 + sny > fny or x0 + snx > fnx:
        raise FlatShapeError(
            f"science subarray {snx}x{sny} at ({sx + 1},{sy + 1}) is not inside the "
            f"flat {fnx}x{fny} at ({fx + 1},{fy + 1})"
        )
    return slice(y0, y0 + sny), slice(x0, x0 + snx)


def dq_from_definitions(dq, definitions):
    """Translate a reference DQ array from its own bit planes to the standard JWST flags.

    Parameters
    ----------
    dq : ndarray
        DQ values as stored in the reference.
    definitions : iterable of (value, name) or None
        The reference's DQ_DEF rows: the bit-plane value and the flag name it
        stands for. Names that are not standard JWST pixel flags are dropped
        (with their planes); bits no row describes are dropped too. None or
        no rows: ``dq`` is returned as it is (the official models do the same).

    Returns
    -------
    ndarray
        A new array (or ``dq`` itself when there are no definitions).
    """
    rows = [] if definitions is None else list(definitions)
    if not rows:
        return dq
    dq = np.asarray(dq)
    out = np.zeros(dq.shape, dtype=dq.dtype)
    for value, name in rows:
        flag = dqflags.pixel.get(str(name).strip())
        if flag is None:
            log.debug("DQ_DEF name %r is not a JWST pixel flag; ignored", name)
            continue
        out[np.bitwise_and(dq, value) != 0] |= flag
    return out


def _has_err(flat):
    err = getattr(flat, "err", None)
    return err is not None and all(err.shape)


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
    window = flat_window(science, flat)
    data = np.array(flat.data[window], dtype=np.float32)
    dq = (np.zeros(data.shape, np.uint32) if flat.dq is None
          else np.array(flat.dq[window], dtype=np.uint32))
    err = np.array(flat.err[window], dtype=np.float32) if _has_err(flat) else np.zeros_like(data)
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


#: Pixels per row block of the arithmetic (per science plane): 256 KiB of float32
#: per array, so a block's dozen operations run in cache instead of streaming
#: whole 16 MB images through memory a dozen times.
BLOCK_PIXELS = 1 << 16


def apply_flat(model, flat, *, copy=True, block_pixels=None):
    """Divide an imaging model (ImageModel or CubeModel) by a FLAT reference.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `~stdatamodels.jwst.datamodels.CubeModel`
        Slope data (``_rate``: 2D, or ``_rateints``: one image per integration).
    flat : `~stdatamodels.jwst.datamodels.FlatModel` or alike
        The flat; full frame or any subarray containing the science one. Not
        modified. Its ``data``, ``dq`` and ``err`` need only support 2D slicing
        (numpy arrays, or FITS sections: then only the science footprint is
        read, one row block at a time); a ``dq`` or ``err`` that is None or
        empty counts as zeros.
    copy : bool
        If True (default) the input model is left untouched and a corrected
        copy is returned; if False the model is corrected in place and returned
        (for callers that already own a private copy).
    block_pixels : int or None
        Pixels per row block (default :data:`BLOCK_PIXELS`); results do not
        depend on it.

    Returns
    -------
    model
        The flat-fielded model, with VAR_FLAT added and ERR recomputed.

    Raises
    ------
    FlatShapeError
        When the flat does not cover the science footprint.
    """
    rows, cols = flat_window(model, flat)
    out = model.copy() if copy else model
    err = flat.err if _has_err(flat) else None
    _apply_blocks(out, flat.data, flat.dq, err, rows.start, cols, block_pixels)
    return out


def apply_flat_arrays(model, flat_data, flat_dq, flat_err, *, copy=True, block_pixels=None):
    """:func:`apply_flat` with the flat already cut to the science footprint.

    ``flat_data``, ``flat_dq`` and ``flat_err`` (as returned by
    :func:`flat_for_science`) are not modified.
    """
    out = model.copy() if copy else model
    _apply_blocks(out, flat_data, flat_dq, flat_err, 0, slice(None), block_pixels)
    return out


def _flat_block(flat_data, flat_dq, flat_err, rows, cols):
    """One row block of the flat, its unusable pixels flagged and set to 1.

    Returns private float32/uint32 copies: ``(data, dq, err squared)``.
    """
    data = np.array(flat_data[rows, cols], dtype=np.float32)
    shape = data.shape
    dq = (np.zeros(shape, np.uint32) if flat_dq is None
          else np.array(flat_dq[rows, cols], dtype=np.uint32))
    err = (np.zeros(shape, np.float32) if flat_err is None
           else np.array(flat_err[rows, cols], dtype=np.float32))
    bad = np.isnan(data)
    bad |= data == 0.0
    dq[bad] |= DO_NOT_USE | NO_FLAT_FIELD
    dq[(dq & NO_FLAT_FIELD) != 0] |= DO_NOT_USE
    np.bitwise_and(dq, DO_NOT_USE, out=bad, casting="unsafe")
    data[bad] = 1.0
    np.square(err, out=err)
    return data, dq, err


def _apply_blocks(out, flat_data, flat_dq, flat_err, row0, cols, block_pixels):
    """Flat-field ``out`` in place, one block of science rows at a time.

    Every operation is elementwise, so cutting the image into row blocks
    gives the same bits as whole-array arithmetic. Per pixel, in the official
    step's order and in float32::

        data /= flat;  var_flat = data**2 / flat**2 * flat_err**2
        var_poisson /= flat**2;  var_rnoise /= flat**2
        err = sqrt(var_poisson + var_rnoise + var_flat);  dq |= flat_dq

    then pixels that are NaN anywhere or DO_NOT_USE are made both (as
    :func:`mark_invalid`). A NaN in data or in any variance reaches ERR
    through the sums above, so NaN in ERR (or DO_NOT_USE) is the whole test.
    """
    data = out.data
    shape = data.shape
    ny, nx = shape[-2:]
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    var_poisson, var_rnoise = out.var_poisson, out.var_rnoise
    err = out.err
    new_err = err is None or err.shape != shape
    if new_err:
        err = np.empty_like(data)
    var_flat = np.empty(shape, dtype=np.float32)
    dq = out.dq
    step = max(1, (block_pixels or BLOCK_PIXELS) // max(1, nx * planes))
    unusable = 0
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        f, fdq, ferr_sq = _flat_block(flat_data, flat_dq, flat_err,
                                      slice(row0 + r0, row0 + r1), cols)
        unusable += int(np.count_nonzero(fdq & DO_NOT_USE))
        block = (Ellipsis, slice(r0, r1), slice(None))
        f_sq = f * f
        d = data[block]
        d /= f
        vf = var_flat[block]
        np.multiply(d, d, out=vf)
        vf /= f_sq
        vf *= ferr_sq
        vp, vr = var_poisson[block], var_rnoise[block]
        vp /= f_sq
        vr /= f_sq
        e = err[block]
        np.add(vp, vr, out=e)
        e += vf
        np.sqrt(e, out=e)
        q = dq[block]
        q |= fdq
        invalid = np.isnan(e)
        invalid |= (q & DO_NOT_USE) != 0
        if invalid.any():
            q[invalid] |= DO_NOT_USE
            for arr in (d, e, vp, vr, vf):
                arr[invalid] = np.nan
    log.debug("%d flat pixels unusable; left uncorrected", unusable)
    _attach(out, "var_flat", var_flat)
    if new_err:
        _attach(out, "err", err)


def _attach(model, name, array):
    """Set a new array the schema already admits, without re-validating it.

    ``array`` is float32 and shaped like the science data, as the schema asks;
    stdatamodels would otherwise re-read its schema files on every assignment
    (about 10 ms each). Validation on assignment is restored afterwards.
    """
    validating = getattr(model, "_validate_on_assignment", None)
    if validating is None:  # not a stdatamodels model
        setattr(model, name, array)
        return
    model._validate_on_assignment = False
    try:
        setattr(model, name, array)
    finally:
        model._validate_on_assignment = validating
