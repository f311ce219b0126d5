"""The monitor's alarm rule: a robust running z-score of the alarm statistic, with burn-in, a consecutive-
checkpoint requirement and one alarm per excursion (docs/science.md, section "Online monitor (claim C7)").

At kept checkpoint i (counted from 0) with a statistic V_c(i) for each circuit c,

    z_c(i) = (V_c(i) - median_c) / max(MAD_c, mad_floor),

median and MAD = median |V - median| over the values of V_c at the previous kept checkpoints less than
``window_decades`` decades of steps back (at most the last ``window`` of them; the current one excluded);
score(i) = max_c z_c(i). Checkpoint i *exceeds* if i >= ``burn_in`` and score(i) > ``threshold_mads``. The
alarm fires at the ``consecutive``-th consecutive exceedance; after it no alarm fires again until a
checkpoint does not exceed. Memory: ``window`` values per circuit.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from icl_dynamics.measures.settings import DEFAULTS

MONITOR_DEFAULTS = DEFAULTS["monitor"]
"""Defaults of the monitor and its rule, fixed from theory in docs/science.md ("Online monitor (claim C7)"):
the schema's ``measures.monitor`` (the one place they are written); read-only."""

RULE_KEYS = ("window_decades", "window", "burn_in", "threshold_mads", "consecutive", "mad_floor")


def monitor_settings(**overrides) -> dict:
    """:data:`MONITOR_DEFAULTS` with ``overrides``, checked: integers >= 1 (``lag``, ``window``, ``consecutive``),
    >= 0 (``burn_in``), positive numbers (``threshold_mads``, ``mad_floor``), ``min_spacing_decades`` >= 0."""
    unknown = set(overrides) - set(MONITOR_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown monitor setting(s) {sorted(unknown)}; known: {sorted(MONITOR_DEFAULTS)}")
    s = {**MONITOR_DEFAULTS, **overrides}
    for key in ("lag", "window", "consecutive"):
        if not isinstance(s[key], (int, np.integer)) or s[key] < 1:
            raise ValueError(f"monitor setting {key} = {s[key]!r} must be an integer >= 1")
    if not isinstance(s["burn_in"], (int, np.integer)) or s["burn_in"] < 0:
        raise ValueError(f"monitor setting burn_in = {s['burn_in']!r} must be an integer >= 0")
    for key in ("threshold_mads", "mad_floor", "window_decades"):
        if not s[key] > 0:
            raise ValueError(f"monitor setting {key} = {s[key]!r} must be > 0")
    if not s["min_spacing_decades"] >= 0:
        raise ValueError(f"monitor setting min_spacing_decades = {s['min_spacing_decades']!r} must be >= 0")
    return s


class AlarmRule:
    """The stateful rule; feed it one kept checkpoint at a time with :meth:`update`.

    Parameters
    ----------
    window_decades, window, burn_in, threshold_mads, consecutive, mad_floor
        As in the module docstring (defaults: :data:`MONITOR_DEFAULTS`).
    """

    def __init__(self, window_decades: float = MONITOR_DEFAULTS["window_decades"],
                 window: int = MONITOR_DEFAULTS["window"], burn_in: int = MONITOR_DEFAULTS["burn_in"],
                 threshold_mads: float = MONITOR_DEFAULTS["threshold_mads"],
                 consecutive: int = MONITOR_DEFAULTS["consecutive"], mad_floor: float = MONITOR_DEFAULTS["mad_floor"]):
        self.window_decades, self.window = window_decades, window
        self.burn_in, self.threshold_mads = burn_in, threshold_mads
        self.consecutive, self.mad_floor = consecutive, mad_floor
        self.history: dict[str, deque] = {}
        self.index = -1      # index of the last kept checkpoint
        self.run = 0         # consecutive exceedances so far
        self.armed = True    # False from an alarm until the next checkpoint that does not exceed

    def _z(self, circuit: str, value: float, u: float) -> float:
        past = self.history.setdefault(circuit, deque(maxlen=self.window))
        z = math.nan
        base = np.array([v for u_j, v in past if u_j > u - self.window_decades])
        if base.size and np.isfinite(value):
            median = float(np.median(base))
            mad = float(np.median(np.abs(base - median)))
            z = (value - median) / max(mad, self.mad_floor)
        if np.isfinite(value):
            past.append((u, value))
        return z

    def update(self, statistics: dict[str, float] | None, u: float = 0.0) -> tuple[dict[str, float], float, bool]:
        """Advance by one kept checkpoint.

        Parameters
        ----------
        statistics : dict of str to float, or None
            The alarm statistic of each circuit at this checkpoint; None while it does not exist yet (the
            first ``lag`` kept checkpoints), which still counts towards the burn-in.
        u : float
            ``log10(step)`` of the checkpoint (the baseline keeps values less than ``window_decades`` back).

        Returns
        -------
        z : dict of str to float
            ``z_c`` per circuit (NaN without a baseline).
        score : float
            ``max_c z_c`` (NaN if none is finite).
        fired : bool
            Whether the alarm fires at this checkpoint.
        """
        self.index += 1
        z = {c: self._z(c, float(v), u) for c, v in (statistics or {}).items()}
        finite = [v for v in z.values() if np.isfinite(v)]
        score = max(finite) if finite else math.nan
        exceeds = self.index >= self.burn_in and bool(finite) and score > self.threshold_mads
        if not exceeds:
            self.run, self.armed = 0, True
            return z, score, False
        self.run += 1
        fired = self.armed and self.run >= self.consecutive
        if fired:
            self.armed = False
        return z, score, fired
