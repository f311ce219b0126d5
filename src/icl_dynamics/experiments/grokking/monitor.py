"""Row C7-grokking's events and row (docs/science.md, section 12, "Rows C7"): each seed's grokking epoch."""

from __future__ import annotations

import pandas as pd

from icl_dynamics.experiments.monitor.rows import alarm_steps, monitor_row
from icl_dynamics.scorecard import ClaimRow

KEYS = ["seed"]


def grokking_epochs(events: pd.DataFrame) -> pd.DataFrame:
    """One event per seed from the events table (``events.parquet``): ``seed, event`` ("grokking"),
    ``event_step`` (the grokking epoch, NaN for a seed that never groks)."""
    grok = events[events["event"] == "grokking"].sort_values("seed")
    return pd.DataFrame({"seed": grok["seed"].to_numpy(), "event": "grokking",
                         "event_step": grok["middle"].to_numpy(dtype=float)})


def grokking_monitor_row(monitor: pd.DataFrame, events: pd.DataFrame, runs: list[dict], thresholds: dict) -> ClaimRow:
    """Row C7-grokking from the replayed monitor's table and :func:`grokking_epochs`."""
    return monitor_row("C7-grokking", "grokking", "a seed's grokking epoch", runs, lambda run: f"seed {run['seed']}",
                       alarm_steps(monitor, KEYS), events, thresholds)
