"""The image2 step layer on small synthetic files: products, provenance, skips, bad input."""

import hashlib

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

from helpers.models import NAME, NO_WCS, flat_model, write_science
from snakewebb.errors import ExposureError
from snakewebb.steps.image2 import Image2Options, calibrate_exposure, subtract_background_file


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rate_to_cal_runs_every_step_in_order(tmp_path, refs):
    from snakewebb import flat_field, photom

    rate = write_science(tmp_path / f"{NAME}_rate.fits")
    before = digest(rate)
    out = calibrate_exposure(rate, tmp_path / "out" / f"{NAME}_cal.fits", refs=refs, options=NO_WCS)
    assert digest(rate) == before
    with datamodels.open(out) as cal, datamodels.open(rate) as raw:
        assert cal.meta.filename == f"{NAME}_cal.fits"
        assert cal.meta.cal_step.bkg_subtract == "SKIPPED"
        assert cal.meta.cal_step.assign_wcs == "SKIPPED"
        assert cal.meta.cal_step.flat_field == "COMPLETE"
        assert cal.meta.cal_step.photom == "COMPLETE"
        assert cal.meta.ref_file.flat.name == "crds://jwst_nircam_flat_0001.fits"
        assert cal.meta.ref_file.photom.name == "crds://jwst_nircam_photom_0001.fits"
        assert cal.meta.ref_file.area.name == "crds://jwst_nircam_area_0001.fits"
        assert cal.meta.calibration_software_version.startswith("snakewebb ")
        assert cal.meta.bunit_data == "MJy/sr"
        # the same as the two algorithms applied by hand
        with datamodels.open(refs["flat"]) as f, datamodels.open(refs["photom"]) as p, \
                datamodels.open(refs["area"]) as a:
            expect, _ = photom.apply_photom(flat_field.apply_flat(raw, f), p, a)
        np.testing.assert_array_equal(cal.data, expect.data)
        np.testing.assert_array_equal(cal.dq, expect.dq)
        np.testing.assert_array_equal(cal.area, expect.area)
    assert not list((tmp_path / "out").glob(".*part"))


def test_rateints_gives_calints_and_context_is_recorded(tmp_path, refs):
    rate = write_science(tmp_path / f"{NAME}_rateints.fits", nints=3, exp_type="NRC_TSIMAGE")
    bkg = write_science(tmp_path / "bkg_rateints.fits", nints=3, seed=5)
    options = Image2Options(skip_assign_wcs=True, crds_context="jwst_0002.pmap")
    out = calibrate_exposure(rate, tmp_path / f"{NAME}_calints.fits", backgrounds=[bkg],
                             refs=refs, options=options)
    with datamodels.open(out) as cal:
        assert isinstance(cal, datamodels.CubeModel) and cal.data.shape == (3, 16, 20)
        assert cal.var_flat.shape == (3, 16, 20)
        assert cal.meta.cal_step.bkg_subtract == "SKIPPED"  # TSO: never background
        assert cal.meta.ref_file.crds.context_used == "jwst_0002.pmap"
        import crds  # CRDS_VER is the version crds itself reports

        assert cal.meta.ref_file.crds.sw_version == crds.__version__


def test_background_and_bsub_product(tmp_path, refs):
    rate = write_science(tmp_path / f"{NAME}_rate.fits")
    bkgs = [write_science(tmp_path / f"bkg{i}_rate.fits", seed=7 + i) for i in range(2)]
    bsub = tmp_path / f"{NAME}_bsub.fits"
    cal = calibrate_exposure(rate, tmp_path / f"{NAME}_cal.fits", backgrounds=bkgs, refs=refs,
                             options=NO_WCS, bsub_output=bsub)
    with datamodels.open(bsub) as b, datamodels.open(rate) as r, datamodels.open(cal) as c:
        assert b.meta.cal_step.bkg_subtract == "COMPLETE"
        assert b.meta.cal_step.flat_field is None
        assert c.meta.cal_step.bkg_subtract == "COMPLETE"
        assert not np.allclose(b.data, r.data, equal_nan=True)
    # the _bsub as input: background not redone, same _cal
    again = calibrate_exposure(bsub, tmp_path / "again_cal.fits", backgrounds=bkgs, refs=refs,
                               options=NO_WCS)
    with datamodels.open(again) as a, datamodels.open(cal) as c:
        np.testing.assert_array_equal(a.data, c.data)
    direct = subtract_background_file(rate, bkgs, tmp_path / "direct_bsub.fits")
    with datamodels.open(direct) as d, datamodels.open(bsub) as b:
        np.testing.assert_array_equal(d.data, b.data)


def test_skips_are_recorded(tmp_path, refs):
    rate = write_science(tmp_path / f"{NAME}_rate.fits")
    options = Image2Options(skip_assign_wcs=True, skip_flat_field=True, skip_photom=True)
    out = calibrate_exposure(rate, tmp_path / f"{NAME}_cal.fits", refs=refs, options=options)
    with datamodels.open(out) as cal, datamodels.open(rate) as raw:
        assert cal.meta.cal_step.flat_field == "SKIPPED"
        assert cal.meta.cal_step.photom == "SKIPPED"
        np.testing.assert_array_equal(cal.data, raw.data)
    na = dict(refs, flat=None)
    out = calibrate_exposure(rate, tmp_path / "na_cal.fits", refs=na, options=NO_WCS)
    with datamodels.open(out) as cal:
        assert cal.meta.cal_step.flat_field == "SKIPPED"
        assert cal.meta.ref_file.flat.name == "N/A"


def _edit_header(path, **cards):
    with fits.open(path, mode="update") as hdul:
        for key, value in cards.items():
            hdul[0].header[key] = value


@pytest.mark.parametrize("case,message", [
    ("missing EXP_TYPE", r"keyword EXP_TYPE missing"),
    ("spectroscopic", r"EXP_TYPE NRC_WFSS is not a supported imaging mode"),
    # (a flat smaller than the data is SKIPPED, as jwst does: test_reference_variants_flat_wcs)
    ("flat elsewhere", r"FLAT other_flat.fits: .*not inside"),
    ("reference missing", r"PHOTOM reference jwst_nircam_photom_0001.fits not found"),
    ("background missing", r"background member nowhere_rate.fits not found"),
    ("input missing", r"input .* not found"),
])
def test_bad_input_one_line_error_no_output_input_untouched(tmp_path, refs, case, message):
    rate = write_science(tmp_path / f"{NAME}_rate.fits",
                         exp_type=None if case == "missing EXP_TYPE" else "NRC_IMAGE")
    backgrounds = ()
    if case == "spectroscopic":
        _edit_header(rate, EXP_TYPE="NRC_WFSS")
    elif case == "flat elsewhere":  # a subarray flat of the science's size, elsewhere
        flat_model("NIRCAM", (16, 20), corner=(500, 500)).save(tmp_path / "other_flat.fits")
        refs = dict(refs, flat=str(tmp_path / "other_flat.fits"))
    elif case == "reference missing":
        (tmp_path / "jwst_nircam_photom_0001.fits").unlink()
    elif case == "background missing":
        backgrounds = [tmp_path / "nowhere_rate.fits"]
    elif case == "input missing":
        rate.unlink()
    before = digest(rate) if rate.exists() else None
    out = tmp_path / "out" / f"{NAME}_cal.fits"
    bsub = tmp_path / "out" / f"{NAME}_bsub.fits"
    with pytest.raises(ExposureError, match=rf"^{NAME}: .*{message}") as err:
        calibrate_exposure(rate, out, backgrounds=backgrounds, refs=refs, options=NO_WCS,
                           bsub_output=bsub)
    assert "\n" not in str(err.value)
    assert not out.exists() and not bsub.exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))
    if before is not None:
        assert digest(rate) == before
