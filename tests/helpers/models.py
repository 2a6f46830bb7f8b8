"""Small synthetic models and reference files for the step unit and parity tests."""

import warnings

import numpy as np
from astropy.io import fits
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from snakewebb.steps.image2 import Image2Options

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.pixel["NO_FLAT_FIELD"]
#: Exposure mid time of the photom science models: MJD, ~1.5 years after the t0 of the
#: PHOTOM time tables.
MID_TIME = 60300.5
#: The exposure of :func:`write_science` and the options that run it without a WCS.
NAME = "jw01234001001_02101_00001_nrca1"
NO_WCS = Image2Options(skip_assign_wcs=True)
#: The exposure and shape of :func:`write_good` (the broken-input tests' intact file).
EXPOSURE = "jw01234001001_01101_00001_nrca1"
SHAPE = (16, 20)


def science_model(instrument, detector, exp_type, shape, corner=(1, 1), nints=None, seed=1):
    """A small slope model with realistic variances, some NaN and flagged pixels."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    full = (nints, ny, nx) if nints else (ny, nx)
    model = (datamodels.CubeModel if nints else datamodels.ImageModel)(full)
    model.data = rng.normal(10.0, 3.0, full).astype(np.float32)
    model.var_poisson = rng.uniform(0.1, 1.0, full).astype(np.float32)
    model.var_rnoise = rng.uniform(0.01, 0.1, full).astype(np.float32)
    model.err = np.sqrt(model.var_poisson + model.var_rnoise).astype(np.float32)
    dq = np.zeros(full, dtype=np.uint32)
    dq[..., 0, 1] = DO_NOT_USE
    dq[..., 1, 2] = dqflags.pixel["SATURATED"]
    model.dq = dq
    model.data[..., 2, 2] = np.nan
    model.var_rnoise[..., 3, 3] = np.nan
    model.meta.instrument.name = instrument
    model.meta.instrument.detector = detector
    model.meta.exposure.type = exp_type
    model.meta.subarray.name = "FULL"
    model.meta.subarray.xstart, model.meta.subarray.ystart = corner
    model.meta.subarray.xsize, model.meta.subarray.ysize = nx, ny
    return model


def flat_model(instrument, shape, corner=(1, 1), keywords=True, seed=2):
    rng = np.random.default_rng(seed)
    flat = datamodels.FlatModel(shape)
    flat.data = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    flat.err = rng.uniform(0.001, 0.02, shape).astype(np.float32)
    dq = np.zeros(shape, dtype=np.uint32)
    flat.data[4, 4] = np.nan
    flat.data[5, 5] = 0.0
    dq[6, 6] = NO_FLAT_FIELD
    dq[7, 7] = DO_NOT_USE
    dq[8, 8] = dqflags.pixel["UNRELIABLE_FLAT"]
    flat.dq = dq
    flat.meta.instrument.name = instrument
    if keywords:
        flat.meta.subarray.xstart, flat.meta.subarray.ystart = corner
        flat.meta.subarray.xsize, flat.meta.subarray.ysize = shape[1], shape[0]
    return flat


def assert_same(ours, ref):
    for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert a.dtype == b.dtype == np.float32, name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(ours.dq, ref.dq)


def photom_reference(cls, *, time_tables=False, subarray_column=False):
    """A PHOTOM reference with a few rows per instrument (+ decoys), optional time tables."""
    name = cls.__name__
    if name.startswith("Nrc"):
        cols = [("filter", "S12"), ("pupil", "S12")]
        rows = [("F150W", "CLEAR"), ("F444W", "CLEAR"), ("F150W", "F162M")]
        if subarray_column:
            cols.append(("subarray", "S15"))
            rows = [r + (s,) for r in rows for s in ("FULL", "SUBGRISM64")]
    elif name.startswith("Mir"):
        cols = [("filter", "S12"), ("subarray", "S17")]
        rows = [("F770W", "GENERIC"), ("F770W", "BRIGHTSKY"), ("F1500W", "SUB256"),
                ("F1500W", "FULL")]
    elif name.startswith("Nis"):
        cols = [("filter", "S12"), ("pupil", "S12")]
        rows = [("CLEAR", "F150W"), ("F444W", "CLEARP"), ("CLEAR", "F200W")]
    else:
        cols, rows = [], [()]
    n = len(rows)
    table = np.zeros(n, dtype=cols + [("photmjsr", "f4"), ("uncertainty", "f4")])
    for i, row in enumerate(rows):
        for (col, _), value in zip(cols, row):
            table[col][i] = value
    table["photmjsr"] = 0.25 + 0.1 * np.arange(n, dtype=np.float32)
    table["uncertainty"] = 0.01
    ref = cls()
    ref.phot_table = table
    instrument = {"Nrc": "NIRCAM", "Mir": "MIRI", "Nis": "NIRISS", "Fgs": "FGS"}[name[:3]]
    describe(ref, instrument, "PHOTOM")
    ref.meta.photometry.pixelarea_steradians = 9.0e-14
    ref.meta.photometry.pixelarea_arcsecsq = 0.0038
    if time_tables:
        desc = [(c, table[c]) for c, _ in cols]

        def coeff(extra, ext):
            names = {d["name"] for d in ref.schema["properties"][ext]["datatype"]}
            keep = [(c, v) for c, v in desc if c in names]
            t = np.zeros(n, dtype=[(c, v.dtype) for c, v in keep] + [(k, "f4") for k in extra])
            for c, v in keep:
                t[c] = v
            for k, v in extra.items():
                t[k] = v
            return t

        ref.timecoeff_linear = coeff({"t0": 59720.0, "lossperyear": 0.02}, "timecoeff_linear")
        ref.timecoeff_exponential = coeff(
            {"t0": 59720.0, "amplitude": 0.1, "tau": 200.0, "const": 0.9},
            "timecoeff_exponential")
        ref.timecoeff_powerlaw = coeff(
            {"t0": 59720.0, "year1value": 0.97, "tsoft": 30.0, "alpha": -0.05},
            "timecoeff_powerlaw")
    return ref


def describe(ref, instrument, reftype):
    ref.meta.description = "synthetic test reference"
    ref.meta.reftype = reftype
    ref.meta.author = "snakewebb tests"
    ref.meta.pedigree = "DUMMY"
    ref.meta.useafter = "2022-01-01T00:00:00"
    ref.meta.instrument.name = instrument


def area_reference(shape, seed=3, instrument="NIRCAM"):
    rng = np.random.default_rng(seed)
    area = datamodels.PixelAreaModel(shape)
    describe(area, instrument, "AREA")
    area.data = rng.uniform(0.95, 1.05, shape).astype(np.float32)
    area.meta.photometry.pixelarea_steradians = 9.31e-14
    area.meta.photometry.pixelarea_arcsecsq = 0.00396
    return area


def photom_science(instrument, detector, exp_type, filt, pupil, subarray, nints=None, *,
            corner=(5, 9), shape=(16, 20)):
    """A small photom-ready science model of the given mode."""
    model = science_model(instrument, detector, exp_type, shape, corner=corner, nints=nints)
    model.meta.instrument.filter = filt
    model.meta.instrument.pupil = pupil
    model.meta.subarray.name = subarray
    model.meta.exposure.mid_time = MID_TIME
    model.var_flat = np.full(model.data.shape, 0.003, dtype=np.float32)
    return model


def write_science(path, *, nints=None, exp_type="NRC_IMAGE", seed=1):
    model = science_model("NIRCAM", "NRCA1", exp_type, (16, 20), corner=(5, 9), nints=nints,
                          seed=seed)
    if exp_type is None:
        del model.meta.exposure.type
    model.meta.instrument.filter = "F150W"
    model.meta.instrument.pupil = "CLEAR"
    model.meta.exposure.mid_time = 60300.5
    model.save(path)
    return path


def write_nircam_refs(directory):
    """FLAT, PHOTOM and AREA references for :func:`write_science`, written in ``directory``."""
    flat = flat_model("NIRCAM", (64, 64))
    describe(flat, "NIRCAM", "FLAT")
    flat.save(directory / "jwst_nircam_flat_0001.fits")
    photom_reference(datamodels.NrcImgPhotomModel).save(directory / "jwst_nircam_photom_0001.fits")
    area_reference((64, 64)).save(directory / "jwst_nircam_area_0001.fits")
    return {
        "flat": str(directory / "jwst_nircam_flat_0001.fits"),
        "photom": str(directory / "jwst_nircam_photom_0001.fits"),
        "area": str(directory / "jwst_nircam_area_0001.fits"),
    }


def good_model():
    model = science_model("NIRCAM", "NRCA1", "NRC_IMAGE", SHAPE)
    model.meta.instrument.filter = "F150W"
    model.meta.instrument.pupil = "CLEAR"
    model.meta.exposure.mid_time = 60300.5
    return model


def write_good(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good_model().save(path)
    return path


def primary_hdu(instrument, reftype, **extra):
    hdu = fits.PrimaryHDU()
    cards = dict(TELESCOP="JWST", INSTRUME=instrument, REFTYPE=reftype, AUTHOR="tests",
                 DESCRIP="synthetic real-format reference", PEDIGREE="DUMMY",
                 USEAFTER="2022-01-01T00:00:00", **extra)
    for key, value in cards.items():
        hdu.header[key] = value
    return hdu
