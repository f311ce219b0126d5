"""Settings of the linear-transformer experiment: a *setting* is the ``linear.defaults`` config with one
entry of ``linear.settings`` applied. From it follow its task (spectrum, basis, N, P), its logging steps
and what it computes (:func:`computation_key`). The workflow runs three things on each setting, on the
same seeds, task pools and logging steps: the SGD simulation (:mod:`.simulate`), the theories
(:mod:`.theory`) and their comparison (:mod:`.compare`).
"""

from __future__ import annotations

import copy

from icl_dynamics.data.regression import RegressionTask, make_basis, make_spectrum
from icl_dynamics.training.schedules import log_spaced_steps


def resolve_setting(linear_cfg: dict, name: str) -> dict:
    """The defaults with setting ``name``'s overrides applied (nested dicts replaced whole)."""
    if name not in linear_cfg["settings"]:
        raise KeyError(f"unknown linear setting {name!r}; defined: {', '.join(linear_cfg['settings'])}")
    setting = copy.deepcopy(linear_cfg["defaults"])
    setting.update(copy.deepcopy(linear_cfg["settings"][name]))
    setting["name"] = name
    return setting


def used_settings(linear_cfg: dict) -> list[str]:
    """Settings named under ``linear.figures``, in order of first mention."""
    names = []
    for value in linear_cfg["figures"].values():
        for name in [value] if isinstance(value, str) else value:
            if name not in names:
                names.append(name)
    return names


# What a setting's SGD run and theory depend on besides its spectrum (``name`` and ``closed_form_regime``
# only label it).
COMPUTATION_KEYS = ("d", "basis", "basis_seed", "N", "P", "lr", "batch", "steps", "init", "eps", "context_sampling",
                    "eval_batch", "n_log", "n_lin")


def computation_key(setting: dict) -> dict:
    """What ``simulate``, ``theory`` and ``compare`` compute from a setting: its eigenvalues s (however the
    spectrum is written: explicit (2, 1, 0.5, 0.25) equals geometric ratio 0.5, scale 2) and the values of
    :data:`COMPUTATION_KEYS`. Two settings with equal keys give equal results on equal seeds."""
    s = make_task(setting).s
    return {"s": s.tolist(), **{k: setting[k] for k in COMPUTATION_KEYS}}


def make_task(setting: dict) -> RegressionTask:
    spec = {k: v for k, v in setting["spectrum"].items() if k != "kind"}
    s = make_spectrum(setting["spectrum"]["kind"], setting["d"], **spec)
    U = make_basis(setting["basis"], setting["d"], setting["basis_seed"])
    return RegressionTask(s=s, U=U, N=setting["N"], P=setting["P"])


def logging_steps(setting: dict) -> list[int]:
    """Log-spaced steps plus linearly spaced ones over the whole run."""
    return log_spaced_steps(setting["steps"], setting["n_log"], (0, setting["steps"]), setting["n_lin"])
