"""Resample one calibrated imaging exposure onto a rectified sky grid (``_i2d``).

Pure algorithm: an open ``_cal`` :class:`~stdatamodels.jwst.datamodels.ImageModel`
in, a new resampled ``ImageModel`` out; the input is never modified.

What it reproduces (the behaviour of the official ``resample`` step for a single
exposure, learnt from its source and re-expressed here):

* **Output grid.** A gnomonic (TAN) grid centred on the middle of the exposure's
  ``S_REGION`` footprint, rotated by the telescope roll (``ROLL_REF``, ``V3I_YANG``,
  ``VPARITY``) unless a ``rotation`` is given, with the input pixel scale measured
  from the input WCS one pixel either side of ``(RA_REF, DEC_REF)`` times
  ``pixel_scale_ratio`` (or an absolute ``pixel_scale``). Its shape is the
  footprint's extent on that grid, and its reference pixel sits where the
  footprint's lower-left corner lands at 0.
* **Pixel map.** Where each input pixel centre lands on the output grid. The
  exact transform chain is evaluated only on a coarse grid of nodes (every
  ``PIXMAP_STEP`` pixels, edges included) and filled in with separable local
  cubic (Lagrange) interpolation: along x on the node rows once, then per node
  interval along y, as small dense matrix products.
  The interpolation error is measured in the tests (well below 1e-3 pixel).
  Kernels whose weights jump with the position (point, gaussian, lanczos) get
  the exact map instead (:data:`EXACT_MAP_KERNELS`).
* **Drizzle.** The ``drizzle`` package's C kernel, called directly with
  contiguous float32 data/weights and one float64 pixel map for all arrays; the
  fill value is written once, on a pass's last block. The input is fed in
  blocks of rows (two halo rows either side so drizzle interpolates pixel
  corners across seams as on the whole image; the result is bit-identical), so
  the pixel map, weights and square roots never exist for the whole image; the
  context bits of the blocks are merged. drizzle only scans the input pixels
  inside the region's mapped corners clipped to the output grid, so when the
  input's edges reach beyond the output (a clip that would differ block by
  block) the image is drizzled as one block.
  The weight of an input pixel is its inverse read-noise
  variance (``ivm``) or its exposure time (``exptime``), zero where DQ has
  DO_NOT_USE or NON_SCIENCE or any array holds NaN.
* **Variances.** Each variance is resampled as the weighted mean of its square
  root, then squared (the official 3.0.0 recipe), divided by the square of the
  pixel scale ratio, and ERR is the root of their sum. Because drizzle's result
  is linear in the data for fixed weights, the read-noise and flat variances
  share a single pass: with weights ``w*sqrt(VAR_RNOISE)`` the output weight is
  the drizzled ``sqrt(VAR_RNOISE)`` numerator and the output image times that
  weight is the ``sqrt(VAR_FLAT)`` numerator. The other numerators come from
  ordinary passes, so three drizzle passes give SCI, WHT, CON and all variances.
* **Context.** With no negative weight (no negative VAR_RNOISE), drizzle sets an
  output pixel's context bit exactly where its summed weight becomes positive,
  so CON is taken from WHT and no context plane is drizzled or kept.

The parts: :mod:`~snakewebb.resample.grid` (output grid), :mod:`~.pixmap` (pixel map),
:mod:`~.passes` (weights and drizzle passes), :mod:`~.blocks` (row blocks),
:mod:`~.variances`, :mod:`~.metadata`; :func:`resample_image` here puts them together.
"""

import logging
import math

import numpy as np
from stdatamodels.jwst import datamodels

from snakewebb import drizzle_scan  # noqa: F401 - the row blocks' scan (tests patch it here)
from snakewebb.resample.blocks import _MAX_BLOCKS, BLOCK_ROWS, _block_plan, _blocks, _drizzle_range
from snakewebb.resample.grid import (
    ResampleError,
    build_output_wcs,
    mean_pixel_area,
    pixel_scale_at,
    sregion_footprint,
)
from snakewebb.resample.metadata import _set_metadata
from snakewebb.resample.passes import (  # noqa: F401 - _shared_pass_ok: tests reach it here
    BAD_DQ,
    VARIANCES,
    _array,
    _DrizzlePass,
    _invalid_mask,
    _measurement_time,
    _negative_weights_possible,
    _root,
    _shared_pass_ok,
    _use_shared_pass,
    drizzle_weights,
)
from snakewebb.resample.pixmap import (  # noqa: F401 - _lagrange_*: tests reach them here
    EXACT_MAP_KERNELS,
    PIXMAP_STEP,
    _lagrange_matrix,
    _lagrange_weights,
    _PixelMapper,
    exact_pixel_map,
    pixel_map,
)
from snakewebb.resample.variances import _error_from_variances, _finish_variances

__all__ = [
    "BAD_DQ",
    "PIXMAP_STEP",
    "EXACT_MAP_KERNELS",
    "VARIANCES",
    "ResampleError",
    "build_output_wcs",
    "pixel_scale_at",
    "mean_pixel_area",
    "pixel_map",
    "exact_pixel_map",
    "drizzle_weights",
    "resample_image",
    "sregion_footprint",
]

log = logging.getLogger(__name__)


def resample_image(model, *, pixfrac=1.0, kernel="square", weight_type="ivm", fillval="NaN",
                   pixel_scale_ratio=1.0, pixel_scale=None, rotation=None, output_shape=None,
                   crpix=None, crval=None, pixmap_step=PIXMAP_STEP, block_rows=BLOCK_ROWS):
    """Drizzle one calibrated exposure onto its rectified grid.

    Parameters are the official step's (see :class:`snakewebb.steps.resample.ResampleOptions`);
    ``output_shape`` is ``(nx, ny)``, ``crpix`` 0-based ``(x, y)``, ``pixel_scale`` in arcsec.
    The input is drizzled in blocks of ``block_rows`` rows (with halo rows), so
    the pixel map, weights and square roots never exist for the whole image
    (:mod:`~snakewebb.resample.blocks`); ``block_rows=None`` switches row blocks off
    (one block: the same product, a higher peak memory).

    Returns
    -------
    ImageModel
        New model with SCI, WHT, CON, ERR, VAR_RNOISE, VAR_POISSON, VAR_FLAT
        (float32 but CON), the output gwcs, FITS WCS keywords, S_REGION, pixel
        area, exposure-time and ``meta.resample`` keywords. ``cal_step`` is left
        to the caller.

    Raises
    ------
    ResampleError
        Data not 2D, no usable WCS or metadata, or invalid parameters.
    """
    data = model.data
    if data is None or data.ndim != 2:
        raise ResampleError(f"data must be a 2D image, not {getattr(data, 'shape', None)}")
    if kernel not in ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3"):
        raise ResampleError(f"unknown drizzle kernel {kernel!r}")
    if not 0.0 < pixfrac <= 1.0:
        raise ResampleError(f"pixfrac must be in (0, 1], not {pixfrac}")
    exptime = model.meta.exposure.exposure_time
    if exptime is None or not exptime > 0:
        raise ResampleError(f"exposure time EFFEXPTM must be positive, not {exptime}")
    if weight_type not in ("ivm", "exptime"):
        raise ResampleError(f"unknown weight type {weight_type!r} (ivm or exptime)")

    out_wcs, scale, ratio = build_output_wcs(
        model, pixel_scale_ratio=pixel_scale_ratio, pixel_scale=pixel_scale,
        rotation=rotation, output_shape=output_shape, crpix=crpix, crval=crval,
    )
    out_shape = tuple(out_wcs.array_shape)
    log.info("output grid %d x %d (nx, ny), %.5f arcsec/pixel, ratio %.4g",
             out_shape[1], out_shape[0], scale * 3600.0, ratio)

    ny = data.shape[0]
    if block_rows is None:  # row blocks off
        rows_per_block = ny
    else:
        rows_per_block = max(int(block_rows), math.ceil(ny / _MAX_BLOCKS))
    blocks = list(_blocks(ny, rows_per_block))
    if kernel in EXACT_MAP_KERNELS:
        pixmap_step = 1
    mapper = _PixelMapper(model.meta.wcs, out_wcs, data.shape, pixmap_step)
    xmin, xmax, ymin, ymax = _drizzle_range(model.meta.wcs, data.shape)
    plan = _block_plan(mapper, blocks, (xmin, xmax, ymin, ymax), out_shape)
    blocks = plan.blocks
    drizzle_shape = (out_shape[0] + plan.pad[0], out_shape[1] + plan.pad[1])
    present = [n for n in VARIANCES if _array(model, n) is not None
               and _array(model, n).shape == data.shape]
    for name in VARIANCES:
        if name not in present:
            log.warning("no %s: its resampled variance is NaN", name.upper())
    if weight_type == "ivm" and "var_rnoise" not in present:
        log.warning("no VAR_RNOISE: every pixel weighs 1")
    shared = _use_shared_pass(model, weight_type, present, blocks)

    level = model.meta.background.level
    subtract = None if model.meta.background.subtracted or level is None else np.float32(level)

    # With no negative weight an output pixel has a context bit exactly where its
    # summed weight is positive, so CON comes from WHT and no context plane is kept.
    # Weights can be negative through the input weights or the lanczos kernels'
    # negative lobes (the official CON counts those pixels).
    need_context = kernel in ("lanczos2", "lanczos3") or _negative_weights_possible(
        model, weight_type)
    main = _DrizzlePass(drizzle_shape, kernel, fillval, context=need_context)
    passes = {}
    if shared:
        passes["pair"] = _DrizzlePass(drizzle_shape, kernel, "NaN")
    for name in present:
        if not (shared and name in ("var_rnoise", "var_flat")):
            passes[name] = _DrizzlePass(drizzle_shape, kernel, "NaN")

    # only blocks holding rows of the bounding box are drizzled
    active = [b for b in blocks if max(ymin, b[0]) <= min(ymax, b[1] - 1)]
    for k, (r0, r1, h0, h1) in enumerate(active):
        rows = slice(h0, h1)
        pixmap = mapper.rows(h0, h1)
        invalid = _invalid_mask(model, rows)
        unvisited = plan.unvisited(r0, r1, h0, h1, data.shape[1])
        if unvisited is not None:
            invalid |= unvisited
            del unvisited
        weight = drizzle_weights(model, weight_type, invalid, rows)
        common = dict(pixmap=pixmap, last=k == len(active) - 1, ratio=ratio, pixfrac=pixfrac,
                      xmin=xmin, xmax=xmax, ymin=max(ymin, r0) - h0, ymax=min(ymax, r1 - 1) - h0)
        sci = np.array(data[rows], dtype=np.float32)
        sci[invalid] = np.nan
        if subtract is not None:
            sci -= subtract
        main.add(sci, weight, **common)
        del sci
        if shared:
            rn = _root(model, "var_rnoise", rows, invalid)
            flat = _root(model, "var_flat", rows, invalid)
            used = weight > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(flat, rn, out=flat)
            flat[~used] = 0.0
            rn[~used] = 0.0
            rn *= weight
            passes["pair"].add(flat, rn, **common)
            del rn, flat, used
        for name, driz in passes.items():
            if name != "pair":
                driz.add(_root(model, name, rows, invalid), weight, **common)
        del pixmap, invalid, weight, common
    del mapper
    for driz in (main, *passes.values()):
        driz.crop(out_shape)

    out_sci, out_wht = main.out_img, main.out_wht
    if need_context:
        out_con = (main.out_ctx != 0).astype(np.int32)[None]
    else:
        out_con = (out_wht > 0).astype(np.int32)[None]
    del main
    roots = {}
    covered = out_wht > 0
    if shared:
        pair = passes.pop("pair")
        flat_root, rn_root = pair.out_img, pair.out_wht
        del pair
        with np.errstate(divide="ignore", invalid="ignore"):
            flat_root *= rn_root
            flat_root /= out_wht
            rn_root /= out_wht
        flat_root[~covered] = np.nan
        rn_root[~covered] = np.nan
        roots["var_rnoise"], roots["var_flat"] = rn_root, flat_root
    spare = None  # a separate variance pass sums the same weights as the main one
    for name in list(passes):
        driz = passes.pop(name)
        roots[name], spare = driz.out_img, driz.out_wht
        del driz
    del covered

    variances = _finish_variances(roots, weight_type, _measurement_time(model), ratio, out_shape)
    err = _error_from_variances(variances, out=spare)
    del spare

    # metadata is checked once at the end rather than on every assignment
    out = datamodels.ImageModel(validate_on_assignment=False)
    out.update(model)
    out.data = out_sci
    out.wht = out_wht
    out.con = out_con
    out.err = err
    for name in VARIANCES:
        setattr(out, name, variances[name])
    out.meta.wcs = out_wcs
    _set_metadata(out, model, scale, ratio, pixfrac=pixfrac, kernel=kernel,
                  fillval=fillval, weight_type=weight_type)
    out._validate_on_assignment = True
    out.validate()
    return out
