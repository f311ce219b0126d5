"""Rows N2 and N3 under every reading the paper leaves open (``attention.readings``; docs/science.md, section
'Readings the paper leaves open'), scored on the same runs as the rows, from the cached tables (every head's
measures, the runs' metrics and windows) and, for a shorter training length only, the checkpoint stacks.

Each reading scores *units* of the 2+ layer runs and compares them with the 1-layer runs' units:

- N2: a unit is a run (``all_heads``, ``first_layer``: one head-mean curve; ``any_layer``: the run dips if
  one of its per-layer head-mean curves does) or a head (``head_fraction``). A curve dips when its minimum
  (:func:`~icl_dynamics.experiments.attention.claims.rank_dip`, below the ``reference`` level) lies in the
  window widened by ``margin_decades`` and is at least ``dip_rel`` deep. Verdict as the row's
  (:func:`~icl_dynamics.experiments.attention.claims.fraction_verdict`) on the units.
- N3: a unit is a (run, circuit) pair (``head_mean``, ``head_median``) or a (run, circuit, layer) triple
  (``per_layer``); it is early when the distance has lost ``early_fraction`` of its initial value by the
  ``deadline``. With ``reference: window_end_x<x>`` each run is read as stopped at the last checkpoint at or
  before x times its window end: the distance is recomputed to that checkpoint and the window detected
  again on the ICL score up to it. Verdict as the row's
  (:func:`~icl_dynamics.experiments.attention.claims.early_verdict`).

The primary reading calls the row's own functions on the same inputs, so its value and verdict are the row's.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from icl_dynamics.config import ConfigError
from icl_dynamics.experiments.attention.claims import (
    early_verdict, fall_step, fraction_verdict, in_window, model_mean, per_run_table, rank_dip, reference_window,
    run_window)
from icl_dynamics.experiments.attention.measures import emergence_window
from icl_dynamics.experiments.readings.table import (
    UNAVAILABLE, check_readings, enumerate_readings, readings_frame)
from icl_dynamics.experiments.readings.truncation import distance_table, stop_index
from icl_dynamics.scorecard import fmt

# Each row's factors in the schema's order (the readings table's order, whatever order the config merged them in).
FACTORS = {"N2": ["aggregation", "measure", "reference", "margin_decades", "dip_rel"],
           "N3": ["aggregation", "early_fraction", "deadline", "reference"]}
CLAIMS = tuple(FACTORS)
FACTOR_NAMES = ["aggregation", "measure", "reference", "margin_decades", "dip_rel", "early_fraction", "deadline"]
ROW = "the row's own rule"


def primary_values(section: dict, measures: dict) -> dict:
    """Row -> factor -> (the value of the row's own rule, the config key or rule that sets it)."""
    t = section["thresholds"]
    return {"N2": {"aggregation": ("all_heads", ROW), "reference": ("min_first_last", ROW),
                   "measure": (f"marginal_effective_rank_k{measures['marginal_rank_k']}", "measures.marginal_rank_k"),
                   "margin_decades": (t["dip_margin_decades"], "attention.thresholds.dip_margin_decades"),
                   "dip_rel": (t["dip_rel"], "attention.thresholds.dip_rel")},
            "N3": {"aggregation": ("head_mean", ROW), "deadline": ("window_end", ROW), "reference": ("last", ROW),
                   "early_fraction": (t["early_fraction"], "attention.thresholds.early_fraction")}}


def check_config(section: dict, config: dict) -> None:
    """Checks of ``attention.readings`` against the rows' own rules and the measures computed (before any
    job); raises ConfigError naming the keys."""
    from icl_dynamics.measures.settings import measures_section

    measures = measures_section(config.get("measures"))
    for claim, primary in primary_values(section, measures).items():
        check_readings(claim, section["readings"], primary, "attention")
    computed = {"effective_rank", *(f"marginal_effective_rank_k{measures[k]}"
                                    for k in ("marginal_rank_k", "marginal_rank_k_variant"))}
    for name in section["readings"]["factors"]["N2"]["measure"]:
        if name not in computed:
            raise ConfigError(f"config key 'attention.readings.factors.N2.measure' lists {name!r}, which the circuit "
                              f"table does not hold (it holds {', '.join(sorted(computed))}; see measures.marginal_rank_k"
                              "_variant)")


def _label(layers, seed, layer=-1, head=-1, circuit=None) -> str:
    parts = [f"L{layers}s{seed}", circuit, f"l{layer}" if layer >= 0 else None, f"h{head}" if head >= 0 else None]
    return " ".join(p for p in parts if p)


def _head_curves(measures: pd.DataFrame, layers: int, seed: int, circuit: str, measure: str) -> pd.DataFrame:
    """One run's curves of every head: index step, columns (layer, head)."""
    sel = measures[(measures["n_layers"] == layers) & (measures["seed"] == seed) & (measures["series"] == circuit)
                   & (measures["measure"] == measure)]
    return sel.pivot_table(index="step", columns=["layer", "head"], values="value", aggfunc="first").sort_index()


def aggregated_curves(measures: pd.DataFrame, layers: int, seed: int, circuit: str, measure: str,
                      aggregation: str) -> dict[tuple[int, int], pd.Series]:
    """(layer, head) -> curve of one run under an aggregation (-1: aggregated over): ``all_heads`` and
    ``head_mean`` the row's head mean (:func:`model_mean`), ``head_median`` the median over heads,
    ``any_layer``/``per_layer`` each layer's head mean, ``first_layer`` layer 0's, ``head_fraction`` every head."""
    if aggregation in ("all_heads", "head_mean"):
        return {(-1, -1): model_mean(measures, layers, seed, circuit, measure)}
    heads = _head_curves(measures, layers, seed, circuit, measure)
    if aggregation == "head_median":
        return {(-1, -1): heads.median(axis=1)}
    if aggregation == "head_fraction":
        return {(int(l), int(h)): heads[(l, h)] for l, h in heads.columns}
    per_layer = {(int(l), -1): heads[l].mean(axis=1) for l in heads.columns.unique(level="layer")}
    return {(0, -1): per_layer[(0, -1)]} if aggregation == "first_layer" else per_layer


def _summary(units: pd.DataFrame, claim: str, reading, value: float, verdict: str, note: str) -> dict:
    deep, shallow = units[units["n_layers"] >= 2], units[units["n_layers"] == 1]
    per_run = "; ".join(f"L{l}s{s} {int(g['passes'].sum())}/{len(g)}" for (l, s), g in units.groupby(["n_layers", "seed"]))
    return {"claim": claim, "reading": reading.name, "primary": reading.is_primary,
            **reading.factors, "ladder": reading.ladder, "value": value, "threshold": 1.0, "verdict": verdict,
            "passed": int(deep["passes"].sum()), "scored": len(deep), "shallow_passed": int(shallow["passes"].sum()),
            "shallow_scored": len(shallow), "per_run": per_run, "note": note}


def by_run(measures: pd.DataFrame) -> dict[tuple[int, int], pd.DataFrame]:
    """The measures table split by run, (n_layers, seed) -> its rows in their order (so every curve is the
    one the full table gives, at a fraction of the cost of selecting it there)."""
    return {(int(l), int(s)): frame for (l, s), frame in measures.groupby(["n_layers", "seed"], sort=False)}


def n2_curve_dips(runs: pd.DataFrame, measures: dict, factors: dict) -> pd.DataFrame:
    """N2's dip of every curve of every run (``measures`` from :func:`by_run`) under a reading's
    aggregation: ``n_layers, seed, layer, head, dip_step, depth``, ``in_window_depth`` (the depth when the
    minimum is in the widened window, else 0) and ``passes``."""
    rows = []
    for _, r in runs.iterrows():
        window = (r["window_start"], r["window_end"])
        reference = r["window_start"] if factors["reference"] == "window_start" else None
        curves = aggregated_curves(measures[(r["n_layers"], r["seed"])], r["n_layers"], r["seed"], "QK",
                                   factors["measure"], factors["aggregation"])
        for (layer, head), curve in curves.items():
            step, depth = rank_dip(curve, reference)
            inside = in_window(step, window, factors["margin_decades"])
            rows.append({"n_layers": r["n_layers"], "seed": r["seed"], "layer": layer, "head": head, "dip_step": step,
                         "depth": depth, "in_window_depth": depth if inside else 0.0,
                         "passes": inside and depth >= factors["dip_rel"]})
    return pd.DataFrame(rows)


def n2_units(curves: pd.DataFrame, aggregation: str) -> pd.DataFrame:
    """The units N2 scores from :func:`n2_curve_dips`: every curve, except under ``any_layer``, where the run
    is the unit, passes when one of its layers does and keeps the largest in-window depth."""
    if aggregation != "any_layer":
        return curves
    return curves.groupby(["n_layers", "seed"], as_index=False).agg(
        depth=("in_window_depth", "max"), in_window_depth=("in_window_depth", "max"), passes=("passes", "any"))


def n2_contrast(units: pd.DataFrame) -> bool:
    """N2's contrast (strict ladder): there are 1-layer units and none dips in its window as deep as the
    shallowest dipping 2+ layer unit."""
    deep, shallow = units[units["n_layers"] >= 2], units[units["n_layers"] == 1]
    dipping = deep.loc[deep["passes"].astype(bool), "depth"]
    return bool(len(shallow) and len(dipping) and shallow["in_window_depth"].max() < dipping.min())


def n2_reading(runs: pd.DataFrame, measures: dict, reading) -> dict:
    """One row of the readings table for N2 (``measures`` from :func:`by_run`)."""
    curves = n2_curve_dips(runs, measures, reading.factors)
    units = n2_units(curves, reading.factors["aggregation"])
    deep, shallow = units[units["n_layers"] >= 2], units[units["n_layers"] == 1]
    value = float(deep["passes"].mean()) if len(deep) else math.nan
    verdict = fraction_verdict(value, shallow, "passes")
    if reading.ladder == "strict" and not n2_contrast(units):
        verdict = "not_reproduced"
    note = "; ".join(f"{_label(u.n_layers, u.seed, u.layer, u.head)} depth {fmt(u.depth, '.3f')} at {fmt(u.dip_step, '.0f')}"
                     f"{'' if u.in_window_depth > 0 else ' (outside)'}" for u in curves.itertuples())
    return _summary(units, "N2", reading, value, verdict, note)


def with_middles(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``window_middle``: the run's own window middle if detected, else the median middle of
    the 2+ layer runs' detected windows (the reference window's, as for its start and end)."""
    deep = runs[(runs["n_layers"] >= 2) & runs["detected"].astype(bool)]
    median = float(deep["middle"].median()) if len(deep) else math.nan
    return runs.assign(window_middle=[float(m) if d else median for d, m in zip(runs["detected"], runs["middle"])])


def stopped_runs(runs: pd.DataFrame, metrics: pd.DataFrame, checkpoints: Callable, multiple: float,
                 settings: dict) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The 2+ layer runs read as stopped at the last checkpoint at or before ``multiple`` x their window end:
    (runs with windows detected again on the ICL score up to there, their distance table to that
    checkpoint, the runs that end before it)."""
    deep = runs[runs["n_layers"] >= 2]
    windows, tables, missing = [], [], []
    for _, r in deep.iterrows():
        stack = checkpoints(int(r["n_layers"]), int(r["seed"]))
        index = stop_index(stack["step"], multiple * r["window_end"])
        if index is None:
            missing.append(f"L{r['n_layers']}s{r['seed']} (ends at {stack['step'][-1]:.0f} < {multiple * r['window_end']:.0f})")
            continue
        run = metrics[(metrics["n_layers"] == r["n_layers"]) & (metrics["seed"] == r["seed"])].sort_values("step")
        run = run[run["step"] <= stack["step"][index]]
        windows.append({"n_layers": r["n_layers"], "seed": r["seed"], **emergence_window(run, settings["transition"])})
        tables.append(distance_table(stack, index, settings, n_layers=int(r["n_layers"]), seed=int(r["seed"])))
    if missing:
        return deep, pd.DataFrame(), missing
    stopped = pd.DataFrame(windows)
    reference = reference_window(stopped)
    used = [run_window(w, reference) for _, w in stopped.iterrows()]
    stopped["window_start"], stopped["window_end"] = [u[0] for u in used], [u[1] for u in used]
    return with_middles(stopped), pd.concat(tables, ignore_index=True), []


def n3_units(runs: pd.DataFrame, distances: dict, factors: dict) -> pd.DataFrame:
    """N3's units of the 2+ layer runs (``distances`` from :func:`by_run`): ``n_layers, seed, circuit, layer,
    fall_step, deadline, passes``."""
    rows = []
    deadline = "window_end" if factors["deadline"] == "window_end" else "window_middle"
    for _, r in runs[runs["n_layers"] >= 2].iterrows():
        for circuit in ("QK", "OV"):
            curves = aggregated_curves(distances[(r["n_layers"], r["seed"])], r["n_layers"], r["seed"], circuit,
                                       "subspace_distance", factors["aggregation"])
            for (layer, _), curve in curves.items():
                step = fall_step(curve, factors["early_fraction"])
                rows.append({"n_layers": r["n_layers"], "seed": r["seed"], "circuit": circuit, "layer": layer,
                             "fall_step": step, "deadline": r[deadline], "passes": bool(step <= r[deadline])})
    return pd.DataFrame(rows)


def n3_reading(runs: pd.DataFrame, measures: dict, metrics: pd.DataFrame, checkpoints: Callable,
               settings: dict, reading) -> dict:
    """One row of the readings table for N3 (``measures`` from :func:`by_run`)."""
    distances = measures
    if reading.factors["reference"] != "last":
        multiple = float(reading.factors["reference"].removeprefix("window_end_x"))
        runs, stopped, missing = stopped_runs(runs, metrics, checkpoints, multiple, settings)
        if missing:
            return {**_summary(pd.DataFrame({"n_layers": [], "seed": [], "passes": []}), "N3", reading, math.nan,
                               UNAVAILABLE, "runs end before the stop: " + ", ".join(missing))}
        distances = by_run(stopped)
    units = n3_units(runs, distances, reading.factors)
    value = float(units["passes"].mean()) if len(units) else math.nan
    verdict = early_verdict(value)
    if reading.ladder == "strict" and not (units.groupby("circuit")["passes"].mean() >= 0.5).all():
        verdict = "not_reproduced"
    note = "; ".join(f"{_label(u.n_layers, u.seed, u.layer, circuit=u.circuit)} falls at {fmt(u.fall_step, '.0f')} "
                     f"(deadline {fmt(u.deadline, '.0f')})" for u in units.itertuples())
    return _summary(units, "N3", reading, value, verdict, note)


def attention_readings(windows: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame,
                       checkpoints: Callable[[int, int], dict], section: dict, settings: dict) -> pd.DataFrame:
    """The readings table of rows N2 and N3 (module docstring).

    Parameters
    ----------
    windows, metrics, measures : DataFrame
        The main family's cached windows, metrics and circuit measures (every head).
    checkpoints : callable
        ``(n_layers, seed) -> checkpoint stack``; called only for a shorter training length.
    section : dict
        The validated ``attention:`` section (``thresholds``, ``readings``).
    settings : dict
        The validated ``measures:`` section.
    """
    runs = with_middles(per_run_table(windows, metrics, measures, section["thresholds"], settings["marginal_rank_k"]))
    measures = by_run(measures)
    rows = []
    for claim in CLAIMS:
        readings = section["readings"]
        combos = {name: rows_of[claim] for name, rows_of in readings["combinations"].items() if claim in rows_of}
        factors = {name: readings["factors"][claim][name] for name in FACTORS[claim]}
        for reading in enumerate_readings(factors, combos, readings["ladder"]):
            rows.append(n2_reading(runs, measures, reading) if claim == "N2"
                        else n3_reading(runs, measures, metrics, checkpoints, settings, reading))
    return readings_frame(rows, FACTOR_NAMES)
