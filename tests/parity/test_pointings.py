"""The whole chain (calibrate + resample) at unusual pointings and subarrays, against jwst.

A small campaign is simulated with pointings the main campaign never uses: footprints
straddling RA = 0/360, near and around the celestial poles, several roll angles, NIRCam
subarrays that do not start at pixel 1, MIRI SUB256/BRIGHTSKY and NIRISS subarrays. Each
exposure goes through jwst==3.0.0 calwebb_image2 (tests/oracle.py) and through our
``calibrate_exposure`` + ``resample_exposure``; the ``_cal`` (arrays, S_REGION) and the
``_i2d`` (shape, WCS, SCI/ERR where WHT > 0, ...) are compared as in the other parity tests.
"""

import math

import numpy as np
import pytest
from stdatamodels.jwst import datamodels

from helpers.resample import assert_i2d_parity, assert_same_polygon
from oracle import run_official_image2
from snakewebb.simulate.campaign import ExposureSpec, siaf_aperture

pytestmark = [pytest.mark.parity, pytest.mark.slow]

CAL_ARRAYS = ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat")
CAL_RTOL, CAL_ATOL = 1e-5, 1e-7

#: id -> (instrument, detector, exp_type, filter, pupil, subarray, aperture, ra, dec, roll)
CASES = {
    # footprints across RA = 0/360
    "ra0-miri-brightsky": ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "BRIGHTSKY",
                           "MIRIM_BRIGHTSKY", 0.005, -30.0, 0.0),
    "ra360-nrca1-sub640": ("NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "SUB640",
                           "NRCA1_SUB640", 359.995, 45.0, 90.0),
    "ra0-nrcalong-sub640": ("NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "SUB640",
                            "NRCA5_SUB640", 0.005, 5.0, 359.5),
    "ra360-nis-full": ("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", "NIS_CEN",
                       359.995, -2.0, 181.0),
    # near the poles
    "north-nrcb1-sub400p": ("NIRCAM", "NRCB1", "NRC_IMAGE", "F200W", "CLEAR", "SUB400P",
                            "NRCB1_SUB400P", 30.0, 89.95, 181.0),
    "south-miri-sub256": ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F560W", None, "SUB256",
                          "MIRIM_SUB256", 200.0, -89.95, 0.0),
    # the pole inside the footprint
    "northpole-nrcalong-full": ("NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "FULL",
                                "NRCA5_FULL", 100.0, 89.99, 90.0),
    "southpole-nis-sub256": ("NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "SUB256",
                             "NIS_SUB256", 250.0, -89.9985, 359.5),
    "southpole-miri-full": ("MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL",
                            "MIRIM_FULL", 10.0, -89.99, 181.0),
}


def _specs():
    specs = []
    for k, (inst, det, exp_type, filt, pupil, sub, aper, ra, dec, roll) in enumerate(
            CASES.values()):
        specs.append(ExposureSpec(
            program=4321, observation=k + 1, visit=1, instrument=inst, detector=det,
            exp_type=exp_type, filter=filt, pupil=pupil, subarray=sub, aperture=aper,
            ra_ref=ra, dec_ref=dec, roll_ref=roll,
            date_obs=f"2024-05-0{1 + k % 9}T03:00:00.000"))
    return specs


def _offset(ra, dec, pa_deg, sep_arcsec):
    """Point ``sep`` arcsec from (ra, dec) at position angle ``pa`` (exact on the sphere)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(pa_deg * u.deg,
                                                                  sep_arcsec * u.arcsec)
    return float(c.ra.deg), float(c.dec.deg)


def _catalog(specs, seed=0):
    """Bright stars around each pointing, some across RA = 0 and around the pole."""
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    rows = []
    for spec in specs:
        for _ in range(40):
            ra, dec = _offset(spec.ra_ref, spec.dec_ref, rng.uniform(0, 360),
                              60.0 * math.sqrt(rng.uniform(0, 1)))
            rows.append(("star", ra, dec, 10 ** rng.uniform(-10.5, -9.5), 0.0, 0.0, 1.0, 0.0))
    table = Table(rows=rows, names=("kind", "ra", "dec", "flux_2um", "beta", "r_eff",
                                    "axis_ratio", "theta"))
    table.add_column(np.arange(1, len(table) + 1, dtype=np.int64), name="id", index=0)
    return table


@pytest.fixture(scope="module")
def pointings(tmp_path_factory):
    """The campaign written with the simulator's own writers: specs, files, ASNs, CRDS."""
    from snakewebb.simulate import lookup_references
    from snakewebb.simulate.asn import write_asns
    from snakewebb.simulate.crds_cache import write_crds_cache
    from snakewebb.simulate.exposures import write_exposure

    root = tmp_path_factory.mktemp("pointings")
    specs = _specs()
    contexts = write_crds_cache(root / "crds", specs)
    catalog = _catalog(specs)
    files = {}
    for spec in specs:
        refs = lookup_references(spec, crds_path=root / "crds", context=contexts[-1])
        files[spec.name], _ = write_exposure(spec, root / "rate", refs, catalog)
    asns = write_asns(specs, root / "asn", root / "rate")
    return {"root": root, "crds": root / "crds", "context": contexts[-1],
            "specs": dict(zip(CASES, specs)), "files": files, "asns": asns}


def _run_both(pointings, case, tmp_path, monkeypatch):
    from snakewebb.steps.image2 import Image2Options, calibrate_exposure
    from snakewebb.steps.resample import resample_exposure

    spec = pointings["specs"][case]
    official = run_official_image2(
        pointings["asns"][spec.name], pointings["root"] / "official" / case,
        crds_path=pointings["crds"], context=pointings["context"])
    monkeypatch.setenv("CRDS_PATH", str(pointings["crds"]))  # no refs given: the user's
    cal = calibrate_exposure(
        pointings["files"][spec.name], tmp_path / f"{spec.name}_cal.fits",
        options=Image2Options(crds_context=pointings["context"]))
    i2d = resample_exposure(cal, tmp_path / f"{spec.name}_i2d.fits")
    return official, cal, i2d


@pytest.mark.parametrize("case", list(CASES))
def test_chain_matches_official_at_pointing(pointings, case, tmp_path, monkeypatch):
    official, cal, i2d = _run_both(pointings, case, tmp_path, monkeypatch)
    assert "i2d" in official, f"jwst made no _i2d for {case}"
    with datamodels.open(cal) as ours, datamodels.open(official["cal"]) as off:
        for name in CAL_ARRAYS:
            a, b = getattr(ours, name), getattr(off, name)
            assert a.shape == b.shape, name
            np.testing.assert_allclose(a, b, rtol=CAL_RTOL, atol=CAL_ATOL, equal_nan=True,
                                       err_msg=f"{case} _cal {name}")
        assert_same_polygon(ours.meta.wcsinfo.s_region, off.meta.wcsinfo.s_region)
    with datamodels.open(i2d) as ours, datamodels.open(official["i2d"]) as off:
        assert np.any(off.wht > 0)
        assert_i2d_parity(ours, off)


@pytest.mark.parametrize("case", list(CASES))
def test_resample_of_official_cal_at_pointing(pointings, case, tmp_path):
    """Our resample alone, on jwst's own _cal (isolates resample from calibration)."""
    from snakewebb.steps.resample import resample_exposure

    spec = pointings["specs"][case]
    official = run_official_image2(
        pointings["asns"][spec.name], pointings["root"] / "official" / case,
        crds_path=pointings["crds"], context=pointings["context"])
    ours_path = resample_exposure(official["cal"], tmp_path / f"{spec.name}_i2d.fits")
    with datamodels.open(ours_path) as ours, datamodels.open(official["i2d"]) as off:
        assert_i2d_parity(ours, off)


def test_cases_cover_the_brief():
    values = list(CASES.values())
    ras = [v[7] for v in values]
    decs = [v[8] for v in values]
    rolls = {v[9] for v in values}
    assert any(r < 0.01 for r in ras) and any(r > 359.99 for r in ras)
    assert max(decs) > 89.9 and min(decs) < -89.9
    assert {0.0, 90.0, 181.0, 359.5} <= rolls
    starts = [siaf_aperture(v[0], v[6])["xstart"] for v in values if v[0] == "NIRCAM"]
    assert any(s != 1 for s in starts)
    assert {"SUB256", "BRIGHTSKY"} <= {v[5] for v in values if v[0] == "MIRI"}
    assert any(v[0] == "NIRISS" for v in values)
    assert sum(v[5] == "FULL" for v in values) <= 6
