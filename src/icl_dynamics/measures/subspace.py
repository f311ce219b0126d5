"""How far a matrix's row space is from the final matrix's: subspace distance, principal angles, modes.

All functions compare a matrix ``M(t)`` (or a stack of them over checkpoints, layers, heads) with a
reference ``M(inf)``, normally the final checkpoint. Leading dimensions broadcast against each other,
so a series of shape (T, heads, m, n) can be compared with a final stack of shape (heads, m, n).
"""

from __future__ import annotations

import numpy as np

from icl_dynamics.measures.settings import DEFAULTS
from icl_dynamics.measures.svd import SVD, as_float64, thin_svd


def _transpose(X: np.ndarray) -> np.ndarray:
    return np.swapaxes(X, -1, -2)


def subspace_distance_from_svd(svd_t: SVD, svd_final: SVD, rtol: float = DEFAULTS["pinv_rtol"]) -> np.ndarray:
    """Normalised subspace distance from thin SVDs; see :func:`subspace_distance` for the formula.

    ``M(t)^+ M(t) = V_t V_t^T`` over the right singular vectors of ``M(t)`` whose singular value exceeds
    ``rtol * max(s_t)``; with ``M(inf) = U_f diag(s_f) V_f^T`` the residual has the same Frobenius norm as
    ``diag(s_f) (V_f^T - (V_f^T V_t) V_t^T)``, an ``r_f x n`` matrix, so no large product is formed.

    Parameters
    ----------
    svd_t, svd_final : SVD
        Thin SVDs of ``M(t)`` (..., m, n) and ``M(inf)`` (..., m, n); batch dimensions broadcast.
    rtol : float
        Relative tolerance of the pseudo-inverse (config ``measures.pinv_rtol``).

    Returns
    -------
    ndarray, shape (...)
        Values in [0, 1]; NaN where ``M(inf)`` is zero.
    """
    kept = svd_t.s > rtol * np.max(svd_t.s, axis=-1, keepdims=True)
    V_t = svd_t.V * kept[..., None, :]
    Vf_T = _transpose(svd_final.V)
    residual = svd_final.s[..., :, None] * (Vf_T - (Vf_T @ V_t) @ _transpose(V_t))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm(residual, axis=(-2, -1)) / np.linalg.norm(svd_final.s, axis=-1)


def subspace_distance(M_t, M_final, rtol: float = DEFAULTS["pinv_rtol"]) -> np.ndarray:
    """Normalised distance of ``M(inf)``'s rows from the row space of ``M(t)``.

    ``d(t) = min_A ||A M(t) - M(inf)||_F / ||M(inf)||_F = ||M(inf) (I - M(t)^+ M(t))||_F / ||M(inf)||_F``,
    the minimiser being ``A* = M(inf) M(t)^+``. The pseudo-inverse drops singular values of ``M(t)`` at or
    below ``rtol`` times its largest one. ``d = 0`` when the row space of ``M(t)`` contains every row of
    ``M(inf)``, ``d = 1`` when the two row spaces are orthogonal.

    Parameters
    ----------
    M_t, M_final : array_like or torch.Tensor, shape (..., m, n)
        Batch dimensions broadcast.
    rtol : float
        Relative tolerance of the pseudo-inverse (config ``measures.pinv_rtol``).

    Returns
    -------
    ndarray, shape (...)
    """
    return subspace_distance_from_svd(thin_svd(M_t), thin_svd(M_final), rtol)


def principal_angles(A, B, k: int) -> np.ndarray:
    """Principal angles between the top-``k`` right singular subspaces (row spaces) of ``A`` and ``B``.

    With orthonormal bases ``V_A``, ``V_B`` (n x k) of the two subspaces, the cosines of the angles are the
    singular values of ``V_A^T V_B`` and their sines those of ``V_A - V_B (V_B^T V_A)``; each angle is
    ``arctan2(sin, cos)``, accurate for small and large angles alike.

    Parameters
    ----------
    A, B : array_like or torch.Tensor, shape (..., m, n)
        Batch dimensions broadcast. ``k`` must not exceed ``min(m, n)``; where a matrix has rank below
        ``k`` its ``k``-th singular direction is arbitrary.
    k : int

    Returns
    -------
    ndarray, shape (..., k)
        Angles in radians in [0, pi/2], smallest first.
    """
    V_A = thin_svd(A).V[..., :k]
    V_B = thin_svd(B).V[..., :k]
    if V_A.shape[-1] != k or V_B.shape[-1] != k:
        raise ValueError(f"k = {k} exceeds the number of singular vectors ({V_A.shape[-1]}, {V_B.shape[-1]})")
    cosines = np.linalg.svd(_transpose(V_A) @ V_B, compute_uv=False)
    sines = np.linalg.svd(V_A - V_B @ (_transpose(V_B) @ V_A), compute_uv=False)[..., ::-1]
    return np.arctan2(sines, cosines)


def projected_mode_strengths_from_svd(svd_series: SVD, svd_final: SVD) -> np.ndarray:
    """Projected mode strengths from thin SVDs; see :func:`projected_mode_strengths`.

    With ``M(t) = U_t diag(s_t) V_t^T``: ``m_i(t) = sum_j (U_f^T U_t)_ij s_t,j (V_f^T V_t)_ij``.

    Returns
    -------
    ndarray, shape (..., r_f)
    """
    left = _transpose(svd_final.U) @ svd_series.U
    right = _transpose(svd_final.V) @ svd_series.V
    return np.sum(left * svd_series.s[..., None, :] * right, axis=-1)


def projected_mode_strengths(M_series, M_final) -> np.ndarray:
    """Strength of each singular mode of the final matrix in ``M(t)``: ``m_i(t) = u_i^T M(t) v_i``.

    ``u_i, v_i`` are the i-th left and right singular vectors of ``M(inf) = U diag(s) V^T``, so
    ``m_i(inf) = s_i``: the non-linear analogue of the linear model's per-mode strength ``a_a(t)``.

    Parameters
    ----------
    M_series : array_like or torch.Tensor, shape (..., m, n)
        ``M(t)``, e.g. a stack over checkpoints (T, m, n).
    M_final : array_like or torch.Tensor, shape (..., m, n)
        ``M(inf)``; batch dimensions broadcast against ``M_series``.

    Returns
    -------
    ndarray, shape (..., min(m, n))
        Modes in the order of the final singular values, largest first.
    """
    final = thin_svd(M_final)
    return np.einsum("...mi,...mn,...ni->...i", final.U, as_float64(M_series), final.V)
