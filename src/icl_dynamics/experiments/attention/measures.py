"""Measures of the attention-only runs (docs/science.md sections 5 and 7): per-head circuit spectra over
checkpoints and the emergence window of the ICL score.

Uses the shared measures (:func:`icl_dynamics.measures.summary.circuit_spectral_measures` on the factored QK and
OV circuits, :func:`icl_dynamics.measures.events.detect_transition`); this module only arranges a run's
checkpoint stack (``icl_dynamics.experiments.attention.run.train_attention_run``) into their inputs and their
outputs into tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from icl_dynamics.measures.events import detect_transition
from icl_dynamics.measures.summary import circuit_spectral_measures, long_table
WINDOW_COLUMNS = ["layers", "seed", "detected", "start", "middle", "end", "width_decades", "icl_before", "icl_after",
                  "icl_drop"]


def circuit_measures(checkpoints: dict, settings: dict, layers: int, seed: int) -> pd.DataFrame:
    """Spectral measures of every head's QK (``W_Q W_K^T``) and OV (``W_V W_O``) circuit at every checkpoint.

    Parameters
    ----------
    checkpoints : dict
        ``step`` (T,), ``W_Q, W_K, W_V`` (T, layers, heads, d_model, d_head), ``W_O`` (T, layers, heads,
        d_head, d_model). The last checkpoint is the final weights ``M(inf)``.
    settings : dict
        The validated ``measures:`` section.
    layers, seed : int
        Identify the run in the table.

    Returns
    -------
    DataFrame in the long-table format (:func:`icl_dynamics.measures.summary.long_table`): ``layers, seed,
    step, series`` (QK or OV)``, layer, head, measure, value``: effective rank, marginalised effective
    ranks, stable rank, subspace distance to the final circuit and mode strengths.
    """
    steps = np.asarray(checkpoints["step"])
    return pd.concat([long_table(steps, circuit, measures, layers=layers, seed=seed)
                      for circuit, measures in circuit_spectral_measures(checkpoints, settings).items()],
                     ignore_index=True)


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

    Returns a dict with the keys of :data:`WINDOW_COLUMNS` except ``layers`` and ``seed``; the step
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
