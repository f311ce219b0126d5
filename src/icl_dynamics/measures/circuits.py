"""Per-head attention circuits kept in factored form (QK = W_Q W_K^T, OV = W_V W_O).

Shape convention (one head's matrices act on row vectors of the residual stream, x W):

- ``W_Q``, ``W_K``, ``W_V``: (..., heads, d_model, d_head)
- ``W_O``: (..., heads, d_head, d_model)

Leading dimensions (checkpoints, layers) are batch dimensions. The circuits are d_model x d_model but of
rank at most d_head; their thin SVDs come from :func:`icl_dynamics.measures.svd.factored_svd`, which only
solves d_head-sized problems. Singular values beyond the d_head returned here are zero.
"""

from __future__ import annotations

import numpy as np

from icl_dynamics.measures.svd import SVD, as_float64, factored_svd


def qk_circuit_svd(W_Q, W_K) -> SVD:
    """Thin SVD of the QK circuit ``W_Q W_K^T`` (d_model x d_model per head) from its factors.

    Parameters
    ----------
    W_Q, W_K : array_like or torch.Tensor, shape (..., heads, d_model, d_head)

    Returns
    -------
    SVD
        ``U``, ``V`` of shape (..., heads, d_model, d_head), ``s`` of shape (..., heads, d_head).
    """
    return factored_svd(W_Q, W_K)


def ov_circuit_svd(W_V, W_O) -> SVD:
    """Thin SVD of the OV circuit ``W_V W_O`` (d_model x d_model per head) from its factors.

    Parameters
    ----------
    W_V : array_like or torch.Tensor, shape (..., heads, d_model, d_head)
    W_O : array_like or torch.Tensor, shape (..., heads, d_head, d_model)

    Returns
    -------
    SVD
        ``U``, ``V`` of shape (..., heads, d_model, d_head), ``s`` of shape (..., heads, d_head).
    """
    return factored_svd(W_V, np.swapaxes(as_float64(W_O), -1, -2))


def qk_circuit_singular_values(W_Q, W_K) -> np.ndarray:
    """The d_head largest singular values of ``W_Q W_K^T``, shape (..., heads, d_head), non-increasing."""
    return qk_circuit_svd(W_Q, W_K).s


def ov_circuit_singular_values(W_V, W_O) -> np.ndarray:
    """The d_head largest singular values of ``W_V W_O``, shape (..., heads, d_head), non-increasing."""
    return ov_circuit_svd(W_V, W_O).s


def split_heads(W, n_heads: int, axis: str) -> np.ndarray:
    """Split a weight matrix into ``n_heads`` equal blocks along its columns or rows.

    ``axis="columns"`` turns (..., d_in, n_heads * d_head) into (..., n_heads, d_in, d_head) (the
    ``W_Q``, ``W_K``, ``W_V`` convention of this module); ``axis="rows"`` turns
    (..., n_heads * d_head, d_out) into (..., n_heads, d_head, d_out) (the ``W_O`` convention).

    Raises
    ------
    ValueError
        If the split dimension is not a multiple of ``n_heads``.
    """
    W = as_float64(W)
    if axis not in ("columns", "rows"):
        raise ValueError(f"axis must be 'columns' or 'rows', not {axis!r}")
    rows, cols = W.shape[-2:]
    size = cols if axis == "columns" else rows
    if n_heads < 1 or size % n_heads:
        raise ValueError(f"shape {(rows, cols)}: {size} {axis} do not split into {n_heads} heads")
    if axis == "rows":
        return W.reshape(*W.shape[:-2], n_heads, rows // n_heads, cols)
    return np.moveaxis(W.reshape(*W.shape[:-1], n_heads, cols // n_heads), -2, -3)
