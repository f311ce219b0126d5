"""The one-layer, one-head linear transformer of docs/science.md section 2.

    f(Z) = Z + W_P (Z_ctx Z_ctx^T / N) W_Q Z,      W_P, W_Q in R^{D x D}, D = 2d

Z holds N context tokens and the query (x_q; 0) as columns; the query's own term in Z Z^T / N is
dropped. The prediction is the y-block of the last column of f(Z). Parameters may carry leading batch
dimensions (one slice per seed).

Blocks (``split_blocks``): [p1 p2] = W_P[d:, :] is the row-block writing into the y-rows, and
[q1; q2] = W_Q[:, :d] the column-block acting on the query's x-part. No other block affects y_hat.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Blocks(NamedTuple):
    """The blocks of W_P and W_Q that reach y_hat (:func:`split_blocks`), each (..., d, d)."""

    p1: np.ndarray
    p2: np.ndarray
    q1: np.ndarray
    q2: np.ndarray


class ModeFactors(NamedTuple):
    """Per-mode factors of the aligned model, p2 = U diag(p) U^T and q1 = U diag(q) U^T: ``p``, ``q``
    (..., d), or (..., T, d) along a trajectory; their product is the mode strength a = p q."""

    p: np.ndarray
    q: np.ndarray


def forward(W_P: np.ndarray, W_Q: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """f(Z) for Z of shape (B, D, N+1) (last column the query); W_P, W_Q of shape (D, D)."""
    ctx = Z[..., :-1]
    A = ctx @ np.swapaxes(ctx, -1, -2) / ctx.shape[-1]
    return Z + W_P @ A @ W_Q @ Z


def predict(W_P: np.ndarray, W_Q: np.ndarray, A: np.ndarray, x_q: np.ndarray) -> np.ndarray:
    """y_hat = [W_P A W_Q (x_q; 0)]_y, the y-block of f(Z)'s last column, from A = Z_ctx Z_ctx^T / N.

    W_P, W_Q: (..., D, D) with leading dims broadcasting against A (..., B, D, D) as (..., 1, D, D);
    x_q: (..., B, d). Returns (..., B, d).
    """
    d = x_q.shape[-1]
    v = np.einsum("...ij,...bj->...bi", W_Q[..., :, :d], x_q)   # W_Q (x_q; 0)
    u = np.einsum("...bij,...bj->...bi", A, v)                   # A W_Q z_q
    return np.einsum("...ij,...bj->...bi", W_P[..., d:, :], u)   # y-rows of W_P


def split_blocks(W_P: np.ndarray, W_Q: np.ndarray) -> Blocks:
    """(p1, p2, q1, q2): p1 = W_P[d:, :d], p2 = W_P[d:, d:], q1 = W_Q[:d, :d], q2 = W_Q[d:, :d]."""
    d = W_P.shape[-1] // 2
    return Blocks(W_P[..., d:, :d], W_P[..., d:, d:], W_Q[..., :d, :d], W_Q[..., d:, :d])


def block_prediction(W_P, W_Q, S_xx, S_xy, S_yx, S_yy, x_q):
    """Eq. 8 in block form: y_hat = (p1 S_xx q1 + p1 S_xy q2 + p2 S_yx q1 + p2 S_yy q2) x_q.

    Single sequence: S_ab (d, d), x_q (d,).
    """
    p1, p2, q1, q2 = split_blocks(W_P, W_Q)
    M = p1 @ S_xx @ q1 + p1 @ S_xy @ q2 + p2 @ S_yx @ q1 + p2 @ S_yy @ q2
    return M @ x_q


def learned_mode_strengths(W_P: np.ndarray, W_Q: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Per-mode strengths a_a = diag(U^T p2 q1 U), shape (..., d)."""
    blocks = split_blocks(W_P, W_Q)
    return np.einsum("ia,...ij,ja->...a", U, blocks.p2 @ blocks.q1, U)
