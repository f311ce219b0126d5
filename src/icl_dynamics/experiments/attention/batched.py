"""The seeds of one depth and model family trained together (config ``training_jobs: batched``).

:func:`train_attention_batch` gives, for each seed, what :func:`~icl_dynamics.experiments.attention.run.
train_attention_run` gives for that seed alone: each member is initialised from its own seed (the same
model the run builds), trains on its own task's batches (a function of seed and step) with its own slice
of the optimizer state, and is evaluated at every checkpoint by the run's own code on a per-run model
holding its weights. The forward pass is :func:`icl_dynamics.models.stacked.attention_only_logits` (the
member axis folded into the batch axis); the loop is :func:`icl_dynamics.training.batched.train_batched`,
which keeps each run's state folder, records and checkpoint snapshots in the per-run layout. Numbers agree
with the separate runs to float32 rounding (the order of float reductions differs).
"""

from __future__ import annotations

import pandas as pd
import torch

from icl_dynamics.config import validate
from icl_dynamics.experiments.attention.run import (
    build_model,
    checkpoint_record,
    make_optimizer,
    make_task,
    run_outputs,
    trainer_config,
)
from icl_dynamics.models.stacked import StackedParameters, attention_only_logits
from icl_dynamics.training.batched import train_batched
from icl_dynamics.training.trainer import TrainResult, resolve_device, seed_everything


def train_attention_batch(section: dict, n_layers: int, seeds: list[int], state_dirs: list | None = None,
                          device: str = "auto", code: str = "",
                          ) -> list[tuple[pd.DataFrame, dict[str, torch.Tensor], TrainResult]]:
    """Train the runs ``(n_layers, seed)`` for every seed in ``seeds`` as one stacked model.

    ``state_dirs[i]`` is seed ``i``'s state folder (None: no state). ``code`` is the training code's
    fingerprint; each run's resume fingerprint also holds the batch's seeds, so a state saved by a batch of
    other seeds, or by a run alone, is not resumed. Returns one ``(metrics, checkpoints, result)`` per seed,
    as :func:`~icl_dynamics.experiments.attention.run.train_attention_run` returns them.
    """
    section = validate(section, "attention", prefix="attention")
    seeds = [int(seed) for seed in seeds]
    state_dirs = state_dirs if state_dirs is not None else [None] * len(seeds)
    dev = resolve_device(device)
    models, tasks = [], []
    for seed in seeds:  # as the run alone: seed, model, task
        seed_everything(seed)
        models.append(build_model(section, n_layers).to(dev))
        tasks.append(make_task(section, seed, dev))
    stack = StackedParameters(models)
    evaluator, shape = models[0], models[0].cfg  # a per-run model that holds one member's weights at a time
    del models[1:]
    optimizer = make_optimizer(stack, section)

    def losses(step: int) -> list[torch.Tensor]:
        batches = [task.train_batch(step) for task in tasks]
        logits = attention_only_logits(shape, stack, torch.stack([inputs for inputs, _ in batches]))
        return [task.loss_of(logits[m], targets) for m, (task, (_, targets)) in enumerate(zip(tasks, batches))]

    def on_checkpoint(m: int, step: int) -> dict:
        return checkpoint_record(tasks[m], step, stack.member_model(m, evaluator))

    configs = [trainer_config(section, n_layers, seed, state_dir, dev, code, batch=seeds)
               for seed, state_dir in zip(seeds, state_dirs)]
    results = train_batched(stack, optimizer, losses, configs, on_checkpoint=on_checkpoint)
    return [run_outputs(result, n_layers, seed) + (result,) for seed, result in zip(seeds, results)]
