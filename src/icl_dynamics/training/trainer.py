"""The shared trainer core: seeds, device, the training loop, progress lines and divergence checks.

One loop used by every gradient-trained model of the project (the grokking transformer, the
attention-only transformers). The caller owns the model, the optimizer, an optional LR scheduler and
two closures:

- ``loss_fn(model, step) -> loss``: builds its own batch deterministically from ``step`` (or uses
  the torch RNG, whose state the trainer saves), returns a scalar tensor;
- ``on_checkpoint(step, model) -> dict``: called at every scheduled step *before* that step's update
  (so step 0 is the initial model and ``total_steps`` the final one); the float values form a record
  (one row of the metrics table), tensor values are stored as that step's checkpoint.

Resumable state (:mod:`icl_dynamics.training.state`): every ``state_every`` updates, and when
SIGTERM/SIGINT arrives, the model, optimizer, scheduler and RNG states, the step and the records are
saved to ``state_dir`` (not a declared workflow output), which the run locks while it trains. A rerun
of a killed job resumes there and ends bit-identical (on CPU) to an uninterrupted run. The state is
kept after training: the caller deletes it with :meth:`TrainResult.discard_state` once its outputs are
written and verified, so a failure while writing them loses nothing.

Example::

    seed_everything(0)
    model = MyModel().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cfg = TrainerConfig(run_name="demo", total_steps=1000, state_every=200, log_every=100, divergence_factor=1e3,
                        check_every=1, checkpoint_steps=interval_steps(1000, 100), state_dir="state/demo")
    result = train(model, opt, lambda m, step: m.loss(batch(step)), cfg,
                   on_checkpoint=lambda step, m: {"norm": m.weight.norm().item(), "W": m.weight.detach()})
    result.records        # [{"step": 0, "norm": ...}, ...]
    result.checkpoints    # {"W": tensor of shape (11, ...)}, one slice per checkpoint step
    result.discard_state()
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from icl_dynamics.training.errors import DivergenceError, TrainingInterrupted
from icl_dynamics.training.state import StateFolder

log = logging.getLogger("icl_dynamics.training")


# ---------------------------------------------------------------------------------------------------
# seeds, device, fingerprints


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; ``"cpu"``/``"cuda"`` as given (CUDA must exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available (use 'auto' or 'cpu')")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda")
    return torch.device(name)


def run_fingerprint(trajectory: dict, **identity) -> str:
    """A stable string of what decides a run's trajectory, for ``TrainerConfig.fingerprint``.

    ``trajectory`` is the part of an experiment's config section that changes what a run computes
    (each experiment's ``trajectory_settings``: task, model, optimizer, train), ``identity`` the run's own
    seed, depth and resolved device. Logging, state-saving and divergence settings are not part of it,
    so changing them keeps a saved state valid.
    """
    return json.dumps({"trajectory": trajectory, **identity}, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------------------
# the loop


@dataclass
class TrainerConfig:
    """Settings of one training run.

    run_name            names the run in progress lines and errors
    total_steps         number of optimizer updates
    state_every         save the state every this many updates
    log_every           progress line every this many updates
    divergence_factor   stop when loss > factor * initial loss (or NaN/inf)
    check_every         check loss for divergence every this many updates (each check syncs a GPU)
    checkpoint_steps    steps (in ``[0, total_steps]``) at which ``on_checkpoint`` is called (default: none)
    state_dir           folder for resumable state (None: no state, no resume)
    fingerprint         identifies the settings (:func:`run_fingerprint`); a saved state with another
                        fingerprint is discarded

    The run settings (``state_every`` to ``check_every``) are required: their defaults live in one place,
    each experiment's ``runtime`` schema section (e.g. ``attention.runtime``), and differ between
    experiments. The fields with defaults switch features off (no checkpoints, no state, no fingerprint).
    """

    run_name: str
    total_steps: int
    state_every: int
    log_every: int
    divergence_factor: float
    check_every: int
    checkpoint_steps: list[int] = field(default_factory=list)
    state_dir: str | Path | None = None
    fingerprint: str = ""


@dataclass
class TrainResult:
    """Records (one dict per checkpoint step, with ``step``), stacked checkpoint tensors, and the state
    folder that :meth:`discard_state` deletes once the caller has written its outputs."""

    records: list[dict]
    checkpoints: dict[str, torch.Tensor]
    state: StateFolder | None = None

    def discard_state(self) -> None:
        """Delete the run's resumable state (call after the outputs are written and verified)."""
        if self.state is not None:
            with self.state:
                self.state.discard()


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _StopFlag:
    """Turns SIGTERM/SIGINT into a flag checked between updates, so the state saved is consistent."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class _Run:
    """The mutable state of one training run: step, records, checkpoint tensors, and their saving."""

    def __init__(self, model, optimizer, scheduler, config: TrainerConfig, folder: StateFolder | None):
        self.model, self.optimizer, self.scheduler, self.config, self.folder = model, optimizer, scheduler, config, folder
        self.step, self.records, self.initial_loss = 0, [], None
        self.in_memory: dict[int, dict[str, torch.Tensor]] = {}

    def restore(self) -> None:
        """Resume from the folder's state when it is valid (see :meth:`StateFolder.load`)."""
        state = self.folder.load() if self.folder is not None else None
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.step, self.records, self.initial_loss = state["step"], state["records"], state["initial_loss"]
        log.info("%s: resumed from %s at step %d", self.config.run_name, self.folder.state_file, self.step)

    def save(self) -> None:
        if self.folder is None:
            return
        self.folder.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                          "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                          "rng": _rng_state(), "step": self.step, "records": self.records,
                          "initial_loss": self.initial_loss})

    def checkpoint(self, on_checkpoint) -> None:
        out = on_checkpoint(self.step, self.model) if on_checkpoint is not None else {}
        tensors = {k: v.detach().cpu().clone() for k, v in out.items() if isinstance(v, torch.Tensor)}
        self.records.append({"step": self.step, **{k: v for k, v in out.items() if not isinstance(v, torch.Tensor)}})
        if tensors:
            if self.folder is None:
                self.in_memory[self.step] = tensors
            else:
                self.folder.write_snapshot(self.step, tensors)

    def stacked_checkpoints(self) -> dict[str, torch.Tensor]:
        """Each checkpoint tensor stacked over the recorded steps (leading axis = checkpoint index)."""
        steps = [r["step"] for r in self.records]
        if self.folder is None:
            per_step = [self.in_memory[s] for s in steps if s in self.in_memory]
        else:
            per_step = [self.folder.read_snapshot(s) for s in steps if s in self.folder.snapshots]
        if not per_step:
            return {}
        if len(per_step) != len(steps):
            raise RuntimeError(f"{self.config.run_name}: {len(steps)} records but {len(per_step)} checkpoint snapshots")
        return {k: torch.stack([t[k] for t in per_step]) for k in per_step[0]}

    def check_loss(self, loss: torch.Tensor, lr: float) -> None:
        if self.step % self.config.check_every and self.initial_loss is not None:
            return
        value = loss.item()
        if self.initial_loss is None:
            self.initial_loss = value
        if not math.isfinite(value) or value > self.config.divergence_factor * self.initial_loss:
            raise DivergenceError(
                f"run {self.config.run_name} diverged at step {self.step} with learning rate {lr:.3g}: "
                f"loss {value:.4g} (initial {self.initial_loss:.4g}, limit {self.config.divergence_factor:g}x)")


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          loss_fn: Callable[[torch.nn.Module, int], torch.Tensor], config: TrainerConfig,
          scheduler=None, on_checkpoint: Callable[[int, torch.nn.Module], dict] | None = None) -> TrainResult:
    """Run ``config.total_steps`` updates of ``optimizer`` on ``loss_fn``, resuming from saved state.

    Raises DivergenceError (naming run, step and learning rate) when the loss is NaN/inf or exceeds
    ``divergence_factor`` times the first loss, TrainingInterrupted after saving the state when
    SIGTERM/SIGINT arrives, and :class:`~icl_dynamics.training.state.StateLocked` when another trainer
    holds ``state_dir``.
    """
    checkpoint_steps = sorted(set(config.checkpoint_steps))
    if checkpoint_steps and not (0 <= checkpoint_steps[0] and checkpoint_steps[-1] <= config.total_steps):
        raise ValueError(f"checkpoint steps must lie in [0, {config.total_steps}]")
    folder = None
    if config.state_dir is not None:
        folder = StateFolder(config.state_dir, {"run_name": config.run_name, "total_steps": config.total_steps,
                                                "fingerprint": config.fingerprint})
    run = _Run(model, optimizer, scheduler, config, folder)
    with folder if folder is not None else contextlib.nullcontext(), _StopFlag() as stop:
        run.restore()
        todo = set(checkpoint_steps) - {r["step"] for r in run.records}
        t0, step0 = time.perf_counter(), run.step
        while True:
            if run.step in todo:
                run.checkpoint(on_checkpoint)
            if run.step == config.total_steps:
                break
            if stop.signum is not None:
                run.save()
                saved = f"state saved to {folder.path}, rerun to resume" if folder else "no state_dir, nothing saved"
                raise TrainingInterrupted(f"{config.run_name}: signal {stop.signum} at step {run.step}; {saved}")
            current_lr = optimizer.param_groups[0]["lr"]
            loss = loss_fn(model, run.step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.check_loss(loss, current_lr)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            run.step += 1
            if run.step % config.log_every == 0:
                rate = (run.step - step0) / (time.perf_counter() - t0)
                log.info("%s: step %d/%d loss %.4g lr %.3g (%.1f steps/s)", config.run_name, run.step,
                         config.total_steps, loss.item(), current_lr, rate)
            if run.step % config.state_every == 0:
                run.save()
        run.save()  # the final state, kept until the caller has written its outputs
        checkpoints = run.stacked_checkpoints()
    return TrainResult(records=run.records, checkpoints=checkpoints, state=folder)
