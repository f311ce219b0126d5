"""The exact expected loss of the aligned linear transformer and its mean flow (docs/science.md section 4).

With p2 = U diag(p) U^T, q1 = U diag(q) U^T, p1 = q2 = 0 and Gaussian fourth moments of the
Wishart matrix S_xx (E[S_aa^2] = (N+2)/N s_a^2, E[S_ab^2] = s_a s_b / N for a != b):

    L_exact = 1/2 sum_a m_a [ (N+1)/N s_a^3 p_a^2 q_a^2 + (1/N) p_a^2 s_a sum_b q_b^2 s_b^2
                              - 2 s_a^2 p_a q_a + s_a ]

with m_a the task pool's second moment of lambda_a (1 for an infinite pool). The mean flow of SGD with
step lr on the pool-averaged loss is dp/dt = -dL_exact/dp, dq/dt = -dL_exact/dq in t = lr x step.
It conserves sum_a (p_a^2 - q_a^2) (the global rescaling p -> c p, q -> q / c), not each mode's share.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from icl_dynamics.models.linear_attention import ModeFactors


def exact_loss(p: np.ndarray, q: np.ndarray, s: np.ndarray, N: int, m: np.ndarray | float = 1.0) -> np.ndarray:
    """L_exact over the last (mode) axis; ``p``, ``q``, ``m`` broadcast against ``s``."""
    s = np.asarray(s, dtype=float)
    Q = np.sum(q**2 * s**2, axis=-1, keepdims=True)
    per_mode = (N + 1) / N * s**3 * p**2 * q**2 + p**2 * s * Q / N - 2 * s**2 * p * q + s
    return 0.5 * np.sum(np.asarray(m) * per_mode, axis=-1)


def exact_loss_grad(p, q, s, N, m=1.0):
    """(dL_exact/dp, dL_exact/dq), each of the broadcast shape of p, q, s."""
    s = np.asarray(s, dtype=float)
    m = np.asarray(m, dtype=float)
    Q = np.sum(q**2 * s**2, axis=-1, keepdims=True)
    R = np.sum(m * p**2 * s, axis=-1, keepdims=True)
    c = (N + 1) / N
    grad_p = m * (c * s**3 * p * q**2 + p * s * Q / N - s**2 * q)
    grad_q = m * (c * s**3 * p**2 * q - s**2 * p) + q * s**2 * R / N
    return grad_p, grad_q


def integrate_mean_flow(p0, q0, t_eval, s, N, m=1.0, rtol=1e-9, atol=1e-12) -> ModeFactors:
    """Integrate the exact mean flow from (p0, q0) and return (p, q) at ``t_eval`` (a ModeFactors).

    p0, q0, m: (..., d) (leading dims, e.g. seeds, are integrated in one system). Returns arrays of
    shape (..., T, d). Uses SciPy's LSODA (the flow is stiff: tau ranges over s_max^2 / s_min^2).
    """
    p0, q0 = np.broadcast_arrays(np.asarray(p0, float), np.asarray(q0, float))
    shape = p0.shape
    mb = np.broadcast_to(np.asarray(m, float), shape)
    sb = np.broadcast_to(np.asarray(s, float), shape)
    n = p0.size

    def rhs(_t, y):
        p, q = y[:n].reshape(shape), y[n:].reshape(shape)
        gp, gq = exact_loss_grad(p, q, sb, N, mb)
        return -np.concatenate([gp.ravel(), gq.ravel()])

    t_eval = np.asarray(t_eval, dtype=float)
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), np.concatenate([p0.ravel(), q0.ravel()]),
                    method="LSODA", t_eval=t_eval, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"mean-flow integration failed: {sol.message}")
    y = sol.y.T  # (T, 2n)
    p = np.moveaxis(y[:, :n].reshape((-1,) + shape), 0, -2)
    q = np.moveaxis(y[:, n:].reshape((-1,) + shape), 0, -2)
    return ModeFactors(p, q)


def exact_fixed_point(p0, q0, s, N, m=1.0, gtol=1e-10, horizon_factor=50.0) -> ModeFactors:
    """The fixed point the exact mean flow reaches from (p0, q0): returns (p, q) (a ModeFactors) with
    |grad| < gtol.

    Integrates the flow for ``horizon_factor`` slowest timescales 1 / (m s^2), then polishes the end
    point with a least-squares solve of grad L_exact = 0 (Levenberg-Marquardt, which tolerates the
    flat rescaling direction of the minimum). Raises RuntimeError if no fixed point is reached.
    """
    p0, q0 = np.broadcast_arrays(np.asarray(p0, float), np.asarray(q0, float))
    tau_max = float(np.max(1.0 / (np.asarray(m, float) * np.asarray(s, float) ** 2)))
    pt, qt = integrate_mean_flow(p0, q0, [0.0, horizon_factor * tau_max], s, N, m)
    shape, n = p0.shape, p0.size
    sb = np.broadcast_to(np.asarray(s, float), shape)
    mb = np.broadcast_to(np.asarray(m, float), shape)

    def grad(x):
        gp, gq = exact_loss_grad(x[:n].reshape(shape), x[n:].reshape(shape), sb, N, mb)
        return np.concatenate([gp.ravel(), gq.ravel()])

    x0 = np.concatenate([pt[..., -1, :].ravel(), qt[..., -1, :].ravel()])
    x = least_squares(grad, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    if np.abs(grad(x)).max() >= gtol or np.abs(x).max() < 1e-8:
        raise RuntimeError("exact mean flow did not reach a fixed point; is the start exactly at a saddle (p = q = 0)?")
    return ModeFactors(x[:n].reshape(shape), x[n:].reshape(shape))


def half_time(t: np.ndarray, a: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """First time a trajectory a (..., T, d) crosses ``target`` (default: half its final value),
    linearly interpolated on the given grid; NaN where it never does. Returns (..., d)."""
    a = np.asarray(a, float)
    if target is None:
        target = 0.5 * a[..., -1, :]
    target = np.broadcast_to(target, a[..., -1, :].shape)
    above = a >= target[..., None, :]
    first = np.argmax(above, axis=-2)  # (..., d)
    never = ~np.any(above, axis=-2)
    i1 = np.clip(first, 1, a.shape[-2] - 1)
    i0 = i1 - 1
    a0 = np.take_along_axis(a, i0[..., None, :], -2)[..., 0, :]
    a1 = np.take_along_axis(a, i1[..., None, :], -2)[..., 0, :]
    t = np.asarray(t, float)
    t0, t1 = t[i0], t[i1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(a1 != a0, (target - a0) / (a1 - a0), 0.0)
    out = t0 + np.clip(frac, 0, 1) * (t1 - t0)
    out = np.where(first == 0, t[0], out)
    return np.where(never, np.nan, out)
