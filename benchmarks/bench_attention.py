"""Training throughput of the shared trainer against a plain training loop, same model and data.

Both train the quick preset's 2-layer attention-only model (config/config.yaml + config/quick.yaml) on
the periodic task with Adam for ``--steps`` updates from the same initial weights; the plain loop is the
straightforward ``loss, zero_grad, backward, step``. The two are run alternately ``--repeats`` times in
this one process; the median and best rate of each are printed (steps per second). On a shared machine
the median is the robust number.

    python benchmarks/bench_attention.py [--steps 300] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from icl_dynamics.config import load_config, validate
from icl_dynamics.training.attention import PeriodicTask, build_model, make_optimizer
from icl_dynamics.training.trainer import TrainerConfig, train


def plain_loop(model, optimizer, task, steps: int) -> float:
    """Steps per second of the straightforward loop."""
    start = time.perf_counter()
    for step in range(steps):
        loss = task.loss(model, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def trainer_loop(model, optimizer, task, steps: int) -> float:
    """Steps per second of :func:`icl_dynamics.training.trainer.train` (no checkpoints, no state files)."""
    cfg = TrainerConfig(run_name="bench", total_steps=steps, log_every=steps + 1)
    start = time.perf_counter()
    train(model, optimizer, task.loss, cfg)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    section = validate(load_config("config/config.yaml", "config/quick.yaml")["attention"], "attention")
    torch.manual_seed(0)
    initial = build_model(section, n_layers=2)
    task = PeriodicTask(section, seed=0, device=torch.device("cpu"))
    rates = {"plain loop": [], "trainer": []}
    for _ in range(args.repeats):
        for name, loop in (("plain loop", plain_loop), ("trainer", trainer_loop)):
            model = copy.deepcopy(initial)
            rates[name].append(loop(model, make_optimizer(section, model), task, args.steps))
    for name, values in rates.items():
        print(f"{name:>10}: median {statistics.median(values):7.1f} steps/s, best {max(values):7.1f} "
              f"(all {args.repeats}: {', '.join(f'{v:.1f}' for v in values)})")
    ratio = statistics.median(rates["trainer"]) / statistics.median(rates["plain loop"])
    print(f"trainer / plain (medians) = {ratio:.3f}")


if __name__ == "__main__":
    main()
