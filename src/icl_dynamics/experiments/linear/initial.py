"""The linear transformer's starting point, shared by the SGD simulation and the theories (so that editing
the SGD loop reruns no theory): the initial weights and their per-mode strengths."""

from __future__ import annotations

import numpy as np

from icl_dynamics.data.regression import RegressionTask
from icl_dynamics.models.linear_attention import ModeFactors, split_blocks


def initial_weights(task: RegressionTask, init: str, eps: float, seed: int):
    """W_P, W_Q (D, D) at step 0.

    ``aligned``: all zero except p2 = q1 = eps U U^T = eps I (balanced, aligned with U).
    ``random``: i.i.d. N(0, eps^2 / D) entries (so rows have norm ~ eps), from ``seed``.
    """
    D = 2 * task.d
    if init == "aligned":
        W_P, W_Q = np.zeros((D, D)), np.zeros((D, D))
        W_P[task.d:, task.d:] = eps * np.eye(task.d)
        W_Q[:task.d, :task.d] = eps * np.eye(task.d)
        return W_P, W_Q
    if init == "random":
        rng = np.random.default_rng([seed, 2])  # stream 2 of the seed: an identifier, not a choice
        return (rng.standard_normal((2, D, D)) * eps / np.sqrt(D))
    raise ValueError(f"unknown init {init!r}; allowed: aligned, random")


def initial_modes(task: RegressionTask, init: str, eps: float, seed: int) -> ModeFactors:
    """Per-mode (p_a, q_a) at step 0: diag(U^T p2 U), diag(U^T q1 U), the theories' starting point."""
    blocks = split_blocks(*initial_weights(task, init, eps, seed))
    U = task.U
    return ModeFactors(np.einsum("ia,ij,ja->a", U, blocks.p2, U), np.einsum("ia,ij,ja->a", U, blocks.q1, U))
