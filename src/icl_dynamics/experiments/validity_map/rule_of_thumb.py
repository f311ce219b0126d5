"""The rule of thumb of row L7 (see the package docstring for its form and why): where the closed form's
worst per-mode R^2 reaches the threshold, fitted on one part of the grid and scored on the other."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.experiments.validity_map.table import wide_cells


def held_out(cells: pd.DataFrame, kind: str) -> np.ndarray:
    """Which cells score the rule (True) and which fit it (False), from their grid positions alone.

    ``checkerboard``: held out where the sum of the cell's indices along N, ratio and lr is odd;
    ``alternate_N``: held out where N is the 2nd, 4th, ... smallest of the grid's N values.
    """
    index = {axis: cells[axis].rank(method="dense").astype(int).to_numpy() - 1 for axis in ("N", "ratio", "lr")}
    if kind == "checkerboard":
        return (index["N"] + index["ratio"] + index["lr"]) % 2 == 1
    if kind == "alternate_N":
        return index["N"] % 2 == 1
    raise ValueError(f"unknown holdout {kind!r}; allowed: checkerboard, alternate_N")


def rule_statistic(N, aniso) -> np.ndarray:
    """x = N / (sum_a (s_a - s_min) / s_min); infinite for an isotropic spectrum."""
    N, aniso = np.asarray(N, dtype=float), np.asarray(aniso, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(aniso > 0, N / np.where(aniso > 0, aniso, 1.0), np.inf)


def fit_threshold(x, passed) -> float:
    """The c of the rule 'passes when x >= c' with the fewest misclassified cells.

    Candidates are geometric midpoints between consecutive distinct finite values of x, plus half the
    smallest and twice the largest; among equally good candidates the middle one (by rank, the lower of
    two) is taken. Infinite x always counts as passing. Returns 0.0 where no x is finite.
    """
    x, passed = np.asarray(x, dtype=float), np.asarray(passed, dtype=bool)
    values = np.unique(x[np.isfinite(x)])
    if values.size == 0:
        return 0.0
    candidates = np.concatenate([[values[0] / 2], np.sqrt(values[:-1] * values[1:]), [values[-1] * 2]])
    errors = np.array([np.sum((x >= c) != passed) for c in candidates])
    best = np.flatnonzero(errors == errors.min())
    return float(candidates[best[(best.size - 1) // 2]])


def rule_of_thumb(table: pd.DataFrame, r2_threshold: float, holdout: str) -> dict:
    """Fit the rule 'closed form worst per-mode R^2 >= r2_threshold when N >= c * sum_a (s_a - s_min) / s_min'
    on the fitting cells (:func:`held_out` False) and score it on the held-out ones.

    Returns c; per part (``fit``, ``held_out``) the cells, how many the rule puts on the observed side
    (``correct``) and ``accuracy``; the held-out accuracy of the majority-class rule of the fitting part
    (``baseline_accuracy``); the misclassified held-out cells; and how many cells each theory passes.
    """
    cells = wide_cells(table)
    hold = held_out(cells, holdout)
    x = rule_statistic(cells["N"], cells["anisotropy"])
    passed = (cells["worst_r2_closed"] >= r2_threshold).to_numpy()
    c = fit_threshold(x[~hold], passed[~hold])
    predicted = x >= c
    majority = bool(np.mean(passed[~hold]) >= 0.5) if np.any(~hold) else True
    parts = {}
    for part, mask in (("fit", ~hold), ("held_out", hold)):
        correct = int(np.sum(predicted[mask] == passed[mask]))
        parts[part] = {"cells": cells["cell"][mask].tolist(), "correct": correct, "n": int(mask.sum()),
                       "accuracy": correct / mask.sum() if mask.any() else float("nan")}
    wrong = hold & (predicted != passed)
    return {"c": c, "r2_threshold": r2_threshold, "holdout": holdout, **parts,
            "baseline_accuracy": float(np.mean(passed[hold] == majority)) if hold.any() else float("nan"),
            "misclassified": [{"cell": cell, "x": float(xi), "worst_r2_closed": float(r2)}
                              for cell, xi, r2 in zip(cells["cell"][wrong], x[wrong], cells["worst_r2_closed"][wrong])],
            "n_cells": len(cells), "closed_pass": int(passed.sum()),
            "exact_pass": int((cells["worst_r2_exact"] >= r2_threshold).sum()),
            "grid": {axis: sorted(cells[axis].unique().tolist()) for axis in ("N", "ratio", "s_ratio", "lr")}}
