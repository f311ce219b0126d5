"""The monitor replayed over an experiment's stored runs: what it would have said online
(:func:`icl_dynamics.measures.monitor.replay_monitor`, docs/science.md section 12, "Rows C7")."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from icl_dynamics.measures.monitor import replay_monitor
from icl_dynamics.measures.summary import TABLE_COLUMNS


def replay_runs(runs: Iterable[dict], load: Callable[[dict], dict], settings: dict) -> pd.DataFrame:
    """The monitor's rows of every run, the run's id columns first.

    Parameters
    ----------
    runs : iterable of dict
        Each run's id columns (e.g. ``{"n_layers": 2, "seed": 0}``).
    load : callable
        ``load(run)`` returns the run's checkpoint stack (``step`` and per-head ``W_Q, W_K, W_V, W_O``);
        called once per run, so one stack is in memory at a time.
    settings : dict
        The validated ``measures:`` section; its ``monitor`` group sets the monitor and its alarm rule.

    Returns
    -------
    DataFrame
        The id columns and ``step, series, layer, head, measure, value`` (every row the monitor returned).
    """
    tables = []
    for run in runs:
        table, monitor = replay_monitor(load(run), settings=settings)
        tables.append(table.assign(**run)[[*run, *TABLE_COLUMNS]])
        print(f"{run}: {len(monitor.alarms)} alarm(s) at steps {monitor.alarms}")
    return pd.concat(tables, ignore_index=True)
