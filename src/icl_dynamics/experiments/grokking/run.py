"""Full-batch AdamW training of the grokking transformer on modular addition (docs/science.md section 8).

One step is one full-batch update (one epoch). Every ``train.checkpoint_every`` steps the train/test
loss and accuracy and the total parameter norm are recorded, and the per-head W_Q, W_K, W_V, W_O are
stored (float32). Uses the shared trainer (seeds, device, resumable state, progress, divergence check).

:func:`train_grokking_run` reads the validated ``grokking:`` config section (the schema fills every
default): ``task``, ``model``, ``optimizer`` and ``train`` decide the trajectory
(:func:`trajectory_settings`), ``runtime`` only how the run is carried out.

Numerics: the cross-entropy is computed in float64 (the training loss falls to ~1e-7, where float32
log-softmax rounds to zero), and denormals are flushed (tiny gradients otherwise slow the CPU).
"""

from __future__ import annotations

import pandas as pd
import torch

from icl_dynamics.config import validate
from icl_dynamics.data.modular import modular_addition_split
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer, cross_entropy_float64
from icl_dynamics.training.schedules import interval_steps
from icl_dynamics.training.trainer import (
    TrainerConfig,
    TrainResult,
    resolve_device,
    run_fingerprint,
    seed_everything,
    train,
)

TRAJECTORY_KEYS = ("task", "model", "optimizer", "train")


def trajectory_settings(section: dict) -> dict:
    """The parts of the ``grokking:`` section that change what a run computes (a seed aside)."""
    return {key: section[key] for key in TRAJECTORY_KEYS}


def build_model(section: dict) -> GrokkingTransformer:
    """The one-layer transformer of the ``grokking.model`` settings for modulus ``grokking.task.p``."""
    return GrokkingTransformer(GrokkingModelConfig(p=section["task"]["p"], **section["model"]))


def build_optimizer(model: torch.nn.Module, section: dict):
    """AdamW with a linear warm-up over ``warmup_steps`` updates (lr (e+1)/warmup at update e)."""
    o = section["optimizer"]
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"], betas=tuple(o["betas"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: min(1.0, (e + 1) / o["warmup_steps"]))
    return opt, sched


@torch.no_grad()
def evaluate(model: GrokkingTransformer, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(float64 cross-entropy, accuracy) of the model on inputs x and labels y."""
    logits = model(x)
    return cross_entropy_float64(logits, y).item(), (logits.argmax(dim=-1) == y).double().mean().item()


def train_grokking_run(section: dict, seed: int, state_dir=None, device: str = "auto", code: str = "",
                       ) -> tuple[pd.DataFrame, dict[str, torch.Tensor], TrainResult]:
    """Train one seed of the grokking experiment.

    Parameters
    ----------
    section : dict
        The ``grokking:`` config section (validated here; missing keys take the schema's defaults).
    seed : int
        Fixes both the train/test split and the initialisation.
    state_dir : path or None
        Resumable state (not a workflow output); a rerun after a kill resumes there.
    device : {"auto", "cpu", "cuda"}
    code : str
        The fingerprint of the training code (the workflow passes its rule's): part of the resume
        fingerprint with the settings, seed, device and torch's thread count, so a state saved by other code
        or another thread count (which changes float32 sums) is not resumed.

    Returns
    -------
    metrics : DataFrame
        One row per checkpoint: seed, step, train_loss, test_loss, train_acc, test_acc, param_norm.
    checkpoints : dict of str to Tensor
        ``step`` (T,), ``W_Q, W_K, W_V`` (T, 1, heads, d_model, d_head) and ``W_O`` (T, 1, heads, d_head,
        d_model) (the one layer's axis, as every model's).
    result : TrainResult
        Its state folder is kept until the caller has written its outputs (``save_training_outputs``).
    """
    section = validate(section, "grokking", prefix="grokking")
    torch.set_flush_denormal(True)
    dev = resolve_device(device)
    t = section["task"]
    data = modular_addition_split(t["p"], t["train_fraction"], seed).to(dev)
    seed_everything(seed)
    model = build_model(section).to(dev)
    opt, sched = build_optimizer(model, section)

    def loss_fn(m, step):
        return cross_entropy_float64(m(data.train_x), data.train_y)

    trainer_cfg = trainer_config(section, seed, state_dir, dev, code)
    result = train(model, opt, loss_fn, trainer_cfg, scheduler=sched,
                   on_checkpoint=lambda step, m: checkpoint_record(data, m))
    return run_outputs(result, seed) + (result,)


def checkpoint_record(data, model: GrokkingTransformer) -> dict:
    """A checkpoint's record: train and test loss (float64) and accuracy, the total parameter norm and the
    per-head weights."""
    train_loss, train_acc = evaluate(model, data.train_x, data.train_y)
    test_loss, test_acc = evaluate(model, data.test_x, data.test_y)
    norm = torch.sqrt(sum((w.detach().double() ** 2).sum() for w in model.parameters())).item()
    return {"train_loss": train_loss, "test_loss": test_loss, "train_acc": train_acc,
            "test_acc": test_acc, "param_norm": norm, **model.head_weights()}


def trainer_config(section: dict, seed: int, state_dir, dev: torch.device, code: str, **identity) -> TrainerConfig:
    """The trainer settings of one seed; its resume fingerprint holds the trajectory settings, seed, device,
    code, torch's thread count and ``identity`` (a batched run adds its batch's seeds)."""
    steps, runtime = section["train"]["steps"], section["runtime"]
    return TrainerConfig(
        run_name=f"grokking seed {seed}", total_steps=steps,
        checkpoint_steps=interval_steps(steps, section["train"]["checkpoint_every"]), state_dir=state_dir,
        state_every=runtime["state_every"], log_every=runtime["log_every"],
        divergence_factor=runtime["divergence_factor"], check_every=runtime["check_every"],
        fingerprint=run_fingerprint(trajectory_settings(section), seed=seed, device=dev.type, code=code,
                                    threads=torch.get_num_threads(), **identity))


def run_outputs(result: TrainResult, seed: int) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """The metrics table and checkpoint stack of a trained seed (see :func:`train_grokking_run`)."""
    metrics = pd.DataFrame(result.records)
    metrics.insert(0, "seed", seed)
    return metrics, {"step": torch.tensor(metrics["step"].to_numpy()), **result.checkpoints}
