"""Full-batch AdamW training of the grokking transformer on modular addition (PAPER.md section 8).

One epoch is one full-batch update. At every ``checkpoint_every`` epochs the train/test loss and
accuracy and the total parameter norm are recorded, and the per-head W_Q, W_K, W_V, W_O are stored
(float32). Uses the shared trainer (seeds, device, resumable state, progress, divergence check).

Numerics: the cross-entropy is computed in float64 (the training loss falls to ~1e-7, where float32
log-softmax rounds to zero), and denormals are flushed (tiny gradients otherwise slow the CPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import torch

from icl_dynamics.data.modular import modular_addition_split
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer, cross_entropy_float64
from icl_dynamics.training.trainer import (
    TrainerConfig,
    config_fingerprint,
    interval_steps,
    resolve_device,
    seed_everything,
    train,
)


@dataclass
class GrokkingRunConfig:
    """Settings of one grokking run (the ``grokking:`` config section, less the seed list)."""

    p: int = 113
    train_fraction: float = 0.3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    epochs: int = 40_000
    checkpoint_every: int = 100
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    warmup_epochs: int = 10
    state_every: int = 1000
    log_every: int = 1000
    divergence_factor: float = 100.0

    @classmethod
    def from_params(cls, params: dict) -> "GrokkingRunConfig":
        """Build from a config dict, ignoring keys that are not run settings (seeds, thresholds...)."""
        return cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})


def build_model(cfg: GrokkingRunConfig) -> GrokkingTransformer:
    return GrokkingTransformer(GrokkingModelConfig(p=cfg.p, d_model=cfg.d_model, n_heads=cfg.n_heads,
                                                   d_head=cfg.d_head, d_mlp=cfg.d_mlp))


def build_optimizer(model: torch.nn.Module, cfg: GrokkingRunConfig):
    """AdamW with a linear warm-up over ``warmup_epochs`` updates (lr (e+1)/warmup at update e)."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            betas=(cfg.beta1, cfg.beta2))
    warmup = max(cfg.warmup_epochs, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: min(1.0, (e + 1) / warmup))
    return opt, sched


@torch.no_grad()
def evaluate(model: GrokkingTransformer, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(float64 cross-entropy, accuracy) of the model on inputs x and labels y."""
    logits = model(x)
    return cross_entropy_float64(logits, y).item(), (logits.argmax(dim=-1) == y).double().mean().item()


def train_grokking(cfg: GrokkingRunConfig, seed: int, state_dir=None, device: str = "auto",
                   threads: int | None = None, run_name: str | None = None):
    """Train one seed; return (metrics DataFrame with one row per checkpoint, checkpoint tensor stacks).

    The seed fixes both the train/test split and the initialisation. Metrics columns: seed, epoch,
    train_loss, test_loss, train_acc, test_acc, param_norm. Checkpoints: W_Q, W_K, W_V
    (n_checkpoints, heads, d_model, d_head) and W_O (n_checkpoints, heads, d_head, d_model).
    """
    torch.set_flush_denormal(True)
    dev = resolve_device(device)
    data = modular_addition_split(cfg.p, cfg.train_fraction, seed).to(dev)
    seed_everything(seed)
    model = build_model(cfg).to(dev)
    opt, sched = build_optimizer(model, cfg)

    def loss_fn(m, epoch):
        return cross_entropy_float64(m(data.train_x), data.train_y)

    def on_checkpoint(epoch, m):
        train_loss, train_acc = evaluate(m, data.train_x, data.train_y)
        test_loss, test_acc = evaluate(m, data.test_x, data.test_y)
        norm = torch.sqrt(sum((w.detach().double() ** 2).sum() for w in m.parameters())).item()
        return {"train_loss": train_loss, "test_loss": test_loss, "train_acc": train_acc,
                "test_acc": test_acc, "param_norm": norm, **m.circuits()}

    name = run_name or f"grokking seed {seed}"
    # the state of a run stays valid when only its logging, saving or divergence settings change
    numeric_settings = {k: v for k, v in asdict(cfg).items()
                        if k not in ("state_every", "log_every", "divergence_factor")}
    trainer_cfg = TrainerConfig(
        run_name=name, total_steps=cfg.epochs, checkpoint_steps=interval_steps(cfg.epochs, cfg.checkpoint_every),
        state_dir=state_dir, state_every=cfg.state_every, log_every=cfg.log_every,
        divergence_factor=cfg.divergence_factor, threads=threads,
        fingerprint=config_fingerprint({**numeric_settings, "seed": seed, "device": dev.type}))
    result = train(model, opt, loss_fn, trainer_cfg, scheduler=sched, on_checkpoint=on_checkpoint)
    metrics = pd.DataFrame(result.records).rename(columns={"step": "epoch"})
    metrics.insert(0, "seed", seed)
    return metrics, result.checkpoints
