"""Checks across keys of the ``attention:`` config section, run before any job (workflow/rules/attention.smk).

Kept apart from :mod:`.run`, whose code decides the runs' trajectories (and so their code fingerprint):
changing a check never retrains.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.data.sequences import icl_positions


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``attention:`` section that the schema cannot express; raises
    ConfigError naming the keys. ``config`` (the whole config) is accepted for a uniform signature."""
    p, c = section["periodic"], section["train"]["checkpoints"]
    if p["period_min"] > p["period_max"]:
        raise ConfigError(f"config keys 'attention.periodic.period_min' = {p['period_min']} and "
                          f"'attention.periodic.period_max' = {p['period_max']}: period_min must not exceed period_max")
    if p["period_max"] >= p["seq_len"]:
        raise ConfigError(f"config keys 'attention.periodic.period_max' = {p['period_max']} and "
                          f"'attention.periodic.seq_len' = {p['seq_len']}: the segment must repeat within the "
                          "sequence (period_max < seq_len)")
    try:
        icl_positions(p["seq_len"], p["early_frac"], p["late_frac"])
    except ValueError as error:
        raise ConfigError(f"config keys 'attention.periodic.early_frac' = {p['early_frac']} and "
                          f"'attention.periodic.late_frac' = {p['late_frac']}: the ICL score's {error}") from None
    if c["dense_from"] > c["dense_to"]:
        raise ConfigError(f"config keys 'attention.train.checkpoints.dense_from' = {c['dense_from']} and "
                          f"'attention.train.checkpoints.dense_to' = {c['dense_to']}: dense_from must not exceed dense_to")
