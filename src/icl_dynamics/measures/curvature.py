"""Curvature of the sliding-window autocorrelation of a training curve (loss or parameter norm)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from icl_dynamics.measures.settings import DEFAULTS
from icl_dynamics.measures.svd import as_float64


def autocorrelation_curvature(series, window: int = DEFAULTS["curvature_window"]) -> np.ndarray:
    """Curvature at lag 0 of the autocorrelation ``A(tau) = E[L(t) L(t + tau)]`` in sliding windows.

    For the window of samples ``L_i, ..., L_(i+w-1)`` (``w = window``) both lags are estimated from the
    same ``w - 1`` neighbouring pairs, without subtracting the mean:

        A(1) = A(-1) = (1/(w-1)) sum_(s=i)^(i+w-2) L_s L_(s+1),
        A(0)         = (1/(w-1)) sum_(s=i)^(i+w-2) (L_s^2 + L_(s+1)^2) / 2,

    and the curvature is its second finite difference at ``tau = 0`` (lag unit: one sample),

        C_i = A(1) - 2 A(0) + A(-1) = 2 (A(1) - A(0)) = -(1/(w-1)) sum_s (L_(s+1) - L_s)^2,

    the discrete form of A''(0) = -E[L'(t)^2]. ``C`` is zero for a constant curve and never positive;
    it is large and negative where the curve changes quickly or fluctuates, e.g. ``a^2 (cos w - 1)`` for
    ``L_s = a sin(w s)`` over a long window.
    (Estimating A(0) over all ``w`` samples instead would weight the window's end samples differently
    in the two lags and can make C positive on a rising curve.)

    Parameters
    ----------
    series : array_like or torch.Tensor, shape (..., n)
        Curves sampled along the last axis (e.g. loss per logged step, norm per checkpoint).
    window : int
        Window length ``w`` in samples, ``2 <= w <= n`` (config ``measures.curvature_window``).

    Returns
    -------
    ndarray, shape (..., n - w + 1)
        ``C_i`` for the window that starts at sample ``i``.
    """
    L = as_float64(series)
    n = L.shape[-1]
    if not 2 <= window <= n:
        raise ValueError(f"curvature window {window} must be between 2 and the series length {n}")
    A1 = sliding_window_view(L[..., :-1] * L[..., 1:], window - 1, axis=-1).mean(axis=-1)
    A0 = sliding_window_view((L[..., :-1] ** 2 + L[..., 1:] ** 2) / 2, window - 1, axis=-1).mean(axis=-1)
    return 2.0 * (A1 - A0)
