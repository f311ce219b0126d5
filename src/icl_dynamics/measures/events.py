"""Events of training curves: the window of a curve's main rise or fall (e.g. ICL emergence) and the
cliffs of a staged loss curve."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from icl_dynamics.measures.settings import CLIFF_DEFAULTS, DEFAULTS
from icl_dynamics.measures.svd import as_float64

TRANSITION = DEFAULTS["transition"]


class Cliffs(NamedTuple):
    """Cliffs found by :func:`count_cliffs`: how many, and the step of each (its drop rate's peak)."""

    count: int
    steps: np.ndarray


class Transition(NamedTuple):
    """A detected transition, in step units: where the curve passes the low, half and high levels."""

    start: float
    middle: float
    end: float


def _moving_average(values: np.ndarray, points: int) -> np.ndarray:
    """Centred moving average over ``points`` samples (odd), the window shrinking at both ends."""
    half = points // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(values.size)
    lo = np.maximum(index - half, 0)
    hi = np.minimum(index + half + 1, values.size)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def _crossing(x: np.ndarray, f: np.ndarray, level: float, after: int) -> float | None:
    """Log-step where ``f`` first reaches ``level`` at an index > ``after``, linearly interpolated."""
    reached = np.nonzero(f[after + 1 :] >= level)[0]
    if reached.size == 0:
        return None
    j = after + 1 + reached[0]
    return x[j - 1] + (level - f[j - 1]) / (f[j] - f[j - 1]) * (x[j] - x[j - 1])


def detect_transition(
    steps,
    values,
    *,
    low_fraction: float = TRANSITION["low_fraction"],
    high_fraction: float = TRANSITION["high_fraction"],
    min_relative_change: float = TRANSITION["min_relative_change"],
    min_signal_to_noise: float = TRANSITION["min_signal_to_noise"],
    max_width_decades: float = TRANSITION["max_width_decades"],
    smoothing: int = TRANSITION["smoothing"],
) -> Transition | None:
    """Find the main rise or fall of a curve on a log-step axis, or None when it has no clear one.

    The rule (all parameters are config values under ``measures.transition``; their defaults are the
    schema's):

    1. Keep the points with ``step > 0`` and put them on ``x = log10(step)``.
    2. Smooth the values with a centred moving average over ``smoothing`` points (1: no smoothing) to get
       ``y``. The total change is ``D = y[-1] - y[0]``; the normalised curve ``f = (y - y[0]) / D`` goes
       from 0 to 1 whether the curve rises or falls.
    3. The curve has a clear transition only if
       - ``|D| >= min_relative_change * (max(y) - min(y))``: the net change dominates its excursions;
       - ``|D| >= min_signal_to_noise * sigma``, with the noise level ``sigma`` estimated robustly from
         the raw values' successive differences, ``sigma = 1.4826 * median|v[j+1] - v[j]| / sqrt(2)``.
    4. ``end`` is where ``f`` first reaches ``high_fraction``; ``start`` is where ``f`` last rises through
       ``low_fraction`` before that; ``middle`` is where ``f`` first reaches 1/2 after ``start``. Each is
       linearly interpolated between samples in ``x``.
    5. The transition is rejected if ``x(end) - x(start) > max_width_decades``.

    Parameters
    ----------
    steps : array_like, shape (n,)
        Increasing training steps (or epochs, tokens seen).
    values : array_like, shape (n,)
        The curve, e.g. the ICL score at each step.
    low_fraction, high_fraction : float
        Fractions of the total change that bound the window, ``0 < low < 1/2 < high < 1``.
    min_relative_change : float
        Minimum ``|D| / (max(y) - min(y))``, in (0, 1].
    min_signal_to_noise : float
        Minimum ``|D| / sigma``.
    max_width_decades : float
        Maximum width of the window in decades of steps.
    smoothing : int
        Odd number of points of the moving average.

    Returns
    -------
    Transition or None
        ``start``, ``middle``, ``end`` in step units (``10**x``).
    """
    steps, values = as_float64(steps), as_float64(values)
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(f"steps {steps.shape} and values {values.shape} must be 1-D of the same length")
    if not 0 < low_fraction < 0.5 < high_fraction < 1:
        raise ValueError(f"need 0 < low_fraction ({low_fraction}) < 0.5 < high_fraction ({high_fraction}) < 1")
    if smoothing < 1 or smoothing % 2 == 0:
        raise ValueError(f"smoothing must be an odd number of points >= 1, not {smoothing}")
    positive = steps > 0
    x, v = np.log10(steps[positive]), values[positive]
    if x.size < 3:
        return None
    y = _moving_average(v, smoothing)
    change = y[-1] - y[0]
    # 1.4826 median|.| is the standard deviation of Gaussian noise (a constant of the estimator, not a choice)
    sigma = 1.4826 * np.median(np.abs(np.diff(v))) / np.sqrt(2.0)
    if change == 0 or abs(change) < min_relative_change * np.ptp(y) or abs(change) < min_signal_to_noise * sigma:
        return None
    f = (y - y[0]) / change
    end_index = int(np.nonzero(f >= high_fraction)[0][0])
    start_index = int(np.nonzero(f[:end_index] <= low_fraction)[0][-1])
    x_start = _crossing(x, f, low_fraction, start_index)
    x_end = _crossing(x, f, high_fraction, start_index)
    x_middle = _crossing(x, f, 0.5, start_index)  # 1/2: the definition of the middle, not a choice
    if x_end - x_start > max_width_decades:
        return None
    return Transition(10**x_start, 10**x_middle, 10**x_end)


def largest_fall_within(steps, values, decades: float) -> float:
    """The largest fall of a curve inside any window ``decades`` wide on a log-step axis.

    ``max (v_i - v_j)`` over pairs of points ``step_i < step_j <= step_i * 10**decades`` (steps > 0 only);
    0 when the curve never falls. It measures how sudden a change is: the part of a curve's fall that
    happens within a short stretch of training, whatever slow drift surrounds it.
    """
    steps, values = as_float64(steps), as_float64(values)
    positive = steps > 0
    x, v = np.log10(steps[positive]), values[positive]
    later = x[None, :] > x[:, None]
    within = later & (x[None, :] - x[:, None] <= decades + 1e-12)  # 1e-12: log10 rounding, not a choice
    falls = np.where(within, v[:, None] - v[None, :], 0.0)
    return float(max(falls.max(initial=0.0), 0.0))


def count_cliffs(steps: np.ndarray, loss: np.ndarray, prominence: float = CLIFF_DEFAULTS["prominence"],
                 min_drop: float = CLIFF_DEFAULTS["min_drop"], smoothing: float = CLIFF_DEFAULTS["smoothing"],
                 n_grid: int = CLIFF_DEFAULTS["n_grid"]) -> Cliffs:
    """Cliffs of a loss curve on a log-step axis.

    log L is resampled on a uniform grid of ``n_grid`` points in ln(step) and smoothed with a Gaussian of
    standard deviation
    ``smoothing`` (in ln(step); SGD noise on a plateau otherwise makes spurious peaks, while a cliff is
    several times wider); the drop rate r = -d log L / d ln(step) is
    computed; a cliff is a peak of r with prominence >= ``prominence`` x max(r) whose drop in log L
    between the peak's bases is >= ``min_drop`` x the whole run's drop in log L (so fluctuations on a
    plateau do not count). The defaults are the schema's ``linear.thresholds.cliff_*``. Returns
    :class:`Cliffs` (count, steps of the cliffs).
    """
    mask = steps >= 1
    log_s = np.log(steps[mask])
    grid = np.linspace(log_s[0], log_s[-1], n_grid)
    log_loss = gaussian_filter1d(np.interp(grid, log_s, np.log(loss[mask])), smoothing / (grid[1] - grid[0]),
                                 mode="nearest")
    rate = np.concatenate([[0.0], -np.gradient(log_loss, grid), [0.0]])
    total_drop = log_loss[0] - log_loss.min()
    if rate.max() <= 0 or total_drop <= 0:
        return Cliffs(0, np.array([]))
    peaks, props = find_peaks(rate, prominence=prominence * rate.max())
    padded = np.concatenate([[log_loss[0]], log_loss, [log_loss[-1]]])
    drops = padded[props["left_bases"]] - padded[props["right_bases"]]
    keep = peaks[drops >= min_drop * total_drop]
    return Cliffs(len(keep), np.exp(grid[keep - 1]))
