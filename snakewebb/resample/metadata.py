"""Keywords of the ``_i2d``: photometry, exposure times, resample, FITS WCS, S_REGION."""

import logging
import re

import numpy as np

from snakewebb.resample.grid import _ARCSEC_PER_RAD, ResampleError, sregion_footprint

__all__ = []

log = logging.getLogger(__name__)


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
