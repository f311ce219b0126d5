"""Configuration loading and validation against the workflow's JSON schemas.

The workflow validates its whole config before any job starts (``workflow/rules/common.smk``); library
entry points validate the section they read. Errors name the offending key as a dotted path and, where
the schema gives them, the allowed values. Validation also makes values canonical (an integral float in
an integer field becomes an int), so that ``steps: 1000.0`` and ``steps: 1000`` give the same run
fingerprint. Config files are read by a YAML loader that refuses a key given twice in one mapping.
"""

from __future__ import annotations

import copy
import os
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
    number = re.fullmatch(r"([+-]?)(\d*)(\.?)(\d*)[eE]([+-]?)(\d+)", error.instance.strip())
    if number and (number[2] or number[4]):
        sign, whole, dot, fraction, exp_sign, exponent = number.groups()
        missing = "a decimal point" if not dot else "a sign (+ or -)"
        written = f"{sign}{whole or '0'}.{fraction or '0'}e{exp_sign or '+'}{exponent}"
        return (f"YAML 1.1 reads a number written like {error.instance!r} (an exponent without {missing}) as "
                f"text; write it as {written}")
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
    canonicalise(config, schema)
    return config


def _is_strict_integer(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# The schema's validator with "integer" meaning a Python int: it reports every integral float (which
# JSON Schema counts as an integer) where an integer is wanted, so canonicalise can convert it.
_StrictIntegerValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer))


def _integral_float_errors(errors):
    for error in errors:
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        if (error.validator == "type" and "integer" in wanted and isinstance(error.instance, float)
                and error.instance.is_integer()):
            yield error
        yield from _integral_float_errors(error.context or [])


def canonicalise(config: dict, schema: dict | str) -> dict:
    """Make a valid ``config`` canonical in place: every integral float where the schema wants an integer
    (``steps: 1000.0``, at any depth, through ``$ref``, array items and additional properties) becomes an
    int, so that equal settings dump to the same fingerprint. :func:`validate` calls it; number fields keep
    what was written."""
    if isinstance(schema, str):
        schema = load_schema(schema)
    for error in _integral_float_errors(_StrictIntegerValidator(schema).iter_errors(config)):
        path = list(error.absolute_path)
        if not path:
            continue
        parent = config
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = int(error.instance)
    return config


def canonical_seeds(seeds) -> list[int]:
    """Seeds in canonical (ascending) order: a run batching several seeds gets the same params, and so
    the same fingerprint, whatever order the config lists them in."""
    return sorted(int(seed) for seed in seeds)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last value).

    Merge keys (``<<: *anchor``) still override what they merge, as in plain YAML.
    """

    def construct_mapping(self, node, deep=False):
        first_line: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first_line:
                    raise ConfigError(f"{key_node.start_mark.name}, line {line}: key {key!r} appears twice in "
                                      f"one mapping (first at line {first_line[key]}); YAML would silently keep "
                                      "the last value: remove one of them")
                first_line[key] = line
            except TypeError:  # an unhashable key; the base class says so
                break
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> dict:
    """One config file as a dict, read with :class:`UniqueKeyLoader`; an empty file is ``{}``.

    Raises ConfigError naming the file (and line) for a duplicate key, invalid YAML, or a file that is
    not a mapping of keys.
    """
    with open(path) as fh:
        try:
            loaded = yaml.load(fh, Loader=UniqueKeyLoader)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: holds a {type(loaded).__name__}, not a mapping of config keys")
    return loaded


def check_config_files(paths) -> None:
    """Read every config file in ``paths`` with the strict loader, raising ConfigError for the first
    duplicate key or invalid file. Snakemake reads ``--configfile`` itself (keeping the last of two
    equal keys); the workflow calls this on ``workflow.configfiles`` to refuse them."""
    for path in paths:
        load_yaml(path)


def check_working_directory(workflow_dir: str | Path, workdir: str | Path | None = None,
                            configfile: str = "config/config.yaml") -> None:
    """Raise ConfigError when the working directory (default: the current one) has no ``configfile``:
    the workflow reads its default config, and writes its outputs, relative to the working directory,
    so it must run from the repository root ``workflow_dir`` (or with ``--directory``)."""
    workdir = Path(os.getcwd() if workdir is None else workdir)
    if not (workdir / configfile).is_file():
        raise ConfigError(f"{configfile} not found in the working directory {workdir}: run snakemake from the "
                          f"repository root (cd {workflow_dir}) or pass --directory {workflow_dir}")


def load_config(*paths: str | Path) -> dict:
    """Load YAML files (:func:`load_yaml`), later ones overriding earlier ones key by key (like
    ``--configfile``)."""
    merged: dict = {}
    for path in paths:
        _deep_update(merged, load_yaml(path))
    return merged


def _deep_update(base: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
