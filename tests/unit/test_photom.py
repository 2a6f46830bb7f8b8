"""Photom algorithm and step: compared with jwst's photom.DataSet on small models."""

import numpy as np
import pytest
from stdatamodels.jwst import datamodels

from helpers.models import area_reference, photom_reference, photom_science
from snakewebb import photom
from snakewebb.errors import ExposureError
from snakewebb.steps.photom import run_photom

# instrument, detector, exp_type, filter, pupil, subarray, photom model class
MODES = [
    ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL", datamodels.NrcImgPhotomModel),
    ("NIRCAM", "NRCALONG", "NRC_TSIMAGE", "F444W", "CLEAR", "SUBGRISM64",
     datamodels.NrcImgPhotomModel),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", datamodels.MirImgPhotomModel),
    ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "SUB256", datamodels.MirImgPhotomModel),
    ("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", datamodels.NisImgPhotomModel),
    ("NIRISS", "NIS", "NIS_IMAGE", "F444W", "CLEARP", "FULL", datamodels.NisImgPhotomModel),
    ("FGS", "GUIDER1", "FGS_IMAGE", None, None, "FULL", datamodels.FgsImgPhotomModel),
]


def official(model, phot_path, area_path):
    from jwst.photom.photom import DataSet

    result = model.copy()
    area = None if area_path is None else str(area_path)
    return DataSet(result).apply_photom(str(phot_path), area)


def assert_same(ours, ref):
    for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat", "area"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert a.dtype.newbyteorder("=") == b.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(ours.dq, ref.dq)
    for key in ("conversion_megajanskys", "conversion_microjanskys",
                "pixelarea_steradians", "pixelarea_arcsecsq"):
        assert getattr(ours.meta.photometry, key) == getattr(ref.meta.photometry, key), key
    assert ours.meta.bunit_data == ref.meta.bunit_data
    assert ours.meta.bunit_err == ref.meta.bunit_err


@pytest.mark.parity
@pytest.mark.parametrize("time_tables", [False, True], ids=["plain", "time-dependent"])
@pytest.mark.parametrize("mode", MODES, ids=[f"{m[2]}-{m[3]}-{m[4]}-{m[5]}" for m in MODES])
def test_matches_official(tmp_path, mode, time_tables):
    *keys, cls = mode
    model = photom_science(*keys)
    phot = photom_reference(cls, time_tables=time_tables)
    area = area_reference((64, 64))
    phot.save(tmp_path / "photom.fits")
    area.save(tmp_path / "area.fits")
    before = model.data.copy()
    with (datamodels.open(tmp_path / "photom.fits") as p,
          datamodels.open(tmp_path / "area.fits") as a):
        ours, applied = photom.apply_photom(model, p, a)
    np.testing.assert_array_equal(model.data, before)  # input untouched
    assert applied
    assert ours.meta.bunit_data == "MJy/sr"
    ref = official(model, tmp_path / "photom.fits", tmp_path / "area.fits")
    assert_same(ours, ref)
    if time_tables:
        plain = photom_reference(cls).phot_table
        row = photom.find_row(plain, photom._match_fields(model, plain)[0]) or 0
        assert ours.meta.photometry.conversion_megajanskys != pytest.approx(plain["photmjsr"][row])


@pytest.mark.parity
def test_nircam_subarray_column_and_cube(tmp_path):
    model = photom_science("NIRCAM", "NRCALONG", "NRC_TSIMAGE", "F444W", "CLEAR", "SUBGRISM64",
                           nints=3)
    phot = photom_reference(datamodels.NrcImgPhotomModel, subarray_column=True)
    phot.save(tmp_path / "photom.fits")
    with datamodels.open(tmp_path / "photom.fits") as p:
        ours, applied = photom.apply_photom(model, p, None)
        row = photom.find_row(p.phot_table,
                              {"filter": "F444W", "pupil": "CLEAR", "subarray": "SUBGRISM64"})
        assert ours.meta.photometry.conversion_megajanskys == p.phot_table["photmjsr"][row]
    assert applied and ours.data.shape == (3, 16, 20)
    assert_same_no_area(ours, official(model, tmp_path / "photom.fits", None))


def assert_same_no_area(ours, ref):
    for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ours.dq, ref.dq)
    assert ours.meta.photometry.pixelarea_steradians == ref.meta.photometry.pixelarea_steradians


def test_niriss_cube_gets_area_but_no_calibration(tmp_path):
    model = photom_science("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", nints=2)
    phot = photom_reference(datamodels.NisImgPhotomModel)
    phot.save(tmp_path / "photom.fits")
    area_reference((64, 64)).save(tmp_path / "area.fits")
    refs = {"photom": str(tmp_path / "photom.fits"), "area": str(tmp_path / "area.fits")}
    out = run_photom(model, refs, exposure="jw1_nis")
    assert out.meta.cal_step.photom == "SKIPPED"
    assert out.area.shape == (16, 20)
    assert out.meta.photometry.pixelarea_steradians == 9.31e-14
    np.testing.assert_array_equal(out.data, model.data)


def test_step_provenance_na_and_errors(tmp_path):
    model = photom_science("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL")
    photom_reference(datamodels.NrcImgPhotomModel).save(tmp_path / "jwst_nircam_photom_0001.fits")
    refs = {"photom": str(tmp_path / "jwst_nircam_photom_0001.fits"), "area": None}
    out = run_photom(model, refs, exposure="jw1_nrca1")
    assert out.meta.cal_step.photom == "COMPLETE"
    assert out.meta.ref_file.photom.name == "crds://jwst_nircam_photom_0001.fits"
    assert out.meta.ref_file.area.name == "N/A"
    assert out.meta.photometry.pixelarea_steradians == pytest.approx(9.0e-14)  # from PHOTOM

    skipped = run_photom(model, {"photom": None, "area": None}, exposure="jw1_nrca1")
    assert skipped.meta.cal_step.photom == "SKIPPED"

    model.meta.instrument.filter = "F200W"
    with pytest.raises(ExposureError,
                       match=r"^jw1_nrca1: PHOTOM jwst_nircam_photom_0001.fits: no PHOTOM row"):
        run_photom(model, refs, exposure="jw1_nrca1")
    # the keywords (and MIRI's GENERIC fallback) are named as in the header
    miri = photom_science("MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "SUB64")
    photom_reference(datamodels.MirImgPhotomModel).save(tmp_path / "jwst_miri_photom_0001.fits")
    with pytest.raises(ExposureError, match=r": no PHOTOM row for SUBARRAY=SUB64, FILTER=F1500W "
                                            r"nor SUBARRAY=GENERIC, FILTER=F1500W$"):
        run_photom(miri, {"photom": str(tmp_path / "jwst_miri_photom_0001.fits"), "area": None},
                   exposure="jw1_mirimage")
    miri.meta.instrument.filter = "F560W"
    miri.meta.subarray.name = "GENERIC"
    with pytest.raises(ExposureError, match=r": no PHOTOM row for SUBARRAY=GENERIC, FILTER=F560W$"):
        run_photom(miri, {"photom": str(tmp_path / "jwst_miri_photom_0001.fits"), "area": None},
                   exposure="jw1_mirimage")
    with pytest.raises(ExposureError, match=r"^jw1_nrca1: PHOTOM reference gone.fits not found"):
        run_photom(model, {"photom": str(tmp_path / "gone.fits"), "area": None},
                   exposure="jw1_nrca1")


@pytest.mark.parametrize("mid_time", [59000.0, 0.0])
def test_exposure_before_the_time_tables_is_a_named_error(tmp_path, mid_time):
    """An EXPMID before the power law's T0 - TSOFT gives a NaN correction (jwst then fails
    writing a NaN PHOTMJSR keyword): one line naming EXPMID, not the FITS writer's error."""
    mode = next(m for m in MODES if m[0] == "MIRI")
    *keys, cls = mode
    model = photom_science(*keys)
    model.meta.exposure.mid_time = mid_time
    photom_reference(cls, time_tables=True).save(tmp_path / "jwst_miri_photom_0001.fits")
    refs = {"photom": str(tmp_path / "jwst_miri_photom_0001.fits"), "area": None}
    with pytest.raises(ExposureError,
                       match=rf"^jw1_mirimage: PHOTOM jwst_miri_photom_0001.fits: "
                             rf"time-dependence correction is nan at EXPMID {mid_time}"):
        run_photom(model, refs, exposure="jw1_mirimage")
