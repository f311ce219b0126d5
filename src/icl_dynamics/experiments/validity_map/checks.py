"""Checks across keys of the validity map's config (``linear.validity_map``), run before any job
(workflow/rules/validity_map.smk)."""

from __future__ import annotations

from icl_dynamics.config import ConfigError


def check_config(linear_cfg: dict, config: dict | None = None) -> None:
    """Checks of ``linear.validity_map`` against ``linear.defaults`` that the schema cannot express; raises
    ConfigError naming the keys. ``config`` (the whole config) is accepted for a uniform signature."""
    defaults = linear_cfg["defaults"]
    smallest = min(linear_cfg["validity_map"]["N"])
    if defaults["context_sampling"] == "wishart" and smallest < defaults["d"]:
        raise ConfigError(f"config key 'linear.validity_map.N' holds N = {smallest} < d = {defaults['d']}: "
                          "Wishart context sampling needs N >= d")
