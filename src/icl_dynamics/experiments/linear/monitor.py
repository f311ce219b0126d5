"""Row C7-linear's runs, events and row (docs/science.md, section 12, "Rows C7"): the monitor reads each
seed's simulated p2 q1 as one head whose QK and OV circuits both equal it; the events are each mode's
half-rise in that seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.experiments.monitor.rows import alarm_steps, monitor_row
from icl_dynamics.scorecard import ClaimRow
from icl_dynamics.theory.escape_alarms import matrix_circuit_stack
from icl_dynamics.theory.exact_flow import half_time

KEYS = ["setting", "seed"]


def seed_stacks(sim: dict) -> dict[int, dict]:
    """Per seed, the checkpoint stack of :func:`icl_dynamics.theory.escape_alarms.matrix_circuit_stack` of its
    ``p2q1`` (S, T, d, d) at the logged ``steps``."""
    seeds = np.asarray(sim.get("seeds", np.arange(sim["p2q1"].shape[0])))
    return {int(seed): matrix_circuit_stack(sim["steps"], sim["p2q1"][i]) for i, seed in enumerate(seeds)}


def half_rise_events(setting: str, sim: dict, theory: dict) -> pd.DataFrame:
    """Each mode's half-rise per seed: the step where the simulated ``modes_total`` first reaches half the exact
    mean flow's fixed point ``fp_exact`` (row L1's half-rise, per seed). Columns ``setting, seed, event``
    ("mode_<a>", a = 1..d in the order of the spectrum ``s``), ``event_step`` (NaN if it never does)."""
    if not np.array_equal(sim["steps"], theory["steps"]):
        raise ValueError(f"setting {setting}: simulation and theory use different logging steps")
    half = half_time(sim["steps"], sim["modes_total"], theory["fp_exact"] / 2)  # (S, d)
    seeds = np.asarray(sim.get("seeds", np.arange(half.shape[0])))
    return pd.DataFrame([{"setting": setting, "seed": int(seed), "event": f"mode_{a + 1}", "event_step": float(h)}
                         for i, seed in enumerate(seeds) for a, h in enumerate(half[i])])


def linear_monitor_row(monitor: pd.DataFrame, events: pd.DataFrame, runs: list[dict], thresholds: dict) -> ClaimRow:
    """Row C7-linear from the replayed monitor's table and :func:`half_rise_events`."""
    return monitor_row("C7-linear", "linear", "a mode's half-rise in one seed's SGD run", runs,
                       lambda run: f"{run['setting']} seed {run['seed']}", alarm_steps(monitor, KEYS), events,
                       thresholds)
