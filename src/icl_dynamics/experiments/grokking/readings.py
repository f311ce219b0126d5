"""Row G2 under every reading the paper leaves open (``grokking.readings``; docs/science.md, section
'Readings the paper leaves open'), scored on the same runs as the row, from the cached tables (every head's
measures, the events, the seeds' metrics) and, for a shorter training length only, the checkpoint stacks.

A reading names the stabilisation epoch (``fall_middle``: the middle of the detected fall of the head-mean
subspace distance, the row's rule; ``half_initial``: the first epoch where the distance is at most half its
initial value; ``near_final``: the first epoch where it is within ``near_final_fraction`` of its fall of
the final value), the final weights (``last``; ``epoch_<n>`` or ``grokking_x<x>``: each seed read as
stopped at the last checkpoint at or before that epoch, its events detected again on the curves up to there
and its distance recomputed to that checkpoint), the circuit (OV, QK) and the tolerance in gaps. The
value and verdict come from the row's own function
(:func:`~icl_dynamics.experiments.grokking.claims.grokking_rows`) on the events with that stabilisation
epoch, so the primary reading's are the row's.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from icl_dynamics.experiments.attention.claims import fall_step
from icl_dynamics.experiments.grokking.claims import grokking_rows
from icl_dynamics.experiments.grokking.measures import grokking_events
from icl_dynamics.experiments.readings.table import UNAVAILABLE, check_readings, enumerate_readings, readings_frame
from icl_dynamics.experiments.readings.truncation import distance_table, stop_index
from icl_dynamics.scorecard import fmt

CLAIM = "G2"
FACTOR_NAMES = ["stabilisation", "reference", "circuit", "tolerance"]  # the schema's order
ROW = "the row's own rule"


def primary_values(section: dict) -> dict:
    """Row -> factor -> (the value of the row's own rule, the config key or rule that sets it)."""
    return {CLAIM: {"stabilisation": ("fall_middle", ROW), "reference": ("last", ROW), "circuit": ("OV", ROW),
                    "tolerance": (section["thresholds"]["stabilisation_offset"],
                                  "grokking.thresholds.stabilisation_offset")}}


def check_config(section: dict, config: dict | None = None) -> None:
    """Checks of ``grokking.readings`` against row G2's own rule (before any job); raises ConfigError."""
    for claim, primary in primary_values(section).items():
        check_readings(claim, section["readings"], primary, "grokking")


def head_mean_distance(measures: pd.DataFrame, seed: int, circuit: str) -> pd.Series:
    """Head-mean subspace distance of one seed's circuit, indexed by epoch (as the events read it)."""
    sel = measures[(measures["seed"] == seed) & (measures["series"] == circuit)
                   & (measures["measure"] == "subspace_distance")]
    return sel.groupby("step")["value"].mean().sort_index()


def near_final_step(curve: pd.Series, fraction: float) -> float:
    """First epoch where ``curve - curve[-1] <= fraction (curve[0] - curve[-1])``: the fall is (1 - fraction)
    done. NaN when the curve does not fall."""
    first, last = float(curve.iloc[0]), float(curve.iloc[-1])
    if not first > last:
        return math.nan
    return float(curve.index[np.nonzero((curve - last).to_numpy() <= fraction * (first - last))[0][0]])


def stop_epoch(reference: str, grokking_epoch: float) -> float:
    """The epoch a ``reference`` reads the run as stopped at (``epoch_<n>``, ``grokking_x<x>``)."""
    if reference.startswith("epoch_"):
        return float(reference.removeprefix("epoch_"))
    return float(reference.removeprefix("grokking_x")) * grokking_epoch


def stopped_seeds(events: pd.DataFrame, metrics: pd.DataFrame, checkpoints: Callable, reference: str,
                  section: dict, settings: dict) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every seed read as stopped at ``reference``: (its events detected again, its distance table to the
    stop checkpoint, the seeds that end before the stop)."""
    grok = events[events["event"] == "grokking"].set_index("seed")["middle"]
    tables, found, missing = [], [], []
    for seed in sorted(events["seed"].unique()):
        stack = checkpoints(int(seed))
        stop = stop_epoch(reference, float(grok[seed]))
        index = stop_index(stack["step"], stop)
        if index is None:
            missing.append(f"seed {seed} (ends at {stack['step'][-1]:.0f} < {stop:.0f})")
            continue
        run = metrics[(metrics["seed"] == seed) & (metrics["step"] <= stack["step"][index])].sort_values("step")
        distances = distance_table(stack, index, settings, seed=int(seed))
        ev = section["events"]
        found.append(grokking_events(run, distances, ev["memorisation_acc"], ev["grokking_acc"], settings["transition"]))
        tables.append(distances)
    if missing:
        return pd.DataFrame(), pd.DataFrame(), missing
    return pd.concat(found, ignore_index=True), pd.concat(tables, ignore_index=True), []


def stabilisation_epochs(events: pd.DataFrame, measures: pd.DataFrame, factors: dict,
                         near_final_fraction: float) -> pd.Series:
    """The stabilisation epoch of every seed under a reading (index: seed)."""
    if factors["stabilisation"] == "fall_middle":
        return events[events["event"] == f"{factors['circuit']}_stabilisation"].set_index("seed")["middle"]
    epochs = {}
    for seed in sorted(events["seed"].unique()):
        curve = head_mean_distance(measures, seed, factors["circuit"])
        epochs[seed] = (fall_step(curve, 0.5) if factors["stabilisation"] == "half_initial"
                        else near_final_step(curve, near_final_fraction))
    return pd.Series(epochs, dtype=float)


def g2_reading(events: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame, checkpoints: Callable,
               section: dict, settings: dict, reading) -> dict:
    """One row of the readings table for G2."""
    factors = reading.factors
    head = {"claim": CLAIM, "reading": reading.name, "primary": reading.is_primary, **factors,
            "ladder": reading.ladder, "threshold": factors["tolerance"], "shallow_passed": 0, "shallow_scored": 0}
    if factors["reference"] != "last":
        events, measures, missing = stopped_seeds(events, metrics, checkpoints, factors["reference"], section,
                                                  settings)
        if missing:
            return {**head, "value": math.nan, "verdict": UNAVAILABLE, "passed": 0, "scored": 0, "per_run": "",
                    "note": "seeds end before the stop: " + ", ".join(missing)}
    stab = stabilisation_epochs(events, measures, factors, section["readings"]["near_final_fraction"])
    read = events.copy()
    is_stab = read["event"] == "OV_stabilisation"
    read.loc[is_stab, "middle"] = read.loc[is_stab, "seed"].map(stab).to_numpy()
    if not (factors["stabilisation"] == "fall_middle" and factors["circuit"] == "OV"):
        read.loc[is_stab, ["start", "end"]] = np.nan
    thresholds = {**section["thresholds"], "stabilisation_offset": factors["tolerance"]}
    _, g2 = grokking_rows(read, thresholds)
    mem = events[events["event"] == "memorisation"].set_index("seed")["middle"]
    grok = events[events["event"] == "grokking"].set_index("seed")["middle"]
    offset = ((stab - grok) / (grok - mem)).sort_index()
    verdict = g2.verdict
    if reading.ladder == "strict" and not (offset > -0.5).all():  # nearer memorisation than grokking
        verdict = "not_reproduced"
    passes = offset.abs() <= factors["tolerance"]
    return {**head, "value": g2.value, "verdict": verdict, "passed": int(passes.sum()), "scored": len(offset),
            "per_run": "; ".join(f"seed {s} {int(p)}/1" for s, p in passes.items()),
            "note": "; ".join(f"seed {s}: memorisation {fmt(mem[s], '.0f')}, grokking {fmt(grok[s], '.0f')}, "
                              f"stabilisation {fmt(stab[s], '.0f')}, offset {fmt(offset[s], '+.2f')} gaps"
                              for s in offset.index)}


def grokking_readings(events: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame,
                      checkpoints: Callable[[int], dict], section: dict, settings: dict) -> pd.DataFrame:
    """The readings table of row G2 (module docstring).

    Parameters
    ----------
    events, metrics, measures : DataFrame
        The cached events, every seed's metrics and the circuit measures (every head).
    checkpoints : callable
        ``seed -> checkpoint stack``; called only for a shorter training length.
    section : dict
        The validated ``grokking:`` section (``events``, ``thresholds``, ``readings``).
    settings : dict
        The validated ``measures:`` section.
    """
    readings = section["readings"]
    combos = {name: rows[CLAIM] for name, rows in readings["combinations"].items() if CLAIM in rows}
    rows = [g2_reading(events, metrics, measures, checkpoints, section, settings, reading)
            for reading in enumerate_readings({name: readings["factors"][CLAIM][name] for name in FACTOR_NAMES}, combos,
                                              readings["ladder"])]
    return readings_frame(rows, FACTOR_NAMES)
