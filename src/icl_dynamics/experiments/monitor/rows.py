"""Rows C7-<experiment>: does the online monitor's alarm come before a transition (docs/science.md, section
12, "Rows C7")? One row per experiment, from the alarms of the monitor replayed over every stored run
(what it would have said online) and the experiment's events.

Per run, with its events E_1 < E_2 < ... (none for a 1-layer attention run or a run without a detected
window) and its alarms A (steps), on the log10(step) axis:

- an alarm's *next event* is the first event at or after it, its *lead* ``log10(E_next / A)`` (decades);
  the alarm is **early** if ``0.05 <= lead <= 1`` (:data:`EARLY_DECADES`), **late** if ``0 <= lead < 0.05``
  or it comes after the run's last event (lead ``-log10(A / E_last)`` < 0), **false** if ``lead > 1``
  (more than a decade early) or the run has no event;
- an event's alarms are those after the previous event and at or before it; its *lead* is that of the
  first of them at most 1 decade early, else (none) minus the distance to the first alarm after it and not
  after the next event (late), else none. The event is **caught early** when its lead is within
  :data:`EARLY_DECADES`.

Value: the fraction of events caught early (NaN without events). Verdict: reproduced when the value is at
least ``monitor_caught_fraction`` and the false alarms number at most ``monitor_false_alarms_per_run`` times
the runs; partial when at least one event is caught early; not_reproduced otherwise (also without events).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from icl_dynamics.scorecard import ClaimRow, fmt, verdict

EARLY_DECADES = (0.05, 1.0)
"""An alarm between these many decades of steps before an event is early (issue 24's definition of C7)."""

ALARM_KINDS = ("early", "late", "false")


def alarm_kinds(alarms, events) -> list[tuple[float, str, float]]:
    """``(step, kind, lead)`` of each alarm of one run (module docstring); ``lead`` NaN for a run without
    events."""
    events = np.sort(np.asarray(events, dtype=float))
    out = []
    for a in np.sort(np.asarray(alarms, dtype=float)):
        after = events[events >= a]
        if after.size:
            lead = float(np.log10(after[0] / a))
            kind = "early" if EARLY_DECADES[0] <= lead <= EARLY_DECADES[1] else "late" if lead < EARLY_DECADES[0] else "false"
        elif events.size:
            lead, kind = -float(np.log10(a / events[-1])), "late"
        else:
            lead, kind = math.nan, "false"
        out.append((float(a), kind, lead))
    return out


def event_leads(alarms, events) -> list[tuple[float, float, bool]]:
    """``(event step, lead, caught early)`` of each event of one run (module docstring); lead NaN when no
    alarm is assigned to it."""
    alarms = np.sort(np.asarray(alarms, dtype=float))
    events = np.sort(np.asarray(events, dtype=float))
    out = []
    for k, e in enumerate(events):
        previous = events[k - 1] if k else 0.0
        following = events[k + 1] if k + 1 < events.size else math.inf
        before = alarms[(alarms > previous) & (alarms <= e) & (np.log10(e / alarms) <= EARLY_DECADES[1])]
        after = alarms[(alarms > e) & (alarms <= following)]
        lead = (float(np.log10(e / before[0])) if before.size else -float(np.log10(after[0] / e)) if after.size
                else math.nan)
        out.append((float(e), lead, bool(EARLY_DECADES[0] <= lead <= EARLY_DECADES[1])))
    return out


def lead_tables(runs: list[dict], alarms: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-event and per-alarm tables of every run.

    Parameters
    ----------
    runs : list of dict
        The runs, each its id columns (e.g. ``{"n_layers": 2, "seed": 0}``).
    alarms : DataFrame
        The id columns and ``step``: one row per alarm.
    events : DataFrame
        The id columns, ``event`` (its name) and ``event_step`` (NaN: the run has no such event); one row per
        (run, event).

    Returns
    -------
    per_event : DataFrame
        The id columns, ``event``, ``event_step``, ``lead_decades``, ``early`` (events with a step only).
    per_alarm : DataFrame
        The id columns, ``step``, ``kind`` (early, late, false), ``lead_decades``.
    """
    per_event, per_alarm = [], []
    for run in runs:
        mine_a = select_run(alarms, run)
        mine_e = select_run(events, run)
        mine_e = mine_e[np.isfinite(mine_e["event_step"].to_numpy(dtype=float))].sort_values("event_step")
        steps = mine_a["step"].to_numpy(dtype=float)
        for (e, lead, early), name in zip(event_leads(steps, mine_e["event_step"]), mine_e["event"]):
            per_event.append({**run, "event": name, "event_step": e, "lead_decades": lead, "early": early})
        for a, kind, lead in alarm_kinds(steps, mine_e["event_step"]):
            per_alarm.append({**run, "step": a, "kind": kind, "lead_decades": lead})
    keys = list(runs[0]) if runs else []
    return (pd.DataFrame(per_event, columns=[*keys, "event", "event_step", "lead_decades", "early"]),
            pd.DataFrame(per_alarm, columns=[*keys, "step", "kind", "lead_decades"]))


def select_run(table: pd.DataFrame, run: dict) -> pd.DataFrame:
    """The rows of ``table`` whose id columns hold ``run``'s values."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in run.items():
        mask &= (table[key] == value).to_numpy()
    return table[mask]


def monitor_row(claim: str, experiment: str, event_name: str, runs: list[dict], label, alarms: pd.DataFrame,
                events: pd.DataFrame, thresholds: dict) -> ClaimRow:
    """Row C7-<experiment> (module docstring).

    Parameters
    ----------
    claim, experiment : str
        The row's id and experiment.
    event_name : str
        What an event is, for the metric (e.g. "start of a 2+ layer run's detected ICL window").
    runs, alarms, events
        As in :func:`lead_tables`.
    label : callable
        ``label(run)`` names a run in the note.
    thresholds : dict
        ``monitor_caught_fraction`` and ``monitor_false_alarms_per_run``.
    """
    per_event, per_alarm = lead_tables(runs, alarms, events)
    value = float(per_event["early"].mean()) if len(per_event) else math.nan
    n_false = int((per_alarm["kind"] == "false").sum())
    allowed = thresholds["monitor_false_alarms_per_run"] * len(runs)
    full = len(per_event) > 0 and value >= thresholds["monitor_caught_fraction"] and n_false <= allowed
    parts = []
    for run in runs:
        ev, al = select_run(per_event, run), select_run(per_alarm, run)
        leads = ", ".join(f"{name} {fmt(e, '.0f')}: lead {fmt(lead, '+.2f')}" for name, e, lead
                          in zip(ev["event"], ev["event_step"], ev["lead_decades"])) or "no event"
        alarm_text = ", ".join(f"{fmt(a, '.0f')} ({kind})" for a, kind in zip(al["step"], al["kind"])) or "none"
        parts.append(f"{label(run)}: {leads}; alarms {alarm_text}")
    note = (f"{int(per_event['early'].sum())} of {len(per_event)} events caught early; false alarms {n_false} "
            f"(allowed {fmt(allowed, '.3g')}), late alarms {int((per_alarm['kind'] == 'late').sum())}; "
            + "; ".join(parts) + "; lead = log10(event / alarm) in decades, negative = after the event")
    return ClaimRow(claim, experiment,
                    f"fraction of events ({event_name}) with a monitor alarm {EARLY_DECADES[0]}-{EARLY_DECADES[1]:g} "
                    f"decade of steps before them (false alarms at most {thresholds['monitor_false_alarms_per_run']:g} "
                    f"per run)", value, thresholds["monitor_caught_fraction"],
                    verdict(full, bool(per_event["early"].any())), note)


def alarm_steps(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The alarms of a monitor table (rows of series ``monitor``, measure ``alarm``, value 1) as the id
    columns ``keys`` and ``step``."""
    fired = table[(table["series"] == "monitor") & (table["measure"] == "alarm") & (table["value"] == 1.0)]
    return fired[[*keys, "step"]].reset_index(drop=True)
