"""Keyword arguments of the measures built from the validated ``measures:`` config section.

Every experiment calls the measures through these helpers, so they all use the same settings.
"""

from __future__ import annotations

import copy

from icl_dynamics.config import validate


def measures_section(section: dict | None = None) -> dict:
    """A validated copy of the ``measures:`` section with the schema's defaults filled in."""
    return validate(copy.deepcopy(section or {}), "measures", prefix="measures")


def transition_kwargs(section: dict | None = None) -> dict:
    """Keyword arguments of :func:`icl_dynamics.measures.events.detect_transition`."""
    return dict(measures_section(section)["transition"])


def curvature_kwargs(section: dict | None = None) -> dict:
    """Keyword arguments of :func:`icl_dynamics.measures.curvature.autocorrelation_curvature`."""
    return {"window": measures_section(section)["curvature_window"]}
