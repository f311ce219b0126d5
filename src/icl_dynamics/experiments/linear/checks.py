"""Checks across keys of the ``linear:`` config section, run before any job (workflow/rules/linear.smk).

Kept apart from :mod:`.run`, whose code decides the simulations (and so their code fingerprint): changing a
check never reruns them.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.experiments.budget import TensorEstimate, WorkEstimate, check_job_budget, largest
from icl_dynamics.experiments.linear.settings import resolve_setting, used_settings
from icl_dynamics.experiments.linear.sgd import DRAW_CHUNK


def check_config(linear_cfg: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``linear:`` section that the schema cannot express; raises
    ConfigError naming the keys. ``config`` (the whole config) is accepted for a uniform signature. Every
    job (a setting's seeds; the validity map's cells of one N) must be within the bounds of
    :mod:`icl_dynamics.experiments.budget`."""
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
    for name in used_settings(linear_cfg):
        check_job_budget(*setting_estimates(linear_cfg, name))


def _setting_key(linear_cfg: dict, name: str, key: str) -> str:
    """The dotted config key that sets ``key`` of setting ``name``: its own override, or the default."""
    return f"linear.settings.{name}.{key}" if key in linear_cfg["settings"][name] else f"linear.defaults.{key}"


def _sample_macs(setting: dict) -> int:
    """Multiply-adds per training sequence of one run: drawing its context moment (tokens: X (N, d), X W^T and
    X^T X; wishart: the d x d Bartlett factor), its task matrix, and the loss and gradients (D = 2d)."""
    d, N = setting["d"], setting["N"]
    draw = 3 * N * d * d if setting["context_sampling"] == "tokens" else 2 * d**3
    return draw + 2 * d**3 + 24 * d * d


def job_estimates(runs: list[dict], updates: int, what: str, tensor_keys: dict, work_keys: dict,
                   ) -> tuple[TensorEstimate, WorkEstimate]:
    """Estimates of one SGD job on ``runs`` (one setting per seed), all sharing d, batch and eval_batch."""
    first = runs[0]
    d, batch, eval_batch = first["d"], first["batch"], first["eval_batch"]
    N = max(run["N"] for run in runs)
    tokens = first["context_sampling"] == "tokens"
    tensors = [
        TensorEstimate("the stacked draws of every run (runs, DRAW_CHUNK, batch, d, d) float64",
                       8 * len(runs) * DRAW_CHUNK * batch * d * d, tensor_keys),
        TensorEstimate("the held-out batches (runs, eval_batch, d, d) float64", 8 * len(runs) * eval_batch * d * d,
                       tensor_keys),
        TensorEstimate("the context tokens of one draw (DRAW_CHUNK x batch, N, d) float64",
                       8 * DRAW_CHUNK * max(batch, eval_batch) * N * d * tokens, tensor_keys),
    ]
    flops = sum(2 * run["steps"] * batch * _sample_macs(run)
                + 2 * (run["n_log"] + run["n_lin"] + 2) * eval_batch * 24 * d * d for run in runs)
    return largest(tensors), WorkEstimate(what, float(flops), updates, work_keys)


def setting_estimates(linear_cfg: dict, name: str) -> tuple[TensorEstimate, WorkEstimate]:
    """The largest tensor and the work of setting ``name``'s simulation job (its seeds batched)."""
    setting = resolve_setting(linear_cfg, name)
    seeds = linear_cfg["seeds"]
    keys = {_setting_key(linear_cfg, name, key): setting[key] for key in ("batch", "eval_batch", "d", "N")}
    keys["linear.seeds"] = seeds
    work_keys = {_setting_key(linear_cfg, name, "steps"): setting["steps"], **keys}
    return job_estimates([setting] * len(seeds), setting["steps"], f"setting {name!r}", keys, work_keys)
