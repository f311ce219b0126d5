"""Scorecard row L7: a rule of thumb for where the closed form (Eq. 13) holds, read off the validity map,
fitted on one part of the grid and scored on the other (:mod:`.rule_of_thumb`)."""

from __future__ import annotations

import numpy as np

from icl_dynamics.scorecard import ClaimRow, fmt, verdict

EXPERIMENT = "linear_transformer_validity"


def claim_ids(section: dict) -> list[str]:
    """The scorecard rows the validity map writes (``section`` is ``linear``, which holds its config)."""
    return ["L7"]


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
