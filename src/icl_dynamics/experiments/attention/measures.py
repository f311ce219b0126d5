"""Measures of the attention-only runs (docs/science.md sections 5 and 7) beyond the per-head circuit
spectra (which :func:`icl_dynamics.measures.summary.circuit_table` computes from a run's checkpoint stack, as
for every experiment): the emergence window of the ICL score
(:func:`icl_dynamics.measures.events.detect_transition`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from icl_dynamics.measures.events import detect_transition
WINDOW_COLUMNS = ["n_layers", "seed", "detected", "start", "middle", "end", "width_decades", "icl_before", "icl_after",
                  "icl_drop"]


def _value_at_or_before(steps: np.ndarray, values: np.ndarray, step: float) -> float:
    return float(values[np.searchsorted(steps, step, side="right") - 1])


def _value_at_or_after(steps: np.ndarray, values: np.ndarray, step: float) -> float:
    return float(values[min(np.searchsorted(steps, step, side="left"), len(steps) - 1)])


def emergence_window(metrics: pd.DataFrame, transition: dict) -> dict:
    """The ICL emergence window of one run, detected from its ICL score.

    Rule: :func:`detect_transition` on (step, ``icl_score``) with the ``measures.transition`` settings
    (start and end where the score has made ``low_fraction`` and ``high_fraction`` of its net change, on a
    log-step axis). Only a *fall* of the score (in-context learning improving) counts as emergence.
    ``icl_before``/``icl_after`` are the scores at the last checkpoint at or before ``start`` and the
    first at or after ``end``; ``icl_drop = icl_before - icl_after``.

    Returns a dict with the keys of :data:`WINDOW_COLUMNS` except ``n_layers`` and ``seed``; the step
    entries are NaN when no window is detected.
    """
    steps = metrics["step"].to_numpy(dtype=float)
    icl = metrics["icl_score"].to_numpy(dtype=float)
    found = detect_transition(steps, icl, **transition)
    if found is not None and icl[-1] >= icl[steps > 0][0]:
        found = None  # a rise of the score is not in-context learning emerging
    if found is None:
        return {"detected": False, "start": math.nan, "middle": math.nan, "end": math.nan,
                "width_decades": math.nan, "icl_before": math.nan, "icl_after": math.nan, "icl_drop": math.nan}
    before = _value_at_or_before(steps, icl, found.start)
    after = _value_at_or_after(steps, icl, found.end)
    return {"detected": True, "start": found.start, "middle": found.middle, "end": found.end,
            "width_decades": math.log10(found.end / found.start), "icl_before": before, "icl_after": after,
            "icl_drop": before - after}
