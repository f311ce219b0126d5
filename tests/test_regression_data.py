"""In-context regression data: spectra, bases, task pools, token and Wishart contexts."""

import numpy as np
import pytest

from icl_dynamics.data.regression import (RegressionTask, context_second_moment, embed_sequences, make_basis,
                                          make_spectrum, make_task_pool, pool_moments, task_matrices)


def test_spectrum_kinds():
    assert np.allclose(make_spectrum("explicit", 3, values=[3, 2, 1]), [3, 2, 1])
    assert np.allclose(make_spectrum("geometric", 3, ratio=0.5, scale=2), [2, 1, 0.5])
    assert np.allclose(make_spectrum("power_law", 3, exponent=1.0, scale=1.0), [1, 0.5, 1 / 3])
    assert np.allclose(make_spectrum("isotropic", 3, scale=0.7), [0.7] * 3)
    with pytest.raises(ValueError, match="unknown spectrum kind 'cubic'"):
        make_spectrum("cubic", 3)
    with pytest.raises(ValueError, match="2 values but d = 3"):
        make_spectrum("explicit", 3, values=[1, 2])


def test_random_basis_is_orthogonal_and_seeded():
    U = make_basis("random", 5, seed=3)
    assert np.allclose(U.T @ U, np.eye(5), atol=1e-12)
    assert np.array_equal(U, make_basis("random", 5, seed=3))
    assert not np.allclose(U, make_basis("random", 5, seed=4))


def test_task_pool_moments_and_symmetric_tasks():
    lam = make_task_pool(20000, 3, seed=0)
    assert lam.shape == (20000, 3)
    assert np.allclose(pool_moments(lam), 1.0, atol=0.03)
    U = make_basis("random", 3, seed=1)
    W = task_matrices(lam[:4], U)
    assert np.allclose(W, np.swapaxes(W, -1, -2))
    assert np.allclose(U.T @ W[0] @ U, np.diag(lam[0]), atol=1e-12)


def test_tokens_and_embedding():
    task = RegressionTask(s=np.array([2.0, 0.5]), U=make_basis("random", 2, 0), N=7, P=10)
    rng = np.random.default_rng(0)
    W = task_matrices(make_task_pool(3, 2, 0), task.U)
    X, Y = task.sample_tokens(rng, W)
    x_q = task.sample_queries(rng, 3)
    assert X.shape == Y.shape == (3, 7, 2)
    assert np.allclose(Y[1], X[1] @ W[1].T)
    Z = embed_sequences(X, Y, x_q)
    assert Z.shape == (3, 4, 8)
    assert np.allclose(Z[:, :2, -1], x_q) and np.all(Z[:, 2:, -1] == 0)
    assert np.allclose(Z[2, 2:, 3], Y[2, 3])


def test_wishart_context_covariance_moments():
    """S_xx from the Bartlett sampler has the Wishart moments E S = Sigma,
    Var S_aa = 2 s_a^2 / N and E S_ab^2 = s_a s_b / N (a != b), as X^T X / N of drawn tokens."""
    s = np.array([2.0, 1.0, 0.5])
    task = RegressionTask(s=s, U=np.eye(3), N=6, P=1)
    rng = np.random.default_rng(1)
    S = task.sample_context_covariance(rng, 200000)
    assert np.allclose(S.mean(axis=0), np.diag(s), atol=0.02)
    assert np.allclose(S[:, 0, 0].var(), 2 * s[0] ** 2 / 6, rtol=0.03)
    assert np.allclose((S[:, 0, 2] ** 2).mean(), s[0] * s[2] / 6, rtol=0.03)
    rotated = RegressionTask(s=s, U=make_basis("random", 3, 2), N=6, P=1)
    S_rot = rotated.sample_context_covariance(rng, 100000)
    assert np.allclose(S_rot.mean(axis=0), rotated.covariance, atol=0.02)


def test_second_moment_matches_tokens():
    task = RegressionTask(s=np.array([1.5, 0.5]), U=make_basis("random", 2, 5), N=9, P=4)
    rng = np.random.default_rng(2)
    W = task_matrices(make_task_pool(2, 2, 1), task.U)
    X, Y = task.sample_tokens(rng, W)
    Zc = np.concatenate([X, Y], axis=-1)
    A_tokens = np.swapaxes(Zc, -1, -2) @ Zc / 9
    S_xx = np.swapaxes(X, -1, -2) @ X / 9
    assert np.allclose(context_second_moment(S_xx, W), A_tokens)


def test_wishart_needs_n_at_least_d():
    task = RegressionTask(s=np.ones(4), U=np.eye(4), N=3, P=1)
    with pytest.raises(ValueError, match="N >= d"):
        task.sample_context_covariance(np.random.default_rng(0), 2)
