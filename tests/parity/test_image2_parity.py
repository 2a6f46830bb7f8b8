"""End-to-end parity with jwst==3.0.0 calwebb_image2 on the simulated campaign.

Same inputs, same CRDS cache and context: our ``calibrate_exposure`` against the official
pipeline (resample skipped there; ``_i2d`` is a separate product here), one exposure per
imaging mode of the campaign, plus the background ASN with its ``_bsub`` product.
"""


import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

from helpers.compare import ATOL, RTOL, assert_arrays_match, assert_keywords_match
from oracle import run_official_image2
from snakewebb.exposures import read_asn
from snakewebb.steps.image2 import Image2Options, calibrate_exposure

pytestmark = [pytest.mark.parity, pytest.mark.slow]

#: (id, exp_type, is_cube, full_frame, has_backgrounds): one case per mode of the campaign.
CASES = [
    ("nrc-full", "NRC_IMAGE", False, True, False),
    ("nrc-subarray", "NRC_IMAGE", False, False, False),
    ("nrc-tso-cube", "NRC_TSIMAGE", True, False, False),
    ("mir-full-background", "MIR_IMAGE", False, True, True),
    ("mir-subarray", "MIR_IMAGE", False, False, False),
    ("mir-cube", "MIR_IMAGE", True, False, False),
    ("nis-full", "NIS_IMAGE", False, True, False),
    ("fgs-full", "FGS_IMAGE", False, True, False),
]


def pick(campaign, exp_type, cube, full, backgrounds):
    for name, spec in campaign.specs.items():
        if (spec.role == "science" and spec.exp_type == exp_type and spec.is_cube == cube
                and (spec.subarray == "FULL") == full and bool(spec.backgrounds) == backgrounds):
            return name, spec
    pytest.fail(f"the campaign has no {exp_type} cube={cube} full={full} bkg={backgrounds}")


def test_cases_cover_every_campaign_exp_type(campaign):
    covered = {case[1] for case in CASES}
    assert {s.exp_type for s in campaign.specs.values()} <= covered


def assert_wcs_carried(ours, official):
    ny, nx = ours.data.shape[-2:]
    y, x = np.mgrid[0:ny:max(ny // 7, 1), 0:nx:max(nx // 7, 1)]
    ra_o, dec_o = official.meta.wcs(x, y)
    ra_u, dec_u = ours.meta.wcs(x, y)
    np.testing.assert_allclose(ra_u, ra_o, rtol=1e-7)
    np.testing.assert_allclose(dec_u, dec_o, rtol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_official_image2(campaign, tmp_path, monkeypatch, case):
    _, exp_type, cube, full, has_bkg = case
    name, spec = pick(campaign, exp_type, cube, full, has_bkg)
    official = run_official_image2(
        campaign.asns[name], tmp_path / "official", crds_path=campaign.crds,
        context=campaign.context, steps={"resample": {"skip": True}}, save_bsub=has_bkg,
    )
    suffix = "calints" if cube else "cal"
    monkeypatch.setenv("CRDS_PATH", str(campaign.crds))  # the user's cache: no refs given
    backgrounds = [campaign.files[b] for b in spec.backgrounds]
    source = campaign.files[name]
    before = source.read_bytes()
    bsub = tmp_path / "ours" / f"{name}_{'bsubints' if cube else 'bsub'}.fits" if has_bkg else None
    asn = {"table": campaign.asns[name].name, "pool": read_asn(campaign.asns[name])[0]["asn_pool"]}
    ours_path = calibrate_exposure(
        source, tmp_path / "ours" / f"{name}_{suffix}.fits", backgrounds=backgrounds,
        options=Image2Options(crds_context=campaign.context), bsub_output=bsub, asn=asn,
    )
    assert source.read_bytes() == before
    assert suffix in official, f"official products: {sorted(official)}"
    with datamodels.open(ours_path) as ours, datamodels.open(official[suffix]) as off:
        assert type(ours) is type(off)
        assert_arrays_match(ours, off, name)
        assert_wcs_carried(ours, off)
    assert_keywords_match(ours_path, official[suffix], bkg_ran=has_bkg)
    for key in ("ASNTABLE", "ASNPOOL"):  # where the exposure came from
        assert fits.getval(ours_path, key) == fits.getval(official[suffix], key), key
    if has_bkg:
        key = "bsubints" if cube else "bsub"
        with datamodels.open(bsub) as ours, datamodels.open(official[key]) as off:
            np.testing.assert_allclose(ours.data, off.data, rtol=RTOL, atol=ATOL, equal_nan=True)
            np.testing.assert_array_equal(ours.dq, off.dq)
            assert ours.meta.cal_step.bkg_subtract == off.meta.cal_step.bkg_subtract == "COMPLETE"
