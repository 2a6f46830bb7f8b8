"""The output grid of one exposure: a TAN grid over its footprint, rotated with the telescope.

See :mod:`snakewebb.resample` for what it reproduces of the official step.
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
from gwcs import FITSImagingWCSTransform

__all__ = [
    "ResampleError",
    "sregion_footprint",
    "pixel_scale_at",
    "mean_pixel_area",
    "build_output_wcs",
]

log = logging.getLogger(__name__)

_ARCSEC_PER_RAD = math.degrees(1.0) * 3600.0


class ResampleError(ValueError):
    """An exposure that cannot be resampled (bad WCS, metadata or parameters)."""


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
    needed = ("ra_ref", "dec_ref", "v3yangle", "vparity")
    needed += ("roll_ref",) if rotation is None else ()
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
