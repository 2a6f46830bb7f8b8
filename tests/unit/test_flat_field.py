"""Flat-field algorithm and step: compared with jwst's own flat_field functions on small models."""

import numpy as np
import pytest
from stdatamodels.jwst.datamodels import dqflags

from helpers.models import DO_NOT_USE, NO_FLAT_FIELD, assert_same, flat_model, science_model
from snakewebb import flat_field
from snakewebb.errors import ExposureError
from snakewebb.steps.flat_field import run_flat_field

# instrument, detector, exp_type, full-frame (ny, nx)
MODES = [
    ("NIRCAM", "NRCA1", "NRC_IMAGE", (2048, 2048)),
    ("NIRCAM", "NRCALONG", "NRC_TSIMAGE", (2048, 2048)),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE", (1024, 1032)),
    ("NIRISS", "NIS", "NIS_IMAGE", (2048, 2048)),
    ("FGS", "GUIDER1", "FGS_IMAGE", (2048, 2048)),
]


def official(science, flat):
    from jwst.flatfield.flat_field import do_flat_field

    result = science.copy()
    do_flat_field(result, flat.copy())
    return result


@pytest.mark.parity
@pytest.mark.parametrize("instrument,detector,exp_type,full", MODES)
def test_full_frame_flat_matches_official_on_subarray(instrument, detector, exp_type, full):
    # a 24x20 science subarray cut from a full-frame-keyword flat of reduced size
    # (the flat is declared full frame 1..64 so the slice logic is exercised)
    science = science_model(instrument, detector, exp_type, (24, 20), corner=(9, 5))
    flat = flat_model(instrument, (64, 64))
    before = science.data.copy()
    ours = flat_field.apply_flat(science, flat)
    np.testing.assert_array_equal(science.data, before)  # input untouched
    assert science.meta.cal_step.flat_field is None
    assert_same(ours, official(science, flat))


@pytest.mark.parity
@pytest.mark.parametrize("instrument,detector,exp_type,full", MODES)
def test_matching_flat_on_cube(instrument, detector, exp_type, full):
    science = science_model(instrument, detector, exp_type, (16, 12), nints=3)
    flat = flat_model(instrument, (16, 12))
    ours = flat_field.apply_flat(science, flat)
    assert ours.var_flat.shape == (3, 16, 12)
    assert_same(ours, official(science, flat))


@pytest.mark.parity
def test_flat_without_subarray_keywords_taken_as_full_frame():
    science = science_model("MIRI", "MIRIMAGE", "MIR_IMAGE", (20, 30), corner=(100, 200))
    flat = flat_model("MIRI", (1024, 1032), keywords=False)
    ours = flat_field.apply_flat(science, flat)
    assert_same(ours, official(science, flat))


def test_bad_flat_pixels_flagged_and_left_uncorrected():
    science = science_model("NIRCAM", "NRCA1", "NRC_IMAGE", (10, 10))
    flat = flat_model("NIRCAM", (10, 10))
    ours = flat_field.apply_flat(science, flat)
    for y, x in ((4, 4), (5, 5), (6, 6), (7, 7)):
        assert ours.dq[y, x] & DO_NOT_USE
        assert np.isnan(ours.data[y, x])  # DO_NOT_USE pixels are NaN everywhere
    for y, x in ((4, 4), (5, 5)):
        assert ours.dq[y, x] & NO_FLAT_FIELD
    # UNRELIABLE_FLAT alone: corrected normally, flag carried
    assert ours.dq[8, 8] & dqflags.pixel["UNRELIABLE_FLAT"]
    assert ours.data[8, 8] == pytest.approx(science.data[8, 8] / flat.data[8, 8], rel=1e-6)
    # ERR is rebuilt from the three variances
    good = np.isfinite(ours.err)
    expect = np.sqrt(ours.var_poisson + ours.var_rnoise + ours.var_flat)
    np.testing.assert_allclose(ours.err[good], expect[good], rtol=1e-6)


def test_flat_smaller_than_science_is_an_error():
    science = science_model("NIRCAM", "NRCA1", "NRC_IMAGE", (30, 30), corner=(50, 50))
    flat = flat_model("NIRCAM", (64, 64))
    with pytest.raises(flat_field.FlatShapeError, match="not inside the flat"):
        flat_field.apply_flat(science, flat)


def test_step_records_provenance_and_skips_na(tmp_path):
    science = science_model("NIRCAM", "NRCA1", "NRC_IMAGE", (10, 10))
    flat = flat_model("NIRCAM", (10, 10))
    path = tmp_path / "jwst_nircam_flat_0001.fits"
    flat.save(path)
    out = run_flat_field(science, {"flat": str(path)}, exposure="jw1_nrca1")
    assert out is not science
    assert out.meta.cal_step.flat_field == "COMPLETE"
    assert out.meta.ref_file.flat.name == "crds://jwst_nircam_flat_0001.fits"
    assert out.meta.ref_file.fflat.name == "N/A"
    assert science.meta.cal_step.flat_field is None

    skipped = run_flat_field(science, {"flat": None}, exposure="jw1_nrca1")
    assert skipped.meta.cal_step.flat_field == "SKIPPED"
    assert skipped.meta.ref_file.flat.name == "N/A"
    np.testing.assert_array_equal(skipped.data, science.data)


def test_step_errors_are_one_line_and_name_the_exposure(tmp_path):
    science = science_model("NIRCAM", "NRCA1", "NRC_IMAGE", (30, 30), corner=(50, 50))
    with pytest.raises(ExposureError, match=r"^jw1_nrca1: FLAT reference .* not found"):
        run_flat_field(science, {"flat": str(tmp_path / "missing.fits")}, exposure="jw1_nrca1")
    path = tmp_path / "small_flat.fits"
    flat_model("NIRCAM", (64, 64)).save(path)
    with pytest.raises(ExposureError) as err:
        run_flat_field(science, {"flat": str(path)}, exposure="jw1_nrca1")
    assert "\n" not in str(err.value) and str(err.value).startswith("jw1_nrca1: FLAT small_flat")
