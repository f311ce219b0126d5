"""Row C7-attention's events and row (docs/science.md, section 12, "Rows C7"): the start of each 2+ layer
run's detected ICL window; 1-layer runs and runs without a detected window have none."""

from __future__ import annotations

import math

import pandas as pd

from icl_dynamics.experiments.monitor.rows import alarm_steps, monitor_row
from icl_dynamics.scorecard import ClaimRow

KEYS = ["n_layers", "seed"]


def window_events(windows: pd.DataFrame) -> pd.DataFrame:
    """One event per run (``windows.csv``, :data:`icl_dynamics.experiments.attention.measures.WINDOW_COLUMNS`):
    ``n_layers, seed, event`` ("window_start"), ``event_step`` (the window's start; NaN for a 1-layer run or a
    window not detected)."""
    runs = windows.sort_values(KEYS)
    deep = (runs["n_layers"] >= 2) & runs["detected"].astype(bool)
    return pd.DataFrame({"n_layers": runs["n_layers"].to_numpy(), "seed": runs["seed"].to_numpy(),
                         "event": "window_start",
                         "event_step": runs["start"].where(deep, math.nan).to_numpy(dtype=float)})


def attention_monitor_row(monitor: pd.DataFrame, events: pd.DataFrame, runs: list[dict], thresholds: dict) -> ClaimRow:
    """Row C7-attention from the replayed monitor's table and :func:`window_events`."""
    return monitor_row("C7-attention", "attention", "start of a 2+ layer run's detected ICL window", runs,
                       lambda run: f"L{run['n_layers']} seed {run['seed']}", alarm_steps(monitor, KEYS), events,
                       thresholds)
