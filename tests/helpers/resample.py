"""Calibrated exposures with a distorted imaging gwcs, and the _i2d comparison with jwst."""

import math

import numpy as np
import pytest
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import fitting, models
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from snakewebb import resample as rs

#: Instrument-like layouts: (name, detector, exp_type, shape, pixel scale arcsec,
#: vparity, v3yangle, distortion strength)
LAYOUTS = {
    "nircam": ("NIRCAM", "NRCA1", "NRC_IMAGE", (2048, 2048), 0.0311, -1, -0.56, 1.0),
    "miri": ("MIRI", "MIRIMAGE", "MIR_IMAGE", (1024, 1032), 0.1108, -1, 4.45, 2.0),
    "niriss": ("NIRISS", "NIS", "NIS_IMAGE", (2048, 2048), 0.0656, -1, -0.57, 1.5),
}


def _distorted_wcs(shape, scale, theta_deg, parity, ra, dec, strength, bbox=None):
    """Detector -> v2v3-like (arcsec) with a cubic distortion -> TAN sky."""
    ny, nx = shape
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    th = math.radians(theta_deg)
    a11, a12 = parity * scale * math.cos(th), -scale * math.sin(th)
    a21, a22 = parity * scale * math.sin(th), scale * math.cos(th)
    k = strength * scale
    # 5th order like the SIAF-based references: ~20 px of quadratic, ~4 px of
    # cubic and ~1 px of quartic+quintic distortion at the corners of 2048^2
    px = models.Polynomial2D(
        5, c1_0=a11, c0_1=a12, c2_0=2.0e-5 * k, c1_1=-1.5e-5 * k, c0_2=1.0e-5 * k,
        c3_0=4.0e-9 * k, c1_2=-3.0e-9 * k, c2_1=2.0e-9 * k,
        c4_0=3.0e-13 * k, c2_2=-2.0e-13 * k, c5_0=4.0e-16 * k, c1_4=-3.0e-16 * k,
    )
    py = models.Polynomial2D(
        5, c1_0=a21, c0_1=a22, c2_0=-1.2e-5 * k, c1_1=2.2e-5 * k, c0_2=0.8e-5 * k,
        c0_3=3.0e-9 * k, c2_1=-2.5e-9 * k, c3_0=1.0e-9 * k,
        c0_4=2.5e-13 * k, c3_1=1.5e-13 * k, c0_5=-3.0e-16 * k, c3_2=2.0e-16 * k,
    )
    det2v = (models.Shift(-cx) & models.Shift(-cy)) | models.Mapping((0, 1, 0, 1)) | (px & py)
    # approximate polynomial inverse, as the real distortion references carry
    gy, gx = np.mgrid[-0.5 : ny - 0.5 : 24j, -0.5 : nx - 0.5 : 24j]
    gv2, gv3 = det2v(gx, gy)
    fit = fitting.LinearLSQFitter()
    ix = fit(models.Polynomial2D(5), gv2, gv3, gx - cx)
    iy = fit(models.Polynomial2D(5), gv2, gv3, gy - cy)
    det2v.inverse = (models.Mapping((0, 1, 0, 1)) | (ix & iy)) | (
        models.Shift(cx) & models.Shift(cy))
    v2sky = (
        (models.Scale(1 / 3600.0) & models.Scale(1 / 3600.0))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(ra, dec, 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world", unit=(u.deg, u.deg))
    wcs = gwcs_wcs.WCS([(detector, det2v), (v2v3, v2sky), (world, None)])
    wcs.bounding_box = bbox or ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    wcs.array_shape = shape
    return wcs


def make_cal_model(layout="nircam", *, shape=None, seed=1, ra=53.16, dec=-27.79, theta=20.0,
                   bbox=None):
    """A calibrated-exposure-like ImageModel with a distorted imaging gwcs."""
    name, detector, exp_type, full_shape, scale, parity, v3yang, strength = LAYOUTS[layout]
    shape = tuple(shape or full_shape)
    ny, nx = shape
    rng = np.random.default_rng(seed)
    wcs = _distorted_wcs(shape, scale, theta, parity, ra, dec, strength, bbox=bbox)

    model = datamodels.ImageModel(shape)
    yy, xx = np.mgrid[0:ny, 0:nx]
    sky = 0.3 + 0.05 * xx / nx
    sources = np.zeros(shape)
    for _ in range(max(5, nx * ny // 20000)):  # Gaussian stars on 21x21 stamps
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        xs = slice(max(0, int(x0) - 10), min(nx, int(x0) + 11))
        ys = slice(max(0, int(y0) - 10), min(ny, int(y0) + 11))
        r2 = (xx[ys, xs] - x0) ** 2 + (yy[ys, xs] - y0) ** 2
        sources[ys, xs] += rng.uniform(0.5, 30) * np.exp(-r2 / (2 * 1.6**2))
    flux = sky + sources
    var_rnoise = (0.004 * (1 + 0.2 * rng.random(shape))).astype(np.float32)
    var_poisson = (0.01 * np.clip(flux, 0, None)).astype(np.float32)
    var_flat = (1e-4 * flux**2).astype(np.float32)
    data = (flux + rng.normal(size=shape) * np.sqrt(var_rnoise + var_poisson)).astype(np.float32)

    dq = np.zeros(shape, dtype=np.uint32)
    bad = rng.random(shape) < 0.002
    dq[bad] |= dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["DEAD"]
    dq[rng.random(shape) < 0.01] |= dqflags.pixel["JUMP_DET"]  # still drizzled
    border = np.zeros(shape, dtype=bool)
    border[:4], border[-4:], border[:, :4], border[:, -4:] = True, True, True, True
    dq[border] |= dqflags.pixel["NON_SCIENCE"]
    data[bad] = np.nan
    var_poisson[rng.random(shape) < 0.0005] = np.nan  # NaN in one array only

    model.data = data
    model.dq = dq
    model.var_rnoise = var_rnoise
    model.var_poisson = var_poisson
    model.var_flat = var_flat
    model.err = np.sqrt(var_rnoise + var_poisson + var_flat).astype(np.float32)
    model.meta.wcs = wcs

    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra_ref, dec_ref = wcs(cx, cy)
    (bx0, bx1), (by0, by1) = wcs.bounding_box.bounding_box(order="F")
    x0, x1, y0, y1 = math.ceil(bx0), math.floor(bx1), math.ceil(by0), math.floor(by1)
    corners = np.array(wcs([x0, x1, x1, x0], [y0, y0, y1, y1])).T
    vertices = " ".join(f"{a:.9f} {d:.9f}" for a, d in corners)
    model.meta.wcsinfo.s_region = "POLYGON ICRS  " + vertices
    model.meta.wcsinfo.ra_ref = float(ra_ref)
    model.meta.wcsinfo.dec_ref = float(dec_ref)
    model.meta.wcsinfo.roll_ref = theta + parity * v3yang
    model.meta.wcsinfo.v3yangle = v3yang
    model.meta.wcsinfo.vparity = parity
    model.meta.wcsinfo.v2_ref = 100.0
    model.meta.wcsinfo.v3_ref = -500.0
    model.meta.wcsinfo.ctype1 = "RA---TAN"
    model.meta.wcsinfo.ctype2 = "DEC--TAN"

    model.meta.instrument.name = name
    model.meta.instrument.detector = detector
    model.meta.exposure.type = exp_type
    model.meta.exposure.exposure_time = 300.0
    model.meta.exposure.measurement_time = 280.0
    model.meta.exposure.duration = 310.0
    model.meta.exposure.start_time = 60000.0
    model.meta.exposure.end_time = 60000.0036
    model.meta.observation.date = "2024-01-01"
    model.meta.observation.time = "00:00:00"
    model.meta.observation.program_number = "01234"
    model.meta.observation.observation_number = "001"
    model.meta.observation.visit_number = "001"
    model.meta.observation.visit_group = "01"
    model.meta.observation.sequence_id = "1"
    model.meta.observation.activity_id = "01"
    model.meta.observation.exposure_number = "00001"
    model.meta.photometry.pixelarea_arcsecsq = scale**2
    model.meta.photometry.pixelarea_steradians = scale**2 / (math.degrees(1) * 3600) ** 2
    model.meta.bunit_data = "MJy/sr"
    model.meta.bunit_err = "MJy/sr"
    model.meta.cal_step.assign_wcs = "COMPLETE"
    model.meta.cal_step.flat_field = "COMPLETE"
    model.meta.cal_step.photom = "COMPLETE"
    model.meta.filename = f"jw01234001001_01101_00001_{detector.lower()}_cal.fits"
    return model


def assert_i2d_parity(ours, official, *, rtol=5e-5, atol=1e-4):
    """Shape, WCS, SCI/ERR where WHT > 0, WHT, CON and key metadata agree."""
    assert ours.data.shape == official.data.shape
    ny, nx = ours.data.shape
    y, x = np.mgrid[0:ny:7, 0:nx:7]
    ra1, dec1 = ours.meta.wcs(x, y)
    ra2, dec2 = official.meta.wcs(x, y)
    _assert_same_sky(ra1, dec1, ra2, dec2)
    for key in ("crpix1", "crpix2", "crval1", "crval2", "cdelt1", "cdelt2",
                "pc1_1", "pc1_2", "pc2_1", "pc2_2", "ctype1", "ctype2", "cunit1", "cunit2",
                "radesys"):
        a, b = getattr(ours.meta.wcsinfo, key), getattr(official.meta.wcsinfo, key)
        if isinstance(b, str):
            assert a == b, key
        else:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), key
    good = official.wht > 0
    np.testing.assert_array_equal(ours.wht > 0, good)
    # slivers of overlap have tiny weights: their absolute error (pixel-map
    # interpolation, ~1e-5 px) is what matters, so an absolute floor is added
    np.testing.assert_allclose(ours.wht[good], official.wht[good], rtol=1e-4,
                               atol=1e-5 * np.median(official.wht[good]))
    np.testing.assert_allclose(ours.data[good], official.data[good], rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.err[good], official.err[good], rtol=rtol, atol=atol,
                               equal_nan=True)
    for name in rs.VARIANCES:
        np.testing.assert_allclose(getattr(ours, name)[good], getattr(official, name)[good],
                                   rtol=2 * rtol, atol=atol * atol, equal_nan=True)
    assert np.all(np.isnan(ours.data[~good])) == np.all(np.isnan(official.data[~good]))
    np.testing.assert_array_equal(ours.con, official.con)
    assert ours.meta.photometry.pixelarea_steradians == pytest.approx(
        official.meta.photometry.pixelarea_steradians, rel=1e-9)
    # with an absolute pixel_scale the ratio divides by the official mean pixel
    # area (test_mean_pixel_area_is_the_official_one)
    assert ours.meta.resample.pixel_scale_ratio == pytest.approx(
        official.meta.resample.pixel_scale_ratio, rel=1e-9)
    for key in ("pixfrac", "kernel", "weight_type", "pointings"):
        assert getattr(ours.meta.resample, key) == getattr(official.meta.resample, key), key
    for key in ("exposure_time", "effective_exposure_time", "measurement_time", "duration",
                "elapsed_exposure_time", "start_time", "end_time"):
        assert getattr(ours.meta.exposure, key) == getattr(official.meta.exposure, key), key
    assert ours.meta.bunit_data == official.meta.bunit_data
    assert_same_polygon(ours.meta.wcsinfo.s_region, official.meta.wcsinfo.s_region)


def _assert_same_sky(ra1, dec1, ra2, dec2, rtol=1e-7, wrap_atol=1e-8):
    """World coordinates agree within ``rtol``; where RA comes within 1 deg of 0/360 a
    relative tolerance on RA means nothing (at RA = 7e-6 deg it would ask 1e-12 deg), so
    there the RA difference, taken across the wrap and times cos(Dec), must stay below
    ``wrap_atol`` deg (36 micro-arcsec, ~1e-3 of a NIRCam pixel)."""
    ra1, ra2 = np.asarray(ra1, float), np.asarray(ra2, float)
    np.testing.assert_allclose(dec1, dec2, rtol=rtol)
    near_wrap = np.minimum(np.minimum(ra1, 360 - ra1), np.minimum(ra2, 360 - ra2)) < 1.0
    if not np.any(near_wrap):
        np.testing.assert_allclose(ra1, ra2, rtol=rtol)
        return
    dra = (ra1 - ra2 + 180.0) % 360.0 - 180.0
    np.testing.assert_array_less(np.abs(dra * np.cos(np.radians(dec2))), wrap_atol)


def assert_same_polygon(ours, official):
    a = rs.sregion_footprint(ours)
    b = rs.sregion_footprint(official)
    assert len(a) == len(b)
    for vertex in b:  # same vertices, in any starting order
        assert np.min(np.max(np.abs(a - vertex), axis=1)) < 1e-7
