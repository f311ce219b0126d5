"""Scorecard row M1: the effective rank of the linear model's p2 q1 climbs in steps timed by the theory.

In the aligned case the theory predicts the singular values of ``p2 q1`` (they are ``|a_a(t)|``), hence its
whole effective-rank curve. From ``eps^2 I`` (rank d) the effective rank falls to about 1 when the first
mode escapes and then climbs by about one as each further mode is learned, the k-th step at the k-th
half-rise step ``t_k`` of the exact mean flow. Row M1 checks (i) that the simulated curve follows the
predicted one after the first escape and (ii) that it shows the staircase: one upward step per further
distinct mode, read off at the plateaus between the predicted half-rise steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.claims.scorecard import ClaimRow
from icl_dynamics.measures.linear_runs import measure_curves

EXPERIMENT = "linear_transformer_measures"


def plateau_steps(half_steps, last_step: float) -> np.ndarray:
    """Steps at which the rank staircase is read: the geometric midpoints ``sqrt(t_k t_(k+1))`` of the
    sorted half-rise steps ``t_1 <= ... <= t_d``, then ``last_step`` (the end of the run): d values."""
    t = np.sort(np.asarray(half_steps, dtype=float))
    return np.append(np.sqrt(t[:-1] * t[1:]), float(last_step))


def value_at(steps, values, at) -> np.ndarray:
    """``values`` at the steps ``at``, linearly interpolated in ``log(step)`` (steps > 0 only)."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    keep = steps > 0
    return np.interp(np.log(np.asarray(at, dtype=float)), np.log(steps[keep]), values[keep])


def upward_steps(plateaus, tol: float) -> int:
    """Number of consecutive plateau values that rise by more than ``tol``."""
    return int(np.sum(np.diff(np.asarray(plateaus, dtype=float)) > tol))


def rank_staircase(table: pd.DataFrame, half_steps, tol: float) -> dict:
    """Simulated vs predicted effective rank of ``p2 q1`` for one setting.

    Parameters
    ----------
    table : DataFrame
        :func:`icl_dynamics.measures.linear_runs.p2q1_measures` table of the setting.
    half_steps : array_like, shape (d,)
        The exact mean flow's half-rise step of each mode (``comparison.json`` ``half_time["exact"]``).
    tol : float
        Rank tolerance (``linear.thresholds.rank_step_tol``).

    Returns
    -------
    dict with ``max_deviation`` = ``max_t |mean_seeds erank_sim(t) - mean_seeds erank_theory(t)|`` over the
    logged steps ``t >= min(half_steps)``; ``plateau_steps``, ``sim_plateaus`` and ``theory_plateaus`` (the
    seed-mean curves at :func:`plateau_steps`); ``sim_up`` and ``theory_up`` (:func:`upward_steps`).
    """
    steps, sim = measure_curves(table, "effective_rank")
    theory_steps, theory = measure_curves(table, "effective_rank_theory_exact")
    if not np.array_equal(steps, theory_steps):
        raise ValueError("simulated and theory effective ranks are on different steps")
    sim, theory = sim.mean(axis=0), theory.mean(axis=0)
    after = steps >= np.min(half_steps)
    at = plateau_steps(half_steps, steps[-1])
    sim_plateaus, theory_plateaus = value_at(steps, sim, at), value_at(steps, theory, at)
    return {"max_deviation": float(np.max(np.abs(sim[after] - theory[after]))), "first_half_step": float(np.min(half_steps)),
            "plateau_steps": at, "sim_plateaus": sim_plateaus, "theory_plateaus": theory_plateaus,
            "sim_up": upward_steps(sim_plateaus, tol), "theory_up": upward_steps(theory_plateaus, tol)}


def _fmt(values, digits=3):
    return "[" + ", ".join(f"{v:.{digits}g}" for v in values) + "]"


def rank_staircase_row(runs: dict, tol: float) -> ClaimRow:
    """Row M1 from ``runs`` = {setting: (measures table, comparison dict)} of aligned-init settings.

    Verdict: ``reproduced`` when every setting's simulated effective rank stays within ``tol`` of the
    prediction after the first half-rise *and* shows ``distinct - 1`` upward steps (``d - 1`` for distinct
    eigenvalues); ``partial`` when only one of the two holds in every setting, or both hold only in some
    settings; ``not_reproduced`` otherwise. Random-init settings are refused: neither theory describes
    their p2 q1.
    """
    results, notes = {}, []
    for name, (table, comp) in runs.items():
        if comp["init"] != "aligned":
            raise ValueError(f"setting {name} has a {comp['init']} init; M1 needs the aligned init")
        r = rank_staircase(table, comp["half_time"]["exact"], tol)
        expected = comp["distinct_eigenvalues"] - 1
        r.update(expected=expected, close=r["max_deviation"] <= tol, stairs=r["sim_up"] == expected)
        results[name] = r
        notes.append(f"{name} (d = {len(comp['s'])}): max |erank_sim - erank_theory| = {r['max_deviation']:.3f} "
                     f"after step {r['first_half_step']:.0f}; erank at steps {_fmt(r['plateau_steps'], 4)} "
                     f"(midpoints of theory half-rises, then end): simulation {_fmt(r['sim_plateaus'])}, theory "
                     f"{_fmt(r['theory_plateaus'])}; {r['sim_up']} upward steps > {tol} in simulation "
                     f"({r['theory_up']} in theory), expected {expected} = distinct eigenvalues - 1 "
                     f"({'equal' if r['stairs'] else 'NOT equal'})")
    close = [r["close"] for r in results.values()]
    stairs = [r["stairs"] for r in results.values()]
    if all(close) and all(stairs):
        verdict = "reproduced"
    elif all(close) or all(stairs) or any(c and s for c, s in zip(close, stairs)):
        verdict = "partial"
    else:
        verdict = "not_reproduced"
    worst = max(r["max_deviation"] for r in results.values())
    return ClaimRow("M1", EXPERIMENT,
                    "max |seed-mean erank(p2 q1) - exact-mean-flow erank| after the first half-rise (aligned init)",
                    worst, tol, verdict, "; ".join(notes))
