# The configuration, checked before anything else: a value Snakemake's --config read as
# text is converted where the schema wants a number, boolean, null or list, and a wrong
# value stops the run with one line naming the key (Snakemake's own validate() prints
# the whole schema).
import os

import yaml
from jsonschema import Draft202012Validator

from snakemake.exceptions import WorkflowError

CONFIG_SCHEMA = os.path.join(workflow.basedir, "config", "config.schema.yaml")


def _schema_types(schema):
    types = schema.get("type", [])
    return {types} if isinstance(types, str) else set(types)


def _from_text(value, schema):
    """``value`` with text that --config left unparsed turned into what ``schema`` wants.

    ``--config resample={pixfrac: 0.8}`` arrives as ``{"pixfrac": "0.8"}`` (Snakemake
    reads nested values as strings). Text is parsed as YAML only where the schema does
    not accept a string, and kept when the parsed value is still not acceptable, so that
    validation reports what the user wrote.
    """
    types = _schema_types(schema)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: _from_text(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_text(item, schema.get("items", {})) for item in value]
    if types == {"string"} and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # output_dir=2024 is the directory "2024"
    if isinstance(value, str) and types and "string" not in types:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        kinds = {"number": (int, float), "integer": (int,), "boolean": (bool,),
                 "null": (type(None),), "array": (list,), "object": (dict,)}
        wanted = tuple(t for name in types for t in kinds.get(name, ()))
        number_only = isinstance(parsed, bool) and "boolean" not in types
        if isinstance(parsed, wanted) and not number_only:
            return _from_text(parsed, schema)
    return value


def _config_problem(error):
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        known = ", ".join(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return (f"unknown key {', '.join(map(repr, unknown))}"
                f"{' in ' + where if where else ''} (known: {known})")
    return f"{where or 'config'}: {error.message}"


def check_config(config):
    """Convert --config text per the schema, then raise one line for what is wrong."""
    with open(CONFIG_SCHEMA) as handle:
        schema = yaml.safe_load(handle)
    config.update(_from_text(dict(config), schema))
    errors = sorted(Draft202012Validator(schema).iter_errors(config),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise WorkflowError(
            "invalid configuration: " + "; ".join(_config_problem(e) for e in errors)
        )


check_config(config)
