"""The simulated CRDS cache: served by the real crds client offline, two contexts, real formats."""

import ast
import socket
import warnings

import numpy as np
import pytest

from helpers.crds import SPECS, header_of
from snakewebb import references
from snakewebb.simulate import reffiles
from snakewebb.simulate.crds_cache import IMAGE2_REFTYPES, new_flat_key, write_crds_cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("crds")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the writer itself raises no warning
        contexts = write_crds_cache(root, SPECS, seed=3)
    return root, contexts


@pytest.fixture(autouse=True)
def offline(monkeypatch, cache):
    """No request may leave the machine; CRDS points at the simulated cache."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for var in ("CRDS_PATH", "CRDS_CONTEXT", "CRDS_SERVER_URL", "CRDS_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    with references.resolve_crds(cache[0]).applied():  # crds and jwst are called directly here
        yield


def test_every_reference_validates_cleanly(cache):
    """Each reference opens and validates with no ValidationWarning (NIRCam DISTORTION
    included: it carries P_PUPIL like the real ones)."""
    from stdatamodels.jwst import datamodels
    from stdatamodels.validate import ValidationWarning

    files = sorted((cache[0] / "references" / "jwst").glob("*/jwst_*"))
    assert {p.suffix for p in files} == {".fits", ".asdf"}
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ValidationWarning)
            with datamodels.open(path) as model:
                model.validate()
                if path.name.startswith("jwst_nircam_distortion"):
                    assert model.meta.instrument.p_pupil.startswith("CLEAR|")


def test_two_contexts_oldest_first(cache):
    root, contexts = cache
    assert contexts == ["jwst_0001.pmap", "jwst_0002.pmap"]
    info = ast.literal_eval((root / "config/jwst/server_config").read_text())
    assert info["operational_context"] == "jwst_0002.pmap"
    assert references.resolve_crds(root).context == "jwst_0002.pmap"


def test_mapping_checksums_verified_by_crds(cache):
    from crds.core import rmap

    root, _ = cache
    maps = sorted((root / "mappings/jwst").iterdir())
    assert len(maps) > 10
    for path in maps:
        rmap.load_mapping(str(path))  # raises ChecksumError on a bad sha1sum


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.detector}-{s.filter}-{s.subarray}")
def test_getreferences_serves_every_image2_type(cache, spec):
    import crds

    params = references.matching_parameters(header_of(spec))
    for context in cache[1]:
        refs = crds.getreferences(params, reftypes=list(IMAGE2_REFTYPES), context=context,
                                  observatory="jwst")
        assert set(refs) == set(IMAGE2_REFTYPES)
        for reftype in ("flat", "photom", "area", "distortion"):
            assert refs[reftype].startswith(str(cache[0])), (reftype, refs[reftype])
            assert f"/{spec.instrument.lower()}/" in refs[reftype]
        if spec.instrument == "FGS":
            assert "N/A" in refs["filteroffset"].upper()
        else:
            assert refs["filteroffset"].endswith(".asdf")
        for reftype in set(IMAGE2_REFTYPES) - {"flat", "photom", "area", "distortion",
                                               "filteroffset"}:
            assert "N/A" in refs[reftype].upper(), (reftype, refs[reftype])


def test_second_context_changes_only_one_flat(cache):
    import crds

    changed = set()
    for spec in SPECS:
        params = references.matching_parameters(header_of(spec))
        old, new = (crds.getreferences(params, reftypes=list(IMAGE2_REFTYPES), context=c,
                                       observatory="jwst") for c in cache[1])
        for reftype in IMAGE2_REFTYPES:
            if old[reftype] != new[reftype]:
                changed.add((spec.detector, spec.filter, spec.pupil, reftype))
    inst, det, filt, pupil = new_flat_key(SPECS)
    assert (inst, det, filt, pupil) == ("NIRCAM", "NRCA1", "F150W", "CLEAR")
    assert changed == {("NRCA1", "F150W", "CLEAR", "flat")}


def test_second_context_is_a_minimal_delivery(cache):
    root, _ = cache
    names = {p.name for p in (root / "mappings/jwst").iterdir()}
    new = {n for n in names if "_0002." in n}
    assert new == {"jwst_0002.pmap", "jwst_nircam_0002.imap", "jwst_nircam_flat_0002.rmap"}
    old = (root / "mappings/jwst/jwst_0001.pmap").read_text().splitlines()
    cur = (root / "mappings/jwst/jwst_0002.pmap").read_text().splitlines()
    diff = [(a, b) for a, b in zip(old, cur) if a != b]
    assert len(diff) == 3  # name, sha1sum, NIRCAM imap
    assert any("jwst_nircam_0002.imap" in b for _, b in diff)


@pytest.mark.parity
def test_jwst_steps_fetch_every_declared_reftype(cache):
    """The official steps ask CRDS for every type they declare; none may fail."""
    from jwst.assign_wcs import AssignWcsStep
    from jwst.background import BackgroundStep
    from jwst.flatfield import FlatFieldStep
    from jwst.photom import PhotomStep
    from jwst.resample import ResampleStep
    from stdatamodels.jwst import datamodels

    steps = [AssignWcsStep(), FlatFieldStep(), PhotomStep(), BackgroundStep(), ResampleStep()]
    declared = {t for s in steps for t in s.reference_file_types}
    assert declared <= set(IMAGE2_REFTYPES)
    for spec in SPECS:
        model = (datamodels.CubeModel((2, 4, 4)) if spec.is_cube
                 else datamodels.ImageModel((4, 4)))
        model.meta.instrument.name = spec.instrument
        model.meta.instrument.detector = spec.detector
        model.meta.instrument.filter = spec.filter
        if spec.pupil:
            model.meta.instrument.pupil = spec.pupil
        model.meta.exposure.type = spec.exp_type
        model.meta.subarray.name = spec.subarray
        model.meta.observation.date, model.meta.observation.time = spec.date_obs.split("T")
        got = {}
        for step in steps:
            for reftype in step.reference_file_types:
                path = step.get_reference_file(model, reftype)
                got[reftype] = path
                assert path == "N/A" or path.startswith(str(cache[0])), (spec.name, reftype)
        assert got["distortion"].endswith(".asdf") and got["flat"].endswith(".fits")
        assert got["photom"] != "N/A" and got["area"] != "N/A"


# ---------------------------------------------------------------- reference content


def _ref(cache, spec, reftype, context="jwst_0001.pmap"):
    return references.best_references(header_of(spec), (reftype,), context=context)[reftype]


@pytest.mark.parametrize("detector, aperture", [
    ("NRCA1", "NRCA1_FULL"), ("NRCA1", "NRCA1_SUB640"), ("NRCB1", "NRCB1_FULL"),
    ("NRCALONG", "NRCA5_FULL"), ("MIRIMAGE", "MIRIM_FULL"), ("MIRIMAGE", "MIRIM_SUB256"),
    ("NIS", "NIS_CEN"), ("GUIDER1", "FGS1_FULL"), ("GUIDER2", "FGS2_FULL"),
])
def test_distortion_matches_pysiaf_sci_to_tel(cache, detector, aperture):
    """0-based full-frame pixels -> V2/V3 as SIAF's sci->tel, sub-milliarcsecond."""
    from stdatamodels.jwst.datamodels import DistortionModel

    spec = next(s for s in SPECS if s.detector == detector)
    path = _ref(cache, spec, "distortion")
    xstart, ystart, nx, ny = reffiles.subarray_origin(detector, aperture)
    ap = reffiles._siaf(reffiles.detector_info(detector).siaf_instrument)[aperture]
    rng = np.random.default_rng(0)
    i = np.r_[0.0, nx - 1.0, rng.uniform(0, nx - 1, 200)]
    j = np.r_[0.0, ny - 1.0, rng.uniform(0, ny - 1, 200)]
    with DistortionModel(path) as dist:
        assert str(dist.meta.input_units) == "pix" and str(dist.meta.output_units) == "arcsec"
        v2, v3 = dist.model(i + xstart - 1, j + ystart - 1)  # assign_wcs adds SUBSTRT - 1
        back_i, back_j = dist.model.inverse(v2, v3)
    t2, t3 = ap.sci_to_tel(i + 1, j + 1)                     # SIAF sci pixels are 1-based
    assert np.max(np.hypot(v2 - t2, v3 - t3)) < 1e-5         # arcsec (0.01 mas)
    assert np.max(np.abs(back_i - (i + xstart - 1))) < 1e-3  # pixels
    assert np.max(np.abs(back_j - (j + ystart - 1))) < 1e-3


def test_subarray_origin_matches_siaf_corners():
    assert reffiles.subarray_origin("NRCA1", "NRCA1_FULL") == (1, 1, 2048, 2048)
    assert reffiles.subarray_origin("MIRIMAGE", "MIRIM_SUB256") == (413, 51, 256, 256)
    assert reffiles.subarray_origin("MIRIMAGE", "MIRIM_SUB64") == (1, 779, 72, 64)
    assert reffiles.subarray_origin("NRCA1", "NRCA1_SUB640") == (1409, 1409, 640, 640)


def test_flat_content(cache):
    from stdatamodels.jwst import datamodels

    spec = SPECS[0]
    with datamodels.FlatModel(_ref(cache, spec, "flat")) as old, \
            datamodels.FlatModel(_ref(cache, spec, "flat", "jwst_0002.pmap")) as new:
        assert old.data.shape == (2048, 2048)
        assert old.data.dtype.kind == "f" and old.data.itemsize == 4
        bad = (old.dq & 1) > 0
        assert np.all(np.isnan(old.data[bad])) and not np.any(np.isnan(old.data[~bad]))
        assert np.all(old.dq[bad] & (1 << 18))  # NO_FLAT_FIELD
        assert 0 < bad.sum() < 0.001 * bad.size
        assert abs(np.nanmedian(old.data) - 1.0) < 0.05
        assert 0.003 < np.nanstd(old.data[4:-4, 4:-4]) < 0.1
        assert not np.allclose(old.data[4:-4, 4:-4], new.data[4:-4, 4:-4], equal_nan=True)
        assert old.meta.instrument.filter == "F150W" and old.meta.instrument.pupil == "CLEAR"
    with datamodels.FlatModel(_ref(cache, SPECS[5], "flat")) as miri:
        assert miri.data.shape == (1024, 1032)


@pytest.mark.parity
def test_photom_rows_cover_every_spec(cache):
    from jwst.photom.photom import find_row
    from stdatamodels.jwst import datamodels

    for spec in SPECS:
        with datamodels.open(_ref(cache, spec, "photom")) as ph:
            if spec.instrument == "FGS":
                assert isinstance(ph, datamodels.FgsImgPhotomModel) and len(ph.phot_table) == 1
                continue
            if spec.instrument == "MIRI":
                assert isinstance(ph, datamodels.MirImgPhotomModel)
                match = {"filter": spec.filter, "subarray": spec.subarray}
                assert len(ph.timecoeff_powerlaw) == len(ph.phot_table)
                assert list(ph.timecoeff_powerlaw["filter"]) == list(ph.phot_table["filter"])
            else:
                match = {"filter": spec.filter, "pupil": spec.pupil}
            row = find_row(ph.phot_table, match)
            assert row is not None, (spec.name, match)
            assert 0.05 < ph.phot_table["photmjsr"][row] < 20
            assert 0 < ph.phot_table["uncertainty"][row] < 0.05 * ph.phot_table["photmjsr"][row]


def test_area_keywords(cache):
    from stdatamodels.jwst import datamodels

    with datamodels.PixelAreaModel(_ref(cache, SPECS[0], "area")) as area:
        a2 = area.meta.photometry.pixelarea_arcsecsq
        assert 0.0009 < a2 < 0.0011  # NIRCam SW ~0.031"
        assert area.meta.photometry.pixelarea_steradians == pytest.approx(a2 * 2.3504430539e-11)
        assert 0.95 < np.median(area.data) < 1.05 and area.data.dtype.itemsize == 4


def test_filteroffset_rows(cache):
    import asdf

    for spec in SPECS[:4] + SPECS[8:10]:
        with asdf.open(_ref(cache, spec, "filteroffset")) as af:
            rows = [r for r in af.tree["filters"]
                    if r["filter"] == spec.filter and r["pupil"] == spec.pupil]
        assert len(rows) == 1
        col, row = reffiles.filter_offset(spec.detector, spec.filter, spec.pupil, seed=3)
        assert (rows[0]["column_offset"], rows[0]["row_offset"]) == (col, row)
        assert abs(col) < 1 and abs(row) < 1


def test_deterministic_for_a_seed(tmp_path):
    a = reffiles.make_flat("NIS", "CLEAR", "F150W", seed=5)
    b = reffiles.make_flat("NIS", "CLEAR", "F150W", seed=5)
    c = reffiles.make_flat("NIS", "CLEAR", "F150W", seed=6)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data, equal_nan=True)


@pytest.mark.parity
# Not NRCA3_SUB160P: SIAF gives that TSO aperture its own (weak-lens) polynomials, 4 mas
# from the full-frame solution the DISTORTION reference (like the real one) is built from.
@pytest.mark.parametrize("index", [1, 3, 7, 9, 11], ids=lambda i: SPECS[i].aperture)
def test_official_assign_wcs_uses_references_as_documented(cache, index):
    """jwst's assign_wcs, fed from this cache, gives SIAF sci->tel at the subarray
    pixel plus SUBSTRT - 1 plus the FILTEROFFSET shift (the convention the simulator relies on)."""
    from jwst.assign_wcs import AssignWcsStep
    from stdatamodels.jwst import datamodels

    spec = SPECS[index]
    kw = reffiles.spec_keywords(spec)
    shape = (kw["SUBSIZE2"], kw["SUBSIZE1"])
    model = datamodels.CubeModel((2,) + shape) if spec.is_cube else datamodels.ImageModel(shape)
    meta = model.meta
    meta.telescope = "JWST"
    meta.instrument.name, meta.instrument.detector = spec.instrument, spec.detector
    meta.instrument.filter = spec.filter
    if spec.pupil:
        meta.instrument.pupil = spec.pupil
    meta.exposure.type = spec.exp_type
    meta.exposure.start_time = meta.exposure.mid_time = meta.exposure.end_time = 60065.5
    meta.subarray.name = spec.subarray
    meta.subarray.xstart, meta.subarray.ystart = kw["SUBSTRT1"], kw["SUBSTRT2"]
    meta.subarray.xsize, meta.subarray.ysize = kw["SUBSIZE1"], kw["SUBSIZE2"]
    meta.observation.date, meta.observation.time = kw["DATE-OBS"], kw["TIME-OBS"]
    full = reffiles.full_frame_aperture(spec.detector)
    meta.wcsinfo.ra_ref, meta.wcsinfo.dec_ref, meta.wcsinfo.roll_ref = 10.0, -20.0, 30.0
    meta.wcsinfo.v2_ref, meta.wcsinfo.v3_ref = full.V2Ref, full.V3Ref
    meta.wcsinfo.v3yangle, meta.wcsinfo.vparity = full.V3IdlYAngle, full.VIdlParity
    meta.velocity_aberration.scale_factor = 1.0

    out = AssignWcsStep.call(model, sip_approx=False)
    assert out.meta.cal_step.assign_wcs == "COMPLETE"
    det2v2v3 = out.meta.wcs.get_transform("detector", "v2v3")
    i = np.array([0.0, shape[1] - 1.0, shape[1] / 2.0])
    j = np.array([0.0, shape[0] - 1.0, 3.0])
    col, row = reffiles.filter_offset(spec.detector, spec.filter, spec.pupil, seed=3)
    v2, v3 = det2v2v3(i, j)
    sub = reffiles._siaf(reffiles.detector_info(spec.detector).siaf_instrument)[spec.aperture]
    t2, t3 = sub.sci_to_tel(i + 1 + col, j + 1 + row)
    assert np.max(np.hypot(v2 - t2, v3 - t3)) < 1e-5  # arcsec
