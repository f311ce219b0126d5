"""Scorecard rows N1-N3 of claim C5 (attention-only transformers, docs/science.md section 7).

Inputs: the per-run emergence windows (:func:`icl_dynamics.experiments.attention.measures.emergence_window`),
the circuit measures table (:func:`icl_dynamics.experiments.attention.measures.circuit_measures`) and the
``attention.thresholds`` config. "2+ layer runs" are all runs of depth >= 2, every seed.

- **N1, sudden ICL jump in every 2+ layer model, none in the 1-layer model.** A run *jumps* when a window
  is detected, the ICL score falls by at least ``min_jump`` nats across it and the window is at most
  ``max_jump_decades`` wide. Value: the fraction of 2+ layer runs that jump.
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

from icl_dynamics.scorecard import ClaimRow, fmt, verdict

EXPERIMENT = "attention"


def reference_window(windows: pd.DataFrame) -> tuple[float, float]:
    """Median (start, end) of the detected windows of the 2+ layer runs; NaNs when there is none."""
    deep = windows[(windows["layers"] >= 2) & windows["detected"].astype(bool)]
    if deep.empty:
        return math.nan, math.nan
    return float(deep["start"].median()), float(deep["end"].median())


def run_window(row: pd.Series, reference: tuple[float, float]) -> tuple[float, float]:
    """The run's own window if detected, else the reference window."""
    return (float(row["start"]), float(row["end"])) if bool(row["detected"]) else reference


def model_mean(measures: pd.DataFrame, layers: int, seed: int, circuit: str, measure: str) -> pd.Series:
    """Mean over all heads (all layers) of one measure of one run, indexed by step."""
    sel = measures[(measures["layers"] == layers) & (measures["seed"] == seed) & (measures["series"] == circuit)
                   & (measures["measure"] == measure)]
    return sel.groupby("step")["value"].mean().sort_index()


def sudden_jumps(windows: pd.DataFrame, thresholds: dict) -> pd.Series:
    """Per run (indexed like ``windows``): whether the ICL score makes a sudden jump (N1 rule)."""
    return (windows["detected"].astype(bool) & (windows["icl_drop"] >= thresholds["min_jump"])
            & (windows["width_decades"] <= thresholds["max_jump_decades"]))


def rank_dip(curve: pd.Series) -> tuple[float, float]:
    """Step of the minimum of ``curve`` (indexed by step, steps > 0 used) and its relative depth below the
    smaller of the curve's first and last values (N2 rule)."""
    curve = curve[curve.index > 0]
    values = curve.to_numpy(dtype=float)
    ref = min(values[0], values[-1])
    return float(curve.index[int(np.argmin(values))]), float((ref - values.min()) / ref)


def in_window(step: float, window: tuple[float, float], margin_decades: float) -> bool:
    """Whether ``step`` lies in ``window`` widened by ``margin_decades`` on each side (False for no window)."""
    return bool(window[0] * 10**-margin_decades <= step <= window[1] * 10**margin_decades)


def fall_step(curve: pd.Series, fraction: float) -> float:
    """First step where ``curve`` is at most ``(1 - fraction)`` times its first value (N3 rule)."""
    below = curve[curve <= (1 - fraction) * curve.iloc[0]]
    return float(below.index[0]) if len(below) else math.nan


def _fraction_verdict(fraction_deep: float, shallow: pd.DataFrame, column: str) -> str:
    """Reproduced when every 2+ layer run passes and no 1-layer run does (there must be 1-layer runs);
    partial when at least half of the 2+ layer runs pass."""
    return verdict(fraction_deep == 1.0 and not shallow.empty and not shallow[column].any(), fraction_deep >= 0.5)


def _fmt_steps(x: float) -> str:
    return fmt(x, ".0f")


def _per_depth(runs: pd.DataFrame, column: str, formatter) -> str:
    return "; ".join(f"L{d}: " + ", ".join(formatter(v) for v in g[column]) for d, g in runs.groupby("layers"))


def per_run_table(windows: pd.DataFrame, measures: pd.DataFrame, thresholds: dict, marginal_rank_k: int
                  ) -> pd.DataFrame:
    """Everything rows N1-N3 measure, one row per run: ``windows`` plus ``jump``, the window used
    (``window_start``/``window_end``: own if detected, else the reference window), ``qk_marginal_dip_step``,
    ``qk_marginal_dip`` (depth), ``dip_in_window``, ``dips``, ``QK_fall_step``/``OV_fall_step`` and
    ``QK_early``/``OV_early``."""
    runs = windows.sort_values(["layers", "seed"]).reset_index(drop=True)
    reference = reference_window(runs)
    runs["jump"] = sudden_jumps(runs, thresholds)
    used = [run_window(r, reference) for _, r in runs.iterrows()]
    runs["window_start"] = [u[0] for u in used]
    runs["window_end"] = [u[1] for u in used]
    measure = f"marginal_effective_rank_k{marginal_rank_k}"
    dip_steps, depths, falls = [], [], {"QK": [], "OV": []}
    for _, r in runs.iterrows():
        step, depth = rank_dip(model_mean(measures, r["layers"], r["seed"], "QK", measure))
        dip_steps.append(step)
        depths.append(depth)
        for circuit in falls:
            distance = model_mean(measures, r["layers"], r["seed"], circuit, "subspace_distance")
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


def sudden_emergence_row(runs: pd.DataFrame, thresholds: dict, claim: str = "N1",
                         experiment: str = EXPERIMENT) -> ClaimRow:
    """Row N1 (or the same rule on another model family, e.g. ``N1-noLN``) from :func:`per_run_table`."""
    deep, shallow = runs[runs["layers"] >= 2], runs[runs["layers"] == 1]
    windows_note = "; ".join(
        f"L{d}: " + ", ".join(f"[{_fmt_steps(a)}, {_fmt_steps(b)}]" for a, b in zip(g["start"], g["end"]))
        for d, g in runs.groupby("layers"))
    value = float(deep["jump"].mean()) if len(deep) else math.nan
    return ClaimRow(
        claim, experiment, f"fraction of 2+ layer runs whose ICL score drops >= {thresholds['min_jump']} nats in a "
        f"detected window <= {thresholds['max_jump_decades']} decades wide (and no 1-layer run does)", value, 1.0,
        _fraction_verdict(value, shallow, "jump"),
        f"detected windows (steps, per seed) {windows_note}; ICL drop across window (nats) "
        f"{_per_depth(runs, 'icl_drop', lambda v: f'{v:.2f}')}; width (decades) "
        f"{_per_depth(runs, 'width_decades', lambda v: f'{v:.2f}')}; "
        f"1-layer runs with a jump: {int(shallow['jump'].sum())} of {len(shallow)}; rule: measures.transition "
        f"detector on the ICL score, jump if drop >= {thresholds['min_jump']} and width <= "
        f"{thresholds['max_jump_decades']} decades")


def qk_rank_dip_row(runs: pd.DataFrame, thresholds: dict, marginal_rank_k: int) -> ClaimRow:
    """Row N2 from :func:`per_run_table`."""
    deep, shallow = runs[runs["layers"] >= 2], runs[runs["layers"] == 1]
    reference = reference_window(runs)
    value = float(deep["dips"].mean()) if len(deep) else math.nan
    return ClaimRow(
        "N2", EXPERIMENT, f"fraction of 2+ layer runs whose head-mean QK marginalised effective rank (k={marginal_rank_k}) "
        f"dips >= {thresholds['dip_rel']} (relative) in the window (and no 1-layer run does)", value, 1.0,
        _fraction_verdict(value, shallow, "dips"),
        f"minimum of the head-mean curve at step {_per_depth(runs, 'qk_marginal_dip_step', _fmt_steps)} with relative "
        f"depth {_per_depth(runs, 'qk_marginal_dip', lambda v: f'{v:.3f}')}; windows used (own if detected, else the "
        f"2+ layer median [{_fmt_steps(reference[0])}, {_fmt_steps(reference[1])}]) "
        f"{_per_depth(runs, 'window_start', _fmt_steps)} to {_per_depth(runs, 'window_end', _fmt_steps)}, widened by "
        f"{thresholds['dip_margin_decades']} decades; 1-layer runs with a dip in their window: "
        f"{int(shallow['dips'].sum())} of {len(shallow)}")


def early_stabilisation_row(runs: pd.DataFrame, thresholds: dict) -> ClaimRow:
    """Row N3 from :func:`per_run_table`."""
    deep = runs[runs["layers"] >= 2]
    early = pd.concat([deep["QK_early"], deep["OV_early"]])
    value = float(early.mean()) if len(early) else math.nan
    return ClaimRow(
        "N3", EXPERIMENT, f"fraction of (2+ layer run, circuit) pairs whose head-mean subspace distance has lost "
        f"{thresholds['early_fraction']:.0%} of its initial value by the window's end", value, 1.0,
        verdict(value == 1.0, value >= 0.5),
        f"fall step QK {_per_depth(runs, 'QK_fall_step', _fmt_steps)}; OV {_per_depth(runs, 'OV_fall_step', _fmt_steps)}; "
        f"window ends {_per_depth(runs, 'window_end', _fmt_steps)}")


def evaluate_claims(windows: pd.DataFrame, measures: pd.DataFrame, thresholds: dict, marginal_rank_k: int,
                    ) -> tuple[list[ClaimRow], pd.DataFrame]:
    """Rows N1, N2, N3 and the per-run table of everything they measured (:func:`per_run_table`)."""
    runs = per_run_table(windows, measures, thresholds, marginal_rank_k)
    return [sudden_emergence_row(runs, thresholds), qk_rank_dip_row(runs, thresholds, marginal_rank_k),
            early_stabilisation_row(runs, thresholds)], runs
