"""Rank measures of a matrix spectrum: effective rank, marginalised effective rank, stable rank.

Each measure exists twice: ``*_from_singular_values(s)`` works on singular values alone (so a factored
circuit's spectrum from :func:`icl_dynamics.measures.svd.factored_svd` can be used directly), and the
plain name takes the matrix itself. Leading dimensions of the input are batch dimensions.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from icl_dynamics.measures.settings import DEFAULTS
from icl_dynamics.measures.svd import as_float64


def singular_values(M) -> np.ndarray:
    """Singular values of a matrix or stack, shape (..., min(m, n)), non-increasing."""
    return np.linalg.svd(as_float64(M), compute_uv=False)


def effective_rank_from_singular_values(s) -> np.ndarray:
    """Effective rank (Roy & Vetterli 2007) of a spectrum.

    ``erank = exp(-sum_i p_i log p_i)`` with ``p_i = s_i / sum_j s_j``; terms with ``p_i = 0`` count as 0,
    so only the nonzero singular values contribute. It lies between 1 and the number of nonzero values.

    Parameters
    ----------
    s : array_like, shape (..., r)
        Non-negative singular values along the last axis (any order).

    Returns
    -------
    ndarray, shape (...)
        NaN where all singular values are zero.
    """
    s = as_float64(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / s.sum(axis=-1, keepdims=True)
    return np.exp(-xlogy(p, p).sum(axis=-1))


def marginal_effective_rank_from_singular_values(s, k: int = DEFAULTS["marginal_rank_k"]) -> np.ndarray:
    """Marginalised effective rank: the effective rank after removing the ``k`` largest singular values.

    ``erank_k = erank(s_(k+1), ..., s_r)`` with the values sorted in non-increasing order.

    Parameters
    ----------
    s : array_like, shape (..., r)
        Non-negative singular values along the last axis (any order).
    k : int
        Number of leading singular values removed, ``0 <= k < r`` (config ``measures.marginal_rank_k``).

    Returns
    -------
    ndarray, shape (...)
    """
    s = -np.sort(-as_float64(s), axis=-1)
    if not 0 <= k < s.shape[-1]:
        raise ValueError(f"marginal rank k = {k} must be in [0, {s.shape[-1]}) for {s.shape[-1]} singular values")
    return effective_rank_from_singular_values(s[..., k:])


def stable_rank_from_singular_values(s) -> np.ndarray:
    """Stable rank ``||M||_F^2 / ||M||_2^2 = sum_i s_i^2 / max_i s_i^2`` (NaN for the zero matrix).

    Parameters
    ----------
    s : array_like, shape (..., r)

    Returns
    -------
    ndarray, shape (...)
    """
    s = as_float64(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s**2).sum(axis=-1) / np.max(s, axis=-1) ** 2


def effective_rank(M) -> np.ndarray:
    """Effective rank ``exp(-sum_i p_i log p_i)``, ``p_i = s_i / sum_j s_j``, of a matrix or stack (..., m, n).

    See :func:`effective_rank_from_singular_values`.
    """
    return effective_rank_from_singular_values(singular_values(M))


def marginal_effective_rank(M, k: int = DEFAULTS["marginal_rank_k"]) -> np.ndarray:
    """Effective rank of a matrix or stack (..., m, n) after removing its ``k`` largest singular values.

    See :func:`marginal_effective_rank_from_singular_values`.
    """
    return marginal_effective_rank_from_singular_values(singular_values(M), k)


def stable_rank(M) -> np.ndarray:
    """Stable rank ``||M||_F^2 / ||M||_2^2`` of a matrix or stack (..., m, n)."""
    return stable_rank_from_singular_values(singular_values(M))
