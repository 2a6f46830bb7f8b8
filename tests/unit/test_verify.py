"""snakewebb.verify: the sample, the official run's plan, the comparison rows.

The comparison is exercised here on small synthetic products; the workflow test
(test_verify_workflow.py) runs it against the real official pipeline.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from stdatamodels.jwst import datamodels

from snakewebb import verify
from snakewebb.config import ConfigError, check_config
from snakewebb.references import REFTYPES


def table(rows):
    """An exposure table with the columns select_sample reads."""
    return pd.DataFrame.from_records(
        rows, columns=["exposure", "instrument", "exp_type", "is_cube", "backgrounds"]
    ).set_index("exposure")


def campaign_table(n_nircam=40):
    rows = [(f"nrc{i:03d}", "NIRCAM", "NRC_IMAGE", False, ()) for i in range(n_nircam)]
    rows += [
        ("mir_bkg", "MIRI", "MIR_IMAGE", False, ("b1.fits",)),
        ("mir_plain", "MIRI", "MIR_IMAGE", False, ()),
        ("mir_cube", "MIRI", "MIR_IMAGE", True, ()),
        ("tso", "NIRCAM", "NRC_TSIMAGE", True, ()),
        ("fgs", "FGS", "FGS_IMAGE", False, ()),
    ]
    return table(rows)


# ------------------------------------------------------------------ sample

def test_sample_is_the_fraction_plus_one_exposure_of_every_mode():
    exposures = campaign_table()
    sample = verify.select_sample(exposures, 0.05, seed=3)
    modes = {verify.mode_of(*exposures.loc[name]) for name in sample}
    assert modes == {verify.mode_of(*row) for row in exposures.itertuples(index=False)}
    assert len(modes) == 6
    # ceil(0.05 * 45) = 3 drawn, plus the modes they leave out (at most 5 more)
    assert 6 <= len(sample) <= 3 + 5
    assert sample == sorted(sample)


def test_sample_is_deterministic_and_independent_of_the_table_order():
    exposures = campaign_table()
    shuffled = exposures.sample(frac=1.0, random_state=1)
    first = verify.select_sample(exposures, 0.2, seed=7)
    assert verify.select_sample(exposures, 0.2, seed=7) == first
    assert verify.select_sample(shuffled, 0.2, seed=7) == first
    assert verify.select_sample(exposures, 0.2, seed=8) != first


def test_sample_draws_ceil_fraction_of_a_single_mode_campaign():
    exposures = table([(f"e{i}", "NIRCAM", "NRC_IMAGE", False, ()) for i in range(30)])
    for fraction in (0.01, 0.1, 0.5, 0.77):
        assert len(verify.select_sample(exposures, fraction, seed=0)) == \
            math.ceil(fraction * 30 - 1e-9)
    assert verify.select_sample(exposures, 1.0) == sorted(exposures.index)


def test_fraction_zero_is_off_and_out_of_range_is_refused():
    exposures = campaign_table()
    assert verify.select_sample(exposures, 0, seed=0) == []
    with pytest.raises(ValueError, match="fraction"):
        verify.select_sample(exposures, 1.5)


# ------------------------------------------------------------------ plan

PLAN_DEFAULTS = dict(
    skip={"background": False, "assign_wcs": False, "flat_field": False, "photom": False,
          "resample": False},
    background={"sigma": 2.5, "maxiters": None},
    resample={"pixfrac": 0.8, "kernel": "square", "pixel_scale": None, "crpix": None},
)


def test_plan_mirrors_background_save_bsub_and_resample():
    plan = verify.official_plan(subtracts_background=True, has_background_members=True,
                                tso=False, resampled=True, resample_reason=None,
                                save_bsub=True, **PLAN_DEFAULTS)
    assert plan["backgrounds"] is True
    assert plan["steps"]["bkg_subtract"] == {"sigma": 2.5, "save_results": True}
    assert plan["steps"]["resample"] == {"pixfrac": 0.8, "kernel": "square"}
    assert plan["notes"] == []


def test_plan_names_the_deliberate_differences_it_avoids():
    plan = verify.official_plan(subtracts_background=False, has_background_members=True,
                                tso=True, resampled=False,
                                resample_reason=verify.not_resampled_reason(
                                    "NRC_IMAGE", False, True),
                                save_bsub=False, **PLAN_DEFAULTS)
    assert plan["backgrounds"] is False
    assert "bkg_subtract" not in plan["steps"]
    assert plan["steps"]["resample"] == {"skip": True}
    text = " ".join(plan["notes"])
    assert "TSO" in text and "S_BKDSUB" in text and "no _i2d" in text


@pytest.mark.parametrize("exp_type, cube, tso, expected", [
    ("FGS_IMAGE", False, False, "FGS_IMAGE is not resampled here"),
    ("NIS_IMAGE", False, True, "TSO"),
    ("NRC_IMAGE", False, False, None),      # resampled on both sides
    ("NRC_IMAGE", True, False, None),       # cubes: neither
    ("NRC_TSIMAGE", False, True, None),     # not an official resample type
])
def test_not_resampled_reason(exp_type, cube, tso, expected):
    reason = verify.not_resampled_reason(exp_type, cube, tso)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_overrides_give_every_reftype_of_a_running_step_and_na_for_the_rest():
    steps = {"assign_wcs": {}, "flat_field": {"skip": True}, "photom": {},
             "resample": {"skip": True}}
    refs = {"distortion": "/c/d.asdf", "filteroffset": None, "photom": "/c/p.fits",
            "area": "/c/a.fits"}
    out = verify.official_overrides(steps, refs, REFTYPES)
    assert out["assign_wcs"] == {"override_distortion": "/c/d.asdf",
                                 "override_filteroffset": "N/A"}
    assert out["flat_field"] == {"skip": True}
    assert out["photom"] == {"override_photom": "/c/p.fits", "override_area": "/c/a.fits"}
    assert steps["assign_wcs"] == {}  # the plan itself is left alone


def test_level2_asn_has_absolute_members(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asn = verify.level2_asn("e1", "rate/e1_rate.fits", ["rate/b_rate.fits"], pool="p.csv")
    members = asn["products"][0]["members"]
    assert [m["exptype"] for m in members] == ["science", "background"]
    assert members[0]["expname"] == str(tmp_path / "rate" / "e1_rate.fits")
    assert asn["asn_pool"] == "p.csv" and asn["products"][0]["name"] == "e1"


# ------------------------------------------------------------------ deliberate differences

def write_rate(path, shape=(16, 16), *, substrt=(1, 1), extensions=("SCI", "ERR", "DQ")):
    hdus = [fits.PrimaryHDU()]
    hdus[0].header.update(SUBSTRT1=substrt[0], SUBSTRT2=substrt[1], SUBSIZE1=shape[-1],
                          SUBSIZE2=shape[-2])
    for name in extensions:
        hdus.append(fits.ImageHDU(np.zeros(shape, np.float32), name=name))
    hdus.append(fits.BinTableHDU.from_columns([fits.Column("ASDF_METADATA", "B", array=[0])],
                                              name="ASDF"))
    fits.HDUList(hdus).writeto(path)
    return path


def test_deliberate_differences_found_from_headers(tmp_path):
    science = write_rate(tmp_path / "s.fits")
    assert verify.deliberate_differences(science, [write_rate(tmp_path / "b.fits")]) == []
    offset = write_rate(tmp_path / "o.fits", (8, 8), substrt=(5, 5))
    cube = write_rate(tmp_path / "c.fits", (2, 16, 16))
    bare = write_rate(tmp_path / "n.fits", extensions=("SCI",))
    assert "another subarray" in verify.deliberate_differences(science, [offset])[0]
    assert "a cube" in verify.deliberate_differences(science, [cube])[0]
    assert "DQ/ERR" in verify.deliberate_differences(bare)[0]


# ------------------------------------------------------------------ comparison

def write_cal(path, *, scale=1.0, dq_flip=False, photmjsr=1.5, ref="crds://jwst_x_flat_0001.fits",
              bkdsub="SKIPPED"):
    rng = np.random.default_rng(0)
    model = datamodels.ImageModel((20, 24))
    model.data = (rng.uniform(1, 2, (20, 24)) * scale).astype(np.float32)
    model.data[0, 0] = np.nan
    model.err = np.full((20, 24), 0.1, np.float32)
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        setattr(model, name, np.full((20, 24), 0.01, np.float32))
    model.area = np.ones((20, 24), np.float32)
    model.dq = np.zeros((20, 24), np.uint32)
    if dq_flip:
        model.dq[3, 4] = 4
    model.meta.bunit_data = "MJy/sr"
    model.meta.photometry.conversion_megajanskys = photmjsr
    model.meta.cal_step.flat_field = "COMPLETE"
    if bkdsub is not None:
        model.meta.cal_step.bkg_subtract = bkdsub
    model.meta.ref_file.flat.name = ref
    model.save(path)
    return path


def test_identical_products_pass_and_name_nothing(tmp_path):
    a = write_cal(tmp_path / "a_cal.fits")
    b = write_cal(tmp_path / "b_cal.fits", bkdsub=None)
    row = verify.compare_product("e1", "cal", a, b, notes=["S_BKDSUB note"])
    assert row["status"] == "pass", row["problems"]
    assert row["SCI_max_rel"] == "0" and row["DQ_mismatches"] == "0"
    assert row["deliberate_differences"] == "S_BKDSUB note"
    assert set(row) == set(verify.COLUMNS)


def test_sci_times_1_001_fails_naming_sci(tmp_path):
    official = write_cal(tmp_path / "off_cal.fits")
    ours = write_cal(tmp_path / "ours_cal.fits", scale=1.001)
    row = verify.compare_product("e1", "cal", ours, official)
    assert row["status"] == "fail"
    assert row["worst"] == "SCI"
    assert float(row["SCI_max_rel"]) == pytest.approx(1e-3, rel=1e-2)
    assert float(row["ERR_max_abs"]) == 0
    message = verify.failure_message([row])
    assert message.startswith("e1: _cal differs from calwebb_image2 3.0.0, worst SCI: SCI max rel")
    assert "\n" not in message


def test_below_tolerance_passes(tmp_path):
    official = write_cal(tmp_path / "off_cal.fits")
    ours = write_cal(tmp_path / "ours_cal.fits", scale=1 + 2e-6)
    row = verify.compare_product("e1", "cal", ours, official)
    assert row["status"] == "pass", row["problems"]
    assert row["worst"] == "SCI"


@pytest.mark.parametrize("change, worst", [
    ({"dq_flip": True}, "DQ"),
    ({"photmjsr": 1.6}, "PHOTMJSR[SCI] 1.6 != 1.5"),
    ({"ref": "crds://jwst_x_flat_0002.fits"}, "R_FLAT"),
    ({"bkdsub": "COMPLETE"}, "S_BKDSUB"),
])
def test_dq_and_keywords_are_exact(tmp_path, change, worst):
    official = write_cal(tmp_path / "off_cal.fits")
    ours = write_cal(tmp_path / "ours_cal.fits", **change)
    row = verify.compare_product("e1", "cal", ours, official)
    assert row["status"] == "fail"
    assert worst in row["problems"]


def test_reference_recorded_as_an_override_path_is_the_same_file(tmp_path):
    official = write_cal(tmp_path / "off_cal.fits", ref="/cache/references/jwst_x_flat_0001.fits")
    ours = write_cal(tmp_path / "ours_cal.fits")
    assert verify.compare_product("e1", "cal", ours, official)["status"] == "pass"


def test_missing_official_product_fails(tmp_path):
    ours = write_cal(tmp_path / "ours_cal.fits")
    row = verify.compare_product("e1", "cal", ours, tmp_path / "absent_cal.fits")
    assert row["status"] == "fail" and "made no _cal" in row["problems"]


def test_excluded_exposure_gives_excluded_rows(tmp_path):
    (tmp_path / "official.json").write_text('{"excluded": ["offset background"], "notes": []}')
    rows = verify.compare_exposure("e1", {"cal": "x", "i2d": "y"}, tmp_path)
    assert [(r["product"], r["status"]) for r in rows] == [("cal", "excluded"),
                                                           ("i2d", "excluded")]
    assert verify.failure_message(rows) is None


def test_rows_round_trip_through_the_tsv(tmp_path):
    official = write_cal(tmp_path / "off_cal.fits")
    rows = [verify.compare_product("e1", "cal", official, official),
            verify.compare_product("e2", "cal", write_cal(tmp_path / "o.fits", scale=2), official)]
    path = verify.write_rows(rows, tmp_path / "t.tsv")
    back = verify.read_rows(path)
    assert [r["status"] for r in back] == ["pass", "fail"]
    assert list(back[0]) == list(verify.COLUMNS)
    assert path.read_text().splitlines()[0].split("\t") == list(verify.COLUMNS)


# ------------------------------------------------------------------ the extra

def test_official_pipeline_problem_without_jwst(monkeypatch):
    real = importlib.util.find_spec

    def no_jwst(name, *args):
        if name == "jwst":
            return None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_jwst)
    problem = verify.official_pipeline_problem()
    assert "pip install 'snakewebb[verify]'" in problem and "\n" not in problem


def test_official_pipeline_problem_with_another_jwst(monkeypatch):
    monkeypatch.setattr(verify.importlib.metadata, "version", lambda name: "2.0.1")
    assert "not 2.0.1" in verify.official_pipeline_problem()


def test_official_pipeline_present_in_the_test_extra():
    pytest.importorskip("jwst")
    assert verify.official_pipeline_problem() is None


# ------------------------------------------------------------------ configuration

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "config.schema.yaml"


def repository_config():
    with open(SCHEMA.with_name("config.yaml")) as handle:
        return yaml.safe_load(handle)


def test_verify_is_off_in_the_repository_config():
    assert repository_config()["verify"] == {"fraction": 0, "seed": 0}


def test_verify_from_the_command_line_is_typed_and_checked():
    config = repository_config()
    config["verify"] = {"fraction": "0.05", "seed": "4"}  # as --config leaves it
    check_config(config, SCHEMA)
    assert config["verify"] == {"fraction": 0.05, "seed": 4}
    config["verify"] = {"fraction": "1.5"}
    with pytest.raises(ConfigError, match=r"^invalid configuration: verify\.fraction: 1\.5 "
                                          r"is greater than the maximum of 1$"):
        check_config(config, SCHEMA)
