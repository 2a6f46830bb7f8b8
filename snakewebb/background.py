"""Background subtraction from dedicated background exposures (pure algorithm).

The background members of an exposure's association are combined pixel by
pixel with a sigma-clipped mean (median centre, standard deviation scale,
``sigma`` for both bounds, up to ``maxiters`` iterations, NaN ignored) and
the result is subtracted from the science signal. A background that is
itself per integration (``_rateints``) is first collapsed to one image by
the same clipped mean over its integrations. The DQ flags of every
background pixel used are OR-ed into the science DQ. As in the official
imaging step, the science ERR and variances are left as they are; the
uncertainty of the combined background is computed and returned with it.

Backgrounds taken with a different subarray contribute only where they
overlap the science footprint. Pixels that no background covers (or where
every background is NaN) get a background of zero, as in the official step.
"""

import logging
import math
import warnings

import numpy as np

from snakewebb.instruments import full_frame

__all__ = ["BackgroundShapeError", "clipped_mean", "combine_backgrounds", "subtract_background"]

log = logging.getLogger(__name__)

class BackgroundShapeError(ValueError):
    """A background (or the science) whose footprint cannot be placed."""


def _box(model):
    """0-based (y0, x0, y1, x1) footprint of ``model`` on its detector."""
    sub = model.meta.subarray
    ny, nx = model.data.shape[-2:]
    if None in (sub.xstart, sub.ystart, sub.xsize, sub.ysize):
        if (ny, nx) != full_frame(model.meta.instrument.name):
            raise BackgroundShapeError(
                f"{model.meta.filename or 'model'}: no SUBSTRT/SUBSIZE keywords and not full frame"
            )
        return 0, 0, ny, nx
    y0, x0 = sub.ystart - 1, sub.xstart - 1
    return y0, x0, y0 + sub.ysize, x0 + sub.xsize


def _cannot_clip(n, sigma):
    """True when no sample of ``n`` can lie more than ``sigma`` std from the median.

    For n samples |x - mean| <= std (n-1)/sqrt(n), and |mean - median| <= std,
    so |x - median| <= std ((n-1)/sqrt(n) + 1). Clipping needs a strictly
    larger deviation than ``sigma`` std.
    """
    return n <= 1 or (n - 1) / math.sqrt(n) + 1.0 <= sigma


def clipped_mean(stack, sigma=3.0, maxiters=None):
    """Sigma-clipped mean along axis 0, NaN ignored.

    Returns ``(mean, mask)``: mean is float64 with 0 where every sample is
    clipped or NaN; mask is the per-sample clip mask (True = rejected).
    The samples are summed in the stack's own dtype and the sum divided by the
    count in float64, as numpy's masked mean does: a float32 stack's mean keeps
    float32 rounding, which matters where a background cancels the science.
    For small stacks where clipping is impossible, the mean is computed
    directly; otherwise astropy's ``sigma_clip`` (median/std) does it.
    """
    stack = np.asarray(stack)
    if not np.issubdtype(stack.dtype, np.floating):
        stack = stack.astype(np.float64)
    if _cannot_clip(stack.shape[0], sigma):
        # plain mean of the finite samples, accumulated one plane at a time
        mask = ~np.isfinite(stack)
        total = np.zeros(stack.shape[1:], dtype=stack.dtype)
        for plane, bad in zip(stack, mask):
            total += np.where(bad, 0.0, plane)
        count = stack.shape[0] - mask.sum(axis=0, dtype=np.int32)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total.astype(np.float64) / count
        mean[count == 0] = 0.0
        return mean, mask
    from astropy.stats import sigma_clip
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        clipped = sigma_clip(stack, sigma=sigma, maxiters=maxiters, axis=0)
    mean = np.asarray(clipped.mean(axis=0).filled(0.0), dtype=np.float64)
    return mean, np.ma.getmaskarray(clipped)


def _cutout(science_box, background, with_err=True):
    """The background's data, err, dq placed on the science footprint (NaN / 0 outside).

    ``err`` is None unless ``with_err``.
    """
    sy0, sx0, sy1, sx1 = science_box
    by0, bx0, by1, bx1 = _box(background)
    y0, x0, y1, x1 = max(sy0, by0), max(sx0, bx0), min(sy1, by1), min(sx1, bx1)
    if (by0, bx0, by1, bx1) == (sy0, sx0, sy1, sx1):  # same footprint: no copy needed
        err = background.err if with_err else None
        if with_err and (err is None or not np.size(err)):
            err = np.full(background.data.shape, np.nan, dtype=np.float32)
        return background.data, err, background.dq
    lead = background.data.shape[:-2]
    shape = lead + (sy1 - sy0, sx1 - sx0)
    data = np.full(shape, np.nan, dtype=np.float32)
    err = np.full(shape, np.nan, dtype=np.float32) if with_err else None
    dq = np.zeros(shape, dtype=np.uint32)
    if y1 <= y0 or x1 <= x0:
        log.debug("%s does not overlap the science footprint", background.meta.filename)
        return data, err, dq
    src = (..., slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0))
    dst = (..., slice(y0 - sy0, y1 - sy0), slice(x0 - sx0, x1 - sx0))
    data[dst] = background.data[src]
    if with_err:
        berr = background.err
        if berr is not None and np.size(berr):
            err[dst] = berr[src]
    dq[dst] = background.dq[src]
    return data, err, dq


def combine_backgrounds(science, backgrounds, sigma=3.0, maxiters=None, *, with_err=True):
    """Combine background models into one image on the science footprint.

    Parameters
    ----------
    science : ImageModel or CubeModel
        Only its footprint (subarray) and image shape are used.
    backgrounds : sized iterable of ImageModel/CubeModel
        Background exposures (not modified), used one after the other, so an
        iterable that opens each only when reached keeps one in memory at a time.
    sigma, maxiters
        Clipping threshold and iteration limit (None: until nothing changes).
    with_err : bool
        Also compute the combined uncertainty (not needed for the subtraction).

    Returns
    -------
    data : float32 ndarray (ny, nx)
    err : float32 ndarray (ny, nx) or None
        Uncertainty of the clipped mean (root-sum of the kept variances over their count).
    dq : uint32 ndarray (ny, nx)
    """
    n = len(backgrounds)
    if n == 0:
        raise ValueError("no background exposures to combine")
    if n >= 2**16:
        raise ValueError(f"{n} background exposures: too many to combine")
    box = _box(science)
    image_shape = science.data.shape[-2:]
    # When no sample can be clipped (few members), a running sum is enough;
    # otherwise the per-member images are stacked for sigma clipping.
    stream = _cannot_clip(n, sigma)
    if stream:
        total = np.zeros(image_shape)
        count = np.zeros(image_shape, dtype=np.uint16)
    else:
        cdata = np.empty((n,) + image_shape)  # float64, summed as such (as jwst does)
    cvar = np.empty((n,) + image_shape) if with_err else None
    nan_mask = np.empty((n,) + image_shape, dtype=bool) if (with_err and stream) else None
    dq = np.zeros(image_shape, dtype=np.uint32)
    for i, bkg in enumerate(backgrounds):
        data, err, bdq = _cutout(box, bkg, with_err)
        if data.ndim == 3:
            image = clipped_mean(data, sigma, maxiters)[0]
            if with_err:
                cvar[i] = clipped_mean(err * err, sigma, maxiters)[0]
            dq |= np.bitwise_or.reduce(bdq, axis=0)
        else:
            image = data
            if with_err:
                cvar[i] = err * err  # squared in float32, as the official step does
            dq |= bdq
        del data, err, bdq
        if stream:
            good = np.isfinite(image)
            np.add(total, image, out=total, where=good)
            count += good
            if nan_mask is not None:
                nan_mask[i] = ~good
        else:
            cdata[i] = image
        del image
    if stream:
        mask = None
        with np.errstate(invalid="ignore", divide="ignore"):
            total /= count
        total[count == 0] = 0.0
        mean = total
    else:
        mean, mask = clipped_mean(cdata, sigma, maxiters)
        del cdata
    err = None
    if with_err:
        if mask is None:
            mask = nan_mask  # no clipping: the rejected samples are the NaN ones
        kept = n - mask.sum(axis=0)
        cvar[mask] = 0.0
        var_sum = cvar.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.where(kept > 0, np.sqrt(var_sum) / np.maximum(kept, 1), 0.0).astype(np.float32)
    return mean.astype(np.float32), err, dq


def subtract_background(model, backgrounds, sigma=3.0, maxiters=None, *, copy=True,
                        with_err=True):
    """Subtract the combined background from ``model``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Science slope data; a cube has the same background taken from every integration.
    backgrounds : sequence of models
        Open background exposures.
    sigma, maxiters
        Sigma-clipping parameters of the combination.
    copy : bool
        Work on a copy (default), or in place when False.
    with_err : bool
        Also compute the combined background's uncertainty (returned, not applied).

    Returns
    -------
    result, combined : (model, tuple)
        The background-subtracted model and the combined background
        ``(data, err, dq)`` from :func:`combine_backgrounds`.
    """
    combined = combine_backgrounds(model, backgrounds, sigma, maxiters, with_err=with_err)
    out = model.copy() if copy else model
    out.data -= combined[0]
    out.dq |= combined[2]
    return out, combined
