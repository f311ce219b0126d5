"""Configuration loading and validation against the workflow's JSON schemas.

The workflow validates its whole config before any job starts (``workflow/rules/common.smk``); library
entry points validate the section they read. Errors name the offending key as a dotted path and, where
the schema gives them, the allowed values.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"  # package data; workflow/schemas links here


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def _key_path(error: jsonschema.ValidationError, prefix: str) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        parts.append(missing)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else "?"
        parts.append(extra)
    return ".".join(parts) or "<root>"


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    key = _key_path(error, prefix)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        return f"config key '{key}' is required but missing"
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"config key '{key}' is not a known option (known here: {', '.join(allowed)})"
    if error.validator == "enum":
        allowed = ", ".join(map(repr, schema["enum"]))
        return f"config key '{key}' = {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "uniqueItems":
        return f"config key '{key}' = {error.instance!r} lists a value twice; each may appear once"
    if error.validator == "type" and isinstance(error.instance, str):
        return f"config key '{key}' = {error.instance!r} is a string, not {error.validator_value}: {_string_hint(error)}"
    bounds = []
    for word, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if word in schema:
            bounds.append(f"{sym} {schema[word]}")
    hint = f" (must be {' and '.join(bounds)})" if bounds else ""
    return f"config key '{key}' = {error.instance!r} is invalid: {error.message}{hint}"


def _string_hint(error: jsonschema.ValidationError) -> str:
    """Why a value arrived as a string, for the two usual causes."""
    if re.fullmatch(r"[+-]?\d+[eE][+-]?\d+", error.instance.strip()):
        mantissa, exponent = error.instance.strip().lower().split("e")
        return (f"YAML 1.1 reads a number written like {error.instance!r} (an exponent without a decimal point) as "
                f"text; write it as {mantissa}.0e{exponent}")
    return ("snakemake's --config passes nested values as strings; put nested overrides in a YAML file and pass "
            "it with --configfile (or check the value's quoting)")


def _fill_defaults(instance: Any, schema: dict) -> None:
    """Insert the schema's ``default`` values for absent object properties, recursively."""
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if name in instance:
            _fill_defaults(instance[name], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in instance.items():
            if name not in schema.get("properties", {}):
                _fill_defaults(value, extra)


def load_schema(name: str) -> dict:
    """Read ``<name>.schema.yaml`` from the package's ``schemas`` folder (``workflow/schemas``)."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    with open(path) as fh:
        return yaml.safe_load(fh)


def validate(config: dict, schema: dict | str, prefix: str = "") -> dict:
    """Fill defaults into ``config`` in place, then validate it; raise ConfigError naming the key.

    ``schema`` is a schema dict or the name of a file in the package's ``schemas`` folder
    (``workflow/schemas``). ``prefix`` is the dotted path of ``config`` inside the whole configuration,
    used in messages.
    """
    if isinstance(schema, str):
        schema = load_schema(schema)
    _fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_describe(e, prefix) for e in errors))
    return config


def load_config(*paths: str | Path) -> dict:
    """Load YAML files, later ones overriding earlier ones key by key (like ``--configfile``)."""
    merged: dict = {}
    for path in paths:
        with open(path) as fh:
            _deep_update(merged, yaml.safe_load(fh) or {})
    return merged


def _deep_update(base: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
