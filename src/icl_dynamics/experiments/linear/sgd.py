"""Minibatch SGD on the full D x D linear transformer, many runs (seeds, and settings that share d and
the batch size) batched in one process.

Each step and seed draws ``batch`` sequences: a task index from the seed's pool of P tasks, a context
(through its covariance S_xx, or as tokens) and a query. A = Z_ctx Z_ctx^T / N is applied to vectors
through S_xx and W (``data.regression.apply_context_moment``) rather than formed. The loss is the batch mean of
1/2 ||y_hat - W x_q||^2 with y_hat = [W_P A W_Q (x_q; 0)]_y (``models.linear_attention.predict``),
A = Z_ctx Z_ctx^T / N. Its gradients are written out (float64, no autograd):

    dL/dW_P[d:, :] = mean_b e_b u_b^T,             u_b = A_b W_Q (x_q; 0)_b,  e_b = y_hat_b - y_b
    dL/dW_Q[:, :d] = mean_b (A_b W_P[d:, :]^T e_b) x_{q,b}^T

and every other block has zero gradient. The update is W <- W - lr dL/dW, so the mean flow runs in
t = lr x step (``theory.closed_form``). Runs (:class:`SGDRun`: one seed of one setting) are stacked on a
leading axis (:func:`run_sgd_batch`); each has its own random generators, so a run's result does not
depend on which other runs share the batch. :func:`run_sgd` is the batch of one setting's seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from icl_dynamics.data.regression import (RegressionTask, apply_context_moment, make_task_pool, pool_moments,
                                          task_matrices)
from icl_dynamics.experiments.linear.initial import initial_weights
from icl_dynamics.models.linear_attention import learned_mode_strengths, split_blocks
from icl_dynamics.training.errors import DivergenceError

# Batches are drawn for this many steps at a time (fewer, larger random draws); each seed's stream is
# still its own, so results do not depend on which seeds share the process. Not a config key: it is part
# of how a seed's random stream is laid out over steps (another value draws other, equally distributed
# batches), a speed setting of the implementation, not a choice of the experiment.
DRAW_CHUNK = 25


@dataclass(frozen=True)
class SGDSettings:
    """Hyperparameters of one linear-transformer run (shared by its seeds), all required: their defaults
    live in one place, the ``linear`` schema and ``linear.defaults`` (``schemas/linear.schema.yaml``).

    lr, batch, steps     SGD step, sequences per step, number of steps
    init                 ``aligned`` (balanced, p2 = q1 = eps I in U's basis) | ``random``
    eps                  initialisation scale
    context_sampling     ``wishart`` (exact in distribution, O(d^2)) | ``tokens`` (O(N d))
    eval_batch           held-out sequences of the logged loss
    divergence_factor    the run stops with DivergenceError when the held-out loss exceeds this factor times
                         its initial value (``linear.defaults.divergence_factor``)
    """

    lr: float
    batch: int
    steps: int
    init: str
    eps: float
    context_sampling: str
    eval_batch: int
    divergence_factor: float


def sample_batch(task: RegressionTask, lambdas: np.ndarray, rng: np.random.Generator, size: int,
                 context_sampling: str):
    """One batch for one seed: S_xx (size, d, d), W (size, d, d), x_q (size, d), y_q (size, d).

    The context enters the model only through A = Z_ctx Z_ctx^T / N, which S_xx and W determine
    (``data.regression.context_second_moment``); ``tokens`` draws X and forms S_xx = X^T X / N,
    ``wishart`` draws S_xx directly from the same distribution.
    """
    W = task_matrices(lambdas[rng.integers(0, lambdas.shape[0], size)], task.U)
    if context_sampling == "wishart":
        S_xx = task.sample_context_covariance(rng, size)
    elif context_sampling == "tokens":
        X, _ = task.sample_tokens(rng, W)
        S_xx = np.swapaxes(X, -1, -2) @ X / task.N
    else:
        raise ValueError(f"unknown context_sampling {context_sampling!r}; allowed: wishart, tokens")
    x_q = task.sample_queries(rng, size)
    y_q = (W @ x_q[..., None])[..., 0]
    return S_xx, W, x_q, y_q


def loss_and_grads(W_P: np.ndarray, W_Q: np.ndarray, S_xx: np.ndarray, W: np.ndarray, x_q: np.ndarray,
                   y_q: np.ndarray):
    """Batch-mean loss (S,) and the gradients of the moving blocks for stacked seeds.

    W_P, W_Q: (S, D, D); S_xx, W: (S, B, d, d); x_q, y_q: (S, B, d). A = Z_ctx Z_ctx^T / N is applied
    through ``apply_context_moment`` (A is symmetric, so it also gives A^T). Returns (loss, g_Py, g_Qx)
    with g_Py = dL/dW_P[:, d:, :] (S, d, D) and g_Qx = dL/dW_Q[:, :, :d] (S, D, d).
    """
    d = x_q.shape[-1]
    B = x_q.shape[-2]
    P_y = W_P[:, d:, :]                                         # (S, d, D)
    v = x_q @ np.swapaxes(W_Q[:, :, :d], -1, -2)                # W_Q (x_q; 0)      (S, B, D)
    u = apply_context_moment(S_xx, W, v)                        # A W_Q z_q         (S, B, D)
    e = u @ np.swapaxes(P_y, -1, -2) - y_q                      # y_hat - y         (S, B, d)
    loss = 0.5 * np.sum(e * e, axis=(-2, -1)) / B
    g_Py = np.swapaxes(e, -1, -2) @ u / B
    r = apply_context_moment(S_xx, W, e @ P_y)                  # A W_P[d:]^T e     (S, B, D)
    g_Qx = np.swapaxes(r, -1, -2) @ x_q / B
    return loss, g_Py, g_Qx


@dataclass(frozen=True)
class SGDRun:
    """One seed of one setting, the unit that :func:`run_sgd_batch` stacks: its task, hyperparameters,
    seed, logging steps and the name its errors give (the setting's or the validity-map cell's)."""

    task: RegressionTask
    settings: SGDSettings
    seed: int
    log_steps: tuple[int, ...]
    name: str = "linear"


LOGGED = ("modes", "modes_total", "loss", "p1_norm", "q2_norm", "p2_norm", "q1_norm", "conserved", "p2q1")


def run_sgd(task: RegressionTask, settings: SGDSettings, seeds: list[int], log_steps: list[int],
            run_name: str = "linear") -> dict:
    """Train one setting for all ``seeds`` at once; return the logged series.

    Returned arrays (T = len(log_steps), S = len(seeds)):
      steps (T,), modes (S, T, d) = diag(U^T p2 q1 U), modes_total (S, T, d) = diag(U^T (p2 q1 + p1 q2) U)
      (with symmetric tasks W = U Lambda U^T the p1 S_xy q2 path computes the same predictor as
      p2 S_yx q1, so this is the whole learned map per mode), loss (S, T) on a fixed held-out batch,
      p1_norm, q2_norm, p2_norm, q1_norm (S, T) Frobenius norms, conserved (S, T) =
      ||W_P||_F^2 - ||W_Q||_F^2, p2q1 (S, T, d, d), pool_m (S, d), W_P, W_Q (S, D, D) final.
    Raises DivergenceError naming the run, step and learning rate if the loss becomes non-finite or
    exceeds ``divergence_factor`` times its initial value. One setting of :func:`run_sgd_batch`.
    """
    runs = [SGDRun(task, settings, seed, tuple(log_steps), run_name) for seed in seeds]
    return stack_seeds(run_sgd_batch(runs))


def stack_seeds(results: list[dict]) -> dict:
    """The per-run results of one setting's seeds (:func:`run_sgd_batch`, same logging steps) as
    :func:`run_sgd` returns them: seeds on axis 0 of every array (the linear experiment's one axis order,
    seed then step, as the theories' arrays)."""
    out = {k: np.stack([r[k] for r in results]) for k in LOGGED}
    out.update({k: np.stack([r[k] for r in results]) for k in ("pool_m", "W_P", "W_Q", "seed")})
    out["seeds"] = out.pop("seed")
    out["steps"] = results[0]["steps"]
    return out


class NumpySteps:
    """The array backend of :func:`run_sgd_batch` on CPU: NumPy float64 (the reference path)."""

    to_device = to_numpy = staticmethod(lambda array: array)
    loss_and_grads = staticmethod(loss_and_grads)
    finite = staticmethod(np.isfinite)


def run_sgd_batch(runs: list[SGDRun], torch_device: str | None = None) -> list[dict]:
    """Minibatch SGD for many runs (settings x seeds) stacked on one leading axis; one result per run.

    ``torch_device`` None computes the steps in NumPy float64; a torch device name (``"cuda"`` on a GPU)
    computes them in torch float64 there (:mod:`.sgd_torch`: same batches, same formulas, equal to about
    1e-12); logging and the held-out loss are computed in NumPy either way.

    Runs may differ in task (spectrum, basis, N, P), learning rate, init, number of steps and logging
    steps; they must share d, ``batch`` and ``eval_batch``, the shapes that are stacked. Each run draws
    from its own generators (``[seed, 3]`` for training batches, ``[seed, 4]`` for its held-out batch) in
    the same order as it would alone, so a run's result does not depend on which runs share the batch.
    Runs are ordered by their number of steps (longest first), so the runs still training are always a
    leading slice of the stack; a run leaves it when its steps are done.

    Each result holds steps (T,) and, per logged step, modes, modes_total (T, d), loss, the block norms
    and conserved (T,), p2q1 (T, d, d) (as in :func:`run_sgd`), and pool_m (d,), the final W_P, W_Q
    (D, D) and seed.
    """
    shapes = {(run.task.d, run.settings.batch, run.settings.eval_batch) for run in runs}
    if len(shapes) != 1:
        raise ValueError(f"runs batched together must share d, batch and eval_batch; got {sorted(shapes)}")
    order = sorted(range(len(runs)), key=lambda i: -runs[i].settings.steps)  # stable: ties keep their order
    runs = [runs[i] for i in order]
    for run in runs:
        if max(run.log_steps) > run.settings.steps:
            raise ValueError(f"run {run.name!r}: log step {max(run.log_steps)} beyond steps = {run.settings.steps}")
    d, batch = runs[0].task.d, runs[0].settings.batch
    pools = [make_task_pool(run.task.P, d, run.seed) for run in runs]
    rngs = [np.random.default_rng([run.seed, 3]) for run in runs]
    held_out = [sample_batch(run.task, pool, np.random.default_rng([run.seed, 4]), run.settings.eval_batch,
                             run.settings.context_sampling) for run, pool in zip(runs, pools)]
    held_out = tuple(np.stack(parts) for parts in zip(*held_out))
    inits = [initial_weights(run.task, run.settings.init, run.settings.eps, run.seed) for run in runs]
    xp = NumpySteps() if torch_device is None else _torch_steps(torch_device)
    W_P = xp.to_device(np.stack([w[0] for w in inits]))
    W_Q = xp.to_device(np.stack([w[1] for w in inits]))
    lr = xp.to_device(np.array([run.settings.lr for run in runs])[:, None, None])
    steps = np.array([run.settings.steps for run in runs])
    logging_at: dict[int, list[int]] = {}
    for i, run in enumerate(runs):
        for step in sorted(set(int(s) for s in run.log_steps)):
            logging_at.setdefault(step, []).append(i)

    logs = [{k: [] for k in LOGGED} for _ in runs]
    initial_loss = np.full(len(runs), np.nan)
    for step in range(int(steps.max()) + 1):
        if step in logging_at:
            _log(step, logging_at[step], runs, xp.to_numpy(W_P), xp.to_numpy(W_Q), held_out, logs, initial_loss)
        active = int(np.sum(steps > step))  # runs still training: a leading slice (longest first)
        if active == 0:
            break
        if step % DRAW_CHUNK == 0:
            chunk = [sample_batch(run.task, pool, r, batch * DRAW_CHUNK, run.settings.context_sampling)
                     for run, pool, r in zip(runs[:active], pools, rngs)]
            chunk = [xp.to_device(np.stack(parts).reshape((active, DRAW_CHUNK, batch) + parts[0].shape[1:]))
                     for parts in zip(*chunk)]
        loss, g_Py, g_Qx = xp.loss_and_grads(W_P[:active], W_Q[:active],
                                             *(part[:active, step % DRAW_CHUNK] for part in chunk))
        finite = xp.finite(loss)
        if not np.all(finite):
            bad = int(np.argmin(finite))
            raise DivergenceError(f"run {runs[bad].name!r} diverged at step {step} with learning rate "
                                  f"{runs[bad].settings.lr}: training loss {float(loss[bad])} for seed {runs[bad].seed}")
        W_P[:active, d:, :] -= lr[:active] * g_Py
        W_Q[:active, :, :d] -= lr[:active] * g_Qx

    W_P, W_Q = xp.to_numpy(W_P), xp.to_numpy(W_Q)
    results = [None] * len(runs)
    for i, (run, pool, log) in enumerate(zip(runs, pools, logs)):
        result = {k: np.stack(v) for k, v in log.items()}
        result.update(steps=np.array(sorted(set(int(s) for s in run.log_steps))), pool_m=pool_moments(pool),
                      W_P=W_P[i], W_Q=W_Q[i], seed=np.array(run.seed))
        results[order[i]] = result
    return results


def _torch_steps(device: str):
    from icl_dynamics.experiments.linear.sgd_torch import TorchSteps  # torch only where it is used

    return TorchSteps(device)


def _log(step, which, runs, W_P, W_Q, held_out, logs, initial_loss) -> None:
    """Append the logged quantities of runs ``which`` at ``step``; raise DivergenceError for a run whose
    held-out loss is non-finite or above ``divergence_factor`` times its first logged value."""
    idx = np.array(which)
    loss_eval = loss_and_grads(W_P[idx], W_Q[idx], *(part[idx] for part in held_out))[0]
    first = np.isnan(initial_loss[idx])
    initial_loss[idx[first]] = loss_eval[first]
    for j, i in enumerate(which):
        run, log = runs[i], logs[i]
        if not np.isfinite(loss_eval[j]) or loss_eval[j] > run.settings.divergence_factor * initial_loss[i]:
            raise DivergenceError(
                f"run {run.name!r} diverged at step {step} with learning rate {run.settings.lr}: held-out loss "
                f"{loss_eval[j]:.3g} (initial {initial_loss[i]:.3g}) for seed {run.seed}")
        p1, p2, q1, q2 = split_blocks(W_P[i], W_Q[i])
        U = run.task.U
        log["modes"].append(learned_mode_strengths(W_P[i], W_Q[i], U))
        log["modes_total"].append(np.einsum("ia,ij,ja->a", U, p2 @ q1 + p1 @ q2, U))
        log["loss"].append(loss_eval[j])
        for name, block in (("p1_norm", p1), ("q2_norm", q2), ("p2_norm", p2), ("q1_norm", q1)):
            log[name].append(np.linalg.norm(block, axis=(-2, -1)))
        log["conserved"].append(np.sum(W_P[i] ** 2) - np.sum(W_Q[i] ** 2))
        log["p2q1"].append(p2 @ q1)
