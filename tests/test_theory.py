"""Closed form (Eq. 13-14) and the exact mean flow (docs/science.md section 4) against known answers."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from icl_dynamics.theory import closed_form as cf
from icl_dynamics.theory import exact_flow as ef

S = np.array([2.0, 1.0, 0.5, 0.25])


def test_closed_form_solves_its_ode():
    """Eq. 13 solves tau da/dt = 2 a (1 - a s_inf) (Eq. 9-12 with p = q)."""
    N, a0, m = 30, 1e-3, np.array([1.0, 0.9, 1.1, 1.0])
    t = np.linspace(0, 400, 4001)
    a = cf.logistic_mode_strength(t, S, N, a0, m)
    tau, s_inf = cf.timescale(S, m), cf.s_inf(S, N)
    sol = solve_ivp(lambda _t, y: 2 * y * (1 - y * s_inf) / tau, (0, t[-1]), np.full(4, a0), t_eval=t,
                    rtol=1e-10, atol=1e-14)
    assert np.allclose(a, sol.y.T, rtol=1e-6, atol=1e-9)
    assert np.allclose(a[-1], 1 / s_inf, rtol=1e-6)


def test_escape_time_is_half_rise():
    N, a0 = 30, 1e-4
    t_half = cf.escape_time(S, N, a0)
    a = np.stack([cf.logistic_mode_strength(np.array([t_half[i]]), S, N, a0)[0, i] for i in range(4)])
    assert np.allclose(a, 0.5 * cf.fixed_point(S, N))
    assert np.all(np.diff(t_half) > 0)  # larger s escapes first


def test_eq14_matches_exact_loss_where_paper_says():
    """L_exact = Eq. 14 when q_b^2 s_b is the same for every mode (isotropic S, balanced equal modes)."""
    s = np.full(3, 0.8)
    p = q = np.full(3, 0.6)
    assert np.isclose(ef.exact_loss(p, q, s, 10), cf.loss(p * q, s, 10))
    p, q = np.array([0.3, 1.0, 1.7]), np.array([0.3, 1.0, 1.7])
    assert not np.isclose(ef.exact_loss(p, q, S[:3], 10), cf.loss(p * q, S[:3], 10))


def test_exact_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    p, q, m = rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 1.5, 4)
    gp, gq = ef.exact_loss_grad(p, q, S, 8, m)
    h = 1e-6
    for i in range(4):
        e = np.eye(4)[i] * h
        assert np.isclose(gp[i], (ef.exact_loss(p + e, q, S, 8, m) - ef.exact_loss(p - e, q, S, 8, m)) / (2 * h),
                          rtol=1e-6, atol=1e-9)
        assert np.isclose(gq[i], (ef.exact_loss(p, q + e, S, 8, m) - ef.exact_loss(p, q - e, S, 8, m)) / (2 * h),
                          rtol=1e-6, atol=1e-9)


def test_mean_flow_conserves_global_balance():
    """sum_a p_a^2 - q_a^2 is conserved by the exact mean flow (global rescaling symmetry)."""
    p0, q0 = np.array([0.02, 0.05, 0.01, 0.03]), np.array([0.01, 0.04, 0.02, 0.01])
    t = np.linspace(0, 300, 50)
    p, q = ef.integrate_mean_flow(p0, q0, t, S, 10)
    c = np.sum(p**2 - q**2, axis=-1)
    assert np.allclose(c, c[0], atol=1e-7)
    assert np.max(np.abs(p[-1] * q[-1])) > 0.2  # it did learn


def test_exact_flow_equals_closed_form_when_isotropic():
    s = np.ones(3)
    t = np.linspace(0, 30, 200)
    p, q = ef.integrate_mean_flow(np.full(3, 0.01), np.full(3, 0.01), t, s, 20)
    assert np.allclose(p * q, cf.logistic_mode_strength(t, s, 20, 1e-4), atol=1e-6)


def test_integration_is_vectorised_over_seeds():
    p0 = np.array([[0.01] * 4, [0.02] * 4])
    m = np.array([[1.0] * 4, [0.8, 1.0, 1.2, 1.0]])
    t = np.linspace(0, 100, 20)
    p, q = ef.integrate_mean_flow(p0, p0, t, S, 30, m)
    assert p.shape == (2, 20, 4)
    p1, _ = ef.integrate_mean_flow(p0[1], p0[1], t, S, 30, m[1])
    assert np.allclose(p[1], p1, rtol=1e-6, atol=1e-10)


def test_fixed_points_known_values():
    """docs/science.md section 4: S = diag(4, 1, 0.5, 0.25), N = 30: 1/s_inf = 2.22 for s = 0.25, while the exact
    mean flow converges to 2.94; and the exact fixed point has zero gradient."""
    s, N = np.array([4, 1, 0.5, 0.25]), 30
    assert np.isclose(cf.fixed_point(s, N)[-1], 2.2222, atol=1e-3)
    p, q = ef.exact_fixed_point(np.full(4, 0.01), np.full(4, 0.01), s, N)
    assert np.isclose((p * q)[-1], 2.94, atol=0.005)
    gp, gq = ef.exact_loss_grad(p, q, s, N)
    assert np.abs(gp).max() < 1e-9 and np.abs(gq).max() < 1e-9
    # larger N: the exact fixed point approaches the closed form's 1 / s_inf (difference O(Tr S / N))
    p, q = ef.exact_fixed_point(np.full(4, 0.01), np.full(4, 0.01), s, 1000)
    assert np.allclose(p * q, cf.fixed_point(s, 1000), rtol=0.02)
    assert np.allclose(cf.fixed_point(s, 10**6), 1 / s, rtol=1e-3)


def test_predictor_matrix_is_eq11():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    s, N = np.array([3.0, 1.0, 0.2]), 12
    sigma = (U * s) @ U.T
    expected = np.linalg.inv((N + 1) / N * sigma + np.trace(sigma) / N * np.eye(3))
    assert np.allclose(cf.predictor_matrix(s, U, N), expected)


def test_half_time_interpolates_and_flags_never():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    a = np.array([[0.0, 0.0], [0.2, 0.1], [0.6, 0.2], [1.0, 0.3]])
    out = ef.half_time(t, a, target=np.array([0.5, 0.9]))
    assert np.isclose(out[0], 1.75) and np.isnan(out[1])


def test_fixed_point_raises_at_saddle():
    with pytest.raises(RuntimeError, match="saddle"):
        ef.exact_fixed_point(np.zeros(4), np.zeros(4), S, 30)
