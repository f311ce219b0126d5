"""Training throughput (bytes per second) of the text task's trainer against a plain loop, same run.

Two loops train the same byte-level attention-only model on the same batches of the corpus with Adam for
``--steps`` updates from the same initial weights, on the device named (``auto``: CUDA when present):

- ``plain``: the straightforward loop (``loss, zero_grad, backward, step``), float32, eager model;
- ``trainer``: :func:`icl_dynamics.training.trainer.train` with the text run's training step
  (:meth:`icl_dynamics.experiments.text.run.TextTask.loss`: bf16 autocast on CUDA with ``precision: auto``,
  a ``torch.compile``-d model with ``runtime.compile`` on CUDA) and the section's divergence-check interval.

They run alternately ``--repeats`` times in this one process after one warm-up each (compilation); the
median and best rate of each are printed with the device, then the ratio.

    python benchmarks/bench_text.py [--preset quick|paper|gpu] [--layers 2] [--steps 30] [--repeats 3]
                                    [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from icl_dynamics.config import load_config, validate
from icl_dynamics.data.code_corpus import load_corpus
from icl_dynamics.data.sequences import next_token_loss
from icl_dynamics.experiments.attention.run import make_optimizer
from icl_dynamics.experiments.text.run import TextTask, build_model
from icl_dynamics.training.trainer import TrainerConfig, resolve_device, train

PRESETS = {"quick": ("config/config.yaml", "config/quick.yaml"), "paper": ("config/config.yaml",),
           "gpu": ("config/config.yaml", "config/text_gpu.yaml")}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(model, optimizer, task: TextTask, steps: int, device) -> float:
    """Bytes per second of the straightforward float32 loop."""
    sync(device)
    start = time.perf_counter()
    for step in range(steps):
        tokens = task.batch_at(step)
        loss = next_token_loss(model(tokens), tokens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * task.batch * task.seq_len / (time.perf_counter() - start)


def trainer_loop(model, optimizer, task: TextTask, step_model, steps: int, runtime: dict, device) -> float:
    """Bytes per second of the shared trainer on the text run's training step (no checkpoints, no state)."""
    cfg = TrainerConfig(run_name="bench", total_steps=steps, state_every=steps + 1, log_every=steps + 1,
                        divergence_factor=runtime["divergence_factor"], check_every=runtime["check_every"])
    sync(device)
    start = time.perf_counter()
    train(model, optimizer, lambda _model, step: task.loss(step_model, step), cfg)
    sync(device)
    return steps * task.batch * task.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    section = validate(load_config(*PRESETS[args.preset])["text"], "text")
    device = resolve_device(args.device)
    corpus = load_corpus(section["corpus"])
    task = TextTask(section, 0, device, corpus)
    torch.manual_seed(0)
    initial = build_model(section, args.layers).to(device)
    plain_model, trainer_model = copy.deepcopy(initial), copy.deepcopy(initial)
    plain_opt, trainer_opt = make_optimizer(plain_model, section), make_optimizer(trainer_model, section)
    compiled = section["runtime"]["compile"] and device.type == "cuda"
    step_model = torch.compile(trainer_model) if compiled else trainer_model
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} torch thread(s)"
    precision = "bf16 autocast" if device.type == "cuda" and section["train"]["precision"] == "auto" else "float32"
    print(f"device: {name}; preset {args.preset}, {args.layers} layers, d_model {section['model']['d_model']}, "
          f"batch {task.batch} x {task.seq_len} bytes; trainer step: {precision}, compiled: {compiled}")
    plain_loop(plain_model, plain_opt, task, 2, device)  # warm-up (and compilation of the trainer's step)
    trainer_loop(trainer_model, trainer_opt, task, step_model, 2, section["runtime"], device)
    rates = {"plain": [], "trainer": []}
    for _ in range(args.repeats):
        rates["plain"].append(plain_loop(plain_model, plain_opt, task, args.steps, device))
        rates["trainer"].append(trainer_loop(trainer_model, trainer_opt, task, step_model, args.steps,
                                             section["runtime"], device))
    for loop, values in rates.items():
        print(f"{loop:8s} median {statistics.median(values):12.0f} bytes/s   best {max(values):12.0f} bytes/s")
    print(f"trainer / plain (median): {statistics.median(rates['trainer']) / statistics.median(rates['plain']):.2f}")


if __name__ == "__main__":
    main()
