"""Macroscopic measures (docs/science.md section 5) of the linear transformer's learned matrix p2 q1.

The linear model is the one case where the theory predicts a spectral measure outright: in the aligned
case ``p2 q1 = U diag(a(t)) U^T`` with ``a_a = p_a q_a``, so the singular values of ``p2 q1`` are
``|a_a(t)|`` and its effective rank is ``erank(diag(a(t)))``. This module applies the shared measures
(:func:`icl_dynamics.measures.summary.spectral_measures`) to the simulated ``p2 q1`` of every seed and
logged step, and adds the same measures of the theory's mode strengths, in one tidy table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.ranks import effective_rank_from_singular_values
from icl_dynamics.measures.summary import long_table, spectral_measures
from icl_dynamics.measures.svd import SVD, thin_svd
THEORIES = ("exact", "closed")


def theory_measures(a: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Measures of ``U diag(a) U^T`` predicted from mode strengths ``a`` of shape (S, T, d).

    - ``effective_rank_theory_<name>`` = ``erank(|a_1|, ..., |a_d|)``: the singular values of
      ``U diag(a) U^T`` are ``|a_a|`` whatever the orthogonal ``U``;
    - ``mode_strength_<i>_theory_<name>``: the strength ``u_i^T M(t) v_i`` of the i-th largest final mode,
      which for a diagonal matrix is ``a_(i)(t)`` times the sign of ``a_(i)(inf)``, with modes ordered by
      ``|a(inf)|`` (the last step) per seed.
    """
    out = {f"effective_rank_theory_{name}": effective_rank_from_singular_values(np.abs(a))}
    final = a[:, -1]  # (S, d)
    order = np.argsort(-np.abs(final), axis=-1, kind="stable")  # (S, d)
    ordered = (np.take_along_axis(a, order[:, None], axis=-1)
               * np.sign(np.take_along_axis(final, order, axis=-1))[:, None])
    for i in range(a.shape[-1]):
        out[f"mode_strength_{i + 1}_theory_{name}"] = ordered[..., i]
    return out


def p2q1_measures(sim: dict, theory: dict, settings: dict) -> pd.DataFrame:
    """Long table (seed, step, series = "p2q1", layer, head, measure, value) of the measures of ``p2 q1`` and of
    their theory predictions (:func:`icl_dynamics.measures.summary.long_table`).

    Simulation (``sim["p2q1"]``, shape (S, T, d, d), the last logged step being ``M(inf)`` per seed):
    ``effective_rank``, ``marginal_effective_rank_k<k>`` (main and variant k of ``settings``),
    ``stable_rank``, ``subspace_distance`` to the final ``p2 q1`` and ``mode_strength_<i>`` for all d modes
    (the matrix is d x d and the theory predicts every mode), all from
    :func:`icl_dynamics.measures.summary.spectral_measures`.

    Theory (``theory["exact"]`` and, where finite, ``theory["closed"]``, shape (S, T, d)): see
    :func:`theory_measures`.

    Parameters
    ----------
    sim, theory : dict of ndarray
        The arrays of ``sim.npz`` and ``theory.npz`` of one setting (same logging steps and seeds).
    settings : dict
        The validated ``measures:`` section (:func:`icl_dynamics.measures.settings.measures_section`).
    """
    steps = np.asarray(sim["steps"])
    if not np.array_equal(steps, theory["steps"]):
        raise ValueError("simulation and theory use different logging steps")
    M = np.asarray(sim["p2q1"], dtype=np.float64)
    n_seeds, n_steps, d, _ = M.shape
    svd = thin_svd(M)
    final = SVD(svd.U[:, -1:], svd.s[:, -1:], svd.V[:, -1:])  # each seed's M(inf), broadcast over steps
    measures = spectral_measures(svd, final, dict(settings, n_mode_strengths=d))
    for name in THEORIES:
        a = np.asarray(theory[name], dtype=np.float64)  # (S, T, d)
        if np.all(np.isfinite(a)):
            measures.update(theory_measures(a, name))
    seeds = np.asarray(sim.get("seeds", np.arange(n_seeds)))
    return pd.concat([long_table(steps, "p2q1", {name: values[i] for name, values in measures.items()},
                                 seed=int(seed)) for i, seed in enumerate(seeds)], ignore_index=True)


def measure_curves(table: pd.DataFrame, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,), values (S, T))`` of one measure of a :func:`p2q1_measures` table."""
    wide = table[table["measure"] == measure].pivot(index="seed", columns="step", values="value")
    if wide.empty:
        raise KeyError(f"measure {measure!r} not in the table")
    return wide.columns.to_numpy(), wide.to_numpy()
