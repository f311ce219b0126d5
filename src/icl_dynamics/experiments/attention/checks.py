"""Checks across keys of the ``attention:`` config section, run before any job (workflow/rules/attention.smk).

Kept apart from :mod:`.run`, whose code decides the runs' trajectories (and so their code fingerprint):
changing a check never retrains.
"""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.data.sequences import icl_positions
from icl_dynamics.experiments.attention.run import bursty_spec, checkpoint_schedule, families, family_section
from icl_dynamics.experiments.budget import TensorEstimate, WorkEstimate, check_job_budget, largest


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks across keys of the validated ``attention:`` section that the schema cannot express; raises
    ConfigError naming the keys. With the whole ``config``, also checks the ``measures:`` section's
    marginal ranks against every family's d_head. Every family's largest job must be within the bounds of
    :mod:`icl_dynamics.experiments.budget`."""
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
    measures = (config or {}).get("measures") or {}
    for family in families(section):
        model = family_section(section, family)["model"]
        for name in ("marginal_rank_k", "marginal_rank_k_variant"):
            if name in measures and measures[name] >= model["d_head"]:
                raise ConfigError(
                    f"config keys 'measures.{name}' = {measures[name]} and '{_model_key(family, section, 'd_head')}'"
                    f" = {model['d_head']}: the marginalised effective rank removes k of the d_head nonzero "
                    "singular values of a head's QK and OV circuits, so k must be below d_head")
        check_job_budget(*run_estimates(section, family))


def _model_key(family: str, section: dict, name: str) -> str:
    """The dotted config key of model setting ``name`` of ``family`` (an ablation's own override, or the
    main model's)."""
    if family in section["ablations"] and name in section["ablations"][family]:
        return f"attention.ablations.{family}.{name}"
    return f"attention.model.{name}"


def run_estimates(section: dict, family: str = "main") -> tuple[TensorEstimate, WorkEstimate]:
    """The largest tensor and the work of ``family``'s deepest run (one job), from the config alone.

    With L layers, h heads of width e, residual width d, sequences of T tokens, batch B, held-out batch
    B_e and V outputs, one sequence's forward pass costs ``L (4 T d h e + 2 h T^2 e) + T d V`` (+ ``T n d``
    for vector inputs of width n) multiply-adds; an update costs 3 forward passes (forward and backward) of
    B sequences, 2 flops per multiply-add; each checkpoint evaluates the held-out sets. Tensors: the
    held-out attention patterns (L, B_e, h, T, T), the attention scores of a training batch (B, h, T, T),
    the logits (B_e, T, V), and the stack of each per-head weight over checkpoints (C, L, h, d, e), float32.
    """
    fam = family_section(section, family)
    m, t = fam["model"], fam["train"]
    L, h, d, e = max(fam["depths"]), m["n_heads"], m["d_model"], m["d_head"]
    B, B_e, steps = t["batch"], t["eval_batch"], t["steps"]
    if fam["task"] == "periodic":
        T, V, n_in = fam["periodic"]["seq_len"], fam["periodic"]["vocab_size"], 0
        seq = {"attention.periodic.seq_len": T}
        eval_sets = 2   # held-out sequences and prefix-matching ones
    else:
        spec = bursty_spec(fam)
        T, V, n_in = spec.seq_len, spec.n_labels, spec.token_dim
        seq = {"attention.bursty.n_items": spec.n_items}   # seq_len = 2 n_items + 1
        eval_sets = 3   # the three test sets
    n_checkpoints = len(checkpoint_schedule(fam))
    mk = {name: _model_key(family, section, name) for name in ("n_heads", "d_model", "d_head")}
    size = {mk["n_heads"]: h, mk["d_model"]: d, mk["d_head"]: e}
    depth = {"attention.depths": fam["depths"]}
    tensors = [
        TensorEstimate("the held-out attention patterns (layers, eval_batch, n_heads, seq_len, seq_len) float32",
                       4 * L * B_e * h * T * T * (fam["task"] == "periodic"),
                       {mk["n_heads"]: h, "attention.train.eval_batch": B_e, **seq, **depth}),
        TensorEstimate("the attention scores of a batch (batch, n_heads, seq_len, seq_len) float32",
                       4 * B * h * T * T, {mk["n_heads"]: h, "attention.train.batch": B, **seq}),
        TensorEstimate("the held-out logits (eval_batch, seq_len, outputs) float32", 4 * B_e * T * V,
                       {"attention.train.eval_batch": B_e, **seq}),
        TensorEstimate("the stack of one per-head weight over checkpoints (checkpoints, layers, n_heads, d_model, "
                       "d_head) float32", 4 * n_checkpoints * L * h * d * e,
                       {**size, **depth, "attention.train.checkpoints.n_log": fam["train"]["checkpoints"]["n_log"],
                        "attention.train.checkpoints.n_dense": fam["train"]["checkpoints"]["n_dense"]}),
    ]
    per_sequence = L * (4 * T * d * h * e + 2 * h * T * T * e) + T * d * V + T * n_in * d
    flops = 2 * per_sequence * (3 * B * steps + n_checkpoints * (eval_sets * B_e + B))
    work = WorkEstimate(f"the {L}-layer run of family {family!r}", float(flops), steps,
                        {"attention.train.steps": steps, "attention.train.batch": B, **size, **seq, **depth})
    return largest(tensors), work
