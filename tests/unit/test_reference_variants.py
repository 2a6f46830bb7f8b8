"""Real-world reference variants, each compared with jwst 3.0.0's own functions.

Our simulator writes simple references; CRDS ones differ (double-precision
table columns, extra or missing columns, per-subarray rows, time tables of
one kind only, subarray AREA/FLAT files, references with their own bounding
box, ...). Every variant here goes through our code (the step layer, which
reads files with astropy, where it matters) and through jwst's function on
the same files, and the two are compared.
"""

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from helpers.models import photom_science, primary_hdu, science_model
from snakewebb import background, photom
from snakewebb.errors import ExposureError
from snakewebb.steps.background import run_background
from snakewebb.steps.image2 import Image2Options
from snakewebb.steps.photom import run_photom

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
MID_TIME = 60300.5

# ---------------------------------------------------------------------------
# PHOTOM / AREA
# ---------------------------------------------------------------------------

_DATAMODL = {"NIRCAM": "NrcImgPhotomModel", "MIRI": "MirImgPhotomModel",
             "NIRISS": "NisImgPhotomModel", "FGS": "FgsImgPhotomModel"}
_SELECT = {"NIRCAM": ("filter", "pupil"), "MIRI": ("filter", "subarray"),
           "NIRISS": ("filter", "pupil"), "FGS": ()}
_TIME = {
    "linear": ("TIMECOEFF_LINEAR", {"t0": 59720.123456, "lossperyear": 0.0213456789}),
    "exponential": ("TIMECOEFF_EXPONENTIAL",
                    {"t0": 59720.123456, "amplitude": 0.1123456, "tau": 200.1234567,
                     "const": 0.8876543}),
    "powerlaw": ("TIMECOEFF_POWERLAW",
                 {"t0": 59720.123456, "year1value": 0.9712345, "tsoft": 30.123456,
                  "alpha": -0.0512345}),
}


def write_photom(path, instrument, rows, *, photmjsr, uncertainty=True, extra_columns=(),
                 time=(), time_rows=None):
    """A PHOTOM file written the way CRDS files are: double-precision numbers (D columns).

    ``rows``: tuples of the instrument's selection values; ``extra_columns``:
    (name, values) added (e.g. a NIRCam SUBARRAY column); ``time``: kinds of
    time tables to add; ``time_rows``: rows for those tables (default ``rows``).
    """
    select = _SELECT[instrument]
    cols = [fits.Column(name=c, format="17A", array=np.array([r[i] for r in rows]))
            for i, c in enumerate(select)]
    for name, values in extra_columns:
        cols.append(fits.Column(name=name, format="17A", array=np.array(values)))
    cols.append(fits.Column(name="PHOTMJSR", format="D", array=np.asarray(photmjsr, float)))
    if uncertainty:
        cols.append(fits.Column(name="UNCERTAINTY", format="D",
                                array=np.full(len(rows), 0.0123456789)))
    hdus = [primary_hdu(instrument, "PHOTOM", DATAMODL=_DATAMODL[instrument],
                     PIXAR_SR=9.123456789e-14, PIXAR_A2=0.00388),
            fits.BinTableHDU.from_columns(cols, name="PHOTOM")]
    trows = rows if time_rows is None else time_rows
    props = getattr(datamodels, _DATAMODL[instrument])().schema["properties"]
    for kind in time:
        ext, coeffs = _TIME[kind]
        # selection columns only where the schema has them (NIRISS linear tables have none)
        listed = {d["name"] for d in props[ext.lower()]["datatype"]}
        tcols = [fits.Column(name=c, format="17A", array=np.array([r[i] for r in trows]))
                 for i, c in enumerate(select) if c in listed]
        for name, value in coeffs.items():
            tcols.append(fits.Column(name=name.upper(), format="D",
                                     array=np.full(len(trows), value)))
        hdus.append(fits.BinTableHDU.from_columns(tcols, name=ext))
    fits.HDUList(hdus).writeto(path)
    return str(path)


def write_area(path, instrument, shape, *, corner=None, seed=3):
    """An AREA file; ``corner`` (xstart, ystart) gives it its own subarray keywords."""
    rng = np.random.default_rng(seed)
    extra = dict(DATAMODL="PixelAreaModel", PIXAR_SR=9.31e-14, PIXAR_A2=0.00396)
    if corner is not None:
        extra.update(SUBARRAY="GENERIC", SUBSTRT1=corner[0], SUBSTRT2=corner[1],
                     SUBSIZE1=shape[1], SUBSIZE2=shape[0])
    data = rng.uniform(0.95, 1.05, shape)  # float64 on disk, float32 in the model
    fits.HDUList([primary_hdu(instrument, "AREA", **extra),
                  fits.ImageHDU(data, name="SCI")]).writeto(path)
    return str(path), data


def official_photom(model, phot, area):
    from jwst.photom.photom import DataSet

    return DataSet(model.copy()).apply_photom(phot, area)


def assert_photom_same(ours, ref, *, area=True):
    names = ["data", "err", "var_poisson", "var_rnoise", "var_flat"] + (["area"] if area else [])
    for name in names:
        a, b = getattr(ours, name), getattr(ref, name)
        assert a.shape == b.shape, name
        assert a.dtype.newbyteorder("=") == b.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(ours.dq, ref.dq)
    for key in ("conversion_megajanskys", "conversion_microjanskys",
                "pixelarea_steradians", "pixelarea_arcsecsq"):
        # exact: the factor must be the one the official step takes from the same file
        a, b = getattr(ours.meta.photometry, key), getattr(ref.meta.photometry, key)
        assert a == b or (np.isnan(a) and np.isnan(b)), key
    assert ours.meta.bunit_data == ref.meta.bunit_data == "MJy/sr"


PHOTOM_CASES = {
    # name: (science keys, instrument rows, extra columns, index of the expected row)
    "nircam-filter-pupil": (("NIRCAM", "NRCB1", "NRC_IMAGE", "F150W2", "F162M", "FULL"),
                            [("F150W2", "CLEAR"), ("F150W2", "F162M"), ("F162M", "F150W2")],
                            (), 1),
    "nircam-subarray-column": (("NIRCAM", "NRCB1", "NRC_IMAGE", "F200W", "CLEAR", "SUB160"),
                               [("F200W", "CLEAR"), ("F200W", "CLEAR"), ("F200W", "CLEAR")],
                               (("subarray", ["FULL", "SUB160", "SUB400P"]),), 1),
    "miri-specific-subarray": (("MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "SUB256"),
                               [("F1500W", "GENERIC"), ("F1500W", "SUB256"), ("F770W", "SUB256")],
                               (), 1),
    "miri-generic-fallback": (("MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "BRIGHTSKY"),
                              [("F1500W", "GENERIC"), ("F1500W", "SUB256"), ("F770W", "GENERIC")],
                              (), 0),
    "niriss-pupil-wheel": (("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F090W", "FULL"),
                           [("CLEAR", "F150W"), ("CLEAR", "F090W"), ("F444W", "CLEARP")], (), 1),
    "niriss-filter-wheel": (("NIRISS", "NIS", "NIS_IMAGE", "F444W", "CLEARP", "FULL"),
                            [("CLEAR", "F150W"), ("CLEAR", "F090W"), ("F444W", "CLEARP")], (), 2),
    "fgs": (("FGS", "GUIDER2", "FGS_IMAGE", None, None, "FULL"), [()], (), 0),
}


@pytest.mark.parity
@pytest.mark.parametrize("time", [(), ("linear",), ("exponential",), ("powerlaw",),
                                  ("linear", "exponential", "powerlaw")],
                         ids=["no-time", "linear", "exponential", "powerlaw", "all-three"])
@pytest.mark.parametrize("case", sorted(PHOTOM_CASES))
def test_photom_real_format_matches_official(tmp_path, case, time):
    keys, rows, extra, expected_row = PHOTOM_CASES[case]
    model = photom_science(*keys)
    values = 0.1234567891 + 0.1 * np.arange(len(rows))
    phot = write_photom(tmp_path / "photom.fits", keys[0], rows, photmjsr=values,
                        extra_columns=extra, time=time)
    area, _ = write_area(tmp_path / "area.fits", keys[0], (64, 64))
    before = model.data.copy()
    ours = run_photom(model, {"photom": phot, "area": area}, exposure="jw_var")
    np.testing.assert_array_equal(model.data, before)
    ref = official_photom(model, phot, area)
    assert_photom_same(ours, ref)
    factor = ours.meta.photometry.conversion_megajanskys
    # the row chosen is the expected one, and the factor is the float32 of the file's value
    assert (factor == np.float32(values[expected_row])) == (not time)


@pytest.mark.parity
# a zero factor times an infinite pixel: numpy warns, in jwst as here
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")
@pytest.mark.parametrize("value", [0.0, np.nan], ids=["zero", "nan"])
def test_photom_zero_or_nan_factor_matches_official(tmp_path, value):
    keys = ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL")
    model = photom_science(*keys)
    model.data[..., 3, 4] = np.inf
    phot = write_photom(tmp_path / "p.fits", "NIRCAM", [("F150W", "CLEAR")], photmjsr=[value])
    ours = run_photom(model, {"photom": phot, "area": None}, exposure="jw_var")
    ref = official_photom(model, phot, None)
    assert_photom_same(ours, ref, area=False)
    if np.isnan(value):
        assert np.all(ours.dq & DO_NOT_USE)


def test_photom_consistent_shortcut_still_flags_nan_factor(tmp_path):
    """After flat_field the NaN pass is skipped, but never for a NaN or zero factor."""
    keys = ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL")
    model = photom_science(*keys)
    model.meta.cal_step.flat_field = "COMPLETE"
    phot = write_photom(tmp_path / "p.fits", "NIRCAM", [("F150W", "CLEAR")], photmjsr=[np.nan])
    ours = run_photom(model, {"photom": phot, "area": None}, exposure="jw_var")
    assert np.all(np.isnan(ours.data)) and np.all(ours.dq & DO_NOT_USE)


@pytest.mark.parity
def test_photom_duplicate_rows_rejected_like_official(tmp_path):
    from jwst.photom.photom import MatchFitsTableRowError

    keys = ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL")
    model = photom_science(*keys)
    phot = write_photom(tmp_path / "p.fits", "MIRI", [("F770W", "FULL"), ("F770W", "FULL")],
                        photmjsr=[0.2, 0.3])
    with pytest.raises(ExposureError, match=r"^jw_var: PHOTOM p.fits: 2 PHOTOM rows match"):
        run_photom(model, {"photom": phot, "area": None}, exposure="jw_var")
    with pytest.raises(MatchFitsTableRowError):
        official_photom(model, phot, None)


@pytest.mark.parity
def test_photom_without_uncertainty_column(tmp_path):
    """The UNCERTAINTY column is not needed to calibrate: we accept a table without it.

    jwst 3.0.0 rejects such a file at load (the datamodels schema lists the
    column); with the column added it gives exactly our result.
    """
    keys = ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL")
    model = photom_science(*keys)
    rows = [("F150W", "CLEAR"), ("F200W", "CLEAR")]
    bare = write_photom(tmp_path / "bare.fits", "NIRCAM", rows, photmjsr=[0.31, 0.41],
                        uncertainty=False)
    full = write_photom(tmp_path / "full.fits", "NIRCAM", rows, photmjsr=[0.31, 0.41])
    ours = run_photom(model, {"photom": bare, "area": None}, exposure="jw_var")
    with pytest.raises(ValueError, match="uncertainty"):
        official_photom(model, bare, None)
    assert_photom_same(ours, official_photom(model, full, None), area=False)


@pytest.mark.parity
def test_photom_time_tables_not_matching_the_photom_rows(tmp_path):
    keys = ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL")
    model = photom_science(*keys)
    rows = [("F770W", "FULL"), ("F770W", "GENERIC")]
    short = write_photom(tmp_path / "short.fits", "MIRI", rows, photmjsr=[0.2, 0.3],
                         time=("linear",), time_rows=rows[:1])
    with pytest.raises(ExposureError,
                       match=r"^jw_var: .*TIMECOEFF_LINEAR has 1 rows, PHOTOM has 2"):
        run_photom(model, {"photom": short, "area": None}, exposure="jw_var")
    with pytest.raises(Exception, match="do not match"):
        official_photom(model, short, None)
    swapped = write_photom(tmp_path / "swapped.fits", "MIRI", rows, photmjsr=[0.2, 0.3],
                           time=("powerlaw",), time_rows=rows[::-1])
    with pytest.raises(ExposureError, match="do not match the PHOTOM rows"):
        run_photom(model, {"photom": swapped, "area": None}, exposure="jw_var")
    with pytest.raises(Exception, match="do not match"):
        official_photom(model, swapped, None)


def test_photom_time_tables_need_the_exposure_mid_time(tmp_path):
    keys = ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL")
    model = photom_science(*keys)
    model.meta.exposure.mid_time = None
    phot = write_photom(tmp_path / "p.fits", "MIRI", [("F770W", "FULL")], photmjsr=[0.2],
                        time=("linear",))
    with pytest.raises(ExposureError, match="EXPMID is missing"):
        run_photom(model, {"photom": phot, "area": None}, exposure="jw_var")


@pytest.mark.parity
# the science's made-up SUBARRAY "SUB" is not in the schema's list (only its corner matters)
@pytest.mark.filterwarnings(
    "ignore:While validating name:stdatamodels.exceptions.ValidationWarning")
@pytest.mark.parametrize("corner", [(1, 1), (5, 9), (300, 1)], ids=["at-1-1", "sub", "edge"])
def test_area_full_frame_cut_to_science_matches_official(tmp_path, corner):
    keys = ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "SUB")
    model = photom_science(*keys, corner=corner)
    phot = write_photom(tmp_path / "p.fits", "NIRCAM", [("F150W", "CLEAR")], photmjsr=[0.3])
    area, data = write_area(tmp_path / "a.fits", "NIRCAM", (64, 320), corner=(1, 1))
    ours = run_photom(model, {"photom": phot, "area": area}, exposure="jw_var")
    assert_photom_same(ours, official_photom(model, phot, area))
    x0, y0 = corner[0] - 1, corner[1] - 1
    np.testing.assert_array_equal(ours.area, data[y0:y0 + 16, x0:x0 + 20].astype(np.float32))


@pytest.mark.parity
def test_area_reference_with_its_own_subarray(tmp_path):
    """A subarray AREA file is placed by its own SUBSTRT (jwst 3.0.0 ignores them).

    jwst always cuts the AREA array at the science SUBSTRT as if the reference
    were full frame: for a subarray reference that gives a wrongly placed (here
    also truncated) map. Ours gives the map of the science pixels.
    """
    keys = ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "SUB128")
    model = photom_science(*keys, corner=(5, 9))
    phot = write_photom(tmp_path / "p.fits", "MIRI", [("F770W", "GENERIC")], photmjsr=[0.3])
    area, data = write_area(tmp_path / "a.fits", "MIRI", (30, 26), corner=(3, 4))
    ours = run_photom(model, {"photom": phot, "area": area}, exposure="jw_var")
    expected = data[9 - 4:9 - 4 + 16, 5 - 3:5 - 3 + 20].astype(np.float32)
    np.testing.assert_array_equal(ours.area, expected)
    ref = official_photom(model, phot, area)
    assert not np.array_equal(ref.area, expected)  # the official cut is misplaced
    # the same map written full frame gives the official step our answer
    full = np.ones((64, 64))
    full[3:33, 2:28] = data
    fits.HDUList([primary_hdu("MIRI", "AREA", DATAMODL="PixelAreaModel", PIXAR_SR=9.31e-14,
                           PIXAR_A2=0.00396),
                  fits.ImageHDU(full, name="SCI")]).writeto(tmp_path / "full.fits")
    assert_photom_same(ours, official_photom(model, phot, str(tmp_path / "full.fits")))


@pytest.mark.parity
# the science's made-up SUBARRAY "SUB" is not in the schema's list (only its corner matters)
@pytest.mark.filterwarnings(
    "ignore:While validating name:stdatamodels.exceptions.ValidationWarning")
@pytest.mark.parametrize("shape,corner", [((10, 10), (1, 1)), ((64, 64), (50, 1))],
                         ids=["too-small", "off-the-edge"])
def test_area_not_covering_the_science_is_an_error(tmp_path, shape, corner):
    keys = ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "SUB")
    model = photom_science(*keys, corner=corner)
    phot = write_photom(tmp_path / "p.fits", "NIRCAM", [("F150W", "CLEAR")], photmjsr=[0.3])
    area, _ = write_area(tmp_path / "a.fits", "NIRCAM", shape)
    before = model.data.copy()
    with pytest.raises(ExposureError, match=r"^jw_var: PHOTOM p.fits: AREA map .* does not cover"):
        run_photom(model, {"photom": phot, "area": area}, exposure="jw_var", copy=False)
    np.testing.assert_array_equal(model.data, before)  # nothing changed on failure
    # jwst attaches a truncated map of the wrong shape instead
    assert official_photom(model, phot, area).area.shape != model.data.shape


def test_niriss_cube_is_skipped_before_row_matching(tmp_path):
    """jwst skips a NIRISS cube before it looks for a row: no row is no error then."""
    keys = ("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F158M", "FULL")
    model = photom_science(*keys, nints=2)
    phot = write_photom(tmp_path / "p.fits", "NIRISS", [("CLEAR", "F150W")], photmjsr=[0.3])
    out = run_photom(model, {"photom": phot, "area": None}, exposure="jw_var")
    assert out.meta.cal_step.photom == "SKIPPED"
    np.testing.assert_array_equal(out.data, model.data)


def test_photom_algorithm_accepts_plain_numpy_tables():
    table = np.array([(b"F150W", b"CLEAR", 0.5)],
                     dtype=[("filter", "S12"), ("pupil", "S12"), ("photmjsr", "f8")])
    assert photom.find_row(table.view(np.recarray), {"filter": "F150W", "pupil": "CLEAR"}) == 0


# ---------------------------------------------------------------------------
# BACKGROUND
# ---------------------------------------------------------------------------

BKG_MODE = ("NIRCAM", "NRCA1", "NRC_IMAGE")


def _member(tmp_path, name, shape, corner, *, nints=None, seed=20, edit=None):
    bkg = science_model(*BKG_MODE, shape, corner=corner, nints=nints, seed=seed)
    bkg.data = (bkg.data * 0.1 + 1.0).astype(np.float32)
    if edit is not None:
        edit(bkg)
    path = tmp_path / f"{name}_rate.fits"
    bkg.save(path)
    return str(path)


def _both(model, paths, sigma=3.0, maxiters=None):
    from jwst.background.background_sub import background_sub

    ours = run_background(model, paths, Image2Options(bkg_sigma=sigma, bkg_maxiters=maxiters),
                          exposure="jw_var")
    _, ref = background_sub(model.copy(), paths, sigma, maxiters)
    return ours, ref


def _assert_bkg_same(ours, ref):
    np.testing.assert_array_equal(np.isnan(ours.data), np.isnan(ref.data))
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(ours.dq, ref.dq)


@pytest.mark.parity
def test_background_members_larger_than_the_science(tmp_path):
    model = science_model(*BKG_MODE, (12, 14), corner=(33, 17))
    paths = [_member(tmp_path, f"b{i}", (40, 60), (20, 10), seed=30 + i) for i in range(3)]
    _assert_bkg_same(*_both(model, paths))


@pytest.mark.parity
def test_background_members_with_nan_and_do_not_use(tmp_path):
    def spoil(i):
        def edit(bkg):
            bkg.data[..., 2:4, 3] = np.nan
            bkg.dq[..., 5, 5 + i] |= DO_NOT_USE
            bkg.data[..., 6, :] = np.nan if i < 3 else bkg.data[..., 6, :]
        return edit

    model = science_model(*BKG_MODE, (12, 14), corner=(1, 1))
    paths = [_member(tmp_path, f"b{i}", (12, 14), (1, 1), seed=40 + i, edit=spoil(i))
             for i in range(5)]
    ours, ref = _both(model, paths)
    _assert_bkg_same(ours, ref)
    assert np.all(ours.dq[5, 5:10] & DO_NOT_USE)  # flags of used members are carried over


@pytest.mark.parity
@pytest.mark.parametrize("n", [1, 4])
def test_background_identical_members(tmp_path, n):
    model = science_model(*BKG_MODE, (12, 14), corner=(1, 1))
    paths = [_member(tmp_path, f"b{i}", (12, 14), (1, 1), seed=50) for i in range(n)]
    ours, ref = _both(model, paths)
    _assert_bkg_same(ours, ref)
    with datamodels.open(paths[0]) as one:
        np.testing.assert_array_equal(ours.data, model.data - one.data)


@pytest.mark.parity
def test_background_partly_overlapping_member_is_placed_where_it_overlaps(tmp_path):
    """A member overlapping only part of the science, away from its corner.

    jwst 3.0.0 copies the overlap to the science's first rows and columns
    (its ``get_subset_array`` ignores where the overlap starts); we put it on
    the pixels it covers. Where the overlap starts at the science corner the
    two agree.
    """
    model = science_model(*BKG_MODE, (12, 14), corner=(1, 1))
    at_corner = _member(tmp_path, "corner", (6, 7), (1, 1))
    _assert_bkg_same(*_both(model, [at_corner]))
    inside = _member(tmp_path, "inside", (6, 7), (5, 4),
                     edit=lambda b: setattr(b, "data", np.nan_to_num(b.data, nan=1.0)))
    ours = run_background(model, [inside], Image2Options(), exposure="jw_var")
    with datamodels.open(inside) as member:
        np.testing.assert_allclose(ours.data[3:9, 4:11], model.data[3:9, 4:11] - member.data)
    np.testing.assert_array_equal(ours.data[:3], model.data[:3])  # not covered: zero background


@pytest.mark.parity
def test_background_cube_science_with_image_members(tmp_path):
    """A _rateints science with _rate members: every integration loses the same image.

    jwst 3.0.0 fails on this mix (it slices 2D members as cubes); we subtract
    the members' mean from each integration.
    """
    model = science_model(*BKG_MODE, (12, 14), corner=(1, 1), nints=3)
    paths = [_member(tmp_path, f"b{i}", (12, 14), (1, 1), seed=60 + i) for i in range(2)]
    ours = run_background(model, paths, Image2Options(), exposure="jw_var")
    image = datamodels.ImageModel(model.data[0].shape)
    image.update(model)
    image.data = model.data[0].copy()
    mean, _, _ = background.combine_backgrounds(image, [datamodels.open(p) for p in paths])
    np.testing.assert_allclose(ours.data, model.data - mean, rtol=1e-6)
    with pytest.raises(Exception):
        _both(model, paths)
