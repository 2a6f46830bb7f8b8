"""Unit tests of snakewebb.resample (pure algorithm) and its step wrapper.

Synthetic ``_cal``-like models carry a gwcs with a polynomial distortion; the
official ``jwst==3.0.0`` ResampleStep, run on the same in-memory model, is the
oracle for the comparisons marked ``parity``.
"""

import math
import os

import numpy as np
import pytest
from astropy import coordinates as coord
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from stdatamodels.jwst import datamodels

from helpers.resample import LAYOUTS, assert_i2d_parity, make_cal_model
from snakewebb import resample as rs

# ------------------------------------------------------------------ pixel map


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_pixel_map_error_bound_full_frame(layout):
    """Interpolated pixel map within 1e-3 px of the exact one on full frames."""
    model = make_cal_model(layout)
    out_wcs, _, _ = rs.build_output_wcs(model)
    fast = rs.pixel_map(model.meta.wcs, out_wcs, model.data.shape)
    exact = rs.exact_pixel_map(model.meta.wcs, out_wcs, model.data.shape)
    err = np.abs(fast - exact)
    assert np.all(np.isfinite(fast))
    print(f"{layout}: max |interpolated - exact| = {err.max():.2e} px")
    assert err.max() < 1e-3, err.max()
    # the distortion is real: a linear map would be far off
    assert np.ptp(exact[..., 0] - exact[0, 0, 0]) > 100


def test_pixel_map_outside_bounding_box_is_nan():
    shape = (300, 280)
    bbox = ((5.5, 270.5), (-0.5, 299.5))
    model = make_cal_model("miri", shape=shape, bbox=bbox)
    out_wcs, _, _ = rs.build_output_wcs(model)
    fast = rs.pixel_map(model.meta.wcs, out_wcs, shape, step=16)
    exact = rs.exact_pixel_map(model.meta.wcs, out_wcs, shape)
    assert np.all(np.isnan(fast[:, :6])) and np.all(np.isnan(fast[:, 271:]))
    assert np.nanmax(np.abs(fast - exact)) < 1e-3
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact))


def test_lagrange_matrix_reproduces_cubics():
    nodes = np.linspace(0, 100, 8)
    points = np.arange(0, 101, dtype=float)
    w = rs._lagrange_matrix(nodes, points)
    f = lambda t: 3 - 2 * t + 0.01 * t**2 - 1e-4 * t**3  # noqa: E731
    np.testing.assert_allclose(w @ f(nodes), f(points), rtol=0, atol=1e-10)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


# ---------------------------------------------------------------- output grid


def test_output_grid_covers_footprint():
    model = make_cal_model("nircam", shape=(256, 256))
    out_wcs, scale, ratio = rs.build_output_wcs(model)
    assert ratio == 1.0
    assert scale * 3600 == pytest.approx(0.0311, rel=0.02)
    ny, nx = out_wcs.array_shape
    pm = rs.exact_pixel_map(model.meta.wcs, out_wcs, model.data.shape)
    # S_REGION corners (pixel centres) land in [0, n + 0.5): the official
    # rounding int(max + 0.5) may leave up to half a pixel outside the last one
    for axis, n in ((0, nx), (1, ny)):
        assert pm[..., axis].min() > -1e-3 and pm[..., axis].max() < n + 0.5


def test_output_grid_parameters():
    model = make_cal_model("nircam", shape=(200, 220))
    wcs, scale, ratio = rs.build_output_wcs(model, pixel_scale_ratio=0.5)
    base, base_scale, _ = rs.build_output_wcs(model)
    assert ratio == 0.5 and scale == pytest.approx(base_scale / 2)
    assert wcs.array_shape[0] == pytest.approx(2 * base.array_shape[0], abs=2)

    wcs, scale, ratio = rs.build_output_wcs(model, pixel_scale=0.05)
    assert scale * 3600 == pytest.approx(0.05)
    assert ratio == pytest.approx(0.05 / 0.0311, rel=0.02)

    wcs, _, _ = rs.build_output_wcs(model, rotation=0.0, output_shape=(300, 310),
                                    crpix=(150.0, 155.0), crval=(53.16, -27.79))
    assert wcs.array_shape == (310, 300)
    ra, dec = wcs(150.0, 155.0)
    assert ra == pytest.approx(53.16, abs=1e-10) and dec == pytest.approx(-27.79, abs=1e-10)
    # north up: +y increases declination at constant RA
    ra2, dec2 = wcs(150.0, 165.0)
    assert dec2 > dec and ra2 == pytest.approx(ra, abs=1e-9)


@pytest.mark.parity
@pytest.mark.parametrize("layout,ra,dec", [("nircam", 53.16, -27.79), ("miri", 80.43, -69.53),
                                           ("niriss", 359.999, 1.0), ("nircam", 200.0, 89.2)])
def test_output_grid_is_the_official_one_to_the_bit(layout, ra, dec):
    """CRVAL (the footprint's centre) and CRPIX as stcal's wcs_from_sregions makes them:
    a last-bit CRVAL difference moves the grid by ~1e-9 pixel, which flips bins of
    drizzle's lanczos lookup table (a few WHT pixels off by up to 0.4%)."""
    from stcal.alignment.util import wcs_from_sregions

    model = make_cal_model(layout, shape=(120, 130), ra=ra, dec=dec)
    w = model.meta.wcsinfo
    ref = {k: getattr(w, k) for k in ("roll_ref", "v3yangle", "vparity", "ra_ref", "dec_ref")}
    theirs = wcs_from_sregions([w.s_region], model.meta.wcs, ref).forward_transform
    ours = rs.build_output_wcs(model)[0].forward_transform
    assert ours.crval.value.tolist() == theirs.crval.value.tolist()
    assert ours.crpix.value.tolist() == theirs.crpix.value.tolist()


@pytest.mark.parity
@pytest.mark.parametrize("ra", [359.995, 0.003, 120.0])
@pytest.mark.parametrize("ratio", [1.0, 0.7])
def test_pixel_scale_is_the_official_one_to_the_bit(ra, ratio):
    """Near RA 360 the longitude difference in degrees or in radians differs by ~1e-9
    relative; the output grid's CRPIX moves with the scale (grazing S_REGION clips too)."""
    from stcal.alignment.util import compute_scale

    model = make_cal_model("niriss", shape=(64, 64), ra=ra, dec=-2.0)
    info = model.meta.wcsinfo
    expected = compute_scale(model.meta.wcs, fiducial=np.array([info.ra_ref, info.dec_ref]),
                             pscale_ratio=ratio)
    assert rs.pixel_scale_at(model.meta.wcs, info.ra_ref, info.dec_ref, ratio) == expected


def test_mean_pixel_area_matches_scale():
    model = make_cal_model("niriss", shape=(200, 200))
    area = rs.mean_pixel_area(model.meta.wcs, model.data.shape)
    assert math.sqrt(area) * math.degrees(1) * 3600 == pytest.approx(0.0656, rel=0.01)


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(210, 200), (32, 40)])
def test_mean_pixel_area_is_the_official_one(shape):
    """The official step divides an absolute pixel_scale by stcal's mean pixel area
    (spherical_geometry's polygon area): ours is the same number, although on small
    regions that area is ~1e-5 from the closed form of an undistorted TAN grid."""
    from stcal.resample.utils import compute_mean_pixel_area

    scale = 0.11 / 3600
    ny, nx = shape
    to_sky = ((models.Shift(-(nx - 1) / 2) & models.Shift(-(ny - 1) / 2))
              | (models.Scale(scale) & models.Scale(scale))
              | models.Pix2Sky_TAN() | models.RotateNative2Celestial(53.0, -27.0, 180.0))
    wcs = gwcs_wcs.WCS([(cf.Frame2D(name="detector"), to_sky),
                        (cf.CelestialFrame(reference_frame=coord.ICRS(), name="world"), None)])
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    ours = rs.mean_pixel_area(wcs, shape)
    assert ours == pytest.approx(compute_mean_pixel_area(wcs, shape=shape), rel=1e-12)
    a, b = (math.tan(math.radians((n - 1) / 2 * scale)) for n in (nx, ny))
    exact = 4 * math.atan(a * b / math.sqrt(1 + a * a + b * b)) / ((nx - 1) * (ny - 1))
    assert ours == pytest.approx(exact, rel=1e-4)


# -------------------------------------------------------------------- drizzle


def test_resample_image_arrays_and_metadata():
    model = make_cal_model("nircam", shape=(180, 200))
    before = {k: np.array(getattr(model, k), copy=True) for k in ("data", "dq", "var_rnoise")}
    out = rs.resample_image(model)
    for k, v in before.items():  # input untouched
        np.testing.assert_array_equal(getattr(model, k), v)
    for name in ("data", "wht", "err", "var_rnoise", "var_flat", "var_poisson"):
        arr = getattr(out, name)
        assert arr.dtype == np.float32 and arr.shape == tuple(out.meta.wcs.array_shape)
    assert out.con.dtype == np.int32 and out.con.shape == (1,) + out.data.shape
    covered = out.wht > 0
    assert np.all(np.isnan(out.data[~covered]))
    assert np.all(np.isfinite(out.data[covered]))
    np.testing.assert_array_equal(out.con[0] != 0, covered)
    # ERR is the root of the variance sum
    total = out.var_rnoise + out.var_flat + out.var_poisson
    ok = np.isfinite(total)
    np.testing.assert_allclose(out.err[ok], np.sqrt(total[ok]), rtol=1e-6)
    # flux is conserved (surface brightness x area) up to the edges
    good = ~np.isnan(model.data) & ((model.dq & rs.BAD_DQ) == 0)
    assert np.nanmean(out.data[covered]) == pytest.approx(np.mean(model.data[good]), rel=0.05)
    info = out.meta.wcsinfo
    assert info.ctype1 == "RA---TAN" and info.radesys == "ICRS"
    assert info.instance.get("v2_ref") is None and info.instance.get("roll_ref") is None
    assert out.meta.resample.pixfrac == 1.0 and out.meta.resample.weight_type == "ivm"
    assert out.meta.resample.pointings == 1
    assert out.meta.exposure.effective_exposure_time == 300.0
    assert out.meta.wcsinfo.s_region.startswith("POLYGON ICRS")
    assert out.meta.photometry.pixelarea_arcsecsq == pytest.approx(0.0311**2, rel=0.03)


def test_variance_pass_sharing_equals_separate_passes(monkeypatch):
    """The shared read-noise/flat pass gives what one pass per array gives."""
    model = make_cal_model("nircam", shape=(150, 160), seed=3)
    shared = rs.resample_image(model)
    monkeypatch.setattr(rs, "_use_shared_pass", lambda *args: False)
    alone = rs.resample_image(model)
    for name in rs.VARIANCES + ("err",):
        a, b = getattr(shared, name), getattr(alone, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=2e-6, equal_nan=True)


def test_ivm_weights_always_allow_the_shared_pass():
    """ivm skips the shared-pass check: it holds even with odd VAR_RNOISE values."""
    model = make_cal_model("nircam", shape=(64, 72), seed=5)
    var = model.var_rnoise
    var[3, :10] = [0.0, -1.0, np.inf, np.nan, 1e-45, 1e-38, 1e38, np.float32(3.4e38), -0.0, 2.0]
    model.var_rnoise = var
    assert rs._shared_pass_ok(model, "ivm", slice(None))
    assert rs._use_shared_pass(model, "ivm", list(rs.VARIANCES), [(0, 64, 0, 64)])


@pytest.mark.parametrize("negative", [False, True])
def test_con_from_weights_equals_context(monkeypatch, negative):
    """CON taken from WHT > 0 is the context image drizzle would have made."""
    model = make_cal_model("nircam", shape=(120, 130), seed=6)
    if negative:
        var = model.var_rnoise
        var[40:44, 50:60] = -var[40:44, 50:60]
        model.var_rnoise = var
    assert rs._negative_weights_possible(model, "ivm") is negative
    fast = rs.resample_image(model, block_rows=32)
    monkeypatch.setattr(rs, "_negative_weights_possible", lambda *args: True)
    with_context = rs.resample_image(model, block_rows=32)
    assert fast.con.shape == with_context.con.shape == (1,) + fast.data.shape
    np.testing.assert_array_equal(fast.con, with_context.con)
    assert fast.con.dtype == with_context.con.dtype
    for name in ("data", "wht", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(fast, name), getattr(with_context, name))


def test_blocks_equal_whole_image():
    """Drizzling in row blocks (with halo rows) is bit-identical to one block."""
    model = make_cal_model("miri", shape=(200, 150), seed=4)
    whole = rs.resample_image(model, block_rows=10_000)
    blocks = rs.resample_image(model, block_rows=16)
    for name in ("data", "wht", "con", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("output_shape", [None, (120, 90), (60, 200)])
def test_blocks_equal_whole_image_when_output_crops_input(output_shape):
    """Input edges beyond the output grid: drizzle clips its scan polygon (built from the
    region's four corners) to the output, so blocks clipped one by one would keep other
    edge pixels than the whole image does; the result must still be the whole image's."""
    model = make_cal_model("miri", shape=(200, 150), seed=5)
    model.dq[:] = 0  # every edge pixel is drizzled
    whole = rs.resample_image(model, block_rows=10_000, output_shape=output_shape)
    blocks = rs.resample_image(model, block_rows=16, output_shape=output_shape)
    for name in ("data", "wht", "con", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)


def test_pixel_mapper_rows_match_whole_map():
    model = make_cal_model("nircam", shape=(160, 170), bbox=((2.5, 165.5), (3.5, 150.5)))
    out_wcs, _, _ = rs.build_output_wcs(model)
    whole = rs.pixel_map(model.meta.wcs, out_wcs, model.data.shape, step=16)
    mapper = rs._PixelMapper(model.meta.wcs, out_wcs, model.data.shape, 16)
    stacked = np.concatenate([mapper.rows(r, min(r + 37, 160)) for r in range(0, 160, 37)])
    np.testing.assert_array_equal(stacked, whole)


def test_exptime_weighting_and_missing_variance():
    model = make_cal_model("miri", shape=(120, 130))
    del model.var_flat
    out = rs.resample_image(model, weight_type="exptime")
    covered = out.wht > 0
    # weight = measurement time x overlap (output and input pixels of equal size)
    assert np.median(out.wht[covered]) == pytest.approx(280.0, rel=0.03)
    assert np.all(np.isnan(out.var_flat))
    assert np.isfinite(out.var_rnoise[covered]).mean() > 0.99


def test_bad_input_raises():
    model = make_cal_model("nircam", shape=(64, 64))
    model.meta.wcsinfo.s_region = None
    with pytest.raises(rs.ResampleError, match="S_REGION"):
        rs.resample_image(model)
    model = make_cal_model("nircam", shape=(64, 64))
    with pytest.raises(rs.ResampleError, match="pixfrac"):
        rs.resample_image(model, pixfrac=0.0)
    bare = datamodels.ImageModel((8, 8))
    bare.meta.exposure.exposure_time = 10.0
    with pytest.raises(rs.ResampleError, match="WCS"):
        rs.resample_image(bare)


# --------------------------------------------------------- parity (in memory)


@pytest.fixture
def official_step(monkeypatch):
    """The official ResampleStep on a copy of a model, without a CRDS server."""
    if "CRDS_SERVER_URL" not in os.environ:
        monkeypatch.setenv("CRDS_SERVER_URL", "https://crds-serverless-mode.stsci.edu")
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")

    def call(model, **pars):
        from jwst.resample import ResampleStep

        return ResampleStep.call(model.copy(), **pars)

    return call


PARITY_CASES = [
    ("nircam", (300, 320), {}),
    ("miri", (260, 240), {}),
    ("niriss", (256, 256), {"pixfrac": 0.7, "pixel_scale_ratio": 0.8}),
    ("nircam", (200, 210), {"rotation": 30.0, "weight_type": "exptime"}),
    ("miri", (200, 210), {"pixel_scale": 0.09, "kernel": "turbo"}),
    # kernels whose weights jump with the position: the exact pixel map
    ("miri", (200, 210), {"kernel": "point"}),
    ("niriss", (200, 210), {"kernel": "gaussian", "pixel_scale": 0.05}),
    ("nircam", (200, 210), {"kernel": "lanczos2"}),
    ("miri", (200, 210), {"kernel": "lanczos3", "pixfrac": 1.0}),
]


@pytest.mark.parity
# drizzle says so of gaussian and lanczos on every call (as in the official step)
@pytest.mark.filterwarnings("ignore:Kernel '.*' is not a flux-conserving kernel")
@pytest.mark.parametrize("layout,shape,pars", PARITY_CASES)
def test_parity_with_official_step(layout, shape, pars, official_step):
    pytest.importorskip("jwst")
    model = make_cal_model(layout, shape=shape, seed=7)
    ours = rs.resample_image(model, **pars)
    official = official_step(model, **pars)
    assert_i2d_parity(ours, official)


@pytest.mark.parity
@pytest.mark.parametrize("weight_type", ["ivm", "exptime"])
def test_parity_with_official_step_on_huge_variances(weight_type, official_step):
    """Variances near the float32 limit: the official float32 running sum of
    ``var * weight**2`` overflows to inf where the variance itself is finite."""
    pytest.importorskip("jwst")
    model = make_cal_model("nircam", shape=(120, 130), seed=11)
    model.var_poisson[40:43, 50:53] = 1.7e37
    model.var_poisson[80, 20] = 3.0e38
    model.var_flat[10:12, 100:102] = 1.0e36
    model.var_rnoise[60, 60] = 3.0e36
    ours = rs.resample_image(model, weight_type=weight_type)
    official = official_step(model, weight_type=weight_type)
    good = official.wht > 0
    for name in rs.VARIANCES:
        off = getattr(official, name)
        assert np.isinf(off[good]).any() or name == "var_rnoise", name
        np.testing.assert_array_equal(np.isinf(getattr(ours, name)), np.isinf(off), name)
    assert_i2d_parity(ours, official)


# ------------------------------------------------------------------ step layer


from snakewebb.errors import ExposureError  # noqa: E402
from snakewebb.steps.resample import ResampleOptions, resample_exposure  # noqa: E402


@pytest.fixture
def cal_file(tmp_path):
    model = make_cal_model("niriss", shape=(120, 128), seed=5)
    path = tmp_path / "jw01234001001_01101_00001_nis_cal.fits"
    model.save(path)
    return path


def _digest(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resample_exposure_writes_i2d(cal_file, tmp_path):
    before = _digest(cal_file)
    out = resample_exposure(cal_file, tmp_path / "out" / "jw01234001001_01101_00001_nis_i2d.fits")
    assert _digest(cal_file) == before
    with datamodels.open(out) as i2d:
        assert i2d.meta.cal_step.resample == "COMPLETE"
        assert i2d.meta.cal_step.photom == "COMPLETE"  # earlier provenance kept
        assert i2d.meta.calibration_software_version.startswith("snakewebb")
        assert i2d.meta.filename == out.name
        assert i2d.meta.wcs is not None and i2d.data.shape == tuple(i2d.meta.wcs.array_shape)
        for name in ("wht", "con", "err", "var_rnoise", "var_flat", "var_poisson"):
            assert getattr(i2d, name).shape[-2:] == i2d.data.shape
    from astropy.io import fits

    with fits.open(out) as hdul:
        header = hdul["SCI"].header
        assert header["CTYPE1"] == "RA---TAN" and "CRPIX1" in header and "S_REGION" in header
        assert hdul[0].header["S_RESAMP"] == "COMPLETE"
        assert {"SCI", "WHT", "CON", "ERR", "VAR_RNOISE", "VAR_FLAT", "VAR_POISSON"} <= {
            h.name for h in hdul}


def test_resample_exposure_options(cal_file, tmp_path):
    opts = ResampleOptions(pixfrac=0.5, pixel_scale=0.1, rotation=0.0, weight_type="exptime")
    out = resample_exposure(cal_file, tmp_path / "x_i2d.fits", options=opts)
    with datamodels.open(out) as i2d:
        assert i2d.meta.resample.pixfrac == 0.5 and i2d.meta.resample.weight_type == "exptime"
        assert i2d.meta.photometry.pixelarea_arcsecsq == pytest.approx(0.01)


@pytest.mark.parametrize("change,message", [
    (lambda m: setattr(m.meta.exposure, "type", "NRC_TSIMAGE"), "time series"),
    (lambda m: setattr(m.meta.exposure, "type", "FGS_IMAGE"), "FGS_IMAGE"),
    (lambda m: setattr(m.meta.visit, "tsovisit", True), "time series"),
    (lambda m: setattr(m.meta.wcsinfo, "s_region", "POLYGON ICRS 1 2 3"), "S_REGION"),
    (lambda m: setattr(m.meta.cal_step, "assign_wcs", "SKIPPED"), "no WCS"),
    # the message names the FITS keyword a _cal from another source may lack
    (lambda m: delattr(m.meta.wcsinfo, "v3yangle"), "missing pointing keyword.s. V3I_YANG$"),
    (lambda m: (delattr(m.meta.wcsinfo, "vparity"), delattr(m.meta.wcsinfo, "roll_ref")),
     "missing pointing keyword.s. VPARITY, ROLL_REF$"),
    (lambda m: delattr(m.meta.exposure, "exposure_time"), "exposure time EFFEXPTM"),
])
def test_resample_exposure_bad_input(tmp_path, change, message):
    model = make_cal_model("nircam", shape=(64, 70))
    change(model)
    cal = tmp_path / "jwbad_nrca1_cal.fits"
    model.save(cal)
    output = tmp_path / "jwbad_nrca1_i2d.fits"
    with pytest.raises(ExposureError, match=message) as info:
        resample_exposure(cal, output)
    assert str(info.value).startswith("jwbad_nrca1: ") and "\n" not in str(info.value)
    assert not output.exists() and not list(tmp_path.glob(".*part"))


def test_resample_exposure_rejects_cube_missing_file_and_options(tmp_path, cal_file):
    cube = datamodels.CubeModel((2, 16, 16))
    cube.meta.exposure.type = "NRC_IMAGE"
    path = tmp_path / "jwcube_nrca1_calints.fits"
    cube.save(path)
    with pytest.raises(ExposureError, match="3D data"):
        resample_exposure(path, tmp_path / "c_i2d.fits")
    with pytest.raises(ExposureError, match="not found"):
        resample_exposure(tmp_path / "missing_cal.fits", tmp_path / "m_i2d.fits")
    with pytest.raises(ExposureError, match="pixfrac.*kernel"):
        resample_exposure(cal_file, tmp_path / "o_i2d.fits",
                          options=ResampleOptions(pixfrac=2.0, kernel="boxcar"))
    assert not list(tmp_path.glob("*_i2d.fits"))


def test_pixel_mapper_rows_on_nodes_and_tiny_spacing():
    """Rows falling exactly on nodes, and nodes about one row apart, stay exact."""
    model = make_cal_model("niriss", shape=(7, 300))
    out_wcs, _, _ = rs.build_output_wcs(model)
    exact = rs.exact_pixel_map(model.meta.wcs, out_wcs, model.data.shape)
    interpolated = 0
    for step in (1, 2, 3, 4):
        mapper = rs._PixelMapper(model.meta.wcs, out_wcs, model.data.shape, step)
        if mapper.exact is None:
            interpolated += 1
            assert np.max(np.abs(mapper.rows(0, 7) - exact)) < 1e-6
    assert interpolated >= 2
    idx, w = rs._lagrange_weights(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
                                  np.array([0.0, 1.0, 2.0, 2.5, 5.0]))
    assert np.all(np.diff(idx, axis=1) == 1)  # windows of consecutive nodes
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


@pytest.mark.parametrize("fillval", ["NaN", "0", "-7.5", None])
def test_drizzle_pass_equals_drizzle_class_block_by_block(fillval):
    """Calling the C kernel directly (fill asked for on the last block only) gives
    bit for bit the image, weights and context of drizzle's own ``Drizzle`` class."""
    from drizzle.resample import Drizzle

    rng = np.random.default_rng(7)
    shape, out_shape = (60, 50), (70, 64)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    angle = 0.05
    pixmap = np.dstack([np.cos(angle) * x - np.sin(angle) * y + 8.3,
                        np.sin(angle) * x + np.cos(angle) * y + 3.7])
    data = rng.normal(size=shape).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, size=shape).astype(np.float32)
    weight[10:14, 20:30] = 0.0
    ours = rs._DrizzlePass(out_shape, "square", fillval, context=True)
    theirs = Drizzle(kernel="square", fillval=fillval, out_shape=out_shape, begin_ctx_id=0,
                     max_ctx_id=2)
    blocks = [(0, 20), (20, 40), (40, 60)]
    for k, (r0, r1) in enumerate(blocks):
        h0, h1 = max(0, r0 - 2), min(shape[0], r1 + 2)
        part = dict(xmin=0, xmax=shape[1] - 1, ymin=r0 - h0, ymax=r1 - 1 - h0)
        block_map = np.ascontiguousarray(pixmap[h0:h1])
        ours.add(data[h0:h1], weight[h0:h1], block_map, last=k == len(blocks) - 1,
                 ratio=1.0, pixfrac=0.8, **part)
        theirs.add_image(data[h0:h1], exptime=1.0, pixmap=block_map, weight_map=weight[h0:h1],
                         pixfrac=0.8, pixel_scale_ratio=1.0, **part)
    np.testing.assert_array_equal(ours.out_img, theirs.out_img)
    np.testing.assert_array_equal(ours.out_wht, theirs.out_wht)
    np.testing.assert_array_equal(ours.out_ctx, theirs.out_ctx[0])
    assert (ours.out_wht == 0).any() and (ours.out_wht > 0).any()
