"""Resampled variances: drizzled square roots squared, scaled, and ERR from them."""

import math

import numpy as np

from snakewebb.resample.passes import VARIANCES

__all__ = []

_F32_MAX = np.finfo(np.float32).max


def _accumulator_overflow(var, rn_var, tmeasure):
    """Flat indices of the pixels whose weighted variance ``var * w**2`` is beyond float32.

    The official step keeps the running sum ``var * w * w`` (``w`` the output
    combination weight: ``1 / rn_var`` for ``ivm``, else ``tmeasure``) in a float32
    array and divides the weights out afterwards, so a product beyond float32
    becomes an infinite variance there although ``var`` itself is finite.
    ``rn_var`` is None for exptime weights.
    """
    # one max and one min over the arrays rule it out on ordinary data (no temporaries)
    vmax = float(np.fmax.reduce(var, axis=None)) if var.size else math.nan
    if rn_var is None:
        bound = 0.5 * float(_F32_MAX) / float(tmeasure) ** 2
    else:
        rmin = float(np.fmin.reduce(rn_var, axis=None)) if rn_var.size else math.nan
        bound = 0.5 * float(_F32_MAX) * rmin * rmin
    if not vmax >= bound:  # NaN (nothing finite) included
        return np.empty(0, dtype=np.intp)
    with np.errstate(over="ignore", invalid="ignore"):
        if rn_var is None:  # one weight for all: the same bound everywhere
            candidate = var >= bound
        else:  # a cheap float32 bound per pixel first; the exact test on the few candidates
            candidate = var >= np.float32(0.5) * _F32_MAX * (rn_var * rn_var)
        candidate &= np.isfinite(var)
    where = np.flatnonzero(candidate)
    if where.size == 0:
        return where
    v = var.flat[where].astype(np.float64)
    w = float(tmeasure) if rn_var is None else np.reciprocal(rn_var.flat[where]).astype(np.float64)
    with np.errstate(over="ignore"):
        summed = (v * w * w).astype(np.float32)
    return where[np.isinf(summed)]


def _finish_variances(roots, weight_type, tmeasure, ratio, out_shape):
    """Square the drizzled roots in place and finish the variances.

    Keep them where the combination weight is positive (resampled read noise for
    ``ivm``), scale by ``1/ratio**2``; infinite where the official float32 weighted sum
    overflows.
    """
    scaling = np.float32(1.0 / ratio**2)
    usable = None  # for ivm: where the squared read-noise root (done first) is positive
    if weight_type != "ivm":
        usable = np.full(out_shape, bool(tmeasure and tmeasure > 0))
    elif roots.get("var_rnoise") is None:
        usable = np.zeros(out_shape, dtype=bool)
    squared = {}
    for name in VARIANCES:  # var_rnoise first
        var = roots.pop(name, None)
        if var is not None:
            squared[name] = np.square(var, out=var)
    rn_var = squared.get("var_rnoise") if weight_type == "ivm" else None
    overflow = {name: _accumulator_overflow(var, rn_var, tmeasure)
                for name, var in squared.items()
                if weight_type == "ivm" or (tmeasure and tmeasure > 0)}
    variances = {}
    for name in VARIANCES:
        var = squared.get(name)
        if var is None:
            variances[name] = np.full(out_shape, np.nan, dtype=np.float32)
            continue
        if usable is None:
            with np.errstate(invalid="ignore"):
                usable = np.isfinite(var) & (var > 0)
        drop = ~usable
        drop |= ~np.isfinite(var)
        with np.errstate(invalid="ignore"):
            drop |= var < 0
        var *= scaling
        var[drop] = np.nan
        where = overflow.get(name)
        if where is not None and where.size:
            where = where[~drop.flat[where]]
            var.flat[where] = np.inf
        variances[name] = var
    return variances


def _error_from_variances(variances, out=None):
    """ERR = sqrt of the sum of the variances, NaN where all are NaN (into ``out`` if given)."""
    shape = next(iter(variances.values())).shape
    err = np.empty(shape, dtype=np.float32) if out is None else out
    err.fill(0.0)
    all_nan = np.ones(err.shape, dtype=bool)
    for var in variances.values():
        nan = np.isnan(var)
        np.add(err, var, out=err, where=~nan)
        all_nan &= nan
    np.sqrt(err, out=err)
    err[all_nan] = np.nan
    return err
