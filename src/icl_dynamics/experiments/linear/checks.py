"""Checks across keys of the ``linear:`` config section, run before any job (workflow/rules/linear.smk).

Kept apart from :mod:`.run`, whose code decides the simulations (and so their code fingerprint): changing a
check never reruns them.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.experiments.linear.settings import resolve_setting


def check_config(linear_cfg: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``linear:`` section that the schema cannot express; raises
    ConfigError naming the keys. ``config`` (the whole config) is accepted for a uniform signature."""
    for fig, value in linear_cfg["figures"].items():
        for name in [value] if isinstance(value, str) else value:
            if name not in linear_cfg["settings"]:
                raise ConfigError(f"config key 'linear.figures.{fig}' names setting {name!r}, which is not defined "
                                 f"under linear.settings (defined: {', '.join(linear_cfg['settings'])})")
    for name in linear_cfg["settings"]:
        setting = resolve_setting(linear_cfg, name)
        spec = setting["spectrum"]
        if spec["kind"] == "explicit" and len(spec.get("values", [])) != setting["d"]:
            raise ConfigError(f"config key 'linear.settings.{name}.spectrum.values' has "
                             f"{len(spec.get('values', []))} values but d = {setting['d']}")
        if setting["context_sampling"] == "wishart" and setting["N"] < setting["d"]:
            raise ConfigError(f"config key 'linear.settings.{name}.N' = {setting['N']} < d = {setting['d']}: "
                             "Wishart context sampling needs N >= d (use context_sampling: tokens)")
