"""Scorecard rows N1-N3 of claim C5 (attention-only transformers, docs/science.md section 7).

Inputs: the per-run emergence windows (:func:`icl_dynamics.experiments.attention.measures.emergence_window`),
the runs' metrics (the ICL score per checkpoint), the circuit measures table
(:func:`icl_dynamics.measures.summary.circuit_table`) and the ``attention.thresholds``
config. "2+ layer runs" are all runs of depth >= 2, every seed.

- **N1, sudden ICL jump in every 2+ layer model, none in the 1-layer model.** A run *jumps* when a
  transition of its ICL score is detected and its largest fall within any ``max_jump_decades``-wide
  window of steps (:func:`icl_dynamics.measures.events.largest_fall_within`) is at least ``min_jump``
  nats and at least ``min_jump_fraction`` of the score's net fall over the run (first to last checkpoint
  after step 0): most of the learning happens suddenly. Value: the fraction of 2+ layer runs that jump.
  The same rule on an ablation's model family gives row ``N1-<family>``.
- **N2, QK marginalised effective rank dips in the window.** Per run, the mean over all its heads (all
  layers) of the QK marginalised effective rank (``k = measures.marginal_rank_k``), over steps > 0. Its
  *dip* is at the step of its minimum and its depth is ``(r_ref - min r) / r_ref`` with ``r_ref`` the
  smaller of its first and last values, so only a fall that recovers counts. A run dips *in or at the
  window* when the minimum lies in the window widened by ``dip_margin_decades`` on each side and the depth
  is at least ``dip_rel``. Value: the fraction of 2+ layer runs that dip.
- **N3, subspace distance falls early.** Per run and circuit (QK, OV), the mean over heads of the
  subspace distance to the final circuit; the *fall step* is the first checkpoint where it is at most
  ``(1 - early_fraction)`` times its initial value. Early means fall step <= the window's end. Value: the
  fraction of (2+ layer run, circuit) pairs that fall early.

A run without its own window (the 1-layer model, normally) is measured in the *reference window*: the
median start and end of the 2+ layer runs' windows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from icl_dynamics.measures.events import largest_fall_within
from icl_dynamics.scorecard import ClaimRow, fmt, verdict

EXPERIMENT = "attention"


def claim_ids(section: dict) -> list[str]:
    """The scorecard rows the attention experiment writes: N1-N3 of the main family and N1-<family> of
    each ablation in ``attention.ablations``, and C7-attention (the online monitor, :mod:`.monitor`)."""
    return ["N1", *(f"N1-{family}" for family in section["ablations"]), "N2", "N3", "C7-attention"]


def reference_window(windows: pd.DataFrame) -> tuple[float, float]:
    """Median (start, end) of the detected windows of the 2+ layer runs; NaNs when there is none."""
    deep = windows[(windows["n_layers"] >= 2) & windows["detected"].astype(bool)]
    if deep.empty:
        return math.nan, math.nan
    return float(deep["start"].median()), float(deep["end"].median())


def run_window(row: pd.Series, reference: tuple[float, float]) -> tuple[float, float]:
    """The run's own window if detected, else the reference window."""
    return (float(row["start"]), float(row["end"])) if bool(row["detected"]) else reference


def model_mean(measures: pd.DataFrame, layers: int, seed: int, circuit: str, measure: str) -> pd.Series:
    """Mean over all heads (all layers) of one measure of one run, indexed by step."""
    sel = measures[(measures["n_layers"] == layers) & (measures["seed"] == seed) & (measures["series"] == circuit)
                   & (measures["measure"] == measure)]
    return sel.groupby("step")["value"].mean().sort_index()


def jump_table(windows: pd.DataFrame, metrics: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """``windows`` sorted by run, plus the N1 rule's numbers per run: ``steepest_fall`` (largest fall of the
    ICL score within ``max_jump_decades``), ``net_fall`` (first minus last value after step 0) and ``jump``."""
    runs = windows.sort_values(["n_layers", "seed"]).reset_index(drop=True)
    steepest, net = [], []
    for _, r in runs.iterrows():
        run = metrics[(metrics["n_layers"] == r["n_layers"]) & (metrics["seed"] == r["seed"])].sort_values("step")
        icl = run.loc[run["step"] > 0, "icl_score"].to_numpy(dtype=float)
        steepest.append(largest_fall_within(run["step"], run["icl_score"], thresholds["max_jump_decades"]))
        net.append(float(icl[0] - icl[-1]))
    runs["steepest_fall"], runs["net_fall"] = steepest, net
    runs["jump"] = (runs["detected"].astype(bool) & (runs["steepest_fall"] >= thresholds["min_jump"])
                    & (runs["steepest_fall"] >= thresholds["min_jump_fraction"] * runs["net_fall"]))
    return runs


def rank_dip(curve: pd.Series, reference_step: float | None = None) -> tuple[float, float]:
    """Step of the minimum of ``curve`` (indexed by step, steps > 0 used) and its relative depth below the
    smaller of the curve's first and last values (N2 rule), or with ``reference_step`` below the value at
    the last step at or before it (the first step's value if none is; a reading of docs/science.md,
    section 'Readings the paper leaves open')."""
    curve = curve[curve.index > 0]
    values = curve.to_numpy(dtype=float)
    if reference_step is None:
        ref = min(values[0], values[-1])
    else:
        at_or_before = int(np.searchsorted(curve.index.to_numpy(dtype=float), reference_step, side="right")) - 1
        ref = values[max(at_or_before, 0)]
    return float(curve.index[int(np.argmin(values))]), float((ref - values.min()) / ref)


def in_window(step: float, window: tuple[float, float], margin_decades: float) -> bool:
    """Whether ``step`` lies in ``window`` widened by ``margin_decades`` on each side (False for no window)."""
    return bool(window[0] * 10**-margin_decades <= step <= window[1] * 10**margin_decades)


def fall_step(curve: pd.Series, fraction: float) -> float:
    """First step where ``curve`` is at most ``(1 - fraction)`` times its first value (N3 rule)."""
    below = curve[curve <= (1 - fraction) * curve.iloc[0]]
    return float(below.index[0]) if len(below) else math.nan


def fraction_verdict(fraction_deep: float, shallow: pd.DataFrame, column: str) -> str:
    """Reproduced when every 2+ layer run passes and no 1-layer run does (there must be 1-layer runs);
    partial when at least half of the 2+ layer runs pass."""
    return verdict(fraction_deep == 1.0 and not shallow.empty and not shallow[column].any(), fraction_deep >= 0.5)


def early_verdict(fraction: float) -> str:
    """N3's verdict from its fraction of early (run, circuit) pairs: reproduced at 1, partial from 0.5."""
    return verdict(fraction == 1.0, fraction >= 0.5)


def _fmt_steps(x: float) -> str:
    return fmt(x, ".0f")


def _per_depth(runs: pd.DataFrame, column: str, formatter) -> str:
    return "; ".join(f"L{d}: " + ", ".join(formatter(v) for v in g[column]) for d, g in runs.groupby("n_layers"))


def per_run_table(windows: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame, thresholds: dict,
                  marginal_rank_k: int) -> pd.DataFrame:
    """Everything rows N1-N3 measure, one row per run: :func:`jump_table`, the window used
    (``window_start``/``window_end``: own if detected, else the reference window), ``qk_marginal_dip_step``,
    ``qk_marginal_dip`` (depth), ``dip_in_window``, ``dips``, ``QK_fall_step``/``OV_fall_step`` and
    ``QK_early``/``OV_early``."""
    runs = jump_table(windows, metrics, thresholds)
    reference = reference_window(runs)
    used = [run_window(r, reference) for _, r in runs.iterrows()]
    runs["window_start"] = [u[0] for u in used]
    runs["window_end"] = [u[1] for u in used]
    measure = f"marginal_effective_rank_k{marginal_rank_k}"
    dip_steps, depths, falls = [], [], {"QK": [], "OV": []}
    for _, r in runs.iterrows():
        step, depth = rank_dip(model_mean(measures, r["n_layers"], r["seed"], "QK", measure))
        dip_steps.append(step)
        depths.append(depth)
        for circuit in falls:
            distance = model_mean(measures, r["n_layers"], r["seed"], circuit, "subspace_distance")
            falls[circuit].append(fall_step(distance, thresholds["early_fraction"]))
    runs["qk_marginal_dip_step"] = dip_steps
    runs["qk_marginal_dip"] = depths
    runs["dip_in_window"] = [in_window(s, (a, b), thresholds["dip_margin_decades"])
                             for s, a, b in zip(dip_steps, runs["window_start"], runs["window_end"])]
    runs["dips"] = runs["dip_in_window"] & (runs["qk_marginal_dip"] >= thresholds["dip_rel"])
    for circuit, values in falls.items():
        runs[f"{circuit}_fall_step"] = values
        runs[f"{circuit}_early"] = runs[f"{circuit}_fall_step"] <= runs["window_end"]
    return runs


def sudden_emergence_row(runs: pd.DataFrame, thresholds: dict, family: str | None = None) -> ClaimRow:
    """Row N1 from :func:`jump_table`, or with ``family`` the same rule on an ablation's model family
    (row ``N1-<family>``, experiment ``attention_<family>``)."""
    deep, shallow = runs[runs["n_layers"] >= 2], runs[runs["n_layers"] == 1]
    windows_note = "; ".join(
        f"L{d}: " + ", ".join(f"[{_fmt_steps(a)}, {_fmt_steps(b)}]" for a, b in zip(g["start"], g["end"]))
        for d, g in runs.groupby("n_layers"))
    value = float(deep["jump"].mean()) if len(deep) else math.nan
    decades, fraction = thresholds["max_jump_decades"], thresholds["min_jump_fraction"]
    return ClaimRow(
        "N1" if family is None else f"N1-{family}", EXPERIMENT if family is None else f"{EXPERIMENT}_{family}",
        f"fraction of 2+ layer runs whose ICL score falls >= {thresholds['min_jump']} nats and >= {fraction:.0%} of "
        f"its net fall within {decades} decades of steps (and no 1-layer run does)", value, 1.0,
        fraction_verdict(value, shallow, "jump"),
        f"largest fall within {decades} decades (nats) {_per_depth(runs, 'steepest_fall', lambda v: f'{v:.2f}')}; "
        f"net fall over the run {_per_depth(runs, 'net_fall', lambda v: f'{v:.2f}')}; detected windows (10%-90% "
        f"of the net fall, steps, per seed) {windows_note}, width (decades) "
        f"{_per_depth(runs, 'width_decades', lambda v: f'{v:.2f}')}; "
        f"1-layer runs with a jump: {int(shallow['jump'].sum())} of {len(shallow)}")


def qk_rank_dip_row(runs: pd.DataFrame, thresholds: dict, marginal_rank_k: int) -> ClaimRow:
    """Row N2 from :func:`per_run_table`."""
    deep, shallow = runs[runs["n_layers"] >= 2], runs[runs["n_layers"] == 1]
    reference = reference_window(runs)
    value = float(deep["dips"].mean()) if len(deep) else math.nan
    return ClaimRow(
        "N2", EXPERIMENT, f"fraction of 2+ layer runs whose head-mean QK marginalised effective rank (k={marginal_rank_k}) "
        f"dips >= {thresholds['dip_rel']} (relative) in the window (and no 1-layer run does)", value, 1.0,
        fraction_verdict(value, shallow, "dips"),
        f"minimum of the head-mean curve at step {_per_depth(runs, 'qk_marginal_dip_step', _fmt_steps)} with relative "
        f"depth {_per_depth(runs, 'qk_marginal_dip', lambda v: f'{v:.3f}')}; windows used (own if detected, else the "
        f"2+ layer median [{_fmt_steps(reference[0])}, {_fmt_steps(reference[1])}]) "
        f"{_per_depth(runs, 'window_start', _fmt_steps)} to {_per_depth(runs, 'window_end', _fmt_steps)}, widened by "
        f"{thresholds['dip_margin_decades']} decades; 1-layer runs with a dip in their window: "
        f"{int(shallow['dips'].sum())} of {len(shallow)}")


def early_stabilisation_row(runs: pd.DataFrame, thresholds: dict) -> ClaimRow:
    """Row N3 from :func:`per_run_table`."""
    deep = runs[runs["n_layers"] >= 2]
    early = pd.concat([deep["QK_early"], deep["OV_early"]])
    value = float(early.mean()) if len(early) else math.nan
    return ClaimRow(
        "N3", EXPERIMENT, f"fraction of (2+ layer run, circuit) pairs whose head-mean subspace distance has lost "
        f"{thresholds['early_fraction']:.0%} of its initial value by the window's end", value, 1.0,
        early_verdict(value),
        f"fall step QK {_per_depth(runs, 'QK_fall_step', _fmt_steps)}; OV {_per_depth(runs, 'OV_fall_step', _fmt_steps)}; "
        f"window ends {_per_depth(runs, 'window_end', _fmt_steps)}")


def evaluate_claims(windows: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame, thresholds: dict,
                    marginal_rank_k: int) -> tuple[list[ClaimRow], pd.DataFrame]:
    """Rows N1, N2, N3 and the per-run table of everything they measured (:func:`per_run_table`)."""
    runs = per_run_table(windows, metrics, measures, thresholds, marginal_rank_k)
    return [sudden_emergence_row(runs, thresholds), qk_rank_dip_row(runs, thresholds, marginal_rank_k),
            early_stabilisation_row(runs, thresholds)], runs
