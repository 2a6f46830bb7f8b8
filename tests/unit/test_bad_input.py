"""Broken inputs through calibrate_exposure.

Each is one-line ExposureError, nothing is written and the input is intact.
"""

import hashlib
import warnings

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

from helpers.models import EXPOSURE, SHAPE, flat_model, write_good
from snakewebb.errors import ExposureError
from snakewebb.steps.image2 import Image2Options, calibrate_exposure


@pytest.fixture
def refs(tmp_path):
    """A FLAT and a PHOTOM that fit the good exposure (assign_wcs is skipped)."""
    flat = flat_model("NIRCAM", SHAPE)
    flat.meta.reftype = "FLAT"
    flat.save(tmp_path / "flat.fits")
    table = np.array([("F150W", "CLEAR", 0.3, 0.01)],
                     dtype=[("filter", "S12"), ("pupil", "S12"), ("photmjsr", "f4"),
                            ("uncertainty", "f4")])
    phot = datamodels.NrcImgPhotomModel()
    phot.phot_table = table
    phot.meta.instrument.name = "NIRCAM"
    phot.meta.photometry.pixelarea_steradians = 9e-14
    phot.meta.photometry.pixelarea_arcsecsq = 0.0038
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phot.save(tmp_path / "photom.fits")
    return {"distortion": None, "filteroffset": None, "flat": str(tmp_path / "flat.fits"),
            "photom": str(tmp_path / "photom.fits"), "area": None}


OPTIONS = Image2Options(skip_assign_wcs=True)


def _truncated(path):
    write_good(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _no_sci(path):
    write_good(path)
    with fits.open(path) as hdul:
        fits.HDUList([h.copy() for h in hdul if h.name != "SCI"]).writeto(path, overwrite=True)


def _dq_wrong_shape(path):
    write_good(path)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    for i, h in enumerate(hdus):
        if h.name == "DQ":
            hdus[i] = fits.ImageHDU(np.zeros((8, 8), np.uint32), header=h.header, name="DQ")
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _other_model(path):
    ramp = datamodels.RampModel((1, 2, 16, 20))
    ramp.meta.instrument.name = "NIRCAM"
    ramp.meta.instrument.detector = "NRCA1"
    ramp.meta.exposure.type = "NRC_IMAGE"
    ramp.save(path)


def _plain_fits(path, **changes):
    """The good exposure as a plain FITS file (no ASDF extension, as other software writes
    them) with primary keywords changed; a value None deletes the keyword."""
    write_good(path)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul if h.name != "ASDF"]
    for key, value in changes.items():
        if value is None:
            del hdus[0].header[key]
        else:
            hdus[0].header[key] = value
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _no_exp_type(path):
    _plain_fits(path, EXP_TYPE=None)


def _unknown_instrument(path):
    _plain_fits(path, INSTRUME="WFI")


def _empty(path):
    path.write_bytes(b"")


def _directory(path):
    path.mkdir()


def _missing(path):
    pass


def _not_fits(path):
    path.write_text("SIMPLE = this is not a FITS file\n" * 50)


BROKEN = {
    "truncated": _truncated,
    "no-sci": _no_sci,
    "dq-wrong-shape": _dq_wrong_shape,
    "ramp-model": _other_model,
    "no-exp-type": _no_exp_type,
    "unknown-instrument": _unknown_instrument,
    "empty": _empty,
    "directory": _directory,
    "missing": _missing,
    "not-fits": _not_fits,
}


def _state(path):
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    return path.exists(), path.is_dir()


def test_the_good_exposure_calibrates(tmp_path, refs):
    """The reference point: the same setup on an intact file works."""
    science = write_good(tmp_path / f"{EXPOSURE}_rate.fits")
    out = calibrate_exposure(science, tmp_path / "out" / f"{EXPOSURE}_cal.fits", refs=refs,
                             options=OPTIONS)
    with datamodels.open(out) as cal:
        assert cal.meta.cal_step.photom == "COMPLETE"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_is_one_line_error_and_writes_nothing(tmp_path, refs, case):
    science = tmp_path / f"{EXPOSURE}_rate.fits"
    BROKEN[case](science)
    before = _state(science)
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(ExposureError) as info:
        calibrate_exposure(science, outdir / f"{EXPOSURE}_cal.fits", refs=refs, options=OPTIONS,
                           bsub_output=outdir / f"{EXPOSURE}_bsub.fits")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{EXPOSURE}: ")
    assert info.value.exposure == EXPOSURE
    assert list(outdir.iterdir()) == []
    assert _state(science) == before


@pytest.mark.filterwarnings("ignore")
def test_missing_sci_extension_is_named_plainly(tmp_path, refs):
    """Not the library's nested, quoted 'ERROR loading embedded ASDF: "Extension ..."'."""
    science = tmp_path / f"{EXPOSURE}_rate.fits"
    _no_sci(science)
    with pytest.raises(ExposureError) as info:
        calibrate_exposure(science, tmp_path / f"{EXPOSURE}_cal.fits", refs=refs, options=OPTIONS)
    assert str(info.value) == \
        f"{EXPOSURE}: cannot read {science.name}: its SCI extension is missing"


@pytest.mark.filterwarnings("ignore")
def test_broken_background_member_writes_nothing(tmp_path, refs):
    science = write_good(tmp_path / f"{EXPOSURE}_rate.fits")
    member = tmp_path / "bkg_rate.fits"
    _truncated(member)
    before = (_state(science), _state(member))
    outdir = tmp_path / "out"
    with pytest.raises(ExposureError, match=rf"^{EXPOSURE}: .*bkg_rate.fits"):
        calibrate_exposure(science, outdir / f"{EXPOSURE}_cal.fits", backgrounds=[member],
                           refs=refs, options=OPTIONS)
    assert not outdir.exists() or list(outdir.iterdir()) == []
    assert (_state(science), _state(member)) == before


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("fraction", [0.9, 0.99])
def test_science_cut_short_in_its_last_extensions(tmp_path, refs, fraction):
    science = write_good(tmp_path / f"{EXPOSURE}_rate.fits")
    data = science.read_bytes()
    science.write_bytes(data[: int(len(data) * fraction)])
    outdir = tmp_path / "out"
    with pytest.raises(ExposureError, match=rf"^{EXPOSURE}: "):
        calibrate_exposure(science, outdir / f"{EXPOSURE}_cal.fits", refs=refs, options=OPTIONS)


@pytest.mark.filterwarnings("ignore")
def test_dq_of_wrong_shape_refused_even_when_no_step_touches_it(tmp_path):
    science = tmp_path / f"{EXPOSURE}_rate.fits"
    _dq_wrong_shape(science)
    refs = dict.fromkeys(("distortion", "filteroffset", "flat", "photom", "area"))
    with pytest.raises(ExposureError, match=rf"^{EXPOSURE}: .*DQ"):
        calibrate_exposure(science, tmp_path / "out" / f"{EXPOSURE}_cal.fits", refs=refs,
                           options=OPTIONS)


def _plain_fits_without(path, *names):
    """The good exposure as plain FITS (no ASDF extension) lacking the named arrays."""
    _plain_fits(path)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul if h.name not in names]
    fits.HDUList(hdus).writeto(path, overwrite=True)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("names", [("VAR_RNOISE",), ("VAR_POISSON", "VAR_RNOISE")])
def test_missing_variance_array_is_named(tmp_path, refs, names):
    """Without a variance array the flat field cannot run: the error says which array
    (it used to blame the FLAT reference)."""
    science = tmp_path / f"{EXPOSURE}_rate.fits"
    _plain_fits_without(science, *names)
    before = _state(science)
    outdir = tmp_path / "out"
    with pytest.raises(ExposureError) as info:
        calibrate_exposure(science, outdir / f"{EXPOSURE}_cal.fits", refs=refs, options=OPTIONS)
    message = str(info.value)
    assert message.startswith(f"{EXPOSURE}: ") and "\n" not in message
    assert all(name in message for name in names) and "FLAT reference" not in message
    assert not outdir.exists() or list(outdir.iterdir()) == []
    assert _state(science) == before


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("missing", ["DQ", "ERR"])
@pytest.mark.parametrize("skip_flat", [False, True])
def test_missing_dq_or_err_calibrates_as_if_zero_dq_and_rebuilt_err(tmp_path, refs, missing,
                                                                    skip_flat):
    """A plain FITS product without DQ (nothing flagged) or ERR calibrates; with the flat
    field the result equals that of the complete file (ERR is rebuilt from the variances)."""
    full = tmp_path / "full" / f"{EXPOSURE}_rate.fits"
    full.parent.mkdir()
    _plain_fits(full)
    with fits.open(full, mode="update") as hdul:
        hdul["DQ"].data[...] = 0
    part = tmp_path / "part" / f"{EXPOSURE}_rate.fits"
    part.parent.mkdir()
    with fits.open(full) as hdul:
        fits.HDUList([h.copy() for h in hdul if h.name != missing]).writeto(part)
    before = _state(part)
    options = Image2Options(skip_assign_wcs=True, skip_flat_field=skip_flat)
    out_full = calibrate_exposure(full, tmp_path / "a" / f"{EXPOSURE}_cal.fits", refs=refs,
                                  options=options)
    out_part = calibrate_exposure(part, tmp_path / "b" / f"{EXPOSURE}_cal.fits", refs=refs,
                                  options=options)
    assert _state(part) == before
    with datamodels.open(out_full) as a, datamodels.open(out_part) as b:
        assert b.meta.cal_step.photom == "COMPLETE"
        np.testing.assert_array_equal(b.data, a.data)
        np.testing.assert_array_equal(b.dq, a.dq)
        if missing == "DQ" or not skip_flat:
            np.testing.assert_array_equal(b.err, a.err)
        else:
            assert b.instance.get("err") is None
