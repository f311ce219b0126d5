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

from icl_dynamics.config import load_schema, validate


def measures_section(section: dict | None = None) -> dict:
    """A validated copy of the ``measures:`` section with the schema's defaults filled in."""
    return validate(copy.deepcopy(section or {}), "measures", prefix="measures")


DEFAULTS = measures_section()
"""The ``measures:`` section's schema defaults (``transition`` a dict of its own); read-only."""

CLIFF_DEFAULTS = {name: validate({}, load_schema("linear")["properties"]["thresholds"])[f"cliff_{name}"]
                  for name in ("prominence", "min_drop", "smoothing", "n_grid")}
"""Defaults of :func:`icl_dynamics.measures.events.count_cliffs`: the schema's ``linear.thresholds.cliff_*``
(the cliff detector serves row L6 of the linear experiment); read-only."""


def transition_kwargs(section: dict | None = None) -> dict:
    """Keyword arguments of :func:`icl_dynamics.measures.events.detect_transition`."""
    return dict(measures_section(section)["transition"])
