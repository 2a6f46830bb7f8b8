"""FITS references cut short (FLAT, PHOTOM, AREA): refused with one line, nothing written.

astropy opens such a file with at most a "may have been truncated" warning and
simply drops the extensions it cannot read, so a PHOTOM without its TIMECOEFF
tables would calibrate without the time-dependence correction and be marked
COMPLETE.
"""

import hashlib
import warnings
from pathlib import Path

import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

from helpers.models import EXPOSURE, SHAPE, area_reference, flat_model, photom_reference, write_good
from snakewebb.errors import ExposureError
from snakewebb.steps.flat_field import run_flat_field
from snakewebb.steps.image2 import Image2Options, calibrate_exposure
from snakewebb.steps.photom import run_photom

OPTIONS = Image2Options(skip_assign_wcs=True)

#: file name of each reference type in the fixture
NAMES = {"flat": "jwst_nircam_flat_0001.fits", "photom": "jwst_nircam_photom_0001.fits",
         "area": "jwst_nircam_area_0001.fits"}


def _save(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    return str(path)


@pytest.fixture
def refs(tmp_path):
    """FLAT, PHOTOM (with time-dependence tables) and AREA fitting the good exposure."""
    flat = flat_model("NIRCAM", SHAPE)
    flat.meta.reftype = "FLAT"
    phot = photom_reference(datamodels.NrcImgPhotomModel, time_tables=True)
    area = area_reference(SHAPE)
    return {"distortion": None, "filteroffset": None,
            "flat": _save(flat, tmp_path / NAMES["flat"]),
            "photom": _save(phot, tmp_path / NAMES["photom"]),
            "area": _save(area, tmp_path / NAMES["area"])}


def _layout(path):
    """(header start, data start, data span) of every HDU of an intact FITS file."""
    with fits.open(path, lazy_load_hdus=False) as hdul:
        return [(i["hdrLoc"], i["datLoc"], i["datSpan"])
                for i in (hdul.fileinfo(k) for k in range(len(hdul)))]


def _cut_point(path, where):
    layout = _layout(path)
    if where == "last-data":
        _, data, span = layout[-1]
        return data + span // 2
    if where == "last-header":
        header, data, _ = layout[-1]
        return header + (data - header) // 2
    # a header further in: that extension and all after it are lost (for PHOTOM,
    # the time-dependence tables)
    assert where == "inner-header"
    header, data, _ = layout[max(1, len(layout) // 2)]
    return header + (data - header) // 2


def _cut(path, where):
    data = Path(path).read_bytes()
    size = _cut_point(path, where)
    assert 0 < size < len(data) and size % 2880  # never a whole-block (valid-looking) cut
    with open(path, "wb") as handle:
        handle.write(data[:size])
    return len(data), size


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_intact_references_calibrate_with_time_dependence(tmp_path, refs):
    """The reference point: the same references intact give a COMPLETE product."""
    science = write_good(tmp_path / f"{EXPOSURE}_rate.fits")
    out = calibrate_exposure(science, tmp_path / "out" / f"{EXPOSURE}_cal.fits", refs=refs,
                             options=OPTIONS)
    with datamodels.open(out) as cal:
        assert cal.meta.cal_step.flat_field == "COMPLETE"
        assert cal.meta.cal_step.photom == "COMPLETE"
        assert cal.meta.ref_file.area.name == f"crds://{NAMES['area']}"
        assert cal.area.shape == SHAPE


@pytest.mark.parametrize("where", ["last-data", "last-header", "inner-header"])
@pytest.mark.parametrize("reftype", ["flat", "photom", "area"])
def test_truncated_reference_is_one_line_error_and_writes_nothing(tmp_path, refs, reftype,
                                                                   where):
    full, size = _cut(refs[reftype], where)
    science = write_good(tmp_path / f"{EXPOSURE}_rate.fits")
    before = {p: _digest(p) for p in [science, *filter(None, refs.values())]}
    outdir = tmp_path / "out"
    outdir.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ExposureError) as info:
            calibrate_exposure(science, outdir / f"{EXPOSURE}_cal.fits", refs=refs,
                               options=OPTIONS, bsub_output=outdir / f"{EXPOSURE}_bsub.fits")
    # the error says it all: no astropy warning about the cut besides it
    assert not [w for w in caught if "trunc" in str(w.message) or "2880" in str(w.message)]
    message = str(info.value)
    assert "\n" not in message
    prefix = f"{EXPOSURE}: cannot read {reftype.upper()} reference {NAMES[reftype]}: truncated"
    assert message.startswith(prefix), message
    if where == "last-data":
        assert message == f"{prefix}: {size} bytes, its extensions need {full}"
    else:  # a header cut short: astropy drops that extension and all after it
        assert message.endswith("bytes after its last complete extension"), message
    assert list(outdir.iterdir()) == []
    assert {p: _digest(p) for p in before} == before


@pytest.mark.parametrize("reftype", ["flat", "photom", "area"])
def test_steps_refuse_truncated_reference_directly(tmp_path, refs, reftype):
    """The step functions themselves check, whoever calls them."""
    _cut(refs[reftype], "last-data")
    model = datamodels.open(write_good(tmp_path / f"{EXPOSURE}_rate.fits"))
    step = run_flat_field if reftype == "flat" else run_photom
    with pytest.raises(ExposureError,
                       match=rf"^jw1: cannot read {reftype.upper()} reference "
                             rf"{NAMES[reftype]}: truncated: \d+ bytes"):
        step(model, refs, exposure="jw1")
    model.close()


def test_reference_with_bytes_after_its_last_extension_is_refused(tmp_path, refs):
    """Whole extensions followed by a fragment (a header cut short) are refused too."""
    with open(refs["photom"], "ab") as handle:
        handle.write(b"XTENSION= 'BINTABLE'" + b" " * 100)
    model = datamodels.open(write_good(tmp_path / f"{EXPOSURE}_rate.fits"))
    with pytest.raises(ExposureError, match=r"^jw1: cannot read PHOTOM reference .*: "
                                            r"truncated or corrupt: 120 bytes after"):
        run_photom(model, refs, exposure="jw1")
    model.close()
