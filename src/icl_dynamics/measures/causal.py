"""Causal measures: from checkpoints up to t only (docs/science.md, section "Online monitor (claim C7)").

Each measure compares a kept checkpoint ``i`` with its trailing reference ``i - lag``; ``Delta u`` is the
distance between the two in decades of steps, ``log10(step_i) - log10(step_(i-lag))``. Every function works
on thin SVDs of the per-head circuits (:mod:`.circuits`): the reference and the current SVD are stacks of
the same shape, so one call measures every head of every layer, and a leading time axis measures a whole
series of pairs at once (``svd[:-lag]`` against ``svd[lag:]``).

- :func:`trailing_subspace_distance`: section 5's subspace distance, with the reference's row space;
- :func:`relative_speed`: ``norm(M(t_i) - M(t_(i-lag)))_F / (norm(M(t_i))_F Delta u)``, per decade;
- :func:`rank_rates`: ``(erank(t_i) - erank(t_(i-lag))) / Delta u`` for the effective and marginalised ranks;
- :func:`pooled_relative_speed`: the alarm statistic, the relative speed of all heads together;
- :func:`trailing_autocorrelation_curvature`: section 5's curvature placed at the last sample of its window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.circuits import ov_circuit_svd, qk_circuit_svd
from icl_dynamics.measures.curvature import autocorrelation_curvature
from icl_dynamics.measures.ranks import (
    effective_rank_from_singular_values,
    marginal_effective_rank_from_singular_values,
)
from icl_dynamics.measures.settings import DEFAULTS
from icl_dynamics.measures.subspace import subspace_distance_from_svd
from icl_dynamics.measures.summary import TABLE_COLUMNS
from icl_dynamics.measures.svd import SVD, as_float64

CIRCUITS = ("QK", "OV")


def kept_checkpoints(steps, min_spacing_decades: float) -> np.ndarray:
    """Indices of the checkpoints the monitor keeps: step > 0, at most one per bin of width
    ``min_spacing_decades`` on the ``log10(step)`` axis (the first in each bin; 0: every checkpoint).

    Parameters
    ----------
    steps : array_like, shape (T,)
        Strictly increasing steps.

    Returns
    -------
    ndarray of int, shape (T_kept,)
    """
    steps = as_float64(steps)
    if np.any(np.diff(steps) <= 0):
        raise ValueError("checkpoint steps must be strictly increasing")
    kept, last = [], None
    for i, step in enumerate(steps):
        if step > 0 and (last is None or new_bin(step, last, min_spacing_decades)):
            kept.append(i)
            last = step
    return np.asarray(kept, dtype=int)


def log_bin(step: float, min_spacing_decades: float) -> float:
    """The bin of ``step``: ``floor(log10(step) / spacing + 1/2)``, bins of width ``spacing`` decades centred
    on its multiples, so that a schedule of exactly 1 / spacing checkpoints per decade, rounded to integer
    steps, has one checkpoint in every bin."""
    return np.floor(np.log10(step) / min_spacing_decades + 0.5)


def new_bin(step: float, last: float, min_spacing_decades: float) -> bool:
    """Whether ``step`` (> ``last`` > 0) falls into a later bin (:func:`log_bin`) than ``last``; always for a
    spacing of 0."""
    if min_spacing_decades == 0:
        return True
    return log_bin(step, min_spacing_decades) > log_bin(last, min_spacing_decades)


def circuit_svds(weights: dict) -> dict[str, SVD]:
    """Thin SVDs of the QK and OV circuits of per-head weights (``W_Q, W_K, W_V`` (..., heads, d_model,
    d_head), ``W_O`` (..., heads, d_head, d_model)): ``{"QK": SVD, "OV": SVD}``."""
    return {"QK": qk_circuit_svd(weights["W_Q"], weights["W_K"]), "OV": ov_circuit_svd(weights["W_V"], weights["W_O"])}


def trailing_subspace_distance(svd_ref: SVD, svd_now: SVD, rtol: float = DEFAULTS["pinv_rtol"]) -> np.ndarray:
    """``norm(M(t_i) (I - M_ref^+ M_ref))_F / norm(M(t_i))_F``: section 5's subspace distance with the trailing
    reference ``M_ref = M(t_(i-lag))`` in place of ``M(t)`` and the current ``M(t_i)`` in place of ``M(inf)``.

    Returns an array of the SVDs' batch shape, values in [0, 1].
    """
    return subspace_distance_from_svd(svd_ref, svd_now, rtol)


def difference_norm_squared(svd_ref: SVD, svd_now: SVD) -> np.ndarray:
    """``norm(M_now - M_ref)_F^2`` of every matrix of two SVD stacks, without forming them.

    ``M_now - M_ref = A B^T`` with ``A = [U_n s_n, -U_r s_r]`` and ``B = [V_n, V_r]`` (inner size 2r); with
    reduced QRs ``A = Q_A R_A``, ``B = Q_B R_B`` its norm is that of the small core ``R_A R_B^T`` (the first
    step of :func:`icl_dynamics.measures.svd.factored_svd`), accurate to rounding of ``norm(M)``, not its square.

    Returns an array of the batch shape.
    """
    A = np.concatenate([svd_now.U * svd_now.s[..., None, :], -svd_ref.U * svd_ref.s[..., None, :]], axis=-1)
    B = np.concatenate([svd_now.V, svd_ref.V], axis=-1)
    core = np.linalg.qr(A)[1] @ np.swapaxes(np.linalg.qr(B)[1], -1, -2)
    return np.sum(core**2, axis=(-2, -1))


def relative_speed(svd_ref: SVD, svd_now: SVD, span_decades, change=None) -> np.ndarray:
    """``norm(M(t_i) - M(t_(i-lag)))_F / (norm(M(t_i))_F Delta u)``: relative change of each matrix per decade.

    Parameters
    ----------
    svd_ref, svd_now : SVD
        Thin SVDs of the reference and current matrices, same shape (..., m, n).
    span_decades : float or array_like
        ``Delta u`` in decades, broadcast against the batch shape (e.g. shape (T, 1, 1) for (T, layers, heads)).
    change : ndarray, optional
        :func:`difference_norm_squared` of the two, if already computed.

    Returns
    -------
    ndarray of the batch shape; NaN where ``M(t_i)`` is zero.
    """
    change = difference_norm_squared(svd_ref, svd_now) if change is None else change
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(change / np.sum(svd_now.s**2, axis=-1)) / span_decades


def pooled_relative_speed(svd_ref: SVD, svd_now: SVD, span_decades, head_axes: int, change=None) -> np.ndarray:
    """The alarm statistic: ``sqrt(sum norm(Delta M)_F^2) / (sqrt(sum norm(M(t_i))_F^2) Delta u)``, the sums
    over the last ``head_axes`` batch axes (heads, or layers and heads), i.e. the relative speed of the
    block-diagonal stack of every head's circuit.

    ``change``: :func:`difference_norm_squared` of the two, if already computed. Returns an array of the
    remaining leading shape (e.g. () online, (T,) over a series).
    """
    axes = tuple(range(-head_axes, 0))
    change = difference_norm_squared(svd_ref, svd_now) if change is None else change
    change = np.sum(change, axis=axes)
    size = np.sum(svd_now.s**2, axis=(-1, *(a - 1 for a in axes)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(change / size) / span_decades


def rank_rates(s_ref, s_now, span_decades, settings: dict | None = None) -> dict[str, np.ndarray]:
    """Rates of change per decade of the effective rank and of the marginalised effective ranks (main and
    variant k of ``settings``): ``(erank(s_now) - erank(s_ref)) / Delta u``.

    Parameters
    ----------
    s_ref, s_now : array_like, shape (..., r)
        Singular values of the reference and current matrices.
    span_decades : float or array_like
        ``Delta u``, broadcast against the batch shape.
    settings : dict, optional
        The validated ``measures:`` section (None: the schema's defaults).

    Returns
    -------
    dict of str to ndarray of the batch shape
        ``effective_rank_rate`` and ``marginal_effective_rank_k<k>_rate``.
    """
    settings = DEFAULTS if settings is None else settings
    rates = {"effective_rank_rate": (effective_rank_from_singular_values(s_now)
                                     - effective_rank_from_singular_values(s_ref)) / span_decades}
    for k in sorted({settings["marginal_rank_k"], settings["marginal_rank_k_variant"]}):
        rates[f"marginal_effective_rank_k{k}_rate"] = (marginal_effective_rank_from_singular_values(s_now, k)
                                                       - marginal_effective_rank_from_singular_values(s_ref, k)
                                                       ) / span_decades
    return rates


def trailing_measures(svd_ref: SVD, svd_now: SVD, span_decades, settings: dict | None = None, change=None,
                      ) -> dict[str, np.ndarray]:
    """Every causal measure of one circuit, per head: trailing subspace distance, relative speed, rank rates.

    ``span_decades`` broadcasts against the batch shape; ``change`` as in :func:`relative_speed`. Returns
    arrays of the SVDs' batch shape.
    """
    settings = DEFAULTS if settings is None else settings
    out = {"trailing_subspace_distance": trailing_subspace_distance(svd_ref, svd_now, settings["pinv_rtol"]),
           "relative_speed": relative_speed(svd_ref, svd_now, span_decades, change)}
    out.update(rank_rates(svd_ref.s, svd_now.s, span_decades, settings))
    return out


def causal_circuit_measures(checkpoints: dict, lag: int, min_spacing_decades: float, settings: dict | None = None,
                            ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The causal measures of a stored checkpoint stack, vectorised over checkpoints, layers and heads.

    Parameters
    ----------
    checkpoints : dict
        ``step`` (T,), ``W_Q, W_K, W_V`` (T, [layers,] heads, d_model, d_head), ``W_O`` (T, [layers,] heads,
        d_head, d_model), the ``transformer-lens`` layout.
    lag : int
        Kept checkpoints between a checkpoint and its reference.
    min_spacing_decades : float
        Spacing of kept checkpoints (:func:`kept_checkpoints`).

    Returns
    -------
    steps : ndarray, shape (T_m,)
        Steps of the kept checkpoints that have a reference (all kept ones but the first ``lag``).
    measures : dict
        ``{"QK": {measure: (T_m, [layers,] heads)}, "OV": ...}`` (:func:`trailing_measures`).
    statistic : dict
        ``{"QK": (T_m,), "OV": (T_m,)}``, :func:`pooled_relative_speed`.
    """
    kept = kept_checkpoints(checkpoints["step"], min_spacing_decades)
    steps = as_float64(checkpoints["step"])[kept]
    weights = {name: as_float64(checkpoints[name])[kept] for name in ("W_Q", "W_K", "W_V", "W_O")}
    head_axes = weights["W_Q"].ndim - 3
    svds = circuit_svds(weights)
    span = np.log10(steps[lag:]) - np.log10(steps[:-lag])
    span_b = span.reshape(-1, *([1] * head_axes))
    measures, statistic = {}, {}
    for circuit, svd in svds.items():
        ref = SVD(*(x[:-lag] for x in svd))
        now = SVD(*(x[lag:] for x in svd))
        change = difference_norm_squared(ref, now)
        measures[circuit] = trailing_measures(ref, now, span_b, settings, change)
        statistic[circuit] = pooled_relative_speed(ref, now, span, head_axes, change)
    return steps[lag:], measures, statistic


def causal_table(steps, series: str, measures: dict[str, np.ndarray], layered: bool) -> pd.DataFrame:
    """Rows of the long table (``step, series, layer, head, measure, value``) for per-head causal measures:
    every head, the head mean of each layer (``head`` -1) and the mean over every head (``layer`` and ``head``
    -1). Without a layer axis (``layered`` False) the heads have ``layer`` -1 and only the overall mean is
    added.

    ``measures`` holds arrays of shape (T, layers, heads) (layered) or (T, heads), T = len(steps).
    """
    return rows_frame(causal_rows(steps, series, measures, layered))


def causal_rows(steps, series: str, measures: dict[str, np.ndarray], layered: bool) -> list[tuple]:
    """The rows of :func:`causal_table` as column blocks ``(step, series, layer, head, measure, value)``."""
    steps = np.asarray(steps)
    parts = []
    for name, values in measures.items():
        values = np.asarray(values, dtype=float)
        T = values.shape[0]
        per_head = values if layered else values[:, None, :]
        L, H = per_head.shape[1:]
        layer_ids = np.arange(L) if layered else np.full(L, -1)
        blocks = [(per_head.reshape(T, -1), np.repeat(layer_ids, H), np.tile(np.arange(H), L))]
        if layered:
            blocks.append((per_head.mean(axis=2), layer_ids, np.full(L, -1)))
        blocks.append((per_head.reshape(T, -1).mean(axis=1)[:, None], np.array([-1]), np.array([-1])))
        for block, layer, head in blocks:
            n = block.shape[1]
            parts.append((np.repeat(steps, n), series, np.tile(layer, T), np.tile(head, T), name, block.reshape(-1)))
    return parts


def scalar_table(steps, series: str, measures: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows of the long table for measures without heads (``layer`` and ``head`` -1), arrays of shape (T,)."""
    return rows_frame(scalar_rows(steps, series, measures))


def scalar_rows(steps, series: str, measures: dict[str, np.ndarray]) -> list[tuple]:
    """The rows of :func:`scalar_table` as column blocks."""
    steps = np.asarray(steps)
    minus = np.full(len(steps), -1)
    return [(steps, series, minus, minus, name, np.asarray(v, dtype=float)) for name, v in measures.items()]


def rows_frame(parts: list[tuple]) -> pd.DataFrame:
    """One long-table DataFrame from column blocks ``(step, series, layer, head, measure, value)``."""
    if not parts:
        return pd.DataFrame({column: [] for column in TABLE_COLUMNS})
    sizes = [len(p[5]) for p in parts]
    return pd.DataFrame({
        "step": np.concatenate([p[0] for p in parts]),
        "series": np.repeat(np.array([p[1] for p in parts], dtype=object), sizes),
        "layer": np.concatenate([p[2] for p in parts]).astype(int),
        "head": np.concatenate([p[3] for p in parts]).astype(int),
        "measure": np.repeat(np.array([p[4] for p in parts], dtype=object), sizes),
        "value": np.concatenate([p[5] for p in parts]),
    })


def trailing_autocorrelation_curvature(series, window: int = DEFAULTS["curvature_window"]) -> np.ndarray:
    """Curvature at lag 0 of the loss autocorrelation over the ``window`` samples *ending* at each sample.

    The estimator of :func:`icl_dynamics.measures.curvature.autocorrelation_curvature`,
    ``C_i = -(1/(w-1)) sum_(s=i-w+1)^(i-1) (L_(s+1) - L_s)^2``, placed at the window's last sample instead of
    its centre, so ``C_i`` uses samples up to ``i`` only.

    Parameters
    ----------
    series : array_like, shape (..., n)
    window : int
        ``w``, ``2 <= w <= n`` (config ``measures.curvature_window``).

    Returns
    -------
    ndarray, shape (..., n)
        NaN for the first ``w - 1`` samples.
    """
    values = autocorrelation_curvature(series, window)
    pad = np.full(values.shape[:-1] + (window - 1,), np.nan)
    return np.concatenate([pad, values], axis=-1)
