"""Scorecard rows of the validity map: L7, a rule of thumb for where the closed form (Eq. 13) holds, fitted
on one part of the grid and scored on the other (:mod:`.rule_of_thumb`); L8, whether the finite-N closed
form (``theory.finite_n``, docs/science.md section 11) holds where the exact mean flow does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.experiments.validity_map.table import THEORIES, wide_cells
from icl_dynamics.scorecard import ClaimRow, fmt, verdict

EXPERIMENT = "linear_transformer_validity"


def claim_ids(section: dict) -> list[str]:
    """The scorecard rows the validity map writes (``section`` is ``linear``, which holds its config)."""
    return ["L7", "L8"]


def validity_row(rule: dict, thr: dict) -> ClaimRow:
    """L7 from :func:`.rule_of_thumb.rule_of_thumb`'s result.

    Value: the fraction of held-out cells on whose side of the R^2 threshold the rule puts them.
    Verdict: ``reproduced`` when it reaches ``validity_accuracy``; ``partial`` when it at least beats the
    fitting part's majority class (always pass or always fail) on the held-out cells.
    """
    held, acc = rule["held_out"], rule["held_out"]["accuracy"]
    row_verdict = verdict(acc >= thr["validity_accuracy"], acc > rule["baseline_accuracy"])
    wrong = "; ".join(f"{m['cell']} (N s_min / sum(s_a - s_min) = "
                      f"{fmt(m['x']) if np.isfinite(m['x']) else 'infinite, isotropic'}, R^2 "
                      f"{fmt(m['worst_r2_closed'], '.4f')})" for m in rule["misclassified"]) or "none"
    grid = rule["grid"]
    note = (f"rule: closed-form worst per-mode R^2 >= {fmt(rule['r2_threshold'])} when N >= {fmt(rule['c'])} x "
            f"sum_a (s_a - s_min) / s_min, c fitted on {rule['fit']['n']} cells ({rule['fit']['correct']} on the "
            f"right side) and scored on {held['n']} held-out cells ({rule['holdout']} split): {held['correct']} "
            f"right; the majority-class rule of the fitting cells gets {fmt(rule['baseline_accuracy'])}. "
            f"Misclassified: {wrong}. Over the grid (N {fmt(grid['N'], 'g')} x s_min/s_max "
            f"{fmt(grid['s_ratio'])} x lr {fmt(grid['lr'], 'g')}) the closed form passes in {rule['closed_pass']}/"
            f"{rule['n_cells']} cells, the exact mean flow in {rule['exact_pass']}/{rule['n_cells']}.")
    return ClaimRow("L7", EXPERIMENT,
                    "fraction of held-out validity-map cells whose closed-form R^2 side the rule of thumb predicts",
                    acc, thr["validity_accuracy"], row_verdict, note)


THEORY_NAMES = {"closed": "Eq. 13", "exact": "the exact flow", "finite_n": "the finite-N form"}


def finite_n_row(table: pd.DataFrame, thr: dict) -> ClaimRow:
    """L8 from the validity map's long table: does the finite-N closed form hold where the exact mean flow
    holds?

    Value: of the cells where the exact flow's worst per-mode R^2 against SGD reaches ``r2``, the fraction
    where the finite-N form's does too. Verdict: ``reproduced`` when it reaches ``finite_n_capture``;
    ``partial`` when it at least captures more of those cells than Eq. 13 does. The note gives the cells
    each theory passes, the cells the finite-N form gains and loses against Eq. 13 and those where it passes
    and the exact flow does not, and each theory's largest fixed-point and half-rise errors over the map
    (the numbers rows L3 and L1 give on the settings).
    """
    cells = wide_cells(table)
    passed = {th: (cells[f"worst_r2_{th}"] >= thr["r2"]).to_numpy() for th in THEORIES}
    exact = passed["exact"]
    n_exact = int(exact.sum())
    captured = {th: float(np.sum(passed[th] & exact) / n_exact) if n_exact else float("nan") for th in THEORIES}
    value = captured["finite_n"]
    row_verdict = verdict(value >= thr["finite_n_capture"], value > captured["closed"])
    names = cells["cell"].to_numpy()

    def listed(mask):
        return ", ".join(names[mask]) or "none"

    errors = "; ".join(
        f"{THEORY_NAMES[th]}: fixed point {fmt(cells[f'fixed_point_rel_{th}'].max())}, half-rise "
        f"{fmt(cells[f'half_rise_rel_{th}'].max())}" for th in THEORIES)
    note = (f"of the {n_exact} cells where the exact flow reaches R^2 >= {fmt(thr['r2'])}, the finite-N form "
            f"does in {int(np.sum(passed['finite_n'] & exact))} and Eq. 13 in {int(np.sum(passed['closed'] & exact))} "
            f"({fmt(captured['closed'])}). Cells passed over the grid: "
            + ", ".join(f"{THEORY_NAMES[th]} {int(passed[th].sum())}/{len(cells)}" for th in THEORIES)
            + f". Gained over Eq. 13: {listed(passed['finite_n'] & ~passed['closed'])}. Lost against Eq. 13: "
            f"{listed(passed['closed'] & ~passed['finite_n'])}. Passes where the exact flow does not: "
            f"{listed(passed['finite_n'] & ~exact)}. Largest relative errors over the map's cells (fixed point where "
            f"converged): {errors}.")
    return ClaimRow("L8", EXPERIMENT,
                    "fraction of the cells where the exact mean flow holds (R^2 >= r2) where the finite-N closed form holds",
                    value, thr["finite_n_capture"], row_verdict, note)
