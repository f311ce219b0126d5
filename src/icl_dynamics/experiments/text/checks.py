"""Checks across keys of the ``text:`` config section, run before any job (workflow/rules/text.smk).

Kept apart from :mod:`.run`, whose code decides the runs' trajectories: changing a check never retrains.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.data.code_corpus import VOCAB_SIZE
from icl_dynamics.experiments.attention.run import checkpoint_schedule
from icl_dynamics.experiments.budget import TensorEstimate, WorkEstimate, check_job_budget, largest


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks of the validated ``text:`` section the schema cannot express; raises ConfigError naming the
    keys. With the whole ``config``, also the ``measures:`` marginal ranks against ``text.model.d_head``.
    The deepest run must be within the bounds of :mod:`icl_dynamics.experiments.budget`."""
    c, k = section["context"], section["train"]["checkpoints"]
    if not c["early_position"] < c["late_position"] <= c["seq_len"] - 2:
        raise ConfigError(f"config keys 'text.context.early_position' = {c['early_position']}, "
                          f"'text.context.late_position' = {c['late_position']} and 'text.context.seq_len' = "
                          f"{c['seq_len']}: the ICL score needs early_position < late_position <= seq_len - 2 "
                          "(the loss at position t is that of predicting token t + 1)")
    if k["dense_from"] > k["dense_to"]:
        raise ConfigError(f"config keys 'text.train.checkpoints.dense_from' = {k['dense_from']} and "
                          f"'text.train.checkpoints.dense_to' = {k['dense_to']}: dense_from must not exceed dense_to")
    measures = (config or {}).get("measures") or {}
    d_head = section["model"]["d_head"]
    for name in ("marginal_rank_k", "marginal_rank_k_variant"):
        if name in measures and measures[name] >= d_head:
            raise ConfigError(f"config keys 'measures.{name}' = {measures[name]} and 'text.model.d_head' = {d_head}: "
                              "the marginalised effective rank removes k of the d_head nonzero singular values "
                              "of a head's QK and OV circuits, so k must be below d_head")
    check_job_budget(*run_estimates(section))


def run_estimates(section: dict) -> tuple[TensorEstimate, WorkEstimate]:
    """The largest tensor and the work of the deepest run, by the cost model of
    :func:`icl_dynamics.experiments.attention.checks.run_estimates` (one context of T bytes costs
    ``L (4 T d h e + 2 h T^2 e) + T d V`` multiply-adds forward, an update 3 forward passes of B contexts)."""
    m, t, T = section["model"], section["train"], section["context"]["seq_len"]
    L, h, d, e, V = max(section["depths"]), m["n_heads"], m["d_model"], m["d_head"], VOCAB_SIZE
    B, steps, n_checkpoints = t["batch"], t["steps"], len(checkpoint_schedule(section))
    seq = {"text.context.seq_len": T}
    tensors = [
        TensorEstimate("the prefix-matching attention patterns (layers, prefix_batch, n_heads, seq_len, seq_len) "
                       "float32", 4 * L * t["prefix_batch"] * h * T * T,
                       {"text.depths": section["depths"], "text.train.prefix_batch": t["prefix_batch"],
                        "text.model.n_heads": h, **seq}),
        TensorEstimate("the logits of a batch (batch, seq_len, 256) float32", 4 * B * T * V,
                       {"text.train.batch": B, **seq}),
    ]
    per_sequence = L * (4 * T * d * h * e + 2 * h * T * T * e) + T * d * V
    flops = 2 * per_sequence * (3 * B * steps + n_checkpoints * (t["eval_batch"] + t["prefix_batch"] + B))
    work = WorkEstimate(f"the {L}-layer text run", float(flops), steps,
                        {"text.train.steps": steps, "text.train.batch": B, "text.model.d_model": d, **seq})
    return largest(tensors), work
