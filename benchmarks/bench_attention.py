"""Training throughput of the shared trainer against a plain training loop, same model and data.

Three loops train the same attention-only model on the periodic task with Adam for ``--steps`` updates
from the same initial weights:

- ``plain, explicit``: the straightforward loop (``loss, zero_grad, backward, step``) with the attention
  pattern computed explicitly (scores, causal mask, softmax), as the model's equations are written;
- ``plain, fused``: the same loop with the model's training path (torch's fused causal attention);
- ``trainer``: :func:`icl_dynamics.training.trainer.train` on the training path (no checkpoints).

They run alternately ``--repeats`` times in this one process; the median and best rate of each are
printed (steps per second), then the ratios. On a shared machine the median is the robust number.

    python benchmarks/bench_attention.py [--preset quick|paper] [--layers 2] [--steps 300] [--repeats 3]
                                         [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import time

import torch

from icl_dynamics.config import load_config, validate
from icl_dynamics.data.sequences import next_token_loss
from icl_dynamics.experiments.attention.run import PeriodicTask, build_model, make_optimizer
from icl_dynamics.training.trainer import TrainerConfig, train

PRESETS = {"quick": ("config/config.yaml", "config/quick.yaml"), "paper": ("config/config.yaml",)}


def explicit_loss(task: PeriodicTask):
    """The task's next-token loss with the attention patterns computed explicitly."""

    def loss(model, step: int) -> torch.Tensor:
        tokens = task.batch_at(step)
        logits, _ = model(tokens, return_attention=True)
        return next_token_loss(logits, tokens)

    return loss


def plain_loop(model, optimizer, loss_fn, steps: int) -> float:
    """Steps per second of the straightforward loop."""
    start = time.perf_counter()
    for step in range(steps):
        loss = loss_fn(model, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def trainer_loop(model, optimizer, loss_fn, steps: int, runtime: dict) -> float:
    """Steps per second of :func:`icl_dynamics.training.trainer.train` (no checkpoints, no state files), with
    the divergence check of ``attention.runtime``."""
    cfg = TrainerConfig(run_name="bench", total_steps=steps, state_every=steps + 1, log_every=steps + 1,
                        divergence_factor=runtime["divergence_factor"], check_every=runtime["check_every"])
    start = time.perf_counter()
    train(model, optimizer, loss_fn, cfg)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    section = validate(load_config(*PRESETS[args.preset])["attention"], "attention")
    torch.manual_seed(0)
    initial = build_model(section, n_layers=args.layers)
    task = PeriodicTask(section, seed=0, device=torch.device("cpu"))
    loops = {
        "plain, explicit": (plain_loop, explicit_loss(task)),
        "plain, fused": (plain_loop, task.loss),
        "trainer": (functools.partial(trainer_loop, runtime=section["runtime"]), task.loss),
    }
    print(f"{args.preset} preset, {args.layers} layers, {args.steps} steps x {args.repeats} repeats, "
          f"{args.threads} thread(s)")
    rates = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, (loop, loss_fn) in loops.items():
            model = copy.deepcopy(initial)
            rates[name].append(loop(model, make_optimizer(model, section), loss_fn, args.steps))
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"{name:>16}: median {median[name]:7.1f} steps/s, best {max(values):7.1f} "
              f"(all {args.repeats}: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"trainer / plain fused (medians) = {median['trainer'] / median['plain, fused']:.3f}")
    print(f"fused / explicit attention, plain loops (medians) = "
          f"{median['plain, fused'] / median['plain, explicit']:.3f}")


if __name__ == "__main__":
    main()
