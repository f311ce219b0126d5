"""Checks across keys of the ``grokking:`` config section, run before any job (workflow/rules/grokking.smk).

Kept apart from :mod:`.run`, whose code decides the runs' trajectories (and so their code fingerprint):
changing a check never retrains.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.training.schedules import interval_steps


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``grokking:`` section (and, with the whole ``config``, against
    the ``measures:`` section) that the schema cannot express; raises ConfigError naming the keys."""
    p, fraction = section["task"]["p"], section["task"]["train_fraction"]
    n_train = round(fraction * p * p)
    if not 1 <= n_train <= p * p - 1:
        raise ConfigError(f"config keys 'grokking.task.train_fraction' = {fraction} and 'grokking.task.p' = {p}: "
                          f"the training set would hold {n_train} of the {p * p} pairs; both the training and "
                          "the test set need at least one")
    steps, every = section["train"]["steps"], section["train"]["checkpoint_every"]
    n_checkpoints = len(interval_steps(steps, every))
    window = ((config or {}).get("measures") or {}).get("curvature_window")
    if window is not None and n_checkpoints < window:
        raise ConfigError(f"config keys 'grokking.train.checkpoint_every' = {every} and 'grokking.train.steps' = "
                          f"{steps} give {n_checkpoints} checkpoints, fewer than 'measures.curvature_window' = "
                          f"{window} that the curvature needs")
