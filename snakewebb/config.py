"""The workflow's configuration checked against its JSON schema, with one-line errors.

Snakemake reads ``--config key=value`` values nested in a mapping as text
(``--config resample={pixfrac: 0.8}`` gives ``{"pixfrac": "0.8"}``), and its own
``validate()`` prints the whole schema and instance when a value is wrong. Here text
is turned into what the schema wants first, then every problem is reported in a
single line naming the key.
"""

import yaml
from jsonschema import Draft202012Validator

from snakewebb.errors import SnakewebbError

__all__ = ["ConfigError", "check_config", "from_text"]

_KINDS = {"number": (int, float), "integer": (int,), "boolean": (bool,),
          "null": (type(None),), "array": (list,), "object": (dict,)}


class ConfigError(SnakewebbError):
    """A configuration value the schema refuses (one line naming the key)."""


def _schema_types(schema):
    types = schema.get("type", [])
    return {types} if isinstance(types, str) else set(types)


def from_text(value, schema):
    """``value`` with text that --config left unparsed turned into what ``schema`` wants.

    Text is parsed as YAML only where the schema does not accept a string, and kept
    when the parsed value is still not acceptable, so that validation reports what
    the user wrote. A number where only a string is accepted becomes that text
    (``output_dir=2024`` is the directory "2024").
    """
    types = _schema_types(schema)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: from_text(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        return [from_text(item, schema.get("items", {})) for item in value]
    if types == {"string"} and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and types and "string" not in types:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        wanted = tuple(kind for name in types for kind in _KINDS.get(name, ()))
        number_only = isinstance(parsed, bool) and "boolean" not in types
        if isinstance(parsed, wanted) and not number_only:
            return from_text(parsed, schema)
    return value


def _problem(error):
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        known = ", ".join(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return (f"unknown key {', '.join(map(repr, unknown))}"
                f"{' in ' + where if where else ''} (known: {known})")
    return f"{where or 'config'}: {error.message}"


def check_config(config, schema_path):
    """Convert ``config``'s --config text in place per the schema at ``schema_path``.

    Raises
    ------
    ConfigError
        ``invalid configuration: <key>: <problem>; ...`` for every problem found.
    """
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    config.update(from_text(dict(config), schema))
    errors = sorted(Draft202012Validator(schema).iter_errors(config),
                    key=lambda error: list(map(str, error.absolute_path)))
    if errors:
        raise ConfigError("invalid configuration: " + "; ".join(map(_problem, errors)))
