"""Benchmark: batched linear-transformer SGD vs a straightforward baseline, in one run.

Ours (``training.linear_sgd.run_sgd``): all seeds stacked in one process, contexts drawn through
their Wishart covariance (cost independent of N), analytic gradients of the moving blocks, float64.
Baseline: one seed at a time, token contexts, the full f(Z) = Z + W_P (Z Z^T / N) W_Q Z over all N + 1
columns in torch float64, loss from the query column, autograd, SGD step.

Prints steps x seeds per second for both at the paper preset's sizes (config/config.yaml, setting
aniso_N30 by default) and the speed-up.

    python benchmarks/bench_linear_sgd.py [--steps 300] [--setting aniso_N30] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from icl_dynamics.config import load_config, validate
from icl_dynamics.data.regression import make_task_pool, task_matrices
from icl_dynamics.experiments.linear.initial import initial_weights
from icl_dynamics.experiments.linear.settings import make_task, resolve_setting
from icl_dynamics.experiments.linear.sgd import SGDSettings, run_sgd

REPO = Path(__file__).resolve().parents[1]


def baseline(task, setting, seed, steps):
    """One seed, token contexts, autograd through the full model."""
    rng = np.random.default_rng(seed)
    pool = make_task_pool(task.P, task.d, seed)
    W_P, W_Q = (torch.tensor(w, requires_grad=True) for w in initial_weights(task, "aligned", setting["eps"], seed))
    d, B = task.d, setting["batch"]
    for _ in range(steps):
        W = task_matrices(pool[rng.integers(0, task.P, B)], task.U)
        X, Y = task.sample_tokens(rng, W)
        x_q = task.sample_queries(rng, B)
        ctx = torch.tensor(np.concatenate([X, Y], axis=-1)).transpose(1, 2)            # (B, D, N)
        query = torch.cat([torch.tensor(x_q), torch.zeros(B, d, dtype=torch.float64)], 1)[:, :, None]
        Z = torch.cat([ctx, query], dim=2)                                              # (B, D, N+1)
        f = Z + W_P @ (ctx @ ctx.transpose(1, 2) / task.N) @ W_Q @ Z
        y_hat = f[:, d:, -1]
        loss = 0.5 * ((y_hat - torch.tensor(np.einsum("bij,bj->bi", W, x_q))) ** 2).sum(1).mean()
        loss.backward()
        with torch.no_grad():
            for w in (W_P, W_Q):
                w -= setting["lr"] * w.grad
                w.grad = None
    return W_P.detach().numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--setting", default="aniso_N30")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(REPO / "config/config.yaml")
    setting = resolve_setting(validate(cfg["linear"], "linear", prefix="linear"), args.setting)
    seeds = cfg["linear"]["seeds"]
    task = make_task(setting)
    print(f"setting {args.setting}: d={task.d}, N={task.N}, P={task.P}, batch={setting['batch']}, "
          f"seeds={len(seeds)}, steps={args.steps}, threads={args.threads}")

    t0 = time.perf_counter()
    for seed in seeds:
        baseline(task, setting, seed, args.steps)
    t_base = time.perf_counter() - t0

    sgd = SGDSettings(lr=setting["lr"], batch=setting["batch"], steps=args.steps, init=setting["init"],
                      eps=setting["eps"], context_sampling=setting["context_sampling"], eval_batch=setting["batch"],
                      divergence_factor=setting["divergence_factor"])
    t0 = time.perf_counter()
    run_sgd(task, sgd, seeds, [0, args.steps])
    t_ours = time.perf_counter() - t0

    work = args.steps * len(seeds)
    print(f"baseline (one seed at a time, tokens, autograd): {work / t_base:10.1f} steps x seeds / s  ({t_base:.2f} s)")
    print(f"ours (seeds batched, Wishart contexts, analytic): {work / t_ours:10.1f} steps x seeds / s  ({t_ours:.2f} s)")
    print(f"speed-up: {t_base / t_ours:.1f}x")


if __name__ == "__main__":
    main()
