"""The paper's closed-form learning dynamics of the linear transformer (docs/science.md section 3).

Time convention: t = lr x step, where lr is the SGD step on the loss averaged over the task pool
(the paper's eta P, with its loss summed over the P tasks). The pool's empirical second moments
m_a = mean_mu (lambda_a^mu)^2 multiply every term of mode a's loss (m_a = 1 in the paper), so

    tau_a = 1 / (m_a s_a^2)          (Eq. 12 with eta P -> lr; in SGD steps: tau_a / lr)

All functions broadcast over leading dimensions (settings, seeds, modes, times).
"""

from __future__ import annotations

import numpy as np


def s_inf(s: np.ndarray, N: int | np.ndarray) -> np.ndarray:
    """s_inf_a = ((N + 1) s_a + Tr S) / N  (Eq. 12), shape of ``s``; ``s`` has modes on its last axis."""
    s = np.asarray(s, dtype=float)
    return ((N + 1) * s + s.sum(axis=-1, keepdims=True)) / N


def timescale(s: np.ndarray, m: np.ndarray | float = 1.0) -> np.ndarray:
    """tau_a = 1 / (m_a s_a^2) in units of t = lr x step (Eq. 12)."""
    return 1.0 / (np.asarray(m) * np.asarray(s, dtype=float) ** 2)


def fixed_point(s: np.ndarray, N: int) -> np.ndarray:
    """a_inf = 1 / s_inf_a: the preconditioner p2 q1 -> s_inf(S)^{-1} of Eq. 11, per mode."""
    return 1.0 / s_inf(s, N)


def predictor_matrix(s: np.ndarray, U: np.ndarray, N: int) -> np.ndarray:
    """Eq. 11's p2 q1 = U diag(1 / s_inf) U^T = [(N+1)/N Sigma_x + (Tr Sigma_x / N) I]^{-1}."""
    return (U * fixed_point(s, N)) @ U.T


def logistic_mode_strength(t: np.ndarray, s: np.ndarray, N: int, a0: np.ndarray | float,
                  m: np.ndarray | float = 1.0) -> np.ndarray:
    """Eq. 13: a_a(t) = a_inf a0 / (a0 + (a_inf - a0) exp(-2 t / tau_a)) from a balanced start.

    ``t`` (T,) times; ``s``, ``a0``, ``m`` broadcast to (..., d). Returns (..., T, d).
    """
    a_inf, tau, a0 = np.broadcast_arrays(fixed_point(s, N), timescale(s, m), np.asarray(a0, dtype=float))
    a_inf, tau, a0 = (x[..., None, :] for x in (a_inf, tau, a0))  # insert the time axis
    t = np.asarray(t, dtype=float)[:, None]
    return a_inf * a0 / (a0 + (a_inf - a0) * np.exp(-2.0 * t / tau))


def loss(a: np.ndarray, s: np.ndarray, N: int, m: np.ndarray | float = 1.0) -> np.ndarray:
    """Eq. 14: L = 1/2 sum_a m_a (s_a^2 s_inf_a a_a^2 - 2 s_a^2 a_a + s_a), summed over the last axis."""
    s = np.asarray(s, dtype=float)
    return 0.5 * np.sum(np.asarray(m) * (s**2 * s_inf(s, N) * a**2 - 2 * s**2 * a + s), axis=-1)


def escape_time(s: np.ndarray, N: int, a0: np.ndarray | float, m: np.ndarray | float = 1.0) -> np.ndarray:
    """Time at which Eq. 13 reaches a_inf / 2: (tau_a / 2) log((a_inf - a0) / a0)
    ~ (tau_a / 2) log(1 / (s_inf_a a0)) for a small start."""
    a_inf = fixed_point(s, N)
    return 0.5 * timescale(s, m) * np.log((a_inf - a0) / a0)
