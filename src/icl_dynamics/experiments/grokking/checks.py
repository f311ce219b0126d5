"""Checks across keys of the ``grokking:`` config section, run before any job (workflow/rules/grokking.smk).

Kept apart from :mod:`.run`, whose code decides the runs' trajectories (and so their code fingerprint):
changing a check never retrains.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.experiments.budget import TensorEstimate, WorkEstimate, check_job_budget, largest
from icl_dynamics.training.schedules import interval_steps


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``grokking:`` section (and, with the whole ``config``, against
    the ``measures:`` section) that the schema cannot express; raises ConfigError naming the keys. A run
    must be within the bounds of :mod:`icl_dynamics.experiments.budget` (checked first: the other checks
    build the checkpoint schedule, which a huge ``steps`` would make huge)."""
    check_job_budget(*run_estimates(section))
    p, fraction = section["task"]["p"], section["task"]["train_fraction"]
    n_train = round(fraction * p * p)
    if not 1 <= n_train <= p * p - 1:
        raise ConfigError(f"config keys 'grokking.task.train_fraction' = {fraction} and 'grokking.task.p' = {p}: "
                          f"the training set would hold {n_train} of the {p * p} pairs; both the training and "
                          "the test set need at least one")
    steps, every = section["train"]["steps"], section["train"]["checkpoint_every"]
    n_checkpoints = len(interval_steps(steps, every))
    measures = (config or {}).get("measures") or {}
    d_head = section["model"]["d_head"]
    for name in ("marginal_rank_k", "marginal_rank_k_variant"):
        if name in measures and measures[name] >= d_head:
            raise ConfigError(f"config keys 'measures.{name}' = {measures[name]} and 'grokking.model.d_head' = "
                              f"{d_head}: the marginalised effective rank removes k of the d_head nonzero singular "
                              "values of a head's QK and OV circuits, so k must be below d_head")
    window = measures.get("curvature_window")
    if window is not None and n_checkpoints < window:
        raise ConfigError(f"config keys 'grokking.train.checkpoint_every' = {every} and 'grokking.train.steps' = "
                          f"{steps} give {n_checkpoints} checkpoints, fewer than 'measures.curvature_window' = "
                          f"{window} that the curvature needs")


def run_estimates(section: dict) -> tuple[TensorEstimate, WorkEstimate]:
    """The largest tensor and the work of one grokking run (one job), from the config alone.

    Full batch on n = round(train_fraction p^2) of the p^2 pairs. One example's forward pass costs
    ``h e d + 2 d d_mlp + d p`` multiply-adds (attention output, MLP, unembedding; the query, key and value
    tables cost ``3 (p + 1) d h e`` once per pass); an update is 3 forward passes of the training set, 2
    flops per multiply-add, and each checkpoint evaluates all p^2 pairs. Tensors: the float64 logits of the
    test set (p^2 - n, p) in the cross-entropy, those of the training set (n, p), all inputs (p^2, 3) int64,
    the MLP activations and the stack of each per-head weight over checkpoints (C, h, d, e) float32.
    """
    p, fraction = section["task"]["p"], section["task"]["train_fraction"]
    m, steps, every = section["model"], section["train"]["steps"], section["train"]["checkpoint_every"]
    h, d, e, d_mlp = m["n_heads"], m["d_model"], m["d_head"], m["d_mlp"]
    n_train = round(fraction * p * p)
    n_test = p * p - n_train
    n_checkpoints = steps // every + 2
    task = {"grokking.task.p": p, "grokking.task.train_fraction": fraction}
    tensors = [
        TensorEstimate("the logits of the test set (pairs, p) float64", 8 * n_test * p, task),
        TensorEstimate("the logits of the training set (pairs, p) float64", 8 * n_train * p, task),
        TensorEstimate("all inputs (p^2, 3) int64", 24 * p * p, {"grokking.task.p": p}),
        TensorEstimate("the MLP activations of the test set (pairs, d_mlp) float32", 4 * max(n_test, n_train) * d_mlp,
                       {**task, "grokking.model.d_mlp": d_mlp}),
        TensorEstimate("the stack of one per-head weight over checkpoints (checkpoints, n_heads, d_model, d_head) "
                       "float32", 4 * n_checkpoints * h * d * e,
                       {"grokking.train.steps": steps, "grokking.train.checkpoint_every": every,
                        "grokking.model.n_heads": h, "grokking.model.d_model": d, "grokking.model.d_head": e}),
    ]
    per_example = h * e * d + 2 * d * d_mlp + d * p
    tables = 3 * (p + 1) * d * h * e
    flops = 2 * (3 * steps * (n_train * per_example + tables) + n_checkpoints * (p * p * per_example + 2 * tables))
    work = WorkEstimate("one seed", float(flops), steps,
                        {"grokking.train.steps": steps, **task, "grokking.model.d_model": d,
                         "grokking.model.d_mlp": d_mlp})
    return largest(tensors), work
