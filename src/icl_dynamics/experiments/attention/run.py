"""Training of the 1-4 layer attention-only transformers (docs/science.md section 7) with the shared trainer.

:func:`train_attention_run` is the entry point of one run (one depth, one seed): it builds the task and
model from the validated ``attention:`` config section (the schema fills every default; ``task``, the
task's own sub-section, ``model``, ``optimizer`` and ``train`` decide the trajectory, see
:func:`trajectory_settings`; ``runtime`` only how the run is carried out), trains with
:func:`icl_dynamics.training.trainer.train` (resumable state in ``state_dir``), and at every checkpoint
step records held-out metrics and the per-head weights ``W_Q, W_K, W_V, W_O`` (float32) that the
measures need.

Held-out metrics per checkpoint
-------------------------------
``periodic`` task (:mod:`icl_dynamics.data.sequences`): ``eval_loss`` (mean next-token loss over all
positions of fixed held-out sequences), ``loss_early``/``loss_late`` and ``icl_score = loss_late -
loss_early`` (Olsson et al.), ``prefix_matching_max`` (largest per-head prefix-matching score) and one
``prefix_matching_L<l>H<h>`` per head.

``bursty`` task (:mod:`icl_dynamics.data.bursty`): loss and accuracy on the ``in_context``, ``flipped``
and ``in_weights`` test sets; ``eval_loss`` is the in-weights loss and ``icl_score`` is the in-context
test loss minus ``log(n_labels)`` (the loss of an uninformed guess), so that as for the periodic task
it is negative when the context is used.

Batches are a function of ``(seed, step)`` only, so a resumed run sees the same data as an
uninterrupted one.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import torch

from icl_dynamics.data.bursty import TEST_SETS, BurstySpec, BurstyTask
from icl_dynamics.config import validate
from icl_dynamics.data.sequences import (
    icl_positions,
    icl_score,
    next_token_loss,
    per_position_loss,
    periodic_sequences,
    prefix_matching_scores,
    repeated_random_tokens,
    uniform_loss,
)
from icl_dynamics.models import HEAD_WEIGHTS
from icl_dynamics.models.attention_only import AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.training.schedules import log_spaced_steps
from icl_dynamics.training.trainer import (
    TrainerConfig,
    TrainResult,
    resolve_device,
    run_fingerprint,
    seed_everything,
    train,
)
_EVAL_STREAM = 2**31 - 1  # generator key of the held-out data, distinct from every training step


MAIN_FAMILY = "main"


def families(section: dict) -> list[str]:
    """The model families of the experiment: the main one, then each of ``attention.ablations``."""
    return [MAIN_FAMILY, *section["ablations"]]


def family_section(section: dict, family: str) -> dict:
    """The section a family's runs train with: the main family's as configured, an ablation's with its
    overrides of ``model`` applied (task, depths, seeds and training stay the same)."""
    if family == MAIN_FAMILY:
        return section
    if family not in section["ablations"]:
        raise KeyError(f"unknown model family {family!r}; defined: {', '.join(families(section))}")
    return {**section, "model": {**section["model"], **section["ablations"][family]}}


def trajectory_settings(section: dict) -> dict:
    """The parts of the ``attention:`` section that change what a run computes (its depth and seed aside):
    the task name and its settings, model, optimizer and train."""
    return {key: section[key] for key in ("task", section["task"], "model", "optimizer", "train")}


def generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator for ``(seed, stream)``, independent across streams (NumPy SeedSequence)."""
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def bursty_spec(section: dict) -> BurstySpec:
    """The :class:`BurstySpec` of the ``attention.bursty`` config."""
    names = {f.name for f in fields(BurstySpec)}
    return BurstySpec(**{k: v for k, v in section["bursty"].items() if k in names})


def build_model(section: dict, n_layers: int) -> AttentionOnlyTransformer:
    """The attention-only transformer of ``n_layers`` layers for the configured task."""
    m = section["model"]
    common = dict(n_layers=n_layers, d_model=m["d_model"], n_heads=m["n_heads"], d_head=m["d_head"],
                  layer_norm=m["layer_norm"], positional=m["positional"], init_std=m["init_std"])
    if section["task"] == "periodic":
        p = section["periodic"]
        return AttentionOnlyTransformer(AttentionOnlyConfig(
            **common, n_ctx=p["seq_len"], n_outputs=p["vocab_size"], vocab_size=p["vocab_size"]))
    spec = bursty_spec(section)
    return AttentionOnlyTransformer(AttentionOnlyConfig(
        **common, n_ctx=spec.seq_len, n_outputs=spec.n_labels, input_dim=spec.token_dim))


def checkpoint_schedule(section: dict) -> list[int]:
    """Log-spaced checkpoint steps plus linearly spaced ones in the window where the phase change may fall."""
    t, c = section["train"], section["train"]["checkpoints"]
    return log_spaced_steps(t["steps"], c["n_log"], dense_window=(c["dense_from"], c["dense_to"]),
                            n_dense=c["n_dense"])


class PeriodicTask:
    """Training batches, loss and held-out metrics of the periodic random-token task."""

    def __init__(self, section: dict, seed: int, device: torch.device):
        self.p = section["periodic"]
        self.batch = section["train"]["batch"]
        self.seed = seed
        self.device = device
        g = generator(seed, _EVAL_STREAM)
        p = self.p
        self.eval_tokens = periodic_sequences(section["train"]["eval_batch"], p["seq_len"], p["vocab_size"],
                                              p["period_min"], p["period_max"], g).to(device)
        self.prefix_tokens = repeated_random_tokens(section["train"]["eval_batch"], p["seq_len"] // 2,
                                                    p["vocab_size"], g).to(device)
        self.early, self.late = icl_positions(p["seq_len"], p["early_frac"], p["late_frac"])

    def batch_at(self, step: int) -> torch.Tensor:
        p = self.p
        g = generator(self.seed, step)
        return periodic_sequences(self.batch, p["seq_len"], p["vocab_size"], p["period_min"], p["period_max"],
                                  g).to(self.device)

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of the step's batch: the sequences are both."""
        tokens = self.batch_at(step)
        return tokens, tokens

    def loss_of(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy over all positions of the batch."""
        return next_token_loss(logits, tokens)

    def loss(self, model: AttentionOnlyTransformer, step: int) -> torch.Tensor:
        """Mean next-token cross-entropy over all positions of the step's batch."""
        inputs, targets = self.train_batch(step)
        return self.loss_of(model(inputs), targets)

    @torch.no_grad()
    def metrics(self, model: AttentionOnlyTransformer) -> dict[str, float]:
        position_loss = per_position_loss(model(self.eval_tokens), self.eval_tokens)
        _, attention = model(self.prefix_tokens, return_attention=True)
        prefix = prefix_matching_scores(attention, self.p["seq_len"] // 2).cpu()
        out = {
            "eval_loss": float(position_loss.mean()),
            "loss_early": float(position_loss[self.early]),
            "loss_late": float(position_loss[self.late]),
            "icl_score": icl_score(position_loss, self.early, self.late),
            "prefix_matching_max": float(prefix.max()),
        }
        for layer in range(prefix.shape[0]):
            for head in range(prefix.shape[1]):
                out[f"prefix_matching_L{layer}H{head}"] = float(prefix[layer, head])
        return out


class BurstyClassification:
    """Training batches, loss and held-out metrics of the Reddy (2024) bursty classification task."""

    def __init__(self, section: dict, seed: int, device: torch.device):
        spec = bursty_spec(section)
        self.n_labels = spec.n_labels
        self.batch = section["train"]["batch"]
        self.seed = seed
        self.device = device
        self.task = BurstyTask(spec, generator(seed, _EVAL_STREAM - 1))
        g = generator(seed, _EVAL_STREAM)
        n = section["train"]["eval_batch"]
        self.test_sets = {kind: tuple(t.to(device) for t in self.task.sample_test(kind, n, g)) for kind in TEST_SETS}

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, query labels) of the step's batch."""
        inputs, target = self.task.sample_train(self.batch, generator(self.seed, step))
        return inputs.to(self.device), target.to(self.device)

    def loss_of(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the query's label, read at the last position."""
        return torch.nn.functional.cross_entropy(logits[:, -1], target)

    def loss(self, model: AttentionOnlyTransformer, step: int) -> torch.Tensor:
        """Cross-entropy of the query's label, read at the last position, on the step's batch."""
        inputs, target = self.train_batch(step)
        return self.loss_of(model(inputs), target)

    @torch.no_grad()
    def metrics(self, model: AttentionOnlyTransformer) -> dict[str, float]:
        out = {}
        for kind, (inputs, target) in self.test_sets.items():
            logits = model(inputs)[:, -1]
            out[f"{kind}_loss"] = float(torch.nn.functional.cross_entropy(logits, target))
            out[f"{kind}_acc"] = float((logits.argmax(-1) == target).float().mean())
        out["eval_loss"] = out["in_weights_loss"]
        out["icl_score"] = out["in_context_loss"] - uniform_loss(self.n_labels)
        return out


def make_task(section: dict, seed: int, device: torch.device):
    """The task object (batches, loss, metrics) named by ``section["task"]``."""
    if section["task"] == "periodic":
        return PeriodicTask(section, seed, device)
    return BurstyClassification(section, seed, device)


def make_optimizer(model: torch.nn.Module, section: dict) -> torch.optim.Optimizer:
    """Adam (docs/science.md section 7) or SGD (Reddy's bursty task), as configured."""
    o = section["optimizer"]
    if o["name"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]))
    return torch.optim.SGD(model.parameters(), lr=o["lr"])


def train_attention_run(section: dict, n_layers: int, seed: int, state_dir=None, device: str = "auto",
                        code: str = "") -> tuple[pd.DataFrame, dict[str, torch.Tensor], TrainResult]:
    """Train one attention-only model.

    Parameters
    ----------
    section : dict
        The ``attention:`` config section (validated here; missing keys take the schema's defaults).
    n_layers, seed : int
        Depth and seed of the run.
    state_dir : path or None
        Resumable state (not a workflow output); a rerun after a kill resumes there.
    device : {"auto", "cpu", "cuda"}
    code : str
        The fingerprint of the training code (the workflow passes its rule's): part of the resume
        fingerprint with the settings, depth, seed, device and torch's thread count, so a state saved by other
        code or another thread count (which changes float32 sums) is not resumed.

    Returns
    -------
    metrics : DataFrame
        One row per checkpoint step: ``n_layers``, ``seed``, ``step``, ``train_loss`` (the loss of that step's
        batch before the update) and the task's held-out metrics (module docstring).
    checkpoints : dict of str to Tensor
        ``step`` (T,) and ``W_Q, W_K, W_V`` (T, layers, heads, d_model, d_head), ``W_O``
        (T, layers, heads, d_head, d_model), float32.
    result : TrainResult
        Its state folder is kept until the caller has written its outputs (``save_training_outputs``).
    """
    section = validate(section, "attention", prefix="attention")
    dev = resolve_device(device)
    seed_everything(seed)
    model = build_model(section, n_layers).to(dev)
    task = make_task(section, seed, dev)
    optimizer = make_optimizer(model, section)
    cfg = trainer_config(section, n_layers, seed, state_dir, dev, code)
    result = train(model, optimizer, task.loss, cfg,
                   on_checkpoint=lambda step, model: checkpoint_record(task, step, model))
    return run_outputs(result, n_layers, seed) + (result,)


def checkpoint_record(task, step: int, model: AttentionOnlyTransformer) -> dict:
    """A checkpoint's record: the loss of the step's batch before the update (``train_loss``), the task's
    held-out metrics and the per-head weights."""
    with torch.no_grad():
        record = {"train_loss": float(task.loss(model, step))}
    record.update(task.metrics(model))
    record.update(model.head_weights())
    return record


def trainer_config(section: dict, n_layers: int, seed: int, state_dir, dev: torch.device, code: str,
                   **identity) -> TrainerConfig:
    """The trainer settings of one run; its resume fingerprint holds the trajectory settings, depth, seed,
    device, code, torch's thread count and ``identity`` (a batched run adds its batch's seeds)."""
    runtime = section["runtime"]
    return TrainerConfig(run_name=f"attention L{n_layers} seed{seed}", total_steps=section["train"]["steps"],
                         checkpoint_steps=checkpoint_schedule(section), state_dir=state_dir,
                         state_every=runtime["state_every"], log_every=runtime["log_every"],
                         divergence_factor=runtime["divergence_factor"], check_every=runtime["check_every"],
                         fingerprint=run_fingerprint(trajectory_settings(section), layers=n_layers, seed=seed,
                                                     device=dev.type, code=code, threads=torch.get_num_threads(),
                                                     **identity))


def run_outputs(result: TrainResult, n_layers: int, seed: int) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """The metrics table and checkpoint stack of a trained run (see :func:`train_attention_run`)."""
    metrics = pd.DataFrame(result.records)
    metrics.insert(0, "seed", seed)
    metrics.insert(0, "n_layers", n_layers)
    checkpoints = {"step": torch.tensor(metrics["step"].to_numpy())}
    checkpoints.update({k: result.checkpoints[k].float() for k in HEAD_WEIGHTS})
    return metrics, checkpoints
