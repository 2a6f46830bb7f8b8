"""snakewebb.config: --config text typed per the schema, one-line errors."""

from pathlib import Path

import pytest
import yaml

from snakewebb.config import ConfigError, check_config, from_text

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "config.schema.yaml"


def repository_config():
    with open(SCHEMA_PATH.with_name("config.yaml")) as handle:
        return yaml.safe_load(handle)


def test_the_repository_config_passes_unchanged():
    config = repository_config()
    before = repr(config)
    check_config(config, SCHEMA_PATH)
    assert repr(config) == before


def test_nested_text_becomes_what_the_schema_wants():
    config = repository_config()
    config["resample"] = {"pixfrac": "0.8", "rotation": "null", "kernel": "square"}
    config["output_dir"] = 2024
    config["save_bsub"] = "True"
    check_config(config, SCHEMA_PATH)
    assert config["resample"]["pixfrac"] == 0.8
    assert config["resample"]["rotation"] is None
    assert config["resample"]["kernel"] == "square"
    assert config["output_dir"] == "2024"
    assert config["save_bsub"] is True


def test_text_that_stays_wrong_is_reported_as_written():
    schema = {"type": "object", "properties": {"x": {"type": "number"}}}
    assert from_text({"x": "zero"}, schema) == {"x": "zero"}
    assert from_text({"x": "true"}, schema) == {"x": "true"}  # a boolean is no number


@pytest.mark.parametrize("change, expected", [
    ({"bogus": 1}, r"^invalid configuration: unknown key 'bogus' \(known: asn, "),
    ({"resample": {"pixfrac": -0.5}}, r"^invalid configuration: resample\.pixfrac: -0\.5 "),
])
def test_a_wrong_value_is_one_line_naming_the_key(change, expected):
    config = repository_config()
    for key, value in change.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    with pytest.raises(ConfigError, match=expected) as caught:
        check_config(config, SCHEMA_PATH)
    assert "\n" not in str(caught.value)
