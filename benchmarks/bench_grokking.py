"""Epochs per second of grokking training at the paper preset on CPU: our pass against the plain one.

    python benchmarks/bench_grokking.py [--epochs 40] [--threads 1]

Both runs start from the same initialisation and take the same full-batch AdamW updates
(icl_dynamics.experiments.grokking.run). "ours" is ``GrokkingTransformer.forward``: only what the
last-position cross-entropy needs. "plain" is ``forward_full``: every position through every layer
and the unembedding, then the last position's logits. The script prints both rates, their ratio and
the largest difference between the two loss curves, also with float64 models: in float32 the two
passes round in a different order, and the updates amplify that rounding over the epochs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from icl_dynamics.data.modular import modular_addition_split
from icl_dynamics.models.grokking import cross_entropy_float64
from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments.grokking.run import build_model, build_optimizer
from icl_dynamics.training.trainer import seed_everything


def run(section: dict, epochs: int, full_sequence: bool,
        dtype: torch.dtype = torch.float32) -> tuple[float, list[float]]:
    """(epochs per second, loss per epoch) of ``epochs`` full-batch updates from seed 0."""
    data = modular_addition_split(section["task"]["p"], section["task"]["train_fraction"], seed=0)
    seed_everything(0)
    model = build_model(section).to(dtype)
    opt, sched = build_optimizer(model, section)

    def logits():
        return model.forward_full(data.train_x)[:, -1] if full_sequence else model(data.train_x)

    losses = []
    start = time.perf_counter()
    for _ in range(epochs):
        loss = cross_entropy_float64(logits(), data.train_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return epochs / (time.perf_counter() - start), losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    root = Path(__file__).resolve().parents[1]
    cfg = validate(load_config(root / "config" / "config.yaml")["grokking"], "grokking")  # the paper preset
    run(cfg, 3, full_sequence=False)  # warm-up
    ours, ours_losses = run(cfg, args.epochs, full_sequence=False)
    plain, plain_losses = run(cfg, args.epochs, full_sequence=True)
    diff32 = max(abs(a - b) for a, b in zip(ours_losses, plain_losses))
    ours64 = run(cfg, args.epochs, full_sequence=False, dtype=torch.float64)[1]
    plain64 = run(cfg, args.epochs, full_sequence=True, dtype=torch.float64)[1]
    diff64 = max(abs(a - b) for a, b in zip(ours64, plain64))
    print(f"paper preset (task {cfg['task']}, model {cfg['model']}), {args.epochs} epochs, {args.threads} thread(s)")
    print(f"ours  (last position only): {ours:7.2f} epochs/s")
    print(f"plain (full sequence):      {plain:7.2f} epochs/s")
    print(f"speed-up: {ours / plain:.2f}x")
    print(f"max |loss difference| over the {args.epochs} epochs: {diff64:.1e} with float64 models, "
          f"{diff32:.1e} with float32 models (first epoch {abs(ours_losses[0] - plain_losses[0]):.1e})")
    steps = cfg["train"]["steps"]
    print(f"paper preset, {steps} epochs per seed at this rate: {steps / ours / 60:.1f} min "
          "(plus checkpoint evaluations)")


if __name__ == "__main__":
    main()
