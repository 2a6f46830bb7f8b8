"""Real-world FLAT and ASSIGN_WCS reference variants, each compared with jwst 3.0.0.

FLAT files are written the way CRDS delivers them (FITS: SCI/ERR/DQ/DQ_DEF,
subarray keywords in the primary header) and go through our step layer,
which reads them with astropy; jwst gets the same file through its
``FlatModel`` and ``do_flat_field``. ASSIGN_WCS variants (reference bounding
boxes, filter offsets, subarray corners, pointings at the RA wrap and near
the poles, missing or broken pointing keywords) go through ``run_assign_wcs``
and jwst's ``load_wcs`` + ``update_fits_wcsinfo`` on the same files.
"""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from helpers.models import assert_same, primary_hdu, science_model
from helpers.wcs import (
    CASES,
    FILTER_ROWS,
    assert_wcs_parity,
    bbox_grid,
    case_distortion,
    make_exposure,
    official_assign_wcs,
    reference_meta,
)
from snakewebb import flat_field
from snakewebb.errors import ExposureError
from snakewebb.steps.assign_wcs import run_assign_wcs
from snakewebb.steps.flat_field import run_flat_field

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.pixel["NO_FLAT_FIELD"]
UNRELIABLE_FLAT = dqflags.pixel["UNRELIABLE_FLAT"]

# ---------------------------------------------------------------------------
# FLAT
# ---------------------------------------------------------------------------

#: A DQ_DEF as real flats carry it: standard names at their standard values.
STANDARD_DQ_DEF = [(0, 1, "DO_NOT_USE"), (18, NO_FLAT_FIELD, "NO_FLAT_FIELD"),
                   (24, UNRELIABLE_FLAT, "UNRELIABLE_FLAT"),
                   (10, dqflags.pixel["DEAD"], "DEAD"), (13, dqflags.pixel["HOT"], "HOT")]


def write_flat(path, instrument, data, *, dq=None, err=None, dq_def=None, corner=(1, 1),
               keywords=("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2")):
    """A FLAT reference file; ``dq_def``: (bit, value, name) rows; ``keywords``: which
    subarray keywords the header carries."""
    ny, nx = data.shape
    cards = {"SUBSTRT1": corner[0], "SUBSTRT2": corner[1], "SUBSIZE1": nx, "SUBSIZE2": ny}
    extra = {k: v for k, v in cards.items() if k in keywords}
    hdus = [primary_hdu(instrument, "FLAT", DATAMODL="FlatModel", FILTER="F200W",
                     SUBARRAY="GENERIC", **extra),
            fits.ImageHDU(np.asarray(data, np.float32), name="SCI")]
    if err is not None:
        hdus.append(fits.ImageHDU(np.asarray(err, np.float32), name="ERR"))
    if dq is not None:
        hdus.append(fits.ImageHDU(np.asarray(dq, np.uint32), name="DQ"))
    if dq_def is not None:
        bits, values, names = zip(*dq_def) if dq_def else ((), (), ())
        hdus.append(fits.BinTableHDU.from_columns([
            fits.Column(name="BIT", format="J", array=np.array(bits, np.int32)),
            fits.Column(name="VALUE", format="J", array=np.array(values, np.uint32),
                        bzero=2**31),
            fits.Column(name="NAME", format="40A", array=np.array(names)),
            fits.Column(name="DESCRIPTION", format="80A",
                        array=np.array(["synthetic"] * len(names))),
        ], name="DQ_DEF"))
    fits.HDUList(hdus).writeto(path)
    return str(path)


def flat_arrays(shape, seed=5):
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    err = rng.uniform(0.001, 0.02, shape).astype(np.float32)
    return data, err


def official_flat(science, path):
    from jwst.flatfield.flat_field import do_flat_field

    result = science.copy()
    with datamodels.FlatModel(path) as flat:
        do_flat_field(result, flat)
    return result


def ours_flat(science, path):
    before = {n: getattr(science, n).copy() for n in ("data", "dq", "err")}
    out = run_flat_field(science, {"flat": path}, exposure="jw_variant")
    for name, arr in before.items():  # input untouched
        np.testing.assert_array_equal(getattr(science, name), arr)
    return out


def assert_flat_same(ours, ref):
    assert ours.meta.cal_step.flat_field == ref.meta.cal_step.flat_field == "COMPLETE"
    assert_same(ours, ref)


def _science(instrument, shape, corner, nints=None):
    detector, exp_type = {"NIRCAM": ("NRCA1", "NRC_IMAGE"), "MIRI": ("MIRIMAGE", "MIR_IMAGE"),
                          "NIRISS": ("NIS", "NIS_IMAGE"),
                          "FGS": ("GUIDER1", "FGS_IMAGE")}[instrument]
    return science_model(instrument, detector, exp_type, shape, corner=corner, nints=nints)


@pytest.mark.parity
@pytest.mark.parametrize("instrument,shape,corner", [
    ("MIRI", (128, 136), (1, 889)),       # MIRI SUB128, flat delivered for it
    ("MIRI", (512, 512), (457, 51)),      # MIRI BRIGHTSKY
    ("NIRCAM", (64, 64), (1, 1)),         # a small subarray at the corner
], ids=["mir-sub128", "mir-brightsky", "nrc-sub64-at-1-1"])
def test_flat_already_matching_the_science_subarray(tmp_path, instrument, shape, corner):
    data, err = flat_arrays(shape)
    dq = np.zeros(shape, np.uint32)
    dq[3, 4] = NO_FLAT_FIELD
    path = write_flat(tmp_path / "flat.fits", instrument, data, dq=dq, err=err,
                      dq_def=STANDARD_DQ_DEF, corner=corner)
    science = _science(instrument, shape, corner)
    assert_flat_same(ours_flat(science, path), official_flat(science, path))


@pytest.mark.parity
@pytest.mark.parametrize("instrument,shape,corner,nints", [
    ("NIRCAM", (400, 400), (1649, 1), None),   # NIRCam SUB400P-like corner
    ("MIRI", (128, 136), (1, 889), None),      # MIRI SUB128 in a full-frame flat
    ("MIRI", (512, 512), (457, 51), 2),        # MIRI BRIGHTSKY, cube
    ("NIRISS", (64, 64), (1985, 1985), 3),     # last pixels of the detector, cube
], ids=["nrc-sub400p", "mir-sub128", "mir-brightsky-cube", "nis-corner-cube"])
def test_full_frame_flat_for_subarray_science(tmp_path, instrument, shape, corner, nints):
    full = (1024, 1032) if instrument == "MIRI" else (2048, 2048)
    data, err = flat_arrays(full)
    dq = np.zeros(full, np.uint32)
    y0, x0 = corner[1] - 1, corner[0] - 1
    dq[y0 + 2, x0 + 3] = NO_FLAT_FIELD
    dq[y0 + 5, x0 + 1] = DO_NOT_USE | dqflags.pixel["HOT"]
    data[y0 + 7, x0 + 7] = np.nan
    path = write_flat(tmp_path / "flat.fits", instrument, data, dq=dq, err=err,
                      dq_def=STANDARD_DQ_DEF)
    science = _science(instrument, shape, corner, nints)
    ours = ours_flat(science, path)
    assert ours.var_flat.shape == science.data.shape
    assert_flat_same(ours, official_flat(science, path))


@pytest.mark.parity
def test_full_frame_flat_without_subarray_keywords(tmp_path):
    data, err = flat_arrays((1024, 1032))
    path = write_flat(tmp_path / "flat.fits", "MIRI", data, err=err, keywords=())
    science = _science("MIRI", (128, 136), (1, 889))
    assert_flat_same(ours_flat(science, path), official_flat(science, path))


@pytest.mark.parity
def test_flat_with_corner_but_no_size_keywords_taken_as_full_frame(tmp_path):
    # jwst sets all four keywords to full frame when any is missing; so do we
    data, err = flat_arrays((2048, 2048))
    path = write_flat(tmp_path / "flat.fits", "NIRCAM", data, err=err, corner=(5, 5),
                      keywords=("SUBSTRT1", "SUBSTRT2"))
    science = _science("NIRCAM", (32, 40), (101, 201))
    assert_flat_same(ours_flat(science, path), official_flat(science, path))


@pytest.mark.parity
@pytest.mark.parametrize("dq_def", [
    # every flag at a non-standard plane, one name that is no JWST flag, one
    # plane no row describes (bit 7 below): jwst maps by name, drops the rest
    [(0, 1, "NO_FLAT_FIELD"), (1, 2, "DO_NOT_USE"), (2, 4, "UNRELIABLE_FLAT"),
     (3, 8, "NOT_A_JWST_FLAG"), (4, 16, "HOT"), (5, 32, "  DEAD  ")],
    STANDARD_DQ_DEF,
    [],  # an empty table: values used as they are
], ids=["remapped", "standard", "empty"])
def test_flat_dq_def_bit_planes(tmp_path, dq_def):
    shape = (24, 20)
    data, err = flat_arrays(shape)
    rng = np.random.default_rng(11)
    dq = np.zeros(shape, np.uint32)
    # each pixel of a sample gets some planes 0..7 and some standard high flags
    dq[::2, ::3] = rng.integers(0, 256, dq[::2, ::3].shape, dtype=np.uint32)
    dq[1, :] |= NO_FLAT_FIELD | UNRELIABLE_FLAT | dqflags.pixel["HOT"]
    path = write_flat(tmp_path / "flat.fits", "NIRCAM", data, dq=dq, err=err, dq_def=dq_def)
    science = _science("NIRCAM", shape, (1, 1))
    ours, ref = ours_flat(science, path), official_flat(science, path)
    assert_flat_same(ours, ref)
    raw = (science.dq | dq)[~np.isnan(ref.data)]
    if dq_def:  # the translation changed the flags (undefined planes dropped at least)
        assert np.any(ours.dq[~np.isnan(ref.data)] != raw)
    else:
        np.testing.assert_array_equal(ours.dq[~np.isnan(ref.data)], raw)


@pytest.mark.parity
def test_flat_dq_bits_propagated_exactly(tmp_path):
    # every one of the 32 bits, alone and together, without a DQ_DEF table
    shape = (33, 8)
    data, err = flat_arrays(shape)
    dq = np.zeros(shape, np.uint32)
    for bit in range(32):
        dq[bit, bit % 8] = np.uint32(1) << np.uint32(bit)
    dq[32, :] = np.uint32(0xFFFFFFFF)
    path = write_flat(tmp_path / "flat.fits", "FGS", data, dq=dq, err=err)
    science = _science("FGS", shape, (1, 1))
    science.dq[...] |= dqflags.pixel["SATURATED"]
    ours, ref = ours_flat(science, path), official_flat(science, path)
    assert_flat_same(ours, ref)
    assert np.all(ours.dq & dq == dq)


@pytest.mark.parity
def test_flat_special_values(tmp_path):
    # NaN, zero, negative, tiny, huge, +-inf values in the flat; NaN and inf in its ERR
    shape = (10, 12)
    data, err = flat_arrays(shape)
    values = [np.nan, 0.0, -0.0, -1.3, -1e-30, 1e-30, 1e30, np.inf, -np.inf, 3e38]
    for i, v in enumerate(values):
        data[i, 0] = v
    err[0:3, 1] = [np.nan, np.inf, 0.0]
    err[3, 2] = -0.5   # negative uncertainties are squared like any other
    data[4, 3] = np.inf
    err[4, 3] = np.inf
    path = write_flat(tmp_path / "flat.fits", "NIRISS", data, err=err,
                      dq=np.zeros(shape, np.uint32), dq_def=STANDARD_DQ_DEF)
    science = _science("NIRISS", shape, (1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf * 0 and friends, in both
        ref = official_flat(science, path)
        ours = ours_flat(science, path)
    assert_flat_same(ours, ref)
    # zero and NaN flats are NO_FLAT_FIELD, the others are divided by
    assert ours.dq[0, 0] & NO_FLAT_FIELD and ours.dq[1, 0] & NO_FLAT_FIELD
    assert ours.dq[2, 0] & NO_FLAT_FIELD  # -0.0 == 0.0
    assert not ours.dq[3, 0] & NO_FLAT_FIELD


@pytest.mark.parity
@pytest.mark.parametrize("extensions", [("dq",), ("err",), ()], ids=["no-err", "no-dq", "sci-only"])
def test_flat_missing_err_or_dq_extension(tmp_path, extensions):
    shape = (16, 16)
    data, err = flat_arrays(shape)
    dq = np.zeros(shape, np.uint32)
    dq[2, 2] = NO_FLAT_FIELD
    path = write_flat(tmp_path / "flat.fits", "NIRCAM", data,
                      dq=dq if "dq" in extensions else None,
                      err=err if "err" in extensions else None,
                      dq_def=STANDARD_DQ_DEF if "dq" in extensions else None)
    science = _science("NIRCAM", shape, (1, 1), nints=2)
    ours, ref = ours_flat(science, path), official_flat(science, path)
    assert_flat_same(ours, ref)
    if "err" not in extensions:
        assert np.all(ours.var_flat[np.isfinite(ours.var_flat)] == 0)


@pytest.mark.parity
def test_science_with_nan_inf_and_do_not_use_already_set(tmp_path):
    shape = (12, 12)
    data, err = flat_arrays(shape)
    path = write_flat(tmp_path / "flat.fits", "MIRI", data, err=err,
                      dq=np.zeros(shape, np.uint32), corner=(1, 889))
    science = _science("MIRI", shape, (1, 889))
    science.data[5, 5] = np.inf
    science.data[6, 6] = -np.inf
    science.var_poisson[7, 7] = np.nan
    science.err[8, 8] = np.nan           # ERR is rebuilt: this NaN does not survive
    science.dq[9, 9] = DO_NOT_USE       # finite values, flagged: made NaN
    science.dq[10, 10] = NO_FLAT_FIELD   # science NO_FLAT_FIELD alone is only carried
    ours, ref = ours_flat(science, path), official_flat(science, path)
    assert_flat_same(ours, ref)
    assert np.isnan(ours.data[9, 9]) and np.isnan(ours.data[7, 7])
    assert np.isfinite(ours.data[8, 8])


@pytest.mark.parity
@pytest.mark.parametrize("flat_shape,corner", [((64, 32), (1, 1)), ((16, 64), (1, 1))],
                         ids=["narrower", "shorter"])
def test_flat_smaller_than_science_is_skipped_like_jwst(tmp_path, flat_shape, corner):
    data, err = flat_arrays(flat_shape)
    path = write_flat(tmp_path / "flat.fits", "MIRI", data, err=err, corner=corner)
    science = _science("MIRI", (40, 40), (1, 1))
    ref = official_flat(science, path)
    ours = ours_flat(science, path)
    assert ref.meta.cal_step.flat_field == ours.meta.cal_step.flat_field == "SKIPPED"
    assert ours.meta.ref_file.flat.name.endswith("flat.fits")
    for name in ("data", "dq", "err"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(science, name))
    assert "var_flat" not in ours.instance and "var_flat" not in ref.instance


@pytest.mark.parity
@pytest.mark.parametrize("flat_corner,sci_corner", [((1, 1), (20, 1)), ((100, 100), (1, 1)),
                                                    ((5, 5), (1, 1))],
                         ids=["runs-off-the-flat", "before-the-flat", "same-size-other-place"])
def test_flat_other_subarray_not_covering_is_an_error_like_jwst(tmp_path, flat_corner,
                                                                 sci_corner):
    data, err = flat_arrays((64, 64))
    path = write_flat(tmp_path / "flat.fits", "NIRCAM", data, err=err, corner=flat_corner)
    science = _science("NIRCAM", (64, 64) if flat_corner == (5, 5) else (48, 48), sci_corner)
    with pytest.raises(ValueError, match="Bad reference file slice"):
        official_flat(science, path)
    with pytest.raises(ExposureError, match=r"^jw_variant: FLAT flat.fits: .*not inside") as err:
        ours_flat(science, path)
    assert "\n" not in str(err.value)


def test_flat_dq_translation_reads_only_the_window(tmp_path):
    # the step reads the reference DQ by window; translation must give the same
    # array as translating the whole plane and cutting it
    data, err = flat_arrays((64, 64))
    dq = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) % 64
    dq_def = [(0, 1, "NO_FLAT_FIELD"), (3, 8, "HOT"), (5, 32, "DO_NOT_USE")]
    rows = [(v, n) for _b, v, n in dq_def]
    whole = flat_field.dq_from_definitions(dq, rows)
    np.testing.assert_array_equal(flat_field.dq_from_definitions(dq[10:20, 5:9], rows),
                                  whole[10:20, 5:9])
    assert whole[0, 1] == NO_FLAT_FIELD and whole[0, 8] == dqflags.pixel["HOT"]
    assert whole[0, 2] == 0  # plane 2 is not defined: dropped
    assert flat_field.dq_from_definitions(dq, None) is dq


# ---------------------------------------------------------------------------
# ASSIGN_WCS
# ---------------------------------------------------------------------------


POINTINGS = {
    "ra-just-below-360": (359.9999, 12.3),
    "ra-just-above-0": (0.00005, -41.0),
    "ra-exactly-0": (0.0, 0.0),
    "dec-near-north-pole": (201.7, 89.995),
    "dec-near-south-pole": (84.2, -89.9993),
    "pole-and-ra-wrap": (359.99999, -89.98),
}


def _official(model, refs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Failed to achieve requested SIP")
        return official_assign_wcs(model, refs)


def _pointing_pair(reffiles, case, pointing):
    ra, dec = POINTINGS[pointing]
    model = make_exposure(case, ra=ra, dec=dec, roll=291.4)
    refs = reffiles[case]
    return run_assign_wcs(model, refs, exposure=case), _official(model, refs)


@pytest.mark.parity
@pytest.mark.parametrize("pointing", sorted(POINTINGS))
@pytest.mark.parametrize("case", ["nrc_full", "mir_brightsky", "nis_sub", "fgs"])
def test_pointing_at_ra_wrap_and_poles_matches_jwst(reffiles, case, pointing):
    ours, theirs = _pointing_pair(reffiles, case, pointing)
    if "pole" not in pointing:
        # world coordinates, the inverse, S_REGION (string-equal) and every SIP keyword
        assert_wcs_parity(ours, theirs)
    else:
        # the same without the SIP coefficients, which differ near the poles (below)
        w_o, w_t = ours.meta.wcs, theirs.meta.wcs
        x, y = bbox_grid(w_t, 64)
        ra_o, dec_o = w_o(x, y)
        ra_t, dec_t = w_t(x, y)
        np.testing.assert_array_equal(ra_o, ra_t)
        np.testing.assert_array_equal(dec_o, dec_t)
        xi_o, yi_o = w_o.invert(ra_t, dec_t, with_bounding_box=False)
        xi_t, yi_t = w_t.invert(ra_t, dec_t, with_bounding_box=False)
        np.testing.assert_allclose(xi_o, xi_t, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(yi_o, yi_t, rtol=1e-7, atol=1e-7)
        assert ours.meta.wcsinfo.s_region == theirs.meta.wcsinfo.s_region
        for key in ("crval1", "crval2", "crpix1", "crpix2", "cd1_1", "cd1_2", "cd2_1", "cd2_2"):
            assert ours.meta.wcsinfo.instance[key] == pytest.approx(
                theirs.meta.wcsinfo.instance[key], rel=1e-12, abs=0), key
    region = [float(v) for v in ours.meta.wcsinfo.s_region.split()[2:]]
    assert all(0 <= v < 360 for v in region[::2])


@pytest.mark.parity
def test_sip_keywords_near_the_pole_match_jwst_exactly(reffiles):
    assert_wcs_parity(*_pointing_pair(reffiles, "nrc_full", "dec-near-south-pole"))


@pytest.mark.parity
def test_s_region_formats_ra_wrap_like_jwst():
    # corners that fall on both sides of RA = 0: RA written in [0, 360) with 9 decimals
    from stcal.alignment.util import compute_s_region_imaging

    from snakewebb import assign_wcs as aw

    for ra in (359.99, 0.01, 359.9999999999, 1e-12):
        model = make_exposure("nrc_full", ra=ra, dec=3.0)
        wcs = aw.imaging_wcs(model, case_distortion("nrc_full"), FILTER_ROWS["NIRCAM"])
        expect = compute_s_region_imaging(wcs, shape=model.data.shape, center=False)
        assert aw.s_region(wcs) == expect


@pytest.mark.parity
def test_va_scale_missing_is_no_correction_like_jwst(reffiles):
    model = make_exposure("nrc_sub400p", va_scale=None)
    theirs = _official(model, reffiles["nrc_sub400p"])
    ours = run_assign_wcs(model, reffiles["nrc_sub400p"], exposure="e")
    assert_wcs_parity(ours, theirs)
    x, y = np.array([3.0, 200.0]), np.array([7.0, 390.0])
    t = ours.meta.wcs.get_transform("v2v3", "v2v3vacorr")
    np.testing.assert_array_equal(t(x, y), (x, y))


@pytest.mark.parity
@pytest.mark.parametrize("case,filt,pupil", [
    ("nrc_full", "F090W", "CLEAR"),   # filter not in the table
    ("nrc_full", "F200W", "WLP8"),    # filter listed, but not with this pupil
    ("nis", "CLEAR", "F090W"),
    ("mir_full", "F2550W", None),     # MIRI: matched on FILTER only
    ("mir_brightsky", "F1500W", None),  # MIRI: a listed filter on a subarray
])
def test_filteroffset_without_a_matching_row_matches_jwst(reffiles, case, filt, pupil):
    model = make_exposure(case)
    model.meta.instrument.filter = filt
    model.meta.instrument.pupil = pupil
    theirs = _official(model, reffiles[case])
    ours = run_assign_wcs(model, reffiles[case], exposure="e")
    assert_wcs_parity(ours, theirs)


@pytest.mark.parity
def test_distortion_with_and_without_its_own_bounding_box(tmp_path):
    # the same NIRCam distortion, stored with and without a bounding box, for a
    # full-frame and a subarray exposure: boxes and coordinates as jwst's
    for case, bbox in (("nrc_full", None), ("nrc_full", ((7.5, 2040.5), (3.5, 2043.5))),
                       ("nrc_sub", ((7.5, 2040.5), (3.5, 2043.5)))):
        spec = CASES[case]
        transform = case_distortion(case)
        if bbox is not None:
            from astropy.modeling import bind_bounding_box

            bind_bounding_box(transform, bbox, order="F")
        dist = datamodels.DistortionModel(model=transform, input_units=u.pix,
                                          output_units=u.arcsec)
        reference_meta(dist, spec)
        dpath = tmp_path / f"{case}_{bbox is None}_distortion.asdf"
        dist.save(dpath)
        fo = datamodels.FilteroffsetModel(filters=FILTER_ROWS["NIRCAM"], instrument="NIRCAM")
        reference_meta(fo, spec)
        fpath = tmp_path / f"{case}_{bbox is None}_filteroffset.asdf"
        fo.save(fpath)
        refs = {"distortion": str(dpath), "filteroffset": str(fpath)}
        model = make_exposure(case)
        ours = run_assign_wcs(model, refs, exposure="e")
        assert_wcs_parity(ours, _official(model, refs))
        if case == "nrc_full" and bbox is not None:
            assert ours.meta.wcs.bounding_box.bounding_box(order="F") == bbox


@pytest.mark.parity
@pytest.mark.parametrize("attr,value", [
    ("roll_ref", None), ("ra_ref", None), ("dec_ref", None), ("v2_ref", None),
    ("roll_ref", np.nan), ("ra_ref", np.nan), ("dec_ref", np.nan), ("v3_ref", np.nan),
    ("ra_ref", np.inf),
])
def test_missing_or_nan_pointing_is_a_one_line_error(reffiles, attr, value):
    model = make_exposure("nrc_full")
    setattr(model.meta.wcsinfo, attr, value)
    # jwst fails too: a TypeError building the sky rotation (None), or (NaN/inf) a
    # WCS mapping every pixel to NaN on which its SIP fit dies with UnboundLocalError
    with warnings.catch_warnings(), pytest.raises((TypeError, UnboundLocalError)):
        warnings.simplefilter("ignore")
        _official(model, reffiles["nrc_full"])
    with pytest.raises(ExposureError, match=rf"^jw01: .*{attr.upper()}") as err:
        run_assign_wcs(model, reffiles["nrc_full"], exposure="jw01")
    assert "\n" not in str(err.value)
    assert model.meta.cal_step.assign_wcs is None


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0, -1.0])
def test_bad_va_scale_is_a_one_line_error(reffiles, value):
    model = make_exposure("nrc_full", va_scale=value)
    with pytest.raises(ExposureError, match=r"^jw01: VA_SCALE"):
        run_assign_wcs(model, reffiles["nrc_full"], exposure="jw01")


@pytest.mark.parametrize("instrument,exp_type,pupil", [
    ("NIRCAM", "NRC_WFSS", "GRISMR"), ("NIRCAM", "NRC_TSGRISM", "GRISMR"),
    ("NIRISS", "NIS_WFSS", "F150W"),
    ("MIRI", "MIR_LRS-FIXEDSLIT", None),
])
def test_grism_and_other_non_imaging_modes_are_refused(reffiles, instrument, exp_type, pupil):
    case = {"NIRCAM": "nrc_full", "NIRISS": "nis", "MIRI": "mir_full"}[instrument]
    model = make_exposure(case)
    model.meta.exposure.type = exp_type
    model.meta.instrument.pupil = pupil
    with pytest.raises(ExposureError, match=rf"^jw01: EXP_TYPE {exp_type} is not supported"):
        run_assign_wcs(model, reffiles[case], exposure="jw01")
