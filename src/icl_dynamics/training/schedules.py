"""Checkpoint schedules: the steps at which a training run records metrics and weights."""

from __future__ import annotations

import numpy as np


def interval_steps(total_steps: int, every: int) -> list[int]:
    """``[0, every, 2 every, ..., total_steps]`` (``total_steps`` always included)."""
    if every < 1:
        raise ValueError("every must be >= 1")
    return sorted(set(range(0, total_steps + 1, every)) | {total_steps})


def log_spaced_steps(total_steps: int, n: int, dense_window: tuple[int, int] | None = None,
                     n_dense: int = 0) -> list[int]:
    """About ``n`` log-spaced steps in ``[0, total_steps]`` (0 and ``total_steps`` included).

    With ``dense_window=(lo, hi)``, ``n_dense`` further linearly spaced steps in ``[lo, hi]`` are
    added (e.g. around a phase change). Duplicates from rounding are removed, so the list may be
    shorter than ``n + n_dense``.
    """
    steps = {0, total_steps}
    if total_steps >= 1 and n > 0:
        steps |= {int(round(s)) for s in np.geomspace(1, total_steps, n)}
    if dense_window is not None and n_dense > 0:
        lo, hi = max(0, dense_window[0]), min(total_steps, dense_window[1])
        steps |= {int(round(s)) for s in np.linspace(lo, hi, n_dense)}
    return sorted(steps)
