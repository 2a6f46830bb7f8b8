"""assign_wcs: imaging gwcs, S_REGION and SIP keywords, unit tests and parity with jwst 3.0.0.

The synthetic DISTORTION references are built from the SIAF (pysiaf) Sci2Idl/Idl2Sci
polynomials of each detector, the same basis as the real references, so the
distortion is realistic (5th-order for NIRCam) and has an inverse.
"""

import copy
import warnings

import asdf
import numpy as np
import pytest
from astropy import units as u
from astropy.wcs import WCS as FitsWCS
from stdatamodels.jwst import datamodels as dm

from helpers.wcs import (
    CASES,
    FILTER_ROWS,
    REF_BBOX,
    assert_wcs_parity,
    bbox_grid,
    case_distortion,
    expected_keyword,
    make_exposure,
    official_assign_wcs,
)
from snakewebb import assign_wcs as aw
from snakewebb.errors import ExposureError
from snakewebb.steps.assign_wcs import run_assign_wcs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

# ---------------------------------------------------------------- unit tests


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_point_maps_to_ra_dec_ref(case):
    """The pixel at (V2_REF, V3_REF) lands on (RA_REF, DEC_REF): pointing chain is right."""
    model = make_exposure(case)
    wcs = aw.imaging_wcs(model, case_distortion(case), FILTER_ROWS.get(CASES[case][0]))
    assert wcs.available_frames == ["detector", "v2v3", "v2v3vacorr", "world"]
    v2r, v3r = model.meta.wcsinfo.v2_ref, model.meta.wcsinfo.v3_ref
    # exactly, from the telescope frame (the DVA scaling keeps the reference point fixed)
    ra, dec = wcs.get_transform("v2v3", "world")(v2r, v3r)
    assert ra == pytest.approx(53.16, abs=1e-11)
    assert dec == pytest.approx(-27.78, abs=1e-11)
    # from the detector: the pixel whose distortion gives (V2_REF, V3_REF), found by
    # Newton steps on the forward transform (the SIAF inverse is only good to ~0.03 pix)
    det2v = wcs.get_transform("detector", "v2v3")
    p = np.array(wcs.get_transform("v2v3", "detector")(v2r, v3r))
    for _ in range(3):
        f0 = np.array(det2v(*p)) - (v2r, v3r)
        jac = np.column_stack([(np.array(det2v(*(p + d))) - det2v(*p)) / 1e-3
                               for d in ((1e-3, 0), (0, 1e-3))])
        p = p - np.linalg.solve(jac, f0)
    ra, dec = wcs(*p, with_bounding_box=False)
    assert (ra - 53.16) * np.cos(np.deg2rad(dec)) * 3600 == pytest.approx(0, abs=1e-6)
    assert (dec + 27.78) * 3600 == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("case", ["nrc_full", "mir_full", "nis"])
def test_filter_offset_shifts_detector_pixels(case):
    instrument = CASES[case][0]
    model = make_exposure(case)
    rows = FILTER_ROWS[instrument]
    dist = case_distortion(case)
    with_off = aw.imaging_wcs(model, dist, rows)
    without = aw.imaging_wcs(model, dist, None)
    col, row = aw.filter_offset(instrument, model.meta.instrument.filter,
                                model.meta.instrument.pupil, rows)
    assert (col, row) != (0, 0)
    x, y = np.array([10.0, 500.0, 900.0]), np.array([20.0, 400.0, 1000.0])
    np.testing.assert_allclose(
        with_off(x, y, with_bounding_box=False),
        without(x + col, y + row, with_bounding_box=False), rtol=0, atol=1e-12)


def test_filter_offset_matching_rules():
    rows = FILTER_ROWS["NIRCAM"] + [
        {"filter": "F200W", "pupil": "MASKRND", "column_offset": 9.0, "row_offset": 9.0}
    ]
    assert aw.filter_offset("NIRCAM", "F200W", "CLEAR", rows) == (0.31, -0.72)
    assert aw.filter_offset("NIRCAM", "F200W", "MASKRND", rows) == (9.0, 9.0)
    assert aw.filter_offset("NIRCAM", "F070W", "CLEAR", rows) is None
    assert aw.filter_offset("FGS", None, None, rows) is None
    assert aw.filter_offset("NIRCAM", "F200W", "CLEAR", None) is None
    # MIRI matches the filter only, first row wins
    miri = [{"filter": "F770W", "column_offset": 1.0, "row_offset": 2.0},
            {"filter": "F770W", "column_offset": 3.0, "row_offset": 4.0}]
    assert aw.filter_offset("MIRI", "F770W", None, miri) == (1.0, 2.0)
    with pytest.raises(ValueError, match="2 FILTEROFFSET rows"):
        aw.filter_offset("NIRCAM", "F200W", "CLEAR", rows + [dict(rows[0])])
    # rows straight from an open FilteroffsetModel
    model = dm.FilteroffsetModel(filters=FILTER_ROWS["MIRI"], instrument="MIRI")
    assert aw.filter_offset("MIRI", "F1500W", None, model.filters) == (-0.3, 0.9)


def test_imaging_wcs_accepts_open_reference_models():
    """A DistortionModel and a FilteroffsetModel work as well as their contents."""
    model = make_exposure("mir_full")
    dist = dm.DistortionModel(model=case_distortion("mir_full"), input_units=u.pix,
                              output_units=u.arcsec)
    offsets = dm.FilteroffsetModel(filters=FILTER_ROWS["MIRI"], instrument="MIRI")
    a = aw.imaging_wcs(model, dist, offsets)
    b = aw.imaging_wcs(model, case_distortion("mir_full"), FILTER_ROWS["MIRI"])
    x, y = np.array([10.0, 500.0]), np.array([20.0, 700.0])
    np.testing.assert_array_equal(a(x, y), b(x, y))


@pytest.mark.parametrize("case", ["nrc_sub", "nrc_tso", "mir_tso", "nrc_sub400p", "mir_brightsky",
                                  "nis_sub", "fgs_sub"])
def test_subarray_is_full_frame_shifted_and_boxed(case):
    model = make_exposure(case)
    dist = case_distortion(case)
    rows = FILTER_ROWS.get(CASES[case][0])
    sub = aw.imaging_wcs(model, dist, rows)
    full = model.copy()
    full.meta.subarray.xstart = full.meta.subarray.ystart = 1
    full_wcs = aw.imaging_wcs(full, dist, rows)
    x0, y0 = model.meta.subarray.xstart - 1, model.meta.subarray.ystart - 1
    assert (x0, y0) != (0, 0)
    x, y = np.array([0.0, 17.0, 63.0]), np.array([0.0, 33.0, 63.0])
    np.testing.assert_allclose(sub(x, y, with_bounding_box=False),
                               full_wcs(x + x0, y + y0, with_bounding_box=False),
                               rtol=0, atol=1e-12)
    ny, nx = model.data.shape[-2:]
    assert sub.bounding_box.bounding_box(order="F") == ((-0.5, nx - 0.5), (-0.5, ny - 0.5))


@pytest.mark.parametrize("case", ["nrc_full", "fgs", "nis", "mir_full", "nrc_refbox",
                                  "fgs_refbox"])
def test_bounding_box_from_reference_or_shape(case):
    wcs = aw.imaging_wcs(make_exposure(case), case_distortion(case),
                         FILTER_ROWS.get(CASES[case][0]))
    expected = REF_BBOX.get(case, ((-0.5, 2047.5), (-0.5, 2047.5)))
    assert wcs.bounding_box.bounding_box(order="F") == expected


def test_velocity_aberration_scales_about_reference_point():
    model = make_exposure("nrc_full", va_scale=1.0001)
    wcs = aw.imaging_wcs(model, case_distortion("nrc_full"))
    va = wcs.get_transform("v2v3", "v2v3vacorr")
    v2r, v3r = model.meta.wcsinfo.v2_ref, model.meta.wcsinfo.v3_ref
    np.testing.assert_allclose(va(v2r, v3r), (v2r, v3r), rtol=1e-13)
    np.testing.assert_allclose(va(v2r + 50, v3r - 20), (v2r + 50 * 1.0001, v3r - 20 * 1.0001),
                               rtol=1e-13)
    assert isinstance(aw.va_correction(None, v2r, v3r), type(aw.va_correction(1, 0, 0)))
    with pytest.raises(ValueError):
        aw.va_correction(-1.0, v2r, v3r)


def test_roll_turns_the_footprint():
    """Rotating ROLL_REF by 90 deg rotates the sky offsets of the corners by 90 deg."""
    d = case_distortion("nrc_full")
    a = aw.imaging_wcs(make_exposure("nrc_full", roll=0.0, dec=0.0, ra=10.0), d)
    b = aw.imaging_wcs(make_exposure("nrc_full", roll=90.0, dec=0.0, ra=10.0), d)
    x, y = np.array([0.0, 2047.0]), np.array([0.0, 2047.0])
    ra_a, dec_a = a(x, y)
    ra_b, dec_b = b(x, y)
    # near (10, 0) a 90 deg roll maps (dRA, dDec) -> (dDec, -dRA) or (-dDec, dRA)
    da = np.array([ra_a - 10.0, dec_a])
    db = np.array([ra_b - 10.0, dec_b])
    assert np.allclose(np.abs(db[::-1]), np.abs(da), rtol=2e-3)


@pytest.mark.parametrize("case", ["nrc_full", "nrc_tso", "mir_full", "fgs"])
def test_assign_wcs_s_region_and_sip(case):
    model = make_exposure(case)
    result = aw.assign_wcs(model, case_distortion(case), FILTER_ROWS.get(CASES[case][0]))
    wcs = result.meta.wcs
    info = result.meta.wcsinfo
    # S_REGION: the four pixel-edge corners of the bounding box, clockwise
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    ra, dec = wcs(np.array([x0, x0, x1, x1]), np.array([y0, y1, y1, y0]), with_bounding_box=False)
    words = info.s_region.split()
    assert words[:2] == ["POLYGON", "ICRS"]
    np.testing.assert_allclose(np.array(words[2:], float).reshape(4, 2),
                               np.column_stack([ra % 360, dec]), rtol=0, atol=1e-9)
    # SIP: a FITS reader reproduces the gwcs to 0.01 pixel over the whole box
    assert info.ctype1 == "RA---TAN-SIP" and info.ctype2 == "DEC--TAN-SIP"
    assert (info.crpix1, info.crpix2) == (model.meta.wcsinfo.crpix1, model.meta.wcsinfo.crpix2)
    for stale in ("cdelt1", "pc1_1", "pc2_2"):
        assert stale not in info.instance
    hdr = {k.upper(): v for k, v in info.instance.items()
           if k not in ("s_region", "v2_ref", "v3_ref", "vparity", "v3yangle", "roll_ref",
                        "ra_ref", "dec_ref")}
    hdr["NAXIS"] = 2
    fits_wcs = FitsWCS(hdr)
    x, y = bbox_grid(wcs, 30)
    ra_g, dec_g = wcs(x, y)
    ra_f, dec_f = fits_wcs.all_pix2world(x, y, 0)
    xf, yf = fits_wcs.all_world2pix(ra_g, dec_g, 0)  # SIP-inverse side
    scale = np.sqrt(abs(np.linalg.det(fits_wcs.wcs.cd))) * 3600
    sep = np.hypot((ra_f - ra_g) * np.cos(np.deg2rad(dec_g)), dec_f - dec_g) * 3600 / scale
    assert sep.max() < 0.01
    assert np.hypot(xf - x, yf - y).max() < 0.01
    assert info.sipmxerr < 0.01
    # the AP/BP inverse polynomials: degree 5 reaches 0.01 pix except on the MIRI box,
    # where jwst's own fit (same gwcs call) stops at 0.0136 pix too (see the parity test)
    assert info.sipiverr < (0.014 if case == "mir_full" else 0.01)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("options", [{}, {"crpix": None}, {"degree": 3, "inv_degree": 4}])
def test_sip_fit_reproduces_gwcs_to_fits_sip(case, options):
    """Our one-evaluation SIP fit writes the header gwcs' to_fits_sip writes, value for value."""
    model = make_exposure(case)
    wcs = aw.imaging_wcs(model, case_distortion(case), FILTER_ROWS.get(CASES[case][0]))
    options = dict(options)
    crpix = options.pop("crpix", [model.meta.wcsinfo.crpix1, model.meta.wcsinfo.crpix2])
    ours = aw.sip_keywords(wcs, crpix=crpix, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gwcs warns where the MIRI inverse misses 0.01 pix
        hdr = wcs.to_fits_sip(crpix=crpix, projection="TAN", **dict(aw.SIP_DEFAULTS, **options))
    theirs = {k.lower(): v for k, v in hdr.items() if not k.startswith("NAXIS")}
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        assert ours[key] == expected_keyword(key, value), key


def test_sip_fit_rejects_a_tiny_box():
    model = make_exposure("nrc_full")
    wcs = aw.imaging_wcs(model, case_distortion("nrc_full"))
    wcs.bounding_box = ((10, 10.5), (10, 200))
    with pytest.raises(ValueError, match="too small"):
        aw.sip_keywords(wcs)


def test_copy_false_updates_the_model_itself():
    model = make_exposure("nrc_full")
    data = model.data
    result = aw.assign_wcs(model, case_distortion("nrc_full"), FILTER_ROWS["NIRCAM"], copy=False)
    assert result is model
    assert model.meta.wcs is not None and model.meta.wcsinfo.s_region.startswith("POLYGON")
    assert model.data is data


@pytest.mark.parametrize("case", ["nrc_full", "nrc_tso"])
def test_input_model_is_untouched(case):
    model = make_exposure(case)
    before_meta = copy.deepcopy(model.meta.instance)
    before_data = model.data.copy()
    result = aw.assign_wcs(model, case_distortion(case), FILTER_ROWS["NIRCAM"])
    assert model.meta.instance == before_meta
    assert model.meta.wcs is None
    np.testing.assert_array_equal(model.data, before_data)
    assert result.data is not model.data
    assert result.data.shape == model.data.shape


def test_distortion_reference_transform_not_modified():
    dist = case_distortion("nrc_full")
    aw.assign_wcs(make_exposure("nrc_sub"), dist, FILTER_ROWS["NIRCAM"], sip=False)
    with pytest.raises(NotImplementedError):
        dist.bounding_box  # the property raises


# ---------------------------------------------------------------- step layer


def test_step_records_provenance(reffiles):
    model = make_exposure("nrc_full")
    result = run_assign_wcs(model, reffiles["nrc_full"], exposure="jw01_nrca1")
    assert result.meta.cal_step.assign_wcs == "COMPLETE"
    assert result.meta.ref_file.distortion.name == "crds://nrc_full_distortion.asdf"
    assert result.meta.ref_file.filteroffset.name == "crds://nrc_full_filteroffset.asdf"
    fgs = run_assign_wcs(make_exposure("fgs"), reffiles["fgs"], exposure="jw01_guider1")
    assert fgs.meta.ref_file.filteroffset.name == "N/A"
    assert model.meta.cal_step.assign_wcs is None


def test_step_result_survives_a_fits_round_trip(reffiles, tmp_path):
    from snakewebb.io import atomic_save

    result = run_assign_wcs(make_exposure("nrc_sub"), reffiles["nrc_sub"], exposure="e")
    path = atomic_save(result, tmp_path / "e_cal.fits")
    with dm.open(path) as back:
        x, y = bbox_grid(result.meta.wcs, 10)
        np.testing.assert_array_equal(back.meta.wcs(x, y), result.meta.wcs(x, y))
        assert back.meta.wcsinfo.s_region == result.meta.wcsinfo.s_region
        assert back.meta.wcsinfo.a_order == result.meta.wcsinfo.a_order
    # a plain FITS reader (no gwcs) gets the sky right from the SCI header's TAN-SIP
    from astropy.io import fits

    with fits.open(path) as hdul:
        header = hdul["SCI"].header
        assert header["CTYPE1"] == "RA---TAN-SIP" and "A_ORDER" in header
        fits_wcs = FitsWCS(header)
    x, y = bbox_grid(result.meta.wcs, 12)
    ra, dec = result.meta.wcs(x, y)
    xf, yf = fits_wcs.all_world2pix(ra, dec, 0)
    assert np.hypot(xf - x, yf - y).max() < 0.01


def _bad(case, **changes):
    model = make_exposure(case)
    for dotted, value in changes.items():
        *path, attr = dotted.split("__")
        obj = model.meta
        for p in path:
            obj = getattr(obj, p)
        setattr(obj, attr, value)
    return model


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exposure__type": "NRC_WFSS"}, "EXP_TYPE NRC_WFSS is not supported"),
        ({"exposure__type": "MIR_LRS-FIXEDSLIT"}, "EXP_TYPE MIR_LRS-FIXEDSLIT is not supported"),
        ({"exposure__type": "MIR_IMAGE"}, "does not belong to INSTRUME NIRCAM"),
        ({"exposure__type": None}, "EXP_TYPE is missing"),
        ({"wcsinfo__ra_ref": None}, "missing pointing keyword(s) RA_REF"),
        ({"wcsinfo__v2_ref": None, "wcsinfo__roll_ref": None},
         "missing pointing keyword(s) V2_REF, ROLL_REF"),
        ({"velocity_aberration__scale_factor": -1.0}, "VA_SCALE must be positive"),
        ({"subarray__xstart": 100, "subarray__xsize": 64}, "does not match the data shape"),
    ],
)
def test_step_bad_input_is_one_line_exposure_error(reffiles, changes, message):
    model = _bad("nrc_full", **changes)
    with pytest.raises(ExposureError) as err:
        run_assign_wcs(model, reffiles["nrc_full"], exposure="jw01234_nrca1")
    text = str(err.value)
    assert text.startswith("jw01234_nrca1: ")
    assert message in text
    assert "\n" not in text


def test_step_bad_references(reffiles, tmp_path):
    model = make_exposure("nrc_full")
    with pytest.raises(ExposureError, match="^e: no DISTORTION reference"):
        run_assign_wcs(model, {"distortion": None, "filteroffset": None}, exposure="e")
    junk = tmp_path / "junk.asdf"
    junk.write_text("not asdf\n")
    with pytest.raises(ExposureError, match="^e: cannot read DISTORTION reference"):
        run_assign_wcs(model, {"distortion": str(junk), "filteroffset": None}, exposure="e")
    with pytest.raises(ExposureError, match="^e: cannot read FILTEROFFSET reference"):
        run_assign_wcs(model, {"distortion": reffiles["nrc_full"]["distortion"],
                               "filteroffset": str(junk)}, exposure="e")
    ambiguous = tmp_path / "ambiguous.asdf"
    rows = FILTER_ROWS["NIRCAM"] + [FILTER_ROWS["NIRCAM"][0]]
    asdf.AsdfFile({"filters": rows}).write_to(ambiguous)
    with pytest.raises(ExposureError, match="^e: assign_wcs: 2 FILTEROFFSET rows match"):
        run_assign_wcs(model, {"distortion": reffiles["nrc_full"]["distortion"],
                               "filteroffset": str(ambiguous)}, exposure="e")


# ---------------------------------------------------------------- parity with jwst 3.0.0


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:Failed to achieve requested SIP")  # jwst's MIRI inverse fit
@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_with_official_functions(case, reffiles):
    model = make_exposure(case)
    refs = reffiles[case]
    theirs = official_assign_wcs(model, refs)
    ours = run_assign_wcs(model, refs, exposure=case)
    assert_wcs_parity(ours, theirs)


# ------------------------------------------- parity on the simulated campaign (CRDS cache)

_OFFICIAL_STEP = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from stdatamodels.jwst import datamodels
from jwst.assign_wcs import AssignWcsStep
for src, dst in json.loads(sys.argv[1]):
    with datamodels.open(src) as model:
        AssignWcsStep.call(model).save(dst)
"""


def _campaign_cases(campaign):
    """One science exposure per distinct (detector, subarray, filter, pupil, cube) setup."""
    seen = {}
    for name, spec in campaign.specs.items():
        if spec.role != "science":
            continue
        key = (spec.detector, spec.subarray, spec.filter, spec.pupil, spec.is_cube)
        seen.setdefault(key, name)
    return sorted(seen.values())


@pytest.fixture(scope="module")
def official_campaign_wcs(campaign, tmp_path_factory):
    """jwst 3.0.0 AssignWcsStep run (offline, campaign CRDS cache) on every campaign setup."""
    import json
    import subprocess
    import sys

    from oracle import crds_environment

    out = tmp_path_factory.mktemp("official_wcs")
    pairs = [(str(campaign.files[n]), str(out / f"{n}_assignwcs.fits"))
             for n in _campaign_cases(campaign)]
    proc = subprocess.run(
        [sys.executable, "-c", _OFFICIAL_STEP, json.dumps(pairs)],
        env=crds_environment(campaign.crds, campaign.context),
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {n: out / f"{n}_assignwcs.fits" for n in _campaign_cases(campaign)}


@pytest.mark.parity
def test_parity_on_campaign(campaign, official_campaign_wcs):
    """Every imaging setup of the campaign: same WCS, inverse, S_REGION, wcsinfo as jwst."""
    from snakewebb import references

    crds = references.resolve_crds(campaign.crds, campaign.context)
    exp_types = set()
    for name, official_path in official_campaign_wcs.items():
        with dm.open(campaign.files[name]) as model, dm.open(official_path) as theirs:
            refs = references.best_references(
                model, ("distortion", "filteroffset"), crds=crds, exposure=name)
            before = copy.deepcopy(model.meta.instance)
            ours = run_assign_wcs(model, refs, exposure=name)
            assert model.meta.instance == before
            assert ours.meta.ref_file.distortion.name == theirs.meta.ref_file.distortion.name
            assert ours.meta.ref_file.filteroffset.name == theirs.meta.ref_file.filteroffset.name
            assert ours.meta.cal_step.assign_wcs == theirs.meta.cal_step.assign_wcs == "COMPLETE"
            assert_wcs_parity(ours, theirs)
            exp_types.add((model.meta.exposure.type, model.data.ndim))
    # the campaign covers every plain imaging type, 2D and 3D (the other imaging types
    # get the same WCS: tests/unit/test_imaging_modes.py)
    assert {t for t, _ in exp_types} == {
        "NRC_IMAGE", "NRC_TSIMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE"}
    assert {n for _, n in exp_types} == {2, 3}
