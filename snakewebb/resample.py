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
"""

import copy
import logging
import math
import re
import warnings

import gwcs
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.modeling import models as amodels
from drizzle import cdrizzle
from gwcs import FITSImagingWCSTransform
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from snakewebb import drizzle_scan

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

#: DQ bits that exclude an input pixel (the official ``good_bits`` default
#: "~DO_NOT_USE+NON_SCIENCE": every other flag is still drizzled).
BAD_DQ = dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["NON_SCIENCE"]

#: Spacing (input pixels) of the nodes where the exact transform is evaluated.
PIXMAP_STEP = 16

#: Kernels whose weights jump with the mapped position (nearest pixel, lookup
#: tables): the interpolated map's ~1e-6 px error moves some weights, so these get
#: the exact map. Square and turbo overlaps are continuous in the position.
EXACT_MAP_KERNELS = frozenset({"point", "gaussian", "lanczos2", "lanczos3"})

#: Variance arrays resampled alongside SCI, in the order they are reported.
VARIANCES = ("var_rnoise", "var_flat", "var_poisson")

_ARCSEC_PER_RAD = math.degrees(1.0) * 3600.0


class ResampleError(ValueError):
    """An exposure that cannot be resampled (bad WCS, metadata or parameters)."""


# --------------------------------------------------------------------------- grid


def sregion_footprint(s_region):
    """Return the ``(N, 2)`` (RA, Dec) vertices of an ``S_REGION`` polygon string."""
    if not s_region or "POLYGON" not in str(s_region).upper():
        raise ResampleError(f"S_REGION {s_region!r} is not a polygon")
    numbers = str(s_region).split()[2:] if str(s_region).upper().startswith("POLYGON ICRS") \
        else re.sub(r"[A-Za-z]", " ", str(s_region)).split()
    try:
        values = np.array([v for v in numbers if v.upper() != "POLYGON"], dtype=float)
    except ValueError:
        raise ResampleError(f"S_REGION {s_region!r} does not hold numbers") from None
    if values.size < 6 or values.size % 2 or not np.all(np.isfinite(values)):
        raise ResampleError(f"S_REGION {s_region!r} does not hold (RA, Dec) pairs")
    return values.reshape(-1, 2)


def _footprint_centre(footprint):
    """Centre of a sky footprint: middle of the unit-vector bounding box.

    The arithmetic is the official step's to the last bit (``sqrt(x**2 + y**2)``,
    not ``hypot``): a last-bit change of CRVAL moves the output grid by ~1e-9
    pixel, enough to flip bins of drizzle's lanczos lookup table.
    """
    lon, lat = np.deg2rad(footprint[:, 0]), np.deg2rad(footprint[:, 1])
    vec = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    x, y, z = (vec.max(axis=1) + vec.min(axis=1)) / 2.0
    ra = float(np.rad2deg(np.arctan2(y, x)) % 360.0)
    dec = float(np.rad2deg(np.arctan2(z, np.sqrt(x**2 + y**2))))
    return ra, dec


#: FITS keyword of each ``meta.wcsinfo`` attribute the output grid needs.
_WCSINFO_KEYWORDS = {"ra_ref": "RA_REF", "dec_ref": "DEC_REF", "roll_ref": "ROLL_REF",
                     "v3yangle": "V3I_YANG", "vparity": "VPARITY"}


def _roll_matrix(roll_ref, v3yangle, vparity):
    """PC matrix of a grid aligned with the detector (angles in radians)."""
    if vparity not in (1, -1):
        raise ResampleError(f"VPARITY must be 1 or -1, not {vparity!r}")
    angle = roll_ref - vparity * v3yangle
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[vparity * c, s], [-vparity * s, c]])


def pixel_scale_at(wcs, ra, dec, ratio=1.0):
    """Pixel scale (degrees) of ``wcs`` at sky position ``(ra, dec)``, times ``ratio``.

    Geometric mean of the angular steps of one pixel along x and along y (each
    times ``ratio``), from the pixel that ``(ra, dec)`` maps to (bounding box
    ignored). The steps are SkyCoord separations, as the official step measures
    them: near RA 360 the longitude difference taken in degrees or in radians
    differs by ~1e-9 relative, which moves the output grid by ~1e-6 pixel.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x0, y0 = wcs.invert(ra, dec, with_bounding_box=False)
    xs = np.array([x0, x0 + 1.0, x0])
    ys = np.array([y0, y0, y0 + 1.0])
    lon, lat = wcs(xs, ys, with_bounding_box=False)
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise ResampleError("cannot measure the pixel scale of the input WCS at RA_REF/DEC_REF")
    points = SkyCoord(ra=lon, dec=lat, unit="deg")
    dx = abs(points[0].separation(points[1]).value) * ratio
    dy = abs(points[0].separation(points[2]).value) * ratio
    scale = float(np.sqrt(dx * dy))
    if not np.isfinite(scale) or scale <= 0:
        raise ResampleError("cannot measure the pixel scale of the input WCS at RA_REF/DEC_REF")
    return scale


def mean_pixel_area(wcs, shape):
    """Mean pixel solid angle (sr) of ``wcs`` over its bounding box (or ``shape``).

    The outline of the region of pixel centres, sampled every <= 15 pixels, is
    projected to the sky; its spherical area is divided by the area in pixels.
    The area is spherical_geometry's, as in the official step: on a small
    subarray its angle-sum formula is ~1e-5 off, and the official output pixel
    scale ratio (and a gaussian/lanczos kernel's width) carries that error.
    """
    ny, nx = shape
    if wcs.bounding_box is None:
        (x0, x1), (y0, y1) = (-0.5, nx - 0.5), (-0.5, ny - 0.5)
    else:
        (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    xmin, xmax = max(0, int(min(x0, x1) + 0.5)), min(nx - 1, int(max(x0, x1) - 0.5))
    ymin, ymax = max(0, int(min(y0, y1) + 0.5)), min(ny - 1, int(max(y0, y1) - 0.5))
    if xmax <= xmin or ymax <= ymin:
        raise ResampleError("input image too small to measure its pixel area")
    dx = min((xmax - xmin) // 4, 15) or (xmax - xmin + 1)
    dy = min((ymax - ymin) // 4, 15) or (ymax - ymin + 1)
    sx = max(1, math.ceil((xmax - xmin + 1) / dx))
    sy = max(1, math.ceil((ymax - ymin + 1) / dy))
    x = np.concatenate([
        np.linspace(xmin, xmax, sx, endpoint=False), np.full(sy, float(xmax)),
        np.linspace(xmax, xmin, sx, endpoint=False), np.full(sy, float(xmin)),
    ])
    y = np.concatenate([
        np.full(sx, float(ymin)), np.linspace(ymin, ymax, sy, endpoint=False),
        np.full(sx, float(ymax)), np.linspace(ymax, ymin, sy, endpoint=False),
    ])
    ra, dec = wcs(x, y)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ResampleError("input WCS is not finite on the image outline")
    from spherical_geometry.polygon import SphericalPolygon

    centre = wcs(0.5 * (xmin + xmax), 0.5 * (ymin + ymax))
    area = SphericalPolygon.from_radec(ra, dec, center=centre).area()
    if area > 2 * math.pi:  # the outline taken the other way round the sphere
        area = 4 * math.pi - area
    return area / ((xmax - xmin) * (ymax - ymin))


def build_output_wcs(model, *, pixel_scale_ratio=1.0, pixel_scale=None, rotation=None,
                     output_shape=None, crpix=None, crval=None):
    """Build the output (``_i2d``) grid of one exposure.

    Parameters
    ----------
    model : ImageModel
        The calibrated exposure: ``meta.wcs`` and ``meta.wcsinfo`` (``s_region``,
        ``ra_ref``, ``dec_ref``, ``roll_ref``, ``v3yangle``, ``vparity``).
    pixel_scale_ratio : float
        Output pixel scale over the input one; ignored when ``pixel_scale`` is given.
    pixel_scale : float or None
        Absolute output pixel scale in arcsec.
    rotation : float or None
        Position angle (deg) of the output +Y axis from North; ``None`` keeps the
        detector orientation.
    output_shape : (nx, ny) or None
        Output size; default: just large enough for the footprint.
    crpix : (x, y) or None
        0-based output pixel of ``crval``.
    crval : (ra, dec) or None
        Sky position of the reference pixel; default: footprint centre.

    Returns
    -------
    wcs : gwcs.WCS
        Output WCS with ``bounding_box`` and ``array_shape`` set.
    scale : float
        Output pixel scale in degrees.
    ratio : float
        Output-to-input pixel scale ratio.
    """
    in_wcs = model.meta.wcs
    info = model.meta.wcsinfo
    if in_wcs is None:
        raise ResampleError("no WCS (assign_wcs did not run)")
    if in_wcs.output_frame.naxes != 2:
        raise ResampleError("the WCS is not a 2-axis celestial imaging WCS")
    footprint = sregion_footprint(info.s_region)
    needed = ("ra_ref", "dec_ref", "v3yangle", "vparity") + (("roll_ref",) if rotation is None else ())
    lacking = [_WCSINFO_KEYWORDS[key] for key in needed if getattr(info, key, None) is None]
    if lacking:
        raise ResampleError(f"missing pointing keyword(s) {', '.join(lacking)}")

    if pixel_scale is None:
        scale = pixel_scale_at(in_wcs, info.ra_ref, info.dec_ref, pixel_scale_ratio)
        ratio = float(pixel_scale_ratio)
    else:
        scale = float(pixel_scale) / 3600.0
        in_scale = math.degrees(math.sqrt(mean_pixel_area(in_wcs, model.data.shape)))
        ratio = scale / in_scale
    if not scale > 0:
        raise ResampleError(f"output pixel scale must be positive, not {scale * 3600} arcsec")

    fiducial = tuple(float(v) for v in crval) if crval is not None else _footprint_centre(footprint)
    v3yangle = math.radians(info.v3yangle)
    vparity = int(info.vparity)
    if rotation is None:
        roll = math.radians(info.roll_ref)
    else:
        roll = math.radians(rotation) + vparity * v3yangle
    pc = _roll_matrix(roll, v3yangle, vparity)

    projection = amodels.Pix2Sky_TAN()
    to_sky = (
        amodels.AffineTransformation2D(matrix=pc)
        | amodels.Scale(scale) & amodels.Scale(scale)
        | projection
        | amodels.RotateNative2Celestial(fiducial[0], fiducial[1], 180.0)
    )
    corners = np.asarray(to_sky.inverse(footprint[:, 0], footprint[:, 1]))
    lo, hi = corners.min(axis=1), corners.max(axis=1)
    native_ref = np.asarray(to_sky.inverse(*fiducial))
    if crpix is None:
        offsets = native_ref - lo
    else:
        offsets = np.asarray(crpix, dtype=float) - native_ref
    lo, hi = lo + offsets, hi + offsets
    if output_shape is None:
        shape = tuple(int(v + 0.5) for v in hi[::-1])  # (ny, nx)
        bbox = tuple((-0.5, n - 0.5) for n in shape[::-1])
    else:
        shape = (int(output_shape[1]), int(output_shape[0]))
        bbox = tuple(
            (max(0, int(a + 0.5)) - 0.5, min(int(b + 0.5), n) - 0.5)
            for a, b, n in zip(lo, hi, shape[::-1])
        )
    if min(shape) < 2:
        raise ResampleError(f"output grid {shape[::-1]} (nx, ny) is too small")

    transform = FITSImagingWCSTransform(
        projection, crpix=tuple(offsets), crval=fiducial, cdelt=(scale, scale), pc=pc
    )
    out = gwcs.WCS([
        gwcs.Step(copy.deepcopy(in_wcs.input_frame), transform),
        gwcs.Step(copy.deepcopy(in_wcs.output_frame), None),
    ])
    out.bounding_box = bbox
    out.pixel_shape = shape[::-1]
    return out, scale, ratio


# ----------------------------------------------------------------------- pixmap


def _pixel_range(wcs, shape):
    """Integer pixel ranges ``(xmin, xmax, ymin, ymax)`` inside the bounding box."""
    ny, nx = shape
    if wcs.bounding_box is None:
        return 0, nx - 1, 0, ny - 1
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    xmin, xmax = max(0, math.ceil(x0)), min(nx - 1, math.floor(x1))
    ymin, ymax = max(0, math.ceil(y0)), min(ny - 1, math.floor(y1))
    return xmin, xmax, ymin, ymax


def _lagrange_weights(nodes, points, order=3):
    """Local Lagrange interpolation: node windows and weights, ``(len(points), k)`` each.

    Each point is interpolated from the ``k = order + 1`` consecutive nodes
    around it (the window shifted inwards at the edges).
    """
    nodes = np.asarray(nodes, dtype=float)
    points = np.asarray(points, dtype=float)
    k = min(order + 1, nodes.size)
    cell = np.clip(np.searchsorted(nodes, points, side="right") - 1, 0, nodes.size - 2)
    first = np.clip(cell - (k // 2 - 1), 0, nodes.size - k)
    idx = first[:, None] + np.arange(k)[None, :]
    xs = nodes[idx]
    weights = np.ones((points.size, k))
    for j in range(k):
        for m in range(k):
            if m != j:
                weights[:, j] *= (points - xs[:, m]) / (xs[:, j] - xs[:, m])
    return idx, weights


def _lagrange_matrix(nodes, points, order=3):
    """Dense ``(len(points), len(nodes))`` matrix of local Lagrange weights."""
    idx, weights = _lagrange_weights(nodes, points, order)
    matrix = np.zeros((len(points), len(nodes)))
    np.put_along_axis(matrix, idx, weights, axis=1)
    return matrix


def _nodes(lo, hi, step):
    count = max(int(math.ceil((hi - lo) / step)) + 1, min(4, hi - lo + 1))
    return np.linspace(lo, hi, count)


def exact_pixel_map(in_wcs, out_wcs, shape):
    """Pixel map by evaluating both transforms on every input pixel (reference)."""
    pixmap = np.full(tuple(shape) + (2,), np.nan)
    xmin, xmax, ymin, ymax = _pixel_range(in_wcs, shape)
    y, x = np.mgrid[ymin : ymax + 1, xmin : xmax + 1].astype(float)
    sky = in_wcs(x, y, with_bounding_box=False)
    ox, oy = out_wcs.backward_transform(*sky)
    pixmap[ymin : ymax + 1, xmin : xmax + 1, 0] = ox
    pixmap[ymin : ymax + 1, xmin : xmax + 1, 1] = oy
    return pixmap


class _PixelMapper:
    """Pixel map rows on demand, from the exact transform on a coarse node grid.

    Nodes are spaced at most ``step`` pixels apart with the first and last
    rows/columns of the bounding box included. The node values are first
    interpolated along x for all columns (a small ``(n_ynodes, nx)`` table),
    then each requested row is the local cubic Lagrange combination of four
    table rows. Pixels outside the input bounding box are NaN.
    """

    def __init__(self, in_wcs, out_wcs, shape, step=PIXMAP_STEP):
        self.shape = tuple(shape)
        self.range = xmin, xmax, ymin, ymax = _pixel_range(in_wcs, shape)
        if xmax < xmin or ymax < ymin:
            raise ResampleError("the WCS bounding box holds no pixel of the image")
        self.exact = None
        xn, yn = _nodes(xmin, xmax, step), _nodes(ymin, ymax, step)
        if xn.size * yn.size * 4 >= (xmax - xmin + 1) * (ymax - ymin + 1):
            self.exact = exact_pixel_map(in_wcs, out_wcs, shape)
            return
        gx, gy = np.meshgrid(xn, yn)
        sky = in_wcs(gx, gy, with_bounding_box=False)
        nodes = [np.asarray(v, dtype=float) for v in out_wcs.backward_transform(*sky)]
        if not all(np.all(np.isfinite(v)) for v in nodes):
            log.warning("transform not finite on every node; computing the exact pixel map")
            self.exact = exact_pixel_map(in_wcs, out_wcs, shape)
            return
        wx = _lagrange_matrix(xn, np.arange(xmin, xmax + 1))
        self.tables = [v @ wx.T for v in nodes]  # (n_ynodes, xmax - xmin + 1) each
        self.ynodes = yn

    def rows(self, r0, r1):
        """Pixel map of input rows ``r0:r1``, shape ``(r1 - r0, nx, 2)``."""
        if self.exact is not None:
            return np.ascontiguousarray(self.exact[r0:r1])
        xmin, xmax, ymin, ymax = self.range
        lo, hi = max(r0, ymin), min(r1, ymax + 1)
        if hi <= lo or (xmin, xmax) != (0, self.shape[1] - 1) or (lo, hi) != (r0, r1):
            block = np.full((r1 - r0, self.shape[1], 2), np.nan)
        else:  # every pixel is written below
            block = np.empty((r1 - r0, self.shape[1], 2))
        if hi <= lo:
            return block
        idx, weights = _lagrange_weights(self.ynodes, np.arange(lo, hi, dtype=float))
        # windows are consecutive nodes, so rows with the same first node share
        # their four table rows: one small (rows x 4) @ (4 x nx) product each
        starts = np.flatnonzero(np.r_[True, idx[1:, 0] != idx[:-1, 0]])
        ends = np.r_[starts[1:], idx.shape[0]]
        for a, b in zip(starts, ends):
            for axis, table in enumerate(self.tables):
                block[lo - r0 + a : lo - r0 + b, xmin : xmax + 1, axis] = (
                    weights[a:b] @ table[idx[a]])
        return block

    def values(self, rows, cols):
        """Pixel map at integer pixels ``(rows[k], cols[k])``, shape ``(n, 2)``, NaN
        outside the bounding box: the values :meth:`rows` gives there."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        if self.exact is not None:
            return self.exact[rows, cols]
        xmin, xmax, ymin, ymax = self.range
        out = np.full((rows.size, 2), np.nan)
        inside = (rows >= ymin) & (rows <= ymax) & (cols >= xmin) & (cols <= xmax)
        if inside.any():
            idx, weights = _lagrange_weights(self.ynodes, rows[inside].astype(float))
            columns = (cols[inside] - xmin)[:, None]
            for axis, table in enumerate(self.tables):
                out[inside, axis] = np.einsum("nk,nk->n", weights, table[idx, columns])
        return out


def pixel_map(in_wcs, out_wcs, shape, *, step=PIXMAP_STEP):
    """Output-grid coordinates of every input pixel centre, shape ``(ny, nx, 2)``.

    The exact chain (input pixel -> sky -> output pixel) is evaluated on nodes
    spaced at most ``step`` pixels apart, first and last rows/columns included,
    and interpolated with separable local cubic Lagrange weights. Pixels
    outside the input WCS bounding box are NaN (they are not drizzled). Falls
    back to the exact map when the transform is not finite on a node.
    """
    return _PixelMapper(in_wcs, out_wcs, shape, step).rows(0, shape[0])


# ---------------------------------------------------------------------- drizzle


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
    """sqrt of a variance block (float32), NaN on invalid pixels; None if absent."""
    var = _array(model, name)
    if var is None or var.shape != model.data.shape:
        return None
    with np.errstate(invalid="ignore"):
        root = np.sqrt(var[rows], dtype=np.float32)
    root[invalid] = np.nan
    return root


def _blocks(ny, rows_per_block):
    """Row blocks ``(r0, r1, h0, h1)``: drizzled rows r0:r1 given with halo rows h0:h1.

    The halo lets drizzle interpolate pixel corners across block seams exactly
    as on the whole image.
    """
    for r0 in range(0, ny, rows_per_block):
        r1 = min(ny, r0 + rows_per_block)
        yield r0, r1, max(0, r0 - _HALO), min(ny, r1 + _HALO)


_HALO = 2
_MAX_BLOCKS = 32  # one 32-bit context plane


def resample_image(model, *, pixfrac=1.0, kernel="square", weight_type="ivm", fillval="NaN",
                   pixel_scale_ratio=1.0, pixel_scale=None, rotation=None, output_shape=None,
                   crpix=None, crval=None, pixmap_step=PIXMAP_STEP, block_rows=256):
    """Drizzle one calibrated exposure onto its rectified grid.

    Parameters are the official step's (see :class:`snakewebb.steps.resample.ResampleOptions`);
    ``output_shape`` is ``(nx, ny)``, ``crpix`` 0-based ``(x, y)``, ``pixel_scale`` in arcsec.
    The input is drizzled in blocks of ``block_rows`` rows (with halo rows), so
    the pixel map, weights and square roots never exist for the whole image.

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


class _BlockPlan:
    """How to drizzle: row blocks, output padding and the pixels to give weight.

    ``blocks`` as from :func:`_blocks`; ``pad`` the ``(rows, columns)`` added at the
    output's top and right so that no block's scan outline is clipped; ``visits``
    the whole-image call's ``{row: (first, last)}`` visited pixels (None when the
    image is drizzled whole, where drizzle itself decides).
    """

    def __init__(self, blocks, pad=(0, 0), visits=None):
        self.blocks, self.pad, self.visits = blocks, pad, visits

    @classmethod
    def whole(cls, ny):
        """One block of all ``ny`` rows: drizzle decides on its own."""
        return cls(list(_blocks(ny, ny)))

    def unvisited(self, r0, r1, h0, h1, nx):
        """Mask of rows ``h0:h1`` that must get no weight: halo rows and the pixels
        of rows ``r0:r1`` the whole-image call would not visit."""
        if self.visits is None:
            return None
        first = np.full(h1 - h0, nx)
        last = np.full(h1 - h0, -1)
        for row in range(r0, r1):
            if row in self.visits:
                first[row - h0], last[row - h0] = self.visits[row]
        cols = np.arange(nx)
        return (cols < first[:, None]) | (cols > last[:, None])


def _block_plan(mapper, blocks, drange, out_shape):
    """:func:`_plan_blocks`, falling back to one block on any unforeseen failure of
    the prediction (one block is always right; blocks only save memory)."""
    try:
        return _plan_blocks(mapper, blocks, drange, out_shape)
    except Exception as err:  # noqa: BLE001 - see docstring
        log.warning("drizzled as one block: row blocks could not be planned (%s)", err)
        return _BlockPlan.whole(mapper.shape[0])


def _plan_blocks(mapper, blocks, drange, out_shape):
    """Drizzle in ``blocks`` when that reproduces one whole-image call, else whole.

    drizzle clips the outline of the region it is given to the output, and visits
    only the pixels inside the clipped outline (see :mod:`snakewebb.drizzle_scan`).
    Blocks are drizzled onto an output grown at the top and right until no block's
    outline is clipped, each visiting its whole rectangle; the pixels the whole-image
    call would skip get zero weight, which the kernel ignores. The plan is used only
    when the predicted scans show it is exact; outlines reaching past the output's
    bottom or left edge (user-given grids) and exact pixel maps are drizzled whole.
    """
    whole = _BlockPlan.whole(mapper.shape[0])
    ny, nx = mapper.shape
    if len(blocks) < 2 or mapper.exact is not None or nx < 2:
        return whole
    xmin, xmax, ymin, ymax = drange
    # drizzle reads 0 as "to the end" and trims NaN map borders (here: outside the box)
    xmax = nx - 1 if xmax == 0 else xmax
    ymax = ny - 1 if ymax == 0 else ymax
    bx0, bx1, by0, by1 = mapper.range
    region = (max(xmin, bx0), min(xmax, bx1), max(ymin, by0), min(ymax, by1))
    if region[0] >= region[1] or region[2] >= region[3]:
        return whole
    try:
        visits = drizzle_scan.scan(mapper.values, mapper.shape, region, out_shape)
    except drizzle_scan.ScanUnknown as err:
        log.info("drizzled as one block: %s", err)
        return whole
    if any(not region[2] <= row <= region[3] for row in visits):
        return whole

    # each drizzled block: its rows, its map (rows h0:h1) and its region within that map
    active = [(r0, r1, h0, _shifted_values(mapper, h0), (h1 - h0, nx),
               (region[0], region[1], max(region[2], r0) - h0, min(region[3], r1 - 1) - h0))
              for r0, r1, h0, h1 in blocks if max(region[2], r0) <= min(region[3], r1 - 1)]
    if any(shape[0] < 2 for *_, shape, _ in active):
        return whole
    reach = np.full(2, -np.inf)  # furthest outline corner beyond the top/right edges
    for *_, values, shape, block_region in active:
        ox, oy = drizzle_scan.interpolate(values, shape, *drizzle_scan.region_corners(block_region))
        if not (np.all(np.isfinite(ox)) and np.all(np.isfinite(oy))):
            continue  # a corner on a NaN map cell: drizzle does not clip this block
        if ox.min() <= -0.5 or oy.min() <= -0.5:
            return whole
        reach = np.maximum(reach, [oy.max() - (out_shape[0] - 0.5), ox.max() - (out_shape[1] - 0.5)])
    pad = tuple(int(math.ceil(r)) + 1 if r > -0.5 else 0 for r in reach)
    padded = (out_shape[0] + pad[0], out_shape[1] + pad[1])
    # a grid much smaller than the image (user-given): padding the six float32 outputs
    # would cost more than the whole image's float64 (x, y) pixel map
    if 6 * 4 * (padded[0] * padded[1] - out_shape[0] * out_shape[1]) > 16 * ny * nx:
        return whole
    for r0, r1, h0, values, shape, block_region in active:
        try:
            seen = drizzle_scan.scan(values, shape, block_region, padded)
        except drizzle_scan.ScanUnknown:
            return whole
        for row in range(r0, r1):
            if row not in visits:
                continue
            got = seen.get(row - h0)
            if got is None or got[0] > visits[row][0] or got[1] < visits[row][1]:
                return whole
    return _BlockPlan(blocks, pad, visits)


def _shifted_values(mapper, h0):
    """``values`` of the pixel map of the rows from ``h0`` on (a block's map)."""
    return lambda rows, cols: mapper.values(np.asarray(rows) + h0, cols)


def _drizzle_range(wcs, shape):
    """Input pixel ranges given to drizzle (rounded bounding box)."""
    ny, nx = shape
    if wcs.bounding_box is None:
        return 0, nx - 1, 0, ny - 1
    (x1, x2), (y1, y2) = wcs.bounding_box.bounding_box(order="F")
    xmin, ymin = max(0, int(x1 + 0.5)), max(0, int(y1 + 0.5))
    xmax = max(xmin, min(nx - 1, int(x2 + 0.5)))
    ymax = max(ymin, min(ny - 1, int(y2 + 0.5)))
    return xmin, xmax, ymin, ymax


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
    """Square the drizzled roots in place, keep them where the combination
    weight is positive (resampled read noise for ``ivm``), scale by ``1/ratio**2``;
    infinite where the official float32 weighted sum overflows."""
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


# --------------------------------------------------------------------- metadata


def _set_metadata(out, model, scale, ratio, *, pixfrac, kernel, fillval, weight_type):
    """Photometry, exposure time, resample, FITS WCS and S_REGION keywords."""
    meta = out.meta
    meta.bunit_data = model.meta.bunit_data
    area_arcsec2 = (scale * 3600.0) ** 2
    meta.photometry.pixelarea_arcsecsq = area_arcsec2
    meta.photometry.pixelarea_steradians = area_arcsec2 / _ARCSEC_PER_RAD**2

    meta.resample.pointings = 1
    meta.resample.pixel_scale_ratio = ratio
    meta.resample.pixfrac = pixfrac
    meta.resample.kernel = kernel
    meta.resample.fillval = fillval
    meta.resample.weight_type = weight_type

    src = model.meta.exposure
    exp = meta.exposure
    exp.exposure_time = src.exposure_time
    exp.effective_exposure_time = src.exposure_time
    exp.start_time = src.start_time
    exp.end_time = src.end_time
    exp.duration = src.duration or 0.0
    exp.elapsed_exposure_time = src.duration or 0.0
    exp.measurement_time = src.measurement_time
    level = model.meta.background.level
    meta.background.level = level
    meta.background.subtracted = None if level is None else bool(model.meta.background.subtracted)

    _set_fits_wcsinfo(out)
    try:
        meta.wcsinfo.s_region = _output_sregion(model.meta.wcsinfo.s_region, meta.wcs)
    except ResampleError as exc:
        log.warning("S_REGION not set: %s", exc)


_SIP_KEY = re.compile(r"^(cd[12]_[12]|[ab]p?_\d_\d|[ab]p?_order)$")
_STALE_KEYS = ("v2_ref", "v3_ref", "ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity")


def _set_fits_wcsinfo(out):
    """FITS WCS keywords of the TAN grid; SIP and telescope-pointing keys removed."""
    info = out.meta.wcsinfo
    for key in list(info.instance):
        if _SIP_KEY.match(key) or key in _STALE_KEYS:
            del info.instance[key]
    fits_tan = out.meta.wcs.forward_transform
    info.crpix1 = float(fits_tan.crpix[0]) + 1.0
    info.crpix2 = float(fits_tan.crpix[1]) + 1.0
    info.cdelt1, info.cdelt2 = (float(v) for v in fits_tan.cdelt)
    info.crval1, info.crval2 = (float(v) for v in fits_tan.crval)
    pc = np.asarray(fits_tan.pc, dtype=float)
    info.pc1_1, info.pc1_2, info.pc2_1, info.pc2_2 = (float(v) for v in pc.ravel())
    info.ctype1, info.ctype2 = "RA---TAN", "DEC--TAN"
    units = out.meta.wcs.output_frame.unit
    info.cunit1, info.cunit2 = str(units[0]), str(units[1])
    info.radesys = "ICRS"


def _clip_polygon(points, xlo, xhi, ylo, yhi):
    """Sutherland-Hodgman clip of a polygon to an axis-aligned rectangle."""
    def clip(poly, axis, bound, keep_above):
        result = []
        n = len(poly)
        for i in range(n):
            cur, nxt = poly[i], poly[(i + 1) % n]
            cin = cur[axis] >= bound if keep_above else cur[axis] <= bound
            nin = nxt[axis] >= bound if keep_above else nxt[axis] <= bound
            if cin:
                result.append(cur)
            if cin != nin:
                t = (bound - cur[axis]) / (nxt[axis] - cur[axis])
                result.append(cur + t * (nxt - cur))
        return result

    poly = [np.asarray(p, dtype=float) for p in points]
    for axis, bound, above in ((0, xlo, True), (0, xhi, False), (1, ylo, True), (1, yhi, False)):
        if not poly:
            break
        poly = clip(poly, axis, bound, above)
    return np.array(poly)


def _output_sregion(s_region, out_wcs):
    """The input footprint clipped to the output grid, as an S_REGION string."""
    footprint = sregion_footprint(s_region)
    transform = out_wcs.forward_transform
    x, y = transform.inverse(footprint[:, 0], footprint[:, 1])
    (xlo, xhi), (ylo, yhi) = out_wcs.bounding_box.bounding_box(order="F")
    poly = _clip_polygon(np.column_stack([x, y]), xlo, xhi, ylo, yhi)
    if len(poly) < 3:
        raise ResampleError("the footprint does not overlap the output grid")
    keep = np.ones(len(poly), dtype=bool)
    for i in range(len(poly)):  # drop repeated vertices (within 0.05 pixel)
        if np.all(np.abs(poly[i] - poly[i - 1]) < 5e-2) and keep.sum() > 3:
            keep[i] = False
    poly = poly[keep]
    ra, dec = transform(poly[:, 0], poly[:, 1])
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ResampleError("the output footprint is not finite")
    ra = np.mod(ra, 360.0)
    return "POLYGON ICRS  " + " ".join(f"{a:.9f} {d:.9f}" for a, d in zip(ra, dec))
