"""Drizzle passes: the weights and arrays fed to drizzle's C kernel, block by block."""

import logging

import numpy as np
from drizzle import cdrizzle
from stdatamodels.jwst.datamodels import dqflags

from snakewebb.resample.grid import ResampleError

__all__ = ["BAD_DQ", "VARIANCES", "drizzle_weights"]

log = logging.getLogger(__name__)

#: DQ bits that exclude an input pixel (the official ``good_bits`` default
#: "~DO_NOT_USE+NON_SCIENCE": every other flag is still drizzled).
BAD_DQ = dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["NON_SCIENCE"]

#: Variance arrays resampled alongside SCI, in the order they are reported.
VARIANCES = ("var_rnoise", "var_flat", "var_poisson")


def _array(model, name):
    """A model array if present (no default created), else ``None``."""
    value = model.instance.get(name)
    if value is None or np.size(value) == 0:
        return None
    return np.asarray(value)


def _invalid_mask(model, rows=slice(None)):
    """Pixels that must not be drizzled: NaN anywhere, DO_NOT_USE or NON_SCIENCE."""
    invalid = np.isnan(model.data[rows])
    for name in ("err",) + VARIANCES:
        arr = _array(model, name)
        if arr is not None and arr.shape == model.data.shape:
            invalid |= np.isnan(arr[rows])
    dq = _array(model, "dq")
    if dq is not None and dq.shape == model.data.shape:
        invalid |= (dq[rows] & BAD_DQ) != 0
    return invalid


def drizzle_weights(model, weight_type, invalid=None, rows=slice(None)):
    """Per-pixel drizzle weights (float32), zero on invalid pixels.

    ``ivm``: inverse of VAR_RNOISE (zero where not finite; ones if absent).
    ``exptime``: the measurement time, else the exposure time.
    """
    if invalid is None:
        invalid = _invalid_mask(model, rows)
    shape = invalid.shape
    if weight_type == "ivm":
        var = _array(model, "var_rnoise")
        if var is None or var.shape != model.data.shape:
            weight = np.ones(shape, dtype=np.float32)
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                weight = np.reciprocal(var[rows], dtype=np.float32)
            weight[~np.isfinite(weight)] = 0.0
    elif weight_type == "exptime":
        weight = np.full(shape, _measurement_time(model), dtype=np.float32)
    else:
        raise ResampleError(f"unknown weight type {weight_type!r} (ivm or exptime)")
    weight[invalid] = 0.0
    return weight


def _measurement_time(model):
    exposure = model.meta.exposure
    t = exposure.measurement_time
    return exposure.exposure_time if t is None else t


def _fill_string(fillval):
    """The fill value as drizzle's C kernel takes it ("NaN" or a number)."""
    text = "INDEF" if fillval is None else str(fillval).strip()
    if text.upper() in ("", "INDEF"):
        return "NaN"  # nothing to keep: the outputs start empty
    float(text)
    return text


class _DrizzlePass:
    """One drizzle pass fed block by block straight to drizzle's C kernel.

    Holds the output image (starting at the fill value), its summed weights
    and, if asked, one context plane (bit ``k`` for the ``k``-th block, so at
    most 32 blocks). Only the last block of a pass asks the kernel to write the
    fill value into output pixels that got no weight: that is a scan of the
    whole output, and on earlier blocks it has no effect on the result (an
    output pixel with no weight yet takes the next contribution as it is).
    """

    def __init__(self, shape, kernel, fillval, context=False):
        self.kernel = kernel
        self.fill = _fill_string(fillval)
        start = np.nan if self.fill.upper() == "NAN" else float(self.fill)
        self.out_img = np.full(shape, start, dtype=np.float32)
        self.out_wht = np.zeros(shape, dtype=np.float32)
        self.out_ctx = np.zeros(shape, dtype=np.int32) if context else None
        self.added = 0

    def add(self, data, weight, pixmap, *, last, ratio, pixfrac, xmin, xmax, ymin, ymax):
        """Drizzle ``data`` (float32) with ``weight`` (float32) through ``pixmap`` (float64)."""
        self.added += 1
        cdrizzle.tdriz(
            input=data, weights=weight, pixmap=pixmap, output=self.out_img,
            counts=self.out_wht, context=self.out_ctx, uniqid=self.added,
            xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax, iscale=1.0, pscale_ratio=ratio,
            pixfrac=pixfrac, kernel=self.kernel, in_units="cps", expscale=1.0, wtscale=1.0,
            fillstr=self.fill if last else "INDEF",
        )

    def crop(self, shape):
        """Drop the outputs' padding beyond ``shape`` (top rows, right columns)."""
        ny, nx = shape
        for name in ("out_img", "out_wht", "out_ctx"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (ny, nx):
                setattr(self, name, np.ascontiguousarray(arr[:ny, :nx]))


def _root(model, name, rows, invalid):
    """Sqrt of a variance block (float32), NaN on invalid pixels; None if absent."""
    var = _array(model, name)
    if var is None or var.shape != model.data.shape:
        return None
    with np.errstate(invalid="ignore"):
        root = np.sqrt(var[rows], dtype=np.float32)
    root[invalid] = np.nan
    return root


def _negative_weights_possible(model, weight_type):
    """True when some input pixel may get a negative drizzle weight."""
    if weight_type == "exptime":
        return not _measurement_time(model) > 0
    var = _array(model, "var_rnoise")
    if var is None or var.shape != model.data.shape:
        return False
    return bool(np.any(var < 0))


def _use_shared_pass(model, weight_type, present, blocks):
    """Whether VAR_RNOISE and VAR_FLAT can share one drizzle pass.

    ivm weights are positive only where VAR_RNOISE is finite and positive, so
    the condition always holds for them; exptime weights are checked block by block.
    """
    if not {"var_rnoise", "var_flat"} <= set(present):
        return False
    return weight_type == "ivm" or all(
        _shared_pass_ok(model, weight_type, slice(h0, h1)) for _, _, h0, h1 in blocks)


def _shared_pass_ok(model, weight_type, rows):
    """True when sqrt(VAR_RNOISE) is finite and positive wherever a pixel has weight."""
    invalid = _invalid_mask(model, rows)
    weight = drizzle_weights(model, weight_type, invalid, rows)
    rn = _array(model, "var_rnoise")[rows]
    used = weight > 0
    return bool(np.all(np.isfinite(rn[used]) & (rn[used] > 0)))
