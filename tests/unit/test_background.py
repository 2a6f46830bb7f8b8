"""Background combination/subtraction and its step: compared with jwst's background_sub."""

import numpy as np
import pytest
from stdatamodels.jwst.datamodels import dqflags

from helpers.models import science_model
from snakewebb import background
from snakewebb.errors import ExposureError
from snakewebb.steps.background import run_background
from snakewebb.steps.image2 import Image2Options

MODES = [
    ("NIRCAM", "NRCA1", "NRC_IMAGE"),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE"),
    ("NIRISS", "NIS", "NIS_IMAGE"),
    ("FGS", "GUIDER1", "FGS_IMAGE"),
]
SHAPE = (12, 14)
CORNER = (33, 17)


def backgrounds(tmp_path, mode, n, nints=None, outlier=True, seed=10):
    paths = []
    for i in range(n):
        bkg = science_model(*mode, SHAPE, corner=CORNER, nints=nints, seed=seed + i)
        bkg.data = (bkg.data * 0.1 + 1.0).astype(np.float32)
        bkg.data[..., 0, 0] = np.nan if i == 0 else bkg.data[..., 0, 0]
        if outlier and i == 1:
            bkg.data[..., 5:7, 5:7] += 1000.0  # a star in one background
        bkg.dq[..., 9, i] |= dqflags.pixel["JUMP_DET"]
        path = tmp_path / f"bkg{i}_rate.fits"
        bkg.save(path)
        paths.append(str(path))
    return paths


def official(model, paths, sigma, maxiters):
    from jwst.background.background_sub import background_sub

    result = model.copy()
    bkg, result = background_sub(result, paths, sigma, maxiters)
    return bkg, result


def opened(paths):
    from stdatamodels.jwst import datamodels

    return [datamodels.open(p) for p in paths]


def compare(model, paths, sigma=3.0, maxiters=None):
    ref_bkg, ref = official(model, paths, sigma, maxiters)
    before = model.data.copy()
    ours, (bdata, berr, bdq) = background.subtract_background(model, opened(paths), sigma, maxiters)
    np.testing.assert_array_equal(model.data, before)  # input untouched
    np.testing.assert_allclose(bdata, ref_bkg.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(berr, ref_bkg.err, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(bdq, ref_bkg.dq)
    for name in ("data", "err", "var_poisson", "var_rnoise"):
        a, b = getattr(ours, name), getattr(ref, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(ours.dq, ref.dq)
    return ours, bdata


@pytest.mark.parity
@pytest.mark.parametrize("mode", MODES, ids=[m[2] for m in MODES])
@pytest.mark.parametrize("n", [1, 2, 12])
def test_image_matches_official(tmp_path, mode, n):
    model = science_model(*mode, SHAPE, corner=CORNER)
    ours, bdata = compare(model, backgrounds(tmp_path, mode, n))
    if n == 12:  # the star in one background is clipped away
        assert np.all(bdata[5:7, 5:7] < 10)
    assert bdata[0, 0] != 0 or n == 1  # NaN in one member only is ignored
    if n == 1:
        assert bdata[0, 0] == 0  # every member NaN: nothing subtracted


@pytest.mark.parity
@pytest.mark.parametrize("maxiters", [1, 5])
def test_maxiters_and_sigma_are_used(tmp_path, maxiters):
    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER)
    compare(model, backgrounds(tmp_path, mode, 8), sigma=2.0, maxiters=maxiters)


@pytest.mark.parity
@pytest.mark.parametrize("bkg_nints", [1, 4])
def test_cube_matches_official(tmp_path, bkg_nints):
    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER, nints=3)
    ours, _ = compare(model, backgrounds(tmp_path, mode, 3, nints=bkg_nints))
    assert ours.data.shape == (3,) + SHAPE


@pytest.mark.parity
@pytest.mark.parametrize("n", [1, 3, 8])
def test_cube_background_cancelling_the_science_matches_official(tmp_path, n):
    """Residuals near zero, as real MIRI backgrounds leave: the last bit of the
    background's mean over integrations shows, so it must be rounded as jwst does."""
    mode = MODES[1]
    model = science_model(*mode, SHAPE, corner=CORNER, nints=3)
    model.data = (model.data[:1] * np.array([1.0, 1 + 2e-6, 1 - 2e-6])[:, None, None]
                  ).astype(np.float32)  # a steady scene
    paths = []
    for i in range(n):
        bkg = science_model(*mode, SHAPE, corner=CORNER, nints=3, seed=40 + i)
        bkg.data = (model.data * (1 + 1e-6 * (i - 1)) + 1e-3 * bkg.data).astype(np.float32)
        bkg.save(tmp_path / f"bkg{i}_rateints.fits")
        paths.append(str(tmp_path / f"bkg{i}_rateints.fits"))
    ours, _ = compare(model, paths)
    assert np.nanmax(np.abs(ours.data)) < 0.1 * np.nanmax(np.abs(model.data))


@pytest.mark.parity
def test_background_on_other_subarray_only_counts_where_it_overlaps(tmp_path):
    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER)
    far = science_model(*mode, SHAPE, corner=(500, 500))
    far.save(tmp_path / "far_rate.fits")
    near = backgrounds(tmp_path, mode, 1, outlier=False)
    ours, bdata = compare(model, near + [str(tmp_path / "far_rate.fits")])
    _, only_near = background.subtract_background(model, opened(near))
    np.testing.assert_allclose(bdata, only_near[0])


def test_step_skips_without_members_and_reports_missing_ones(tmp_path):
    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER)
    out = run_background(model, [], Image2Options(), exposure="jw1_nrca1")
    assert out.meta.cal_step.bkg_subtract == "SKIPPED"
    np.testing.assert_array_equal(out.data, model.data)

    paths = backgrounds(tmp_path, mode, 2)
    out = run_background(model, paths, Image2Options(bkg_sigma=2.5), exposure="jw1_nrca1")
    assert out.meta.cal_step.bkg_subtract == "COMPLETE"
    assert model.meta.cal_step.bkg_subtract is None

    with pytest.raises(ExposureError,
                       match=r"^jw1_nrca1: background member gone_rate.fits not found"):
        run_background(model, paths + [str(tmp_path / "gone_rate.fits")], Image2Options(),
                       exposure="jw1_nrca1")


@pytest.mark.filterwarnings("ignore:Input data contains invalid values")
def test_clipped_mean_shortcut_agrees_with_astropy():
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(0)
    for n in range(1, 6):
        stack = rng.normal(0, 1, (n, 500))
        stack[0, :5] = 1e6
        stack[-1, 5:10] = np.nan
        ours, _ = background.clipped_mean(stack, 3.0, None)
        ref = sigma_clip(stack, sigma=3.0, maxiters=None, axis=0).mean(axis=0).data
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parity
def test_background_on_offset_subarray_counts_at_its_own_pixels(tmp_path):
    """A member whose subarray starts inside the science one (corner +3, +4) is placed at
    its own detector pixels. jwst 3.0.0 puts the overlap at the science corner instead
    (get_subset_array ignores where the overlap starts): a deliberate difference."""
    from snakewebb.steps.background import _Members

    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER)
    inner = science_model(*mode, (6, 7), corner=(CORNER[0] + 4, CORNER[1] + 3))
    inner.data[...] = 5.0
    inner.dq[...] = 0
    inner.save(tmp_path / "inner_rate.fits")
    near = backgrounds(tmp_path, mode, 2, outlier=False)
    data, _, _ = background.combine_backgrounds(
        model, _Members(near + [str(tmp_path / "inner_rate.fits")], "jw1_nrca1"))
    two, _, _ = background.combine_backgrounds(model, _Members(near, "jw1_nrca1"))
    footprint = np.zeros(SHAPE, bool)
    footprint[3:9, 4:11] = True
    valid = np.isfinite(two) & (two != 0)
    expect = np.where(footprint, (2 * two + 5.0) / 3, two)
    np.testing.assert_allclose(data[valid], expect[valid].astype(np.float32), rtol=1e-6)
    official_bkg, _ = official(model, near + [str(tmp_path / "inner_rate.fits")], 3.0, None)
    assert not np.allclose(official_bkg.data[valid], expect[valid], rtol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("nints", [None, 3])
def test_members_stored_in_other_widths_match_official(tmp_path, nints):
    """Members whose DQ is stored as signed 16/64-bit integers and whose SCI/ERR are
    float64 are read as the datamodels read them (uint32 DQ, a negative value wrapping;
    float32 SCI/ERR); a signed DQ used to fail the OR into the science DQ."""
    from astropy.io import fits

    mode = MODES[0]
    model = science_model(*mode, SHAPE, corner=CORNER, nints=nints)
    paths = backgrounds(tmp_path, mode, 3, nints=nints)
    for i, path in enumerate(paths):
        with fits.open(path) as hdul:
            hdus = [h.copy() for h in hdul]
        for k, h in enumerate(hdus):
            if h.name == "DQ":
                dq = np.zeros(h.data.shape, (">i2", ">i8", "i2")[i])
                dq[..., 2, 3] = -32768  # bit 15 of a 16-bit DQ
                dq[..., 4, i] = dqflags.pixel["SATURATED"]
                hdus[k] = fits.ImageHDU(dq, name="DQ")
            elif h.name in ("SCI", "ERR"):
                h.data = h.data.astype(">f8") * (1.0 + 1e-9)  # not float32-representable
        fits.HDUList(hdus).writeto(path, overwrite=True)
    ours = run_background(model, paths, Image2Options(), exposure="jw1_nrca1")
    _, ref = official(model, paths, 3.0, None)
    np.testing.assert_array_equal(ours.dq, ref.dq)
    assert np.all(ours.dq[..., 2, 3] & 0xFFFF8000 == 0xFFFF8000)
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-6, atol=1e-7)
