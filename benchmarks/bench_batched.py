"""Per-run training time of runs trained together (training_jobs: batched) against one at a time.

    python benchmarks/bench_batched.py [--attention-steps 60] [--grokking-steps 100] [--linear-steps 400]
                                       [--repeats 2] [--threads 1] [--device auto]

For the quick and the paper preset's shapes: the seeds of one attention depth (the main family; depths 2
and 4 of the paper preset), and the grokking seeds, each trained with the workflow's entry points, first one
run at a time (``train_attention_run``, ``train_grokking_run``) and then as one batch
(``train_attention_batch``, ``train_grokking_batch``), with the presets' settings and a shortened number of
steps (two checkpoints: the first and the last step). Where the device is CUDA, also the linear SGD of one
setting's seeds in NumPy float64 against torch float64 on the GPU. Each pair runs ``--repeats`` times
alternately (shared-machine noise then falls on both), the faster of each is kept; the script prints the
device, seconds per run of both and the speed-up (one at a time / batched; above 1 means batched is faster).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments.attention.batched import train_attention_batch
from icl_dynamics.experiments.attention.run import train_attention_run
from icl_dynamics.experiments.grokking.batched import train_grokking_batch
from icl_dynamics.experiments.grokking.run import train_grokking_run
from icl_dynamics.training.trainer import resolve_device

ROOT = Path(__file__).resolve().parents[1]


def preset(name: str) -> dict:
    files = {"quick": ["config.yaml", "quick.yaml"], "paper": ["config.yaml"]}[name]
    return load_config(*(ROOT / "config" / f for f in files))


def shortened_attention(section: dict, steps: int) -> dict:
    train = {**section["train"], "steps": steps,
             "checkpoints": {"n_log": 2, "dense_from": 0, "dense_to": steps, "n_dense": 2}}
    return validate({**section, "train": train}, "attention")


def shortened_grokking(section: dict, steps: int) -> dict:
    return validate({**section, "train": {**section["train"], "steps": steps, "checkpoint_every": steps}}, "grokking")


def timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(label: str, alone, together, n_runs: int, repeats: int, names=("one at a time", "batched")) -> None:
    """Print seconds per run of ``alone`` (all runs one at a time) and ``together`` (one batch); ``names``
    name the two in the line."""
    best_alone = best_together = float("inf")
    for _ in range(repeats):
        best_alone = min(best_alone, timed(alone) / n_runs)
        best_together = min(best_together, timed(together) / n_runs)
    print(f"{label:52s} {names[0]} {best_alone:8.3f} s/run   {names[1]} {best_together:8.3f} s/run   "
          f"speed-up {best_alone / best_together:5.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention-steps", type=int, default=60)
    parser.add_argument("--grokking-steps", type=int, default=100)
    parser.add_argument("--linear-steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} torch thread(s)"
    print(f"device: {device.type} ({name}); torch {torch.__version__}")
    for preset_name, depths in (("quick", [2]), ("paper", [2, 4])):
        config = preset(preset_name)
        attention = shortened_attention(config["attention"], args.attention_steps)
        seeds = attention["seeds"]
        for depth in depths:
            compare(f"{preset_name}: attention L{depth}, {len(seeds)} seeds, {args.attention_steps} steps",
                    lambda: [train_attention_run(attention, depth, seed, device=device.type) for seed in seeds],
                    lambda: train_attention_batch(attention, depth, seeds, device=device.type),
                    len(seeds), args.repeats)
        grokking = shortened_grokking(config["grokking"], args.grokking_steps)
        g_seeds = grokking["seeds"]
        if device.type == "cuda":  # the compiled step: its first call compiles, not part of the rate
            train_grokking_batch(grokking, g_seeds, device=device.type)
        compare(f"{preset_name}: grokking p={grokking['task']['p']}, {len(g_seeds)} seeds, {args.grokking_steps} epochs",
                lambda: [train_grokking_run(grokking, seed, device=device.type) for seed in g_seeds],
                lambda: train_grokking_batch(grokking, g_seeds, device=device.type),
                len(g_seeds), args.repeats)
        if device.type == "cuda":
            from icl_dynamics.experiments.linear.settings import resolve_setting
            from icl_dynamics.experiments.linear.simulate import simulate

            linear = validate(config["linear"], "linear")
            setting = {**resolve_setting(linear, "aniso_N30"), "steps": args.linear_steps}
            compare(f"{preset_name}: linear aniso_N30, {len(linear['seeds'])} seeds, {args.linear_steps} steps",
                    lambda: simulate(setting, linear["seeds"]), lambda: simulate(setting, linear["seeds"], device="cuda"),
                    1, args.repeats, names=("NumPy float64", "torch float64 CUDA"))


if __name__ == "__main__":
    main()
