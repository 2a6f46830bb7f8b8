"""Flat-field arithmetic by row blocks: the same bits as whole-array arithmetic.

``snakewebb.flat_field`` works one block of rows at a time (cache-sized, and
reading a FITS flat only within the science footprint). These tests hold it to
a plain whole-array computation in the official order, bit for bit, on data
full of NaN, inf, zeros, subnormals and DQ flags, for every block size; and
the step reading the flat from a FITS file by sections to the in-memory
FlatModel path.
"""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from snakewebb import flat_field
from snakewebb.steps.flat_field import run_flat_field

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.pixel["NO_FLAT_FIELD"]
ARRAYS = ("data", "err", "var_poisson", "var_rnoise", "var_flat", "dq")
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 1e-30, -1.0, 3e38)


def _nasty(rng, shape):
    arr = rng.normal(1.0, 2.0, shape).astype(np.float32)
    flat = arr.reshape(-1)
    for value in SPECIALS:
        flat[rng.integers(0, flat.size, max(1, flat.size // 150))] = value
    return arr


def _flags(rng, shape, flags):
    dq = np.zeros(shape, np.uint32)
    flat = dq.reshape(-1)
    for flag in flags:
        flat[rng.integers(0, flat.size, max(1, flat.size // 25))] |= flag
    return dq


def _science(rng, shape, corner):
    cls = datamodels.CubeModel if len(shape) == 3 else datamodels.ImageModel
    model = cls(shape)
    for name in ("data", "err", "var_poisson", "var_rnoise"):
        setattr(model, name, _nasty(rng, shape))
    model.dq = _flags(rng, shape, (DO_NOT_USE, 2, 4, NO_FLAT_FIELD, 1 << 30))
    model.meta.instrument.name = "NIRCAM"
    model.meta.subarray.xstart, model.meta.subarray.ystart = corner
    return model


def _flat(rng, shape, *, with_err=True):
    flat = datamodels.FlatModel(shape)
    flat.data = _nasty(rng, shape)
    if with_err:
        flat.err = _nasty(rng, shape)
    flat.dq = _flags(rng, shape, (DO_NOT_USE, NO_FLAT_FIELD, 4, 1 << 20))
    flat.meta.instrument.name = "NIRCAM"
    flat.meta.subarray.xstart = flat.meta.subarray.ystart = 1
    return flat


def whole_array(science, flat):
    """The flat-field arithmetic on whole arrays, in the official order."""
    (y0, y1), (x0, x1) = [(s.start, s.stop) for s in flat_field.flat_window(science, flat)]
    f = np.array(flat.data[y0:y1, x0:x1], np.float32)
    fdq = np.array(flat.dq[y0:y1, x0:x1], np.uint32)
    ferr = (np.array(flat.err[y0:y1, x0:x1], np.float32) if flat.err is not None
            else np.zeros_like(f))
    bad = np.isnan(f) | (f == 0)
    fdq[bad] |= DO_NOT_USE | NO_FLAT_FIELD
    fdq[(fdq & NO_FLAT_FIELD) != 0] |= DO_NOT_USE
    f[(fdq & DO_NOT_USE) != 0] = 1.0
    out = {}
    f_sq = f * f
    out["data"] = science.data / f
    out["var_flat"] = out["data"] ** 2 / f_sq * ferr**2
    out["var_poisson"] = science.var_poisson / f_sq
    out["var_rnoise"] = science.var_rnoise / f_sq
    out["err"] = np.sqrt(out["var_poisson"] + out["var_rnoise"] + out["var_flat"])
    out["dq"] = science.dq | fdq
    invalid = (out["dq"] & DO_NOT_USE) != 0
    for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat"):
        invalid |= np.isnan(out[name])
    out["dq"][invalid] |= DO_NOT_USE
    for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat"):
        out[name][invalid] = np.nan
    return out


def assert_bits(model, expect):
    for name in ARRAYS:
        got = np.asarray(getattr(model, name))
        want = np.asarray(expect[name])
        assert got.shape == want.shape, name
        # compare values in native order: FITS-read arrays are big-endian
        got = got.astype(got.dtype.newbyteorder("="))
        want = want.astype(want.dtype.newbyteorder("="))
        assert got.dtype == want.dtype, name
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), (
            f"{name}: {np.count_nonzero(got.view(np.uint8) != want.view(np.uint8))} bytes differ"
        )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("nints", [None, 1, 3])
def test_blocks_give_whole_array_bits(seed, nints):
    rng = np.random.default_rng(seed)
    ny, nx = (int(n) for n in rng.integers(5, 60, 2))
    corner = tuple(int(c) for c in rng.integers(1, 15, 2))
    shape = (nints, ny, nx) if nints else (ny, nx)
    science = _science(rng, shape, corner)
    flat = _flat(rng, (ny + corner[1] + 4, nx + corner[0] + 2), with_err=seed % 3 != 2)
    before = {name: np.copy(getattr(science, name)) for name in ARRAYS}
    flat_before = np.copy(flat.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # invalid values on purpose
        expect = whole_array(science, flat)
        for block_pixels in (None, 1, nx, 3 * nx + 1, 10**9):
            assert_bits(flat_field.apply_flat(science, flat, block_pixels=block_pixels), expect)
        arrays = flat_field.flat_for_science(science, flat)
        assert_bits(flat_field.apply_flat_arrays(science, *arrays, block_pixels=7), expect)
    for name in ARRAYS:  # inputs untouched
        np.testing.assert_array_equal(getattr(science, name), before[name])
    np.testing.assert_array_equal(flat.data, flat_before)


def test_in_place_keeps_validation_on_and_adds_native_var_flat():
    rng = np.random.default_rng(7)
    science = _science(rng, (12, 10), (3, 4))
    flat = _flat(rng, (20, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = flat_field.apply_flat(science, flat, copy=False)
    assert out is science
    assert science._validate_on_assignment is True
    assert science.var_flat.dtype == np.float32 and science.var_flat.shape == (12, 10)


@pytest.mark.parametrize("extensions", [("SCI", "DQ", "ERR"), ("SCI", "DQ"), ("SCI",)])
def test_step_reading_fits_sections_matches_in_memory_flat(tmp_path, extensions):
    rng = np.random.default_rng(11)
    science = _science(rng, (2, 40, 33), (17, 9))
    flat = _flat(rng, (64, 64))
    hdus = [fits.PrimaryHDU()]
    hdus[0].header.update(INSTRUME="NIRCAM", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=64, SUBSIZE2=64)
    arrays = {"SCI": flat.data, "DQ": flat.dq, "ERR": flat.err}
    hdus += [fits.ImageHDU(arrays[name], name=name) for name in extensions]
    path = tmp_path / "jwst_nircam_flat_0001.fits"
    fits.HDUList(hdus).writeto(path)
    if "DQ" not in extensions:
        flat.dq = np.zeros((64, 64), np.uint32)
    if "ERR" not in extensions:
        flat.err = np.zeros((64, 64), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expect = whole_array(science, flat)
        out = run_flat_field(science, {"flat": str(path)}, exposure="jw1_nrca1")
    assert out.meta.cal_step.flat_field == "COMPLETE"
    assert_bits(out, expect)
