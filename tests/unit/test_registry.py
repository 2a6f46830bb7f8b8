"""snakewebb.registry: each step declared once, and everything that names steps reads it."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from helpers.imports import heavy_imports
from snakewebb import references, registry
from snakewebb.steps import provenance
from snakewebb.steps.image2 import Image2Options

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
NAMES = [s.name for s in registry.STEPS]


def test_the_schema_skip_keys_are_the_registry_steps():
    schema = yaml.safe_load((CONFIG_DIR / "config.schema.yaml").read_text())
    assert list(schema["properties"]["skip"]["properties"]) == NAMES


def test_the_repository_config_lists_every_skip_key():
    config = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())
    assert list(config["skip"]) == NAMES


def test_steps_are_in_the_official_order():
    assert NAMES == ["background", "assign_wcs", "flat_field", "photom", "resample"]
    assert [s.name for s in registry.IMAGE2_STEPS] == NAMES[:4]
    assert [s.name for s in registry.REFERENCE_STEPS] == ["assign_wcs", "flat_field", "photom"]


@pytest.mark.parametrize("step", registry.STEPS, ids=NAMES)
def test_each_step_names_a_function_that_exists(step):
    function = step.function()
    assert callable(function)
    assert step.run.endswith(":" + function.__name__)


@pytest.mark.parametrize("step", registry.STEPS, ids=NAMES)
def test_provenance_keywords_and_reftypes_exist_in_the_datamodel_schema(step):
    from stdatamodels.jwst import datamodels

    with datamodels.ImageModel((2, 2)) as model:
        assert getattr(model.meta.cal_step, step.cal_step) is None  # a known attribute
        setattr(model.meta.cal_step, step.cal_step, provenance.COMPLETE)
        for reftype in step.reftypes + step.na_reftypes:
            provenance.record_reference(model, reftype, None)
            assert getattr(model.meta.ref_file, reftype).name == "N/A"
        model.validate()


def test_reference_lookup_and_provenance_read_the_registry():
    assert references.REFTYPES == {
        "assign_wcs": ("distortion", "filteroffset"),
        "flat_field": ("flat",),
        "photom": ("photom", "area"),
    }
    assert references.ALL_REFTYPES == registry.ALL_REFTYPES
    assert provenance.CAL_STEP_NAMES == {
        "background": "bkg_subtract", "assign_wcs": "assign_wcs", "flat_field": "flat_field",
        "photom": "photom", "resample": "resample",
    }


def test_image2_options_have_one_skip_field_per_cal_step():
    fields = [f.name for f in dataclasses.fields(Image2Options)]
    assert fields == ["tso_exp_types", "skip_background", "skip_assign_wcs",
                      "skip_flat_field", "skip_photom", "bkg_sigma", "bkg_maxiters",
                      "crds_context"]
    options = Image2Options(skip_flat_field=True)
    assert [options.skips(s.name) for s in registry.IMAGE2_STEPS] == [False, False, True, False]
    assert Image2Options() == Image2Options(**registry.image2_skip_options({}))
    assert Image2Options(**registry.image2_skip_options({"photom": True, "resample": True})) \
        == Image2Options(skip_photom=True)


def test_an_unknown_step_is_named_in_the_error():
    with pytest.raises(KeyError, match="no step 'bkg'.*background, assign_wcs"):
        registry.step("bkg")
    with pytest.raises(ValueError, match="kind 'other'"):
        registry.Step("x", "x", "other", "m:f")


def test_importing_the_registry_and_lookup_costs_no_heavy_library():
    assert heavy_imports("snakewebb.registry", "snakewebb.references") == []
