"""Thin singular value decompositions of dense and factored matrix stacks.

Every measure in this package is computed from a thin SVD ``M = U diag(s) V^T``. A dense matrix gets it
from LAPACK; a product ``M = A B^T`` of two thin factors (a per-head attention circuit) gets it from small
problems only: QR of the factors, then the SVD of an ``r x r`` core (``r`` = the factors' inner size).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SVD(NamedTuple):
    """Thin SVD ``M = U diag(s) V^T`` of a matrix or of a stack of matrices.

    Attributes
    ----------
    U : ndarray, shape (..., m, r)
        Left singular vectors as columns.
    s : ndarray, shape (..., r)
        Singular values, non-increasing along the last axis.
    V : ndarray, shape (..., n, r)
        Right singular vectors as columns (``V``, not ``V^T``).
    """

    U: np.ndarray
    s: np.ndarray
    V: np.ndarray


def as_float64(M) -> np.ndarray:
    """A NumPy float64 array from a NumPy array, a PyTorch tensor or a nested sequence."""
    if hasattr(M, "detach"):
        M = M.detach().cpu().numpy()
    return np.asarray(M, dtype=np.float64)


def thin_svd(M) -> SVD:
    """Thin SVD of a dense matrix or stack, ``M = U diag(s) V^T``.

    Parameters
    ----------
    M : array_like or torch.Tensor, shape (..., m, n)

    Returns
    -------
    SVD
        ``U`` of shape (..., m, r), ``s`` of shape (..., r), ``V`` of shape (..., n, r), r = min(m, n).
    """
    U, s, Vh = np.linalg.svd(as_float64(M), full_matrices=False)
    return SVD(U, s, np.swapaxes(Vh, -1, -2))


def factored_svd(A, B) -> SVD:
    """Thin SVD of the product ``M = A B^T`` without forming ``M``.

    With ``A = Q_A R_A`` and ``B = Q_B R_B`` (reduced QR) the product is
    ``M = Q_A (R_A R_B^T) Q_B^T``; the SVD of the ``r x r`` core ``R_A R_B^T = U_c diag(s) V_c^T`` gives
    ``M = (Q_A U_c) diag(s) (Q_B V_c)^T``. The cost is O((m + n) r^2 + r^3) instead of O(m n min(m, n)).

    Parameters
    ----------
    A : array_like or torch.Tensor, shape (..., m, r)
    B : array_like or torch.Tensor, shape (..., n, r)
        Leading dimensions broadcast against each other. ``r <= min(m, n)`` keeps every problem small.

    Returns
    -------
    SVD
        ``U`` of shape (..., m, r), ``s`` of shape (..., r), ``V`` of shape (..., n, r). These are the
        ``r`` largest singular triplets of ``M``; its other singular values are zero.
    """
    A, B = as_float64(A), as_float64(B)
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(f"factors A {A.shape} and B {B.shape} must have the same last dimension")
    Q_A, R_A = np.linalg.qr(A)
    Q_B, R_B = np.linalg.qr(B)
    U_c, s, Vh_c = np.linalg.svd(R_A @ np.swapaxes(R_B, -1, -2), full_matrices=False)
    return SVD(Q_A @ U_c, s, Q_B @ np.swapaxes(Vh_c, -1, -2))
