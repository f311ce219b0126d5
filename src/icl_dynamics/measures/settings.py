"""Settings of the measures: their defaults, read once from the schemas, and keyword arguments built from
the validated ``measures:`` config section.

The schema (``schemas/measures.schema.yaml``) is the one place where a default is written: :data:`DEFAULTS`
is read from it, and the public measures take their keyword defaults from :data:`DEFAULTS` (so
``subspace_distance(A, B)`` uses ``pinv_rtol``). The workflow passes the configured values explicitly
through the helpers below, so every experiment uses the same settings and the config overrides the
defaults.
"""

from __future__ import annotations

import copy

from icl_dynamics.config import ConfigError, load_config, load_schema, load_yaml, validate


def measures_section(section: dict | None = None) -> dict:
    """A validated copy of the ``measures:`` section with the schema's defaults filled in."""
    return validate(copy.deepcopy(section or {}), "measures", prefix="measures")


def measures_from_files(paths) -> dict:
    """The validated ``measures:`` section of config files (later ones override earlier ones, key by key).

    A file may hold the workflow's other top-level sections too (so ``config/config.yaml`` can be given), but
    no other key: a misspelt section (``measure:``) raises ConfigError naming the file, the key and the keys
    allowed, instead of silently leaving every measure at its default. Duplicate keys are refused too
    (:func:`icl_dynamics.config.load_yaml`).
    """
    allowed = sorted(load_schema("config")["properties"])
    for path in paths:
        unknown = sorted(set(load_yaml(path)) - set(allowed), key=str)
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            raise ConfigError(f"{path}: unknown top-level key{plural} {', '.join(repr(k) for k in unknown)}; "
                              f"allowed: {', '.join(allowed)} (the measures are read from 'measures:')")
    return measures_section(load_config(*paths).get("measures") if paths else None)


DEFAULTS = measures_section()
"""The ``measures:`` section's schema defaults (``transition`` a dict of its own); read-only."""

CLIFF_DEFAULTS = {name: validate({}, load_schema("linear")["properties"]["thresholds"])[f"cliff_{name}"]
                  for name in ("prominence", "min_drop", "smoothing", "n_grid")}
"""Defaults of :func:`icl_dynamics.measures.events.count_cliffs`: the schema's ``linear.thresholds.cliff_*``
(the cliff detector serves row L6 of the linear experiment); read-only."""


def transition_kwargs(section: dict | None = None) -> dict:
    """Keyword arguments of :func:`icl_dynamics.measures.events.detect_transition`."""
    return dict(measures_section(section)["transition"])
