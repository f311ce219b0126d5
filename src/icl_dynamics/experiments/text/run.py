"""Training of the attention-only transformers on real code (docs/science.md, section 'ICL on real code').

:func:`train_text_run` trains one model (one depth, one seed) of the attention experiment's family
(:class:`~icl_dynamics.models.attention_only.AttentionOnlyTransformer`, pre-LN and shortformer positions
by default) on next-byte prediction over :mod:`icl_dynamics.data.code_corpus`, with the shared trainer
(:func:`icl_dynamics.training.trainer.train`, resumable state in ``state_dir``). Batches are a function of
``(seed, step)`` only: ``batch`` windows of ``seq_len`` bytes at uniform offsets of the training split.

Held-out metrics per checkpoint (the same ``eval_batch`` windows of the held-out files at every checkpoint):
``eval_loss`` (mean next-byte loss over all positions), ``loss_early``/``loss_late`` (loss at
``early_position``/``late_position``, Olsson et al.: tokens 50 and 500 of 512) and ``icl_score =
loss_late - loss_early``; ``prefix_matching_max`` and ``prefix_matching_L<l>H<h>`` per head, on
``prefix_batch`` random byte segments of ``seq_len / 2`` followed by their repeat
(:func:`icl_dynamics.data.sequences.prefix_matching_scores`). Every row also carries ``tokens`` (bytes
trained on before that step) and the corpus identity (Python version, sizes, SHA-256).

Speed (GPU-first): on CUDA the training step runs under bf16 autocast (``train.precision: auto``), the
corpus lives on the device, and with ``runtime.compile`` the training loss runs a ``torch.compile``-d
model that shares the eager model's parameters (checkpoints always read the eager model, in float32).
"""

from __future__ import annotations

import contextlib
import platform

import pandas as pd
import torch

from icl_dynamics.config import validate
from icl_dynamics.data import code_corpus
from icl_dynamics.data.sequences import (
    next_token_loss,
    per_position_loss,
    prefix_matching_scores,
    repeated_random_tokens,
)
from icl_dynamics.experiments.attention.run import checkpoint_schedule, generator, make_optimizer
from icl_dynamics.models import HEAD_WEIGHTS
from icl_dynamics.models.attention_only import AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.training.trainer import (
    TrainerConfig,
    TrainResult,
    resolve_device,
    run_fingerprint,
    seed_everything,
    train,
)

_EVAL_STREAM = 2**31 - 1  # generator key of the held-out windows, distinct from every training step


def trajectory_settings(section: dict) -> dict:
    """The parts of the ``text:`` section that change what a run computes (depth and seed aside). The corpus's
    own bytes enter the resume fingerprint by their SHA-256, and the workflow's params by the Python version
    (:func:`corpus_version`)."""
    return {key: section[key] for key in ("corpus", "context", "model", "optimizer", "train")}


def corpus_version(section: dict) -> str:
    """The running interpreter's Python version when the corpus is its standard library (another version is
    another corpus), else an empty string (a user's folder: its identity is recorded in the outputs)."""
    return platform.python_version() if section["corpus"]["root"] is None else ""


def build_model(section: dict, n_layers: int) -> AttentionOnlyTransformer:
    """The byte-level attention-only transformer of ``n_layers`` layers."""
    m, n_ctx = section["model"], section["context"]["seq_len"]
    return AttentionOnlyTransformer(AttentionOnlyConfig(
        n_layers=n_layers, d_model=m["d_model"], n_heads=m["n_heads"], d_head=m["d_head"], n_ctx=n_ctx,
        n_outputs=code_corpus.VOCAB_SIZE, vocab_size=code_corpus.VOCAB_SIZE, layer_norm=m["layer_norm"],
        positional=m["positional"], init_std=m["init_std"]))


def autocast(section: dict, device: torch.device):
    """bf16 autocast on CUDA with ``precision: auto``; nothing (float32) otherwise."""
    if device.type == "cuda" and section["train"]["precision"] == "auto":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class TextTask:
    """Training batches, loss and held-out metrics of next-byte prediction on the corpus."""

    def __init__(self, section: dict, seed: int, device: torch.device, corpus: code_corpus.CodeCorpus):
        c, t = section["context"], section["train"]
        self.seq_len, self.batch, self.seed, self.section, self.device = c["seq_len"], t["batch"], seed, section, device
        self.early, self.late = c["early_position"], c["late_position"]
        self.train_tokens = corpus.train.to(device)
        self.heldout_tokens = corpus.heldout.to(device)
        g = generator(seed, _EVAL_STREAM)
        offsets = code_corpus.random_offsets(len(corpus.heldout), t["eval_batch"], self.seq_len, g)
        self.eval_tokens = code_corpus.windows(self.heldout_tokens, offsets, self.seq_len)
        self.prefix_tokens = repeated_random_tokens(t["prefix_batch"], self.seq_len // 2, code_corpus.VOCAB_SIZE,
                                                    g).to(device)

    def batch_at(self, step: int) -> torch.Tensor:
        offsets = code_corpus.random_offsets(len(self.train_tokens), self.batch, self.seq_len,
                                             generator(self.seed, step))
        return code_corpus.windows(self.train_tokens, offsets, self.seq_len)

    def loss(self, model: torch.nn.Module, step: int) -> torch.Tensor:
        """Mean next-byte cross-entropy over all positions of the step's batch (autocast on CUDA)."""
        tokens = self.batch_at(step)
        with autocast(self.section, self.device):
            return next_token_loss(model(tokens).float(), tokens)

    @torch.no_grad()
    def metrics(self, model: AttentionOnlyTransformer) -> dict[str, float]:
        """Held-out loss, loss at the two positions, ICL score and prefix-matching scores (float32)."""
        position_loss = torch.stack([per_position_loss(model(chunk), chunk)
                                     for chunk in self.eval_tokens.split(32)]).mean(0)
        _, attention = model(self.prefix_tokens, return_attention=True)
        prefix = prefix_matching_scores(attention, self.seq_len // 2).cpu()
        out = {"eval_loss": float(position_loss.mean()), "loss_early": float(position_loss[self.early]),
               "loss_late": float(position_loss[self.late]),
               "icl_score": float(position_loss[self.late] - position_loss[self.early]),
               "prefix_matching_max": float(prefix.max())}
        for layer in range(prefix.shape[0]):
            for head in range(prefix.shape[1]):
                out[f"prefix_matching_L{layer}H{head}"] = float(prefix[layer, head])
        return out


def train_text_run(section: dict, n_layers: int, seed: int, state_dir=None, device: str = "auto",
                   code: str = "") -> tuple[pd.DataFrame, dict[str, torch.Tensor], TrainResult]:
    """Train one attention-only model on the corpus; the outputs are those of
    :func:`icl_dynamics.experiments.attention.run.train_attention_run` (metrics per checkpoint, the stack of
    per-head weights, the result whose state the caller discards), the metrics with ``tokens`` and the
    corpus identity columns added (module docstring)."""
    section = validate(section, "text", prefix="text")
    dev = resolve_device(device)
    corpus = code_corpus.load_corpus(section["corpus"])
    seed_everything(seed)
    model = build_model(section, n_layers).to(dev)
    task = TextTask(section, seed, dev, corpus)
    optimizer = make_optimizer(model, section)
    runtime = section["runtime"]
    step_model = torch.compile(model) if runtime["compile"] and dev.type == "cuda" else model

    def on_checkpoint(step: int, _model) -> dict:
        with torch.no_grad():
            record = {"train_loss": float(task.loss(model, step))}
        record.update(task.metrics(model))
        record.update(model.head_weights())
        return record

    cfg = TrainerConfig(run_name=f"text L{n_layers} seed{seed}", total_steps=section["train"]["steps"],
                        checkpoint_steps=checkpoint_schedule(section), state_dir=state_dir,
                        state_every=runtime["state_every"], log_every=runtime["log_every"],
                        divergence_factor=runtime["divergence_factor"], check_every=runtime["check_every"],
                        fingerprint=run_fingerprint(trajectory_settings(section), layers=n_layers, seed=seed,
                                                    corpus=corpus.identity["corpus_sha256"], device=dev.type,
                                                    code=code, threads=torch.get_num_threads()))
    result = train(model, optimizer, lambda _model, step: task.loss(step_model, step), cfg,
                   on_checkpoint=on_checkpoint)
    metrics = pd.DataFrame(result.records)
    metrics.insert(0, "seed", seed)
    metrics.insert(0, "n_layers", n_layers)
    metrics.insert(3, "tokens", metrics["step"] * section["train"]["batch"] * section["context"]["seq_len"])
    for key, value in corpus.identity.items():
        metrics[key] = value
    checkpoints = {"step": torch.tensor(metrics["step"].to_numpy())}
    checkpoints.update({k: result.checkpoints[k].float() for k in HEAD_WEIGHTS})
    return metrics, checkpoints, result
