"""The full linear transformer: Eq. 8's block formula, gradients, batched SGD, divergence."""

import numpy as np
import pytest
import torch

from icl_dynamics.data.regression import (RegressionTask, apply_context_moment, context_second_moment, embed_sequences,
                                          make_basis, make_task_pool, task_matrices)
from icl_dynamics.models.linear_attention import block_prediction, forward, predict, split_blocks
from icl_dynamics.theory import exact_flow as ef
from icl_dynamics.experiments.linear.initial import initial_modes
from icl_dynamics.experiments.linear.sgd import (SGDRun, SGDSettings, loss_and_grads, run_sgd,
                                             run_sgd_batch, sample_batch, stack_seeds)
from icl_dynamics.training.errors import DivergenceError

RNG = np.random.default_rng(0)


def sgd_settings(lr, batch, steps, eval_batch=2048, init="aligned", eps=0.01, **changes):
    """SGDSettings of these tests: the paper preset's init, eps, context sampling and divergence factor
    (config.yaml, the linear schema), given here since SGDSettings has no defaults."""
    values = dict(lr=lr, batch=batch, steps=steps, init=init, eps=eps, context_sampling="wishart",
                  eval_batch=eval_batch, divergence_factor=1e3)
    return SGDSettings(**{**values, **changes})


def _sequence(d=3, N=6):
    X, Y, x_q = RNG.normal(size=(1, N, d)), RNG.normal(size=(1, N, d)), RNG.normal(size=(1, d))
    return X, Y, x_q, embed_sequences(X, Y, x_q)


def test_prediction_equals_block_formula():
    """y_hat from f(Z) = Z + W_P (Z Z^T / N) W_Q Z equals (p1 S_xx q1 + p1 S_xy q2 + p2 S_yx q1 + p2 S_yy q2) x_q."""
    d, N = 3, 6
    X, Y, x_q, Z = _sequence(d, N)
    W_P, W_Q = RNG.normal(size=(6, 6)), RNG.normal(size=(6, 6))
    y_hat = forward(W_P, W_Q, Z[0])[d:, -1]
    S = lambda a, b: a[0].T @ b[0] / N  # noqa: E731
    expected = block_prediction(W_P, W_Q, S(X, X), S(X, Y), S(Y, X), S(Y, Y), x_q[0])
    assert np.allclose(y_hat, expected)
    ctx = Z[0][:, :-1]
    assert np.allclose(predict(W_P, W_Q, (ctx @ ctx.T / N)[None], x_q)[0], y_hat)


def test_context_moment_applied_without_forming_a():
    task = RegressionTask(s=np.array([2.0, 0.7, 0.3]), U=make_basis("random", 3, 4), N=5, P=3)
    rng = np.random.default_rng(3)
    W = task_matrices(make_task_pool(4, 3, 2), task.U)
    X, Y = task.sample_tokens(rng, W)
    Zc = np.concatenate([X, Y], axis=-1)
    A = np.swapaxes(Zc, -1, -2) @ Zc / 5
    v = rng.normal(size=(4, 6))
    S_xx = np.swapaxes(X, -1, -2) @ X / 5
    assert np.allclose(apply_context_moment(S_xx, W, v), (A @ v[..., None])[..., 0])


def test_other_blocks_do_not_affect_prediction():
    d, N = 2, 5
    X, Y, x_q, Z = _sequence(d, N)
    W_P, W_Q = RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4))
    W_P2, W_Q2 = W_P.copy(), W_Q.copy()
    W_P2[:d] += 1.0   # rows writing into x
    W_Q2[:, d:] += 1.0  # columns acting on the query's (zero) y-part
    assert np.allclose(forward(W_P, W_Q, Z[0])[d:, -1], forward(W_P2, W_Q2, Z[0])[d:, -1])


def test_analytic_gradients_match_autograd():
    task = RegressionTask(s=np.array([2.0, 1.0, 0.5]), U=make_basis("random", 3, 1), N=8, P=20)
    pool = make_task_pool(20, 3, 0)
    S_xx, W, x_q, y_q = sample_batch(task, pool, np.random.default_rng(0), 16, "tokens")
    A = context_second_moment(S_xx, W)
    W_P, W_Q = RNG.normal(size=(1, 6, 6)) * 0.3, RNG.normal(size=(1, 6, 6)) * 0.3
    loss, g_Py, g_Qx = loss_and_grads(W_P, W_Q, S_xx[None], W[None], x_q[None], y_q[None])
    tP = torch.tensor(W_P[0], requires_grad=True)
    tQ = torch.tensor(W_Q[0], requires_grad=True)
    y_hat = torch.einsum("ij,bjk,kl,bl->bi", tP[3:], torch.tensor(A), tQ[:, :3], torch.tensor(x_q))
    t_loss = 0.5 * ((y_hat - torch.tensor(y_q)) ** 2).sum(-1).mean()
    t_loss.backward()
    assert np.isclose(loss[0], t_loss.item())
    assert np.allclose(g_Py[0], tP.grad[3:].numpy())
    assert np.allclose(g_Qx[0], tQ.grad[:, :3].numpy())
    assert np.all(tP.grad[:3].numpy() == 0) and np.all(tQ.grad[:, 3:].numpy() == 0)


def test_exact_loss_matches_monte_carlo():
    """L_exact (docs/science.md section 4) vs the full model's loss averaged over drawn token sequences."""
    s, N = np.array([4.0, 1.0, 0.5, 0.25]), 8
    U = make_basis("random", 4, 7)
    task = RegressionTask(s=s, U=U, N=N, P=400)
    pool = make_task_pool(400, 4, 3)
    p, q = np.array([0.2, 0.6, 1.1, 1.4]), np.array([0.25, 0.5, 0.9, 1.6])
    W_P, W_Q = np.zeros((1, 8, 8)), np.zeros((1, 8, 8))
    W_P[0, 4:, 4:] = (U * p) @ U.T
    W_Q[0, :4, :4] = (U * q) @ U.T
    rng = np.random.default_rng(11)
    losses = [loss_and_grads(W_P, W_Q, *(x[None] for x in sample_batch(task, pool, rng, 20000, "tokens")))[0][0]
              for _ in range(10)]
    mc, err = np.mean(losses), np.std(losses) / np.sqrt(len(losses))
    exact = ef.exact_loss(p, q, s, N, np.mean(pool**2, axis=0))
    assert abs(mc - exact) < 4 * err + 1e-3, (mc, exact, err)


def test_seeds_are_independent_of_batching():
    task = RegressionTask(s=np.array([1.0, 0.5]), U=np.eye(2), N=10, P=50)
    st = sgd_settings(lr=0.05, batch=32, steps=30, eval_batch=64)
    both = run_sgd(task, st, [0, 1], [0, 10, 30])
    one = run_sgd(task, st, [1], [0, 10, 30])
    assert np.array_equal(both["modes"][1], one["modes"][0])
    assert not np.allclose(both["modes"][0, -1], both["modes"][1, -1])


def test_aligned_init_is_balanced_and_null_blocks_start_at_zero():
    task = RegressionTask(s=np.array([1.0, 0.5]), U=make_basis("random", 2, 0), N=10, P=5)
    p, q = initial_modes(task, "aligned", 0.01, 0)
    assert np.allclose(p, 0.01) and np.allclose(q, 0.01)
    out = run_sgd(task, sgd_settings(lr=0.05, batch=16, steps=2, eval_batch=16), [0], [0, 2])
    assert out["p1_norm"][0, 0] == 0 and out["q2_norm"][0, 0] == 0
    assert np.isclose(out["conserved"][0, 0], 0.0)


def test_short_run_follows_exact_mean_flow():
    """Small steps: the simulated modes track the exact mean flow with the pool's moments."""
    s = np.array([2.0, 1.0])
    task = RegressionTask(s=s, U=np.eye(2), N=20, P=200)
    steps = list(range(0, 1501, 50))
    out = run_sgd(task, sgd_settings(lr=0.02, batch=256, steps=1500, eval_batch=64), [0], steps)
    m = out["pool_m"][0]
    p, q = ef.integrate_mean_flow(np.full(2, 0.01), np.full(2, 0.01), 0.02 * np.array(steps), s, 20, m)
    a_sim, a_th = out["modes"][0], p * q
    r2 = 1 - ((a_sim - a_th) ** 2).sum(0) / ((a_sim - a_sim.mean(0)) ** 2).sum(0)
    assert np.all(r2 > 0.98), r2


def test_divergence_names_run_step_and_rate():
    task = RegressionTask(s=np.array([4.0, 2.0]), U=np.eye(2), N=10, P=20)
    with pytest.raises(DivergenceError, match=r"run 'too_fast' diverged at step \d+ with learning rate 5.0"):
        run_sgd(task, sgd_settings(lr=5.0, batch=32, steps=200, eps=0.5, eval_batch=32), [0],
                list(range(0, 201, 5)), run_name="too_fast")


def test_blocks_split():
    W_P, W_Q = np.arange(16.0).reshape(4, 4), -np.arange(16.0).reshape(4, 4)
    p1, p2, q1, q2 = split_blocks(W_P, W_Q)
    assert np.array_equal(p1, W_P[2:, :2]) and np.array_equal(p2, W_P[2:, 2:])
    assert np.array_equal(q1, W_Q[:2, :2]) and np.array_equal(q2, W_Q[2:, :2])
    assert task_matrices(np.ones((1, 2)), np.eye(2)).shape == (1, 2, 2)


def test_runs_of_different_settings_batch_without_changing_each_other():
    """run_sgd_batch: settings differing in N, spectrum, lr, steps and logging steps, stacked in one batch,
    give each setting's run_sgd result exactly."""
    a = (RegressionTask(s=np.array([2.0, 0.5]), U=np.eye(2), N=10, P=50), sgd_settings(lr=0.05, batch=16, steps=40))
    b = (RegressionTask(s=np.array([1.0, 1.0]), U=make_basis("random", 2, 3), N=30, P=20),
         sgd_settings(lr=0.02, batch=16, steps=65, init="random"))
    logs = {0: [0, 3, 40], 1: [0, 1, 30, 64, 65]}
    runs = [SGDRun(task, st, seed, tuple(logs[i]), f"s{i}") for i, (task, st) in enumerate((a, b)) for seed in (0, 1)]
    batched = run_sgd_batch(runs)
    for i, (task, st) in enumerate((a, b)):
        alone = run_sgd(task, st, [0, 1], logs[i])
        np.testing.assert_equal(stack_seeds(batched[2 * i:2 * i + 2]), alone)
    with pytest.raises(ValueError, match="must share d, batch and eval_batch"):
        run_sgd_batch([runs[0], SGDRun(a[0], sgd_settings(lr=0.05, batch=8, steps=40), 0, (0, 40))])
