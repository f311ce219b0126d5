"""The seeds of the grokking setting trained together (config ``training_jobs: batched``).

:func:`train_grokking_batch` gives, for each seed, what :func:`~icl_dynamics.experiments.grokking.run.
train_grokking_run` gives for that seed alone: each member has its own train/test split and
initialisation (from its seed, as the run), its own slice of the AdamW state, the same warm-up, and is
evaluated at every checkpoint by the run's own code on a per-run model holding its weights. The forward
pass is :func:`icl_dynamics.models.stacked.grokking_logits`; the loss of each member is its float64
cross-entropy over its full training set. On CUDA the full-batch loss (forward and backward) is compiled
with ``torch.compile(mode="reduce-overhead")``, which replays it as a CUDA graph: the model is so small
that kernel launches, not arithmetic, bound the step. Numbers agree with the separate runs to float32
rounding (the order of float reductions differs).
"""

from __future__ import annotations

import pandas as pd
import torch

from icl_dynamics.config import validate
from icl_dynamics.data.modular import modular_addition_split
from icl_dynamics.experiments.grokking.run import (
    build_model,
    build_optimizer,
    checkpoint_record,
    run_outputs,
    trainer_config,
)
from icl_dynamics.models.grokking import cross_entropy_float64
from icl_dynamics.models.stacked import StackedParameters, grokking_logits
from icl_dynamics.training.batched import train_batched
from icl_dynamics.training.trainer import TrainResult, resolve_device, seed_everything


def full_batch_losses(shape, stack: StackedParameters, train_x: torch.Tensor, train_y: torch.Tensor) -> torch.Tensor:
    """Each member's float64 cross-entropy on its training set, shape (M,): ``train_x`` (M, n, 3), ``train_y``
    (M, n)."""
    logits = grokking_logits(shape, stack, train_x)
    return torch.stack([cross_entropy_float64(logits[m], train_y[m]) for m in range(stack.n_members)])


def train_grokking_batch(section: dict, seeds: list[int], state_dirs: list | None = None, device: str = "auto",
                         code: str = "") -> list[tuple[pd.DataFrame, dict[str, torch.Tensor], TrainResult]]:
    """Train the grokking seeds ``seeds`` as one stacked model.

    ``state_dirs[i]`` is seed ``i``'s state folder (None: no state). ``code`` is the training code's
    fingerprint; each run's resume fingerprint also holds the batch's seeds, so a state saved by a batch of
    other seeds, or by a run alone, is not resumed. Returns one ``(metrics, checkpoints, result)`` per seed,
    as :func:`~icl_dynamics.experiments.grokking.run.train_grokking_run` returns them.
    """
    section = validate(section, "grokking", prefix="grokking")
    torch.set_flush_denormal(True)
    seeds = [int(seed) for seed in seeds]
    state_dirs = state_dirs if state_dirs is not None else [None] * len(seeds)
    dev = resolve_device(device)
    t = section["task"]
    data, models = [], []
    for seed in seeds:  # as the run alone: split, seed, model
        data.append(modular_addition_split(t["p"], t["train_fraction"], seed).to(dev))
        seed_everything(seed)
        models.append(build_model(section).to(dev))
    stack = StackedParameters(models)
    evaluator, shape = models[0], models[0].cfg  # a per-run model that holds one member's weights at a time
    del models[1:]
    opt, sched = build_optimizer(stack, section)
    train_x = torch.stack([d.train_x for d in data])
    train_y = torch.stack([d.train_y for d in data])
    step_losses = full_batch_losses
    if dev.type == "cuda":
        step_losses = torch.compile(full_batch_losses, mode="reduce-overhead")

    def losses(step: int) -> list[torch.Tensor]:
        if dev.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        return list(step_losses(shape, stack, train_x, train_y))

    def on_checkpoint(m: int, step: int) -> dict:
        return checkpoint_record(data[m], stack.member_model(m, evaluator))

    configs = [trainer_config(section, seed, state_dir, dev, code, batch=seeds)
               for seed, state_dir in zip(seeds, state_dirs)]
    results = train_batched(stack, opt, losses, configs, scheduler=sched, on_checkpoint=on_checkpoint)
    return [run_outputs(result, seed) + (result,) for seed, result in zip(seeds, results)]
