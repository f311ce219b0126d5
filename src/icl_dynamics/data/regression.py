"""In-context linear regression with vector-valued tasks (docs/science.md section 2).

Inputs x ~ N(0, Sigma_x) with Sigma_x = U S U^T, S = diag(s_1..s_d). A fixed pool of P tasks
W^mu = U Lambda^mu U^T with Lambda^mu diagonal, entries N(0, 1). Labels y = W^mu x (no noise).
A sequence holds N context tokens z_i = (x_i; y_i) and one query token (x_q; 0) as columns of
Z in R^{D x (N+1)}, D = 2d.

The linear transformer sees the context only through A = Z_ctx Z_ctx^T / N (the query's own term is
dropped), so a sequence can be drawn either as tokens (``sample_tokens``) or, exactly in
distribution and at a cost independent of N, through its context covariance
S_xx = X^T X / N ~ Wishart(N, Sigma_x) / N (``sample_context_covariance``, Bartlett decomposition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


SPECTRUM_PARAMETER = {"explicit": "values", "geometric": "ratio", "power_law": "exponent"}


def make_spectrum(kind: str, d: int, values=None, ratio: float | None = None, exponent: float | None = None,
                  scale: float | None = None) -> np.ndarray:
    """Eigenvalues s_1 >= ... >= s_d of the input covariance.

    kind: ``explicit`` (``values``, length d), ``geometric`` (s_a = scale * ratio^(a-1)),
    ``power_law`` (s_a = scale * a^(-exponent)), ``isotropic`` (s_a = scale). The parameters a kind needs
    (``scale`` for every kind but ``explicit``) have no default: leaving one out is an error, not a silent
    choice (the config schema requires them too).
    """
    needed = SPECTRUM_PARAMETER.get(kind)
    if needed is not None and {"values": values, "ratio": ratio, "exponent": exponent}[needed] is None:
        raise ValueError(f"a {kind} spectrum needs '{needed}'")
    if kind in ("geometric", "power_law", "isotropic") and scale is None:
        raise ValueError(f"a {kind} spectrum needs 'scale'")
    a = np.arange(1, d + 1, dtype=float)
    if kind == "explicit":
        s = np.asarray(values, dtype=float)
        if s.shape != (d,):
            raise ValueError(f"explicit spectrum has {s.size} values but d = {d}")
    elif kind == "geometric":
        s = scale * ratio ** (a - 1)
    elif kind == "power_law":
        s = scale * a ** (-exponent)
    elif kind == "isotropic":
        s = np.full(d, float(scale))
    else:
        raise ValueError(f"unknown spectrum kind {kind!r}; allowed: explicit, geometric, power_law, isotropic")
    if np.any(s <= 0):
        raise ValueError(f"spectrum must be positive, got {s}")
    return s


def make_basis(kind: str, d: int, seed: int) -> np.ndarray:
    """Eigenbasis U (d x d orthogonal): ``identity`` or ``random`` (Haar, from ``seed``, the config's
    ``basis_seed``; ignored by ``identity``)."""
    if kind == "identity":
        return np.eye(d)
    if kind == "random":
        g = np.random.default_rng(seed).standard_normal((d, d))
        q, r = np.linalg.qr(g)
        return q * np.sign(np.diag(r))  # sign fix makes Q Haar-distributed
    raise ValueError(f"unknown basis kind {kind!r}; allowed: identity, random")


def make_task_pool(P: int, d: int, seed: int) -> np.ndarray:
    """Diagonals Lambda^mu of the P tasks, shape (P, d), entries N(0, 1)."""
    # Stream 1 of the seed (the SGD uses 2-4): an identifier that keeps the streams apart, not a choice.
    return np.random.default_rng([seed, 1]).standard_normal((P, d))


def pool_moments(lambdas: np.ndarray) -> np.ndarray:
    """The pool's empirical second moments m_a = (1/P) sum_mu (lambda_a^mu)^2, shape (d,).

    Every term of mode a's expected loss carries this factor, so it sets mode a's learning rate.
    """
    return np.mean(lambdas**2, axis=0)


def task_matrices(lambdas: np.ndarray, U: np.ndarray) -> np.ndarray:
    """W^mu = U diag(lambda^mu) U^T for a stack of diagonals (..., d) -> (..., d, d)."""
    return (U * lambdas[..., None, :]) @ U.T


@dataclass(frozen=True)
class RegressionTask:
    """One in-context regression setting: spectrum s, basis U, context length N, task pool size P."""

    s: np.ndarray
    U: np.ndarray
    N: int
    P: int

    @property
    def d(self) -> int:
        return self.s.size

    @property
    def covariance(self) -> np.ndarray:
        """Sigma_x = U S U^T."""
        return (self.U * self.s) @ self.U.T

    def sample_queries(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """x_q ~ N(0, Sigma_x), shape (size, d)."""
        return (rng.standard_normal((size, self.d)) * np.sqrt(self.s)) @ self.U.T

    def sample_tokens(self, rng: np.random.Generator, W: np.ndarray):
        """Context tokens for tasks ``W`` (B, d, d): X (B, N, d) and Y = X W^T (B, N, d)."""
        B = W.shape[0]
        X = (rng.standard_normal((B, self.N, self.d)) * np.sqrt(self.s)) @ self.U.T
        return X, X @ np.swapaxes(W, -1, -2)

    def sample_context_covariance(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """S_xx = X^T X / N for ``size`` contexts, shape (size, d, d), without drawing X.

        Bartlett: X^T X = C T T^T C^T with C = U S^(1/2), T lower triangular, T_ii^2 ~ chi^2(N - i)
        (i = 0..d-1), T_ij ~ N(0, 1) below the diagonal. Requires N >= d.
        """
        d, N = self.d, self.N
        if N < d:
            raise ValueError(f"Wishart sampling needs N >= d (N = {N}, d = {d}); use context_sampling: tokens")
        T = np.zeros((size, d, d))
        below = np.tril_indices(d, k=-1)
        T[:, below[0], below[1]] = rng.standard_normal((size, below[0].size))
        T[:, np.arange(d), np.arange(d)] = np.sqrt(rng.chisquare(N - np.arange(d), size=(size, d)))
        C = self.U * np.sqrt(self.s)
        CT = C @ T
        return CT @ np.swapaxes(CT, -1, -2) / N


def embed_sequences(X: np.ndarray, Y: np.ndarray, x_q: np.ndarray) -> np.ndarray:
    """Z in R^{D x (N+1)} per sequence: columns z_i = (x_i; y_i), last column (x_q; 0).

    X, Y: (B, N, d); x_q: (B, d). Returns (B, 2d, N + 1).
    """
    ctx = np.concatenate([X, Y], axis=-1)  # (B, N, D)
    query = np.concatenate([x_q, np.zeros_like(x_q)], axis=-1)[:, None, :]
    return np.swapaxes(np.concatenate([ctx, query], axis=1), -1, -2)


def apply_context_moment(S_xx: np.ndarray, W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A v for A = Z_ctx Z_ctx^T / N without forming A: with y = W x,
    A v = [S_xx w; W S_xx w], w = v_x + W^T v_y. Shapes: S_xx, W (..., d, d), v (..., 2d)."""
    d = S_xx.shape[-1]
    w = v[..., :d] + (np.swapaxes(W, -1, -2) @ v[..., d:, None])[..., 0]
    Sw = (S_xx @ w[..., None])[..., 0]
    return np.concatenate([Sw, (W @ Sw[..., None])[..., 0]], axis=-1)


def context_second_moment(S_xx: np.ndarray, W: np.ndarray) -> np.ndarray:
    """A = Z_ctx Z_ctx^T / N from S_xx and noise-free labels y = W x.

    A = [[S_xx, S_xx W^T], [W S_xx, W S_xx W^T]], shape (..., 2d, 2d).
    """
    WS = W @ S_xx
    top = np.concatenate([S_xx, np.swapaxes(WS, -1, -2)], axis=-1)
    bottom = np.concatenate([WS, WS @ np.swapaxes(W, -1, -2)], axis=-1)
    return np.concatenate([top, bottom], axis=-2)
