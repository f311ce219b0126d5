"""A closed form of the exact mean flow at finite N: staged logistics (docs/science.md section 11).

The exact mean flow (``exact_flow``, docs/science.md section 4) couples the modes through the term
(1/N) p_a^2 s_a sum_b q_b^2 s_b^2 of L_exact, which Eq. 14 replaces by a self term. This module gives its
trajectory from a balanced small start without integrating an ODE. Notation (per mode a, pool moment m_a):

    sigma_a = sqrt(m_a s_a),  g_a = m_a s_a^2,  c = (N + 1) / N

1. Fixed point (:func:`fixed_point`): minimising L_exact over each mode's rebalancing (p_a, q_a at fixed
   a_a = p_a q_a) leaves L_eff(a) = 1/2 sum m_a (c s_a^3 a_a^2 - 2 s_a^2 a_a + s_a) + (1/2N) K(a)^2 with
   K(a) = sum_a sigma_a s_a a_a; its minimiser over a >= 0, on the active set A of n modes, is

       a_a = N/(N+1) [ 1/s_a - sum_{b in A} sigma_b / ((N + 1 + n) sigma_a s_a) ],
       K   = N sum_{b in A} sigma_b / (N + 1 + n),

   and A = {a : sigma_a > K / N} (a mode outside it has a_a = 0: the unconstrained formula would be < 0).
2. Stages (:func:`stage_schedule`): the active modes, in order of their initial rate 2 g_a, are learned one
   after the other. Stage k's fixed point A^(k) is (1) on the first k of them; the faster modes are
   rebalanced with p_b^2 / q_b^2 = mu^(k) s_b / m_b, mu^(k) fixed by the conserved sum_b (p_b^2 - q_b^2) = 0.
   A small mode j in the field of stage k grows at the exact linearised rate r_j^(k) (:func:`plateau_rate`),
   r_j^(0) = 2 g_j.
3. Delays: tau_k = integral of (1 - phi_k) dt, with phi_k stage k's progress, solve a triangular system,
   tau_k = [ log(a_k(inf) / a0_k) - sum_{i<k} (r_k^(i-1) - r_k^(i)) tau_i ] / r_k^(k-1),
   exact for the rebalanced (Lotka-Volterra) reduction of the flow when the stages are separated, and for
   identical modes.
4. Trajectory (:func:`mode_strength`): each stage is a logistic of area tau_k that starts at x0_k,
   phi_k(t) = x0_k e^{rho_k t} / (1 - x0_k + x0_k e^{rho_k t}), rho_k = log(1 / x0_k) / tau_k, and every
   mode follows the stages' fixed points: a_b(t) = sum_k (A_b^(k) - A_b^(k-1)) phi_k(t). The x0_k make
   a_b(0) = a0_b. A mode outside A grows as a0 exp(2 g t - sum_k (r^(k-1) - r^(k)) int_0^t phi_k).

For isotropic S (equal g_a, m_a) every stage has the same logistic and the formula is Eq. 13; for N -> inf
it tends to Eq. 13 as well. Time t = lr x step as in ``closed_form``. All arrays float64; leading
dimensions (seeds, settings) broadcast.
"""

from __future__ import annotations

import numpy as np


def _prepare(s, N, m, *extra):
    """s, m and extra per-mode arrays broadcast to one shape (..., d), flattened to (B, d)."""
    arrays = np.broadcast_arrays(np.asarray(s, float), np.asarray(m, float), *(np.asarray(x, float) for x in extra))
    shape = arrays[0].shape
    return shape, [x.reshape(-1, shape[-1]) for x in arrays]


def _active_K(sigma: np.ndarray, N: float) -> tuple[np.ndarray, np.ndarray]:
    """Active set (mask) and K of the rebalanced minimiser, rows of ``sigma`` (B, d) independent."""
    srt = -np.sort(-sigma, axis=-1)
    n = np.arange(1, sigma.shape[-1] + 1)
    K_prefix = N * np.cumsum(srt, axis=-1) / (N + 1 + n)
    K_before = np.concatenate([np.zeros_like(K_prefix[:, :1]), K_prefix[:, :-1]], axis=-1)
    n_active = np.cumprod(srt > K_before / N, axis=-1).sum(axis=-1)          # >= 1
    K = np.take_along_axis(K_prefix, n_active[:, None] - 1, axis=-1)
    return sigma > K / N, K


def _capacity(s, sigma, K, N, active):
    """(1): a_a = N/(N+1) (1/s_a) (1 - K / (N sigma_a)) on ``active``, 0 elsewhere."""
    return np.where(active, N / ((N + 1) * s) * (1.0 - K / (N * sigma)), 0.0)


def fixed_point(s, N: float, m=1.0) -> np.ndarray:
    """Fixed point of the exact mean flow in closed form, (1) of the module docstring; shape of s, m.

    With m_a = 1 and every mode active: a_a = N/(N+1) [1/s_a - sum_b sqrt(s_b) / ((N + 1 + d) s_a^(3/2))].
    Modes with sqrt(m_a s_a) <= K / N (small N, small s_a) are 0: there the unconstrained formula turns
    negative and gradient flow leaves the mode at p_a = q_a = 0.
    """
    shape, (s2, m2) = _prepare(s, N, m)
    sigma = np.sqrt(m2 * s2)
    active, K = _active_K(sigma, N)
    return _capacity(s2, sigma, K, N, active).reshape(shape)


def plateau_rate(s, m, N: float, K, mu) -> np.ndarray:
    """Exact growth rate of a small balanced-start mode (s, m) in the field of converged modes.

    The converged modes, rebalanced with p_b^2 / q_b^2 = mu s_b / m_b, give sum_b m_b s_b p_b^2 = sqrt(mu) K
    and sum_b s_b^2 q_b^2 = K / sqrt(mu). Linearising the exact flow in (p, q):
    dp/dt = -alpha p + beta q, dq/dt = beta p - gamma q with alpha = m s K / (N sqrt(mu)),
    gamma = s^2 sqrt(mu) K / N, beta = m s^2; a = p q grows at twice the top eigenvalue,
    r = -(alpha + gamma) + sqrt((alpha - gamma)^2 + 4 beta^2). K = 0 gives 2 m s^2 (Eq. 13's rate).
    """
    sq = np.sqrt(mu)
    alpha, gamma, beta = m * s * K / (N * sq), s**2 * sq * K / N, m * s**2
    return -(alpha + gamma) + np.sqrt((alpha - gamma) ** 2 + 4 * beta**2)


def stage_schedule(s, N: float, a0, m=1.0) -> dict:
    """Stages, steps 2-3 of the module docstring, for s, a0, m broadcast to (..., d).

    Returns a dict of arrays with leading shape (...): ``order`` (..., d) the modes in stage order (active
    modes by decreasing m s^2, then the inactive ones); ``active`` (..., d) per mode; ``dA`` (..., d, d)
    with dA[k, b] = A_b^(k) - A_b^(k-1) (zero rows for stages past the active ones); ``rate`` (..., d+1, d)
    with rate[k, b] = r_b^(k); ``x0``, ``tau``, ``rho`` (..., d) per stage (NaN past the active ones);
    ``fixed_point`` (..., d). Raises ValueError where the start is not small (a0 >= a stage's fixed point).
    """
    shape, (s2, m2, a02) = _prepare(s, N, m, a0)
    out = _schedule(s2, m2, a02, N)
    for key in ("x0", "tau", "rho"):
        out[key] = np.where(out["is_stage"], out[key], np.nan)
    del out["is_stage"]
    return {key: val.reshape(shape[:-1] + val.shape[1:]) for key, val in out.items()}


def _schedule(s, m, a0, N):
    """:func:`stage_schedule` on (B, d) arrays; past the active stages x0 = 1/2, tau = 1 (placeholders
    that contribute nothing: those stages have dA = 0 and change no rate)."""
    B, d = s.shape
    sigma, g = np.sqrt(m * s), m * s**2
    active, _ = _active_K(sigma, N)
    order = np.argsort(np.where(active, -g, np.inf), axis=-1, kind="stable")
    rank = np.argsort(order, axis=-1)                 # stage at which each mode rises
    n_active = active.sum(axis=-1)
    is_stage = np.arange(d)[None, :] < n_active[:, None]
    n = np.minimum(np.arange(d + 1)[None, :], n_active[:, None])          # modes learned after k stages
    in_stage = rank[:, None, :] < n[:, :, None]                           # (B, d+1, d)
    K = N * np.sum(sigma[:, None, :] * in_stage, axis=-1) / (N + 1 + n)   # K^(k), K^(0) = 0
    A = _capacity(s[:, None], sigma[:, None], K[:, :, None], N, in_stage)  # A^(k), A^(0) = 0
    with np.errstate(invalid="ignore"):
        mu = np.where(n > 0, np.sum(A * sigma[:, None] / s[:, None], -1) / np.sum(A * s[:, None] / sigma[:, None], -1),
                      1.0)
    rate = plateau_rate(s[:, None, :], m[:, None, :], N, K[:, :, None], mu[:, :, None])   # (B, d+1, d)
    dA = np.diff(A, axis=1)
    dA_own = np.take_along_axis(dA, order[:, None, :], axis=-1)    # dA_own[:, i, k] = dA[:, i, order[k]]
    rate_own = np.take_along_axis(rate, order[:, None, :], axis=-1)  # r^(j) of the mode of stage k
    drop = rate_own[:, :-1] - rate_own[:, 1:]        # drop[:, i, k] = r^(i) - r^(i+1), zero past the stages
    a0_own = np.take_along_axis(a0, order, axis=-1)
    log_gain = np.log(np.where(is_stage, np.take_along_axis(A[:, d], order, axis=-1), 1.0) / a0_own)
    x0, tau = np.zeros((B, d)), np.zeros((B, d))
    for k in range(d - 1, -1, -1):                    # a_b(0) = sum_k dA[k, b] x0_k = a0_b, back-substitution
        later = np.sum(dA_own[:, k + 1:, k] * x0[:, k + 1:], axis=-1)
        x0[:, k] = np.where(is_stage[:, k], a0_own[:, k] - later, 0.0) / np.where(is_stage[:, k], dA_own[:, k, k], 1)
    for k in range(d):                                # the delays, forward substitution
        earlier = np.sum(drop[:, :k, k] * tau[:, :k], axis=-1)
        tau[:, k] = (log_gain[:, k] - earlier) / np.where(is_stage[:, k], rate_own[:, k, k], 1.0)
    if np.any(is_stage & ~((x0 > 0) & (x0 < 1) & (tau > 0))):
        raise ValueError("finite-N closed form needs a small balanced start: a0 below every stage's fixed point")
    x0, tau = np.where(is_stage, x0, 0.5), np.where(is_stage, tau, 1.0)
    return dict(order=order, active=active, dA=dA, rate=rate, x0=x0, tau=tau, rho=np.log(1 / x0) / tau,
                fixed_point=A[:, d], is_stage=is_stage)


def mode_strength(t, s, N: float, a0, m=1.0) -> np.ndarray:
    """The finite-N closed form a_a(t) from a balanced start p_a = q_a = sqrt(a0_a) (module docstring, 4).

    ``t`` (T,) theory time t = lr x step; ``s``, ``a0``, ``m`` broadcast to (..., d), e.g. s (d,),
    a0 and m (S, d). Returns (..., T, d), like ``closed_form.logistic_mode_strength``.
    """
    shape, (s2, m2, a02) = _prepare(s, N, m, a0)
    sched = _schedule(s2, m2, a02, N)
    x0, rho = sched["x0"][:, None, :], sched["rho"][:, None, :]            # (B, 1, stages)
    t = np.asarray(t, float)[None, :, None]
    log_num = np.log(x0) + rho * t
    log_den = np.logaddexp(log_num, np.log1p(-x0))
    phi = np.exp(log_num - log_den)                                        # stage progress (B, T, stages)
    a = phi @ sched["dA"]                                                  # slaving to the stages' fixed points
    inactive = ~sched["active"]
    if np.any(inactive):      # linear growth in the stages' field, then decay; int_0^t phi_k = log_den / rho
        rate = sched["rate"]                                               # (B, d+1, d): r^(k) per mode
        log_a = np.log(a02)[:, None, :] + rate[:, :1, :] * t - (log_den / rho) @ (rate[:, :-1] - rate[:, 1:])
        a = np.where(inactive[:, None, :], np.exp(np.where(inactive[:, None, :], log_a, 0.0)), a)
    return a.reshape(shape[:-1] + (t.shape[1], shape[-1]))


def loss(a, s, N: float, m=1.0) -> np.ndarray:
    """L_eff: the exact loss at the best rebalancing of each mode at fixed a_a = p_a q_a (the value the
    exact flow approaches once the learned modes have rebalanced), summed over the last axis:
    1/2 sum_a m_a (c s_a^3 a_a^2 - 2 s_a^2 a_a + s_a) + (1/2N) (sum_a sqrt(m_a) s_a^(3/2) |a_a|)^2.
    It is the minimum of ``exact_flow.exact_loss`` over p, q with p q = a (Cauchy-Schwarz)."""
    a, s, m = np.broadcast_arrays(np.asarray(a, float), np.asarray(s, float), np.asarray(m, float))
    c = (N + 1) / N
    cross = np.sum(np.sqrt(m) * s**1.5 * np.abs(a), axis=-1)
    return 0.5 * np.sum(m * (c * s**3 * a**2 - 2 * s**2 * a + s), axis=-1) + 0.5 * cross**2 / N
