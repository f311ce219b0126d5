"""Curvature of the sliding-window autocorrelation of a training curve (loss or parameter norm)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from icl_dynamics.measures.svd import as_float64


def autocorrelation_curvature(series, window: int) -> np.ndarray:
    """Curvature at lag 0 of the autocorrelation ``A(tau) = E[L(t) L(t + tau)]`` in sliding windows.

    For the window of samples ``L_i, ..., L_(i+w-1)`` (``w = window``) the autocorrelation is estimated
    from the pairs inside the window, without subtracting the mean:

        A(0) = (1/w) sum_(s=i)^(i+w-1) L_s^2,     A(1) = A(-1) = (1/(w-1)) sum_(s=i)^(i+w-2) L_s L_(s+1),

    and the curvature is its second finite difference at ``tau = 0`` (lag unit: one sample),

        C_i = A(1) - 2 A(0) + A(-1) = 2 (A(1) - A(0)).

    ``C`` is zero for a constant curve and about ``-mean((L_(s+1) - L_s)^2)`` otherwise, so it is large
    and negative where the curve changes quickly or fluctuates, e.g. ``a^2 (cos w - 1)`` for
    ``L_s = a sin(w s)`` over a long window.

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
    A0 = sliding_window_view(L**2, window, axis=-1).mean(axis=-1)
    A1 = sliding_window_view(L[..., :-1] * L[..., 1:], window - 1, axis=-1).mean(axis=-1)
    return 2.0 * (A1 - A0)
