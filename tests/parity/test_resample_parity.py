"""Parity of the _i2d with jwst==3.0.0 on simulated campaign exposures.

jwst's calwebb_image2 makes the ``_cal`` and its own ``_i2d`` (tests/oracle.py);
our :func:`snakewebb.steps.resample.resample_exposure` resamples that same
``_cal``. Compared: output shape and WCS (world coordinates within rtol 1e-7),
SCI and ERR within rtol 5e-5 / atol 1e-4 where WHT > 0 (the official i2d
regression tolerance), WHT, CON, variances, keywords. The pixel-map bound is
measured on the real (SIAF-based) distortion of each full-frame detector.
"""

import numpy as np
import pytest

from helpers.resample import assert_i2d_parity
from oracle import run_official_image2
from snakewebb import resample as rs
from snakewebb.steps.resample import resample_exposure

pytestmark = pytest.mark.parity

EXP_TYPES = ["NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE"]


@pytest.fixture(scope="module")
def official_products(campaign, tmp_path_factory):
    pytest.importorskip("jwst")
    out = tmp_path_factory.mktemp("official_i2d")
    products = {}
    for exp_type in EXP_TYPES:
        name = campaign.first(exp_type, cube=False)
        products[exp_type] = run_official_image2(
            campaign.asns[name], out / name, crds_path=campaign.crds, context=campaign.context)
    return products


@pytest.mark.parametrize("exp_type", EXP_TYPES)
def test_i2d_parity_with_calwebb_image2(official_products, exp_type, tmp_path):
    from stdatamodels.jwst import datamodels

    found = official_products[exp_type]
    assert "i2d" in found, f"jwst made no _i2d for {exp_type}"
    cal = found["cal"]
    ours_path = resample_exposure(cal, tmp_path / cal.name.replace("_cal", "_i2d"))
    with datamodels.open(ours_path) as ours, datamodels.open(found["i2d"]) as official:
        assert_i2d_parity(ours, official)
        assert ours.meta.cal_step.resample == official.meta.cal_step.resample == "COMPLETE"


@pytest.mark.parametrize("exp_type", EXP_TYPES)
def test_pixel_map_bound_on_real_distortion(official_products, exp_type):
    from stdatamodels.jwst import datamodels

    with datamodels.open(official_products[exp_type]["cal"]) as cal:
        out_wcs, _, _ = rs.build_output_wcs(cal)
        shape = cal.data.shape
        fast = rs.pixel_map(cal.meta.wcs, out_wcs, shape)
        exact = rs.exact_pixel_map(cal.meta.wcs, out_wcs, shape)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact))
    err = np.nanmax(np.abs(fast - exact))
    print(f"{exp_type} {shape}: max |interpolated - exact| pixel map = {err:.2e} px")
    assert err < 1e-3
