"""Time one update of the online monitor beside one training step, on the paper-preset models.

Models (config/config.yaml): the attention-only model (``attention.model``) with 2 and 4 layers, a training
step being forward + backward + Adam on one batch of ``attention.train.batch`` sequences of the periodic
task; the grokking model (``grokking.model``), one full-batch AdamW step. The monitor update
(:meth:`icl_dynamics.measures.monitor.TrainingMonitor.update` on the model, every checkpoint kept: the worst
case) reads the weights, takes the factored SVDs of every head's QK and OV circuits and returns the new rows.
Overhead = monitor updates per training step x update time / step time, at the preset's checkpoint rate:
every scheduled checkpoint (worst case), and only those the monitor keeps with its default spacing (a
skipped update does not read the weights).

    python benchmarks/bench_monitor.py [--steps 30] [--updates 30] [--threads 1]

Measured on the 2-core development machine (shared, load about 7), one thread: attention 2 layers, step
195 ms, update 16 ms, 0.0314 checkpoints per step (0.0146 kept), overhead 0.26% (0.12% kept only);
4 layers 435 ms, 36 ms, 0.26% (0.12%); grokking 255 ms, 30 ms, 0.0100 per step (0.0018 kept), 0.12%
(0.02%). The script ran in about 50 s.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from icl_dynamics.config import load_config, validate  # noqa: E402
from icl_dynamics.data.modular import modular_addition_split  # noqa: E402
from icl_dynamics.experiments.attention import run as attention  # noqa: E402
from icl_dynamics.experiments.grokking import run as grokking  # noqa: E402
from icl_dynamics.measures.alarm import MONITOR_DEFAULTS  # noqa: E402
from icl_dynamics.measures.causal import kept_checkpoints  # noqa: E402
from icl_dynamics.measures.monitor import TrainingMonitor  # noqa: E402
from icl_dynamics.models.grokking import cross_entropy_float64  # noqa: E402
from icl_dynamics.training.schedules import interval_steps  # noqa: E402


def median_seconds(fn, n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_time(model, optimizer, loss_fn, n: int, scheduler=None) -> float:
    def one(i):
        loss = loss_fn(i)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    one(0)  # warm-up
    return median_seconds(one, n)


def update_time(model, n: int) -> float:
    monitor = TrainingMonitor(min_spacing_decades=0.0)
    for step in range(1, MONITOR_DEFAULTS["lag"] + 3):
        monitor.update(model, step)
    first = MONITOR_DEFAULTS["lag"] + 3
    return median_seconds(lambda i: monitor.update(model, first + i), n)


def report(name: str, t_step: float, t_update: float, schedule: list[int], total_steps: int) -> None:
    rate = len(schedule) / total_steps
    kept = len(kept_checkpoints(schedule, MONITOR_DEFAULTS["min_spacing_decades"])) / total_steps
    print(f"{name:<22} step {1e3 * t_step:7.2f} ms   update {1e3 * t_update:6.2f} ms   "
          f"checkpoints/step {rate:.4f} (kept {kept:.4f})   overhead {100 * rate * t_update / t_step:5.2f}% "
          f"(kept only: {100 * kept * t_update / t_step:5.2f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps timed per model")
    parser.add_argument("--updates", type=int, default=30, help="monitor updates timed per model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config("config/config.yaml")
    print(f"paper preset, {args.threads} thread(s), medians of {args.steps} steps and {args.updates} updates")

    section = validate(config["attention"], "attention")
    schedule = attention.checkpoint_schedule(section)
    for layers in (2, 4):
        torch.manual_seed(0)
        model = attention.build_model(section, n_layers=layers)
        task = attention.PeriodicTask(section, seed=0, device=torch.device("cpu"))
        optimizer = attention.make_optimizer(section, model)
        t_step = step_time(model, optimizer, lambda i: task.loss(model, i), args.steps)
        report(f"attention, {layers} layers", t_step, update_time(model, args.updates), schedule,
               section["train"]["steps"])

    section = validate(config["grokking"], "grokking")
    torch.manual_seed(0)
    model = grokking.build_model(section)
    data = modular_addition_split(section["task"]["p"], section["task"]["train_fraction"], 0)
    optimizer, scheduler = grokking.build_optimizer(model, section)
    t_step = step_time(model, optimizer, lambda i: cross_entropy_float64(model(data.train_x), data.train_y),
                       args.steps, scheduler)
    steps = section["train"]["steps"]
    report("grokking", t_step, update_time(model, args.updates),
           interval_steps(steps, section["train"]["checkpoint_every"]), steps)


if __name__ == "__main__":
    main()
