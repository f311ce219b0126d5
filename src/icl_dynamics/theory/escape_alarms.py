"""The online monitor's alarm rule applied to the linear model's mode escapes (docs/science.md, section
"Online monitor (claim C7)", predictions P1-P3).

The closed form (Eq. 13) gives every mode's strength a_a(t) from a balanced start; with U = I the learned
p2 q1 is M(t) = diag(a(t)). The monitor reads it as one head whose QK and OV circuits both equal M(t)
(W_Q = W_V = diag(a), W_K = W_O = I) at log-spaced steps, and each mode's half-rise (Eq. 13's escape time)
is an event: an alarm is *early* if it comes between 0.05 and 1 decade before the next half-rise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.monitor import replay_monitor
from icl_dynamics.theory.closed_form import escape_time, logistic_mode_strength

EARLY_DECADES = (0.05, 1.0)
"""An alarm between these many decades before an event is early (issue 24's definition of row C7)."""


def matrix_circuit_stack(steps, M) -> dict[str, np.ndarray]:
    """A checkpoint stack whose single head has QK = OV = M(t): ``step`` (T,), ``W_Q = W_V = M`` and
    ``W_K = W_O = I``, each of shape (T, 1, 1, d, d) (one layer, one head, d_model = d_head = d), for
    ``M`` of shape (T, d, d)."""
    M = np.asarray(M, dtype=float)
    T, d, _ = M.shape
    eye = np.broadcast_to(np.eye(d), (T, 1, 1, d, d)).copy()
    return {"step": np.asarray(steps), "W_Q": M[:, None, None], "W_K": eye, "W_V": M[:, None, None].copy(), "W_O": eye}


def diagonal_circuit_stack(steps, a: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`matrix_circuit_stack` of M(t) = diag(a(t)), ``a`` of shape (T, d)."""
    a = np.asarray(a, dtype=float)
    T, d = a.shape
    diag = np.zeros((T, d, d))
    diag[:, np.arange(d), np.arange(d)] = a
    return matrix_circuit_stack(steps, diag)


def escape_alarms(s, N: int, a0: float, lr: float, last_step: float, per_decade: int = 40, **monitor,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay the monitor over Eq. 13's a(t) and place its alarms against each mode's half-rise.

    Parameters
    ----------
    s : array_like, shape (d,)
        Spectrum of the input covariance.
    N : int
        Context length.
    a0 : float
        Balanced initial strength p_a(0) q_a(0) of every mode.
    lr : float
        SGD step: time t = lr x step.
    last_step : float
        Last checkpoint; checkpoints at ``per_decade`` log-spaced integer steps per decade from step 1.
    **monitor
        Settings of :class:`icl_dynamics.measures.monitor.TrainingMonitor` (defaults: the rule's).

    Returns
    -------
    modes : DataFrame
        Per mode (``mode`` 1..d, by decreasing s): ``s``, ``half_rise_step``, ``alarm_step`` (the last alarm
        before its half-rise and after the previous mode's, NaN if none), ``lead_decades``
        (log10(half_rise / alarm)) and ``early`` (lead within :data:`EARLY_DECADES`).
    table : DataFrame
        The monitor's rows.
    """
    s = np.sort(np.asarray(s, dtype=float))[::-1]
    steps = np.unique(np.round(np.geomspace(1, last_step, int(per_decade * np.log10(last_step)) + 1)).astype(int))
    a = logistic_mode_strength(lr * steps, s, N, a0)
    table, m = replay_monitor(diagonal_circuit_stack(steps, a), **monitor)
    half = escape_time(s, N, a0) / lr
    alarms = np.asarray(m.alarms, dtype=float)
    rows, previous = [], 0.0
    for mode, (s_a, h) in enumerate(zip(s, half), start=1):
        before = alarms[(alarms > previous) & (alarms <= h)]
        alarm = before[-1] if before.size else np.nan
        lead = np.log10(h / alarm) if before.size else np.nan
        rows.append({"mode": mode, "s": s_a, "half_rise_step": h, "n_alarms": int(before.size), "alarm_step": alarm,
                     "lead_decades": lead, "early": bool(EARLY_DECADES[0] <= lead <= EARLY_DECADES[1])})
        previous = h
    return pd.DataFrame(rows), table


def alarms_after_last_escape(modes: pd.DataFrame, table: pd.DataFrame) -> list[float]:
    """Steps of alarms after the last half-rise (no event follows them)."""
    fired = table[(table["series"] == "monitor") & (table["measure"] == "alarm") & (table["value"] == 1.0)]
    return [float(step) for step in fired["step"] if step > modes["half_rise_step"].max()]
