"""The shared trainer core: seeds, device, checkpoint schedule, resumable state, progress, divergence.

One loop used by every gradient-trained model of the project (the grokking transformer, the
attention-only transformers). The caller owns the model, the optimizer, an optional LR scheduler and
two closures:

- ``loss_fn(model, step) -> loss``: builds its own batch deterministically from ``step`` (or uses
  the torch RNG, whose state the trainer saves), returns a scalar tensor;
- ``on_checkpoint(step, model) -> dict``: called at every scheduled step *before* that step's update
  (so step 0 is the initial model and ``total_steps`` the final one); the float values form a record
  (one row of the metrics table), tensor values are stored as that step's checkpoint.

Resumable state: every ``state_every`` updates (and when SIGTERM/SIGINT arrives) the model,
optimizer, scheduler and RNG states, the step, the records and the initial loss are written atomically
(temporary file + ``os.replace``) to ``state_dir``, which is *not* a declared Snakemake output. A rerun
of a killed job resumes there and ends bit-identical (on CPU) to an uninterrupted run. Checkpoint
tensors are written to ``state_dir/checkpoints`` as they are made. When training completes, the
trainer deletes the files it wrote there, so a later (forced) rerun trains from scratch.

Example::

    seed_everything(0)
    model = MyModel().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cfg = TrainerConfig(run_name="demo", total_steps=1000, checkpoint_steps=interval_steps(1000, 100),
                        state_dir="state/demo", state_every=200)
    result = train(model, opt, lambda m, step: m.loss(batch(step)), cfg,
                   on_checkpoint=lambda step, m: {"norm": m.weight.norm().item(), "W": m.weight.detach()})
    result.records        # [{"step": 0, "norm": ...}, ...]
    result.checkpoints    # {"W": tensor of shape (11, ...)}, one slice per checkpoint step
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

log = logging.getLogger("icl_dynamics.training")


class DivergenceError(RuntimeError):
    """Training loss became NaN/inf or exceeded ``divergence_factor`` times the initial loss."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived; the state was saved and a rerun resumes from it."""


# ---------------------------------------------------------------------------------------------------
# seeds, device, threads


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


# ---------------------------------------------------------------------------------------------------
# checkpoint schedules


def interval_steps(total_steps: int, every: int) -> list[int]:
    """``[0, every, 2 every, ..., total_steps]`` (``total_steps`` always included)."""
    if every < 1:
        raise ValueError("every must be >= 1")
    return sorted(set(range(0, total_steps + 1, every)) | {total_steps})


def log_spaced_steps(total_steps: int, n: int, dense_window: tuple[int, int] | None = None,
                     n_dense: int = 0) -> list[int]:
    """About ``n`` log-spaced steps in ``[0, total_steps]`` (0 and ``total_steps`` included).

    With ``dense_window=(lo, hi)``, ``n_dense`` further linearly spaced steps in ``[lo, hi]`` are
    added (e.g. around a phase change). Duplicates from rounding are removed, so the list may be
    shorter than ``n + n_dense``.
    """
    steps = {0, total_steps}
    if total_steps >= 1 and n > 0:
        steps |= {int(round(s)) for s in np.geomspace(1, total_steps, n)}
    if dense_window is not None and n_dense > 0:
        lo, hi = max(0, dense_window[0]), min(total_steps, dense_window[1])
        steps |= {int(round(s)) for s in np.linspace(lo, hi, n_dense)}
    return sorted(steps)


# ---------------------------------------------------------------------------------------------------
# the loop


@dataclass
class TrainerConfig:
    """Settings of one training run.

    run_name            names the run in progress lines and errors
    total_steps         number of optimizer updates
    checkpoint_steps    steps (in ``[0, total_steps]``) at which ``on_checkpoint`` is called
    state_dir           folder for resumable state (None: no state, no resume)
    state_every         save the state every this many updates
    log_every           progress line every this many updates
    divergence_factor   stop when loss > factor * initial loss (or NaN/inf)
    check_every         check loss for divergence every this many updates (each check syncs a GPU)
    threads             torch thread count (None: leave as is)
    fingerprint         identifies the settings; a saved state with another fingerprint is discarded
    """

    run_name: str
    total_steps: int
    checkpoint_steps: list[int] = field(default_factory=list)
    state_dir: str | Path | None = None
    state_every: int = 1000
    log_every: int = 1000
    divergence_factor: float = 1e3
    check_every: int = 1
    threads: int | None = None
    fingerprint: str = ""


@dataclass
class TrainResult:
    """Records (one dict per checkpoint step, with ``step``) and stacked checkpoint tensors."""

    records: list[dict]
    checkpoints: dict[str, torch.Tensor]


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


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          loss_fn: Callable[[torch.nn.Module, int], torch.Tensor], config: TrainerConfig,
          scheduler=None, on_checkpoint: Callable[[int, torch.nn.Module], dict] | None = None) -> TrainResult:
    """Run ``config.total_steps`` updates of ``optimizer`` on ``loss_fn``, resuming from saved state.

    Raises DivergenceError (naming run, step and learning rate) when the loss is NaN/inf or exceeds
    ``divergence_factor`` times the first loss, and TrainingInterrupted after saving the state when
    SIGTERM/SIGINT arrives.
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    checkpoint_steps = sorted(set(config.checkpoint_steps))
    if checkpoint_steps and not (0 <= checkpoint_steps[0] and checkpoint_steps[-1] <= config.total_steps):
        raise ValueError(f"checkpoint steps must lie in [0, {config.total_steps}]")
    state_dir = Path(config.state_dir) if config.state_dir is not None else None
    tensors_in_memory: dict[int, dict[str, torch.Tensor]] = {}

    step, records, initial_loss = 0, [], None
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        state_file = state_dir / "state.pt"
        meta = {"run_name": config.run_name, "total_steps": config.total_steps, "fingerprint": config.fingerprint}
        if state_file.exists():
            state = torch.load(state_file, weights_only=False)
            if state["meta"] == meta:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                if scheduler is not None:
                    scheduler.load_state_dict(state["scheduler"])
                _set_rng_state(state["rng"])
                step, records, initial_loss = state["step"], state["records"], state["initial_loss"]
                log.info("%s: resumed from %s at step %d", config.run_name, state_file, step)
            else:
                log.info("%s: discarding state %s of other settings", config.run_name, state_dir)
                _remove_state(state_dir)
                state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "checkpoints").mkdir(exist_ok=True)

    def save_state():
        if state_dir is None:
            return
        _atomic_save({"meta": meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict() if scheduler is not None else None,
                      "rng": _rng_state(), "step": step, "records": records, "initial_loss": initial_loss},
                     state_file)

    def checkpoint():
        out = on_checkpoint(step, model) if on_checkpoint is not None else {}
        tensors = {k: v.detach().cpu().clone() for k, v in out.items() if isinstance(v, torch.Tensor)}
        records.append({"step": step, **{k: v for k, v in out.items() if not isinstance(v, torch.Tensor)}})
        if tensors:
            if state_dir is None:
                tensors_in_memory[step] = tensors
            else:
                _atomic_save(tensors, state_dir / "checkpoints" / f"step_{step:010d}.pt")

    todo = set(checkpoint_steps) - {r["step"] for r in records}
    t0, step0 = time.perf_counter(), step
    with _StopFlag() as stop:
        while True:
            if step in todo:
                checkpoint()
            if step == config.total_steps:
                break
            if stop.signum is not None:
                save_state()
                saved = f"state saved to {state_dir}, rerun to resume" if state_dir else "no state_dir, nothing saved"
                raise TrainingInterrupted(f"{config.run_name}: signal {stop.signum} at step {step}; {saved}")
            current_lr = optimizer.param_groups[0]["lr"]
            loss = loss_fn(model, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if step % config.check_every == 0 or initial_loss is None:
                value = loss.item()
                if initial_loss is None:
                    initial_loss = value
                if not math.isfinite(value) or value > config.divergence_factor * initial_loss:
                    raise DivergenceError(
                        f"run {config.run_name} diverged at step {step} with learning rate {current_lr:.3g}: "
                        f"loss {value:.4g} (initial {initial_loss:.4g}, limit {config.divergence_factor:g}x)")
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if step % config.log_every == 0:
                rate = (step - step0) / (time.perf_counter() - t0)
                log.info("%s: step %d/%d loss %.4g lr %.3g (%.1f steps/s)", config.run_name, step,
                         config.total_steps, loss.item(), current_lr, rate)
            if step % config.state_every == 0:
                save_state()
    checkpoints = _stack_checkpoints(state_dir, tensors_in_memory, checkpoint_steps)
    if state_dir is not None:
        _remove_state(state_dir)
    return TrainResult(records=records, checkpoints=checkpoints)


def _remove_state(state_dir: Path) -> None:
    """Delete the files the trainer wrote (state, checkpoint tensors) and the folders if left empty."""
    for path in [state_dir / "state.pt", *(state_dir / "checkpoints").glob("step_*.pt")]:
        path.unlink(missing_ok=True)
    for folder in (state_dir / "checkpoints", state_dir):
        if folder.exists() and not any(folder.iterdir()):
            folder.rmdir()


def _stack_checkpoints(state_dir: Path | None, in_memory: dict, steps: list[int]) -> dict[str, torch.Tensor]:
    """Stack each checkpoint tensor over the checkpoint steps (leading axis = checkpoint index)."""
    per_step = []
    for s in steps:
        if state_dir is None:
            tensors = in_memory.get(s)
        else:
            path = state_dir / "checkpoints" / f"step_{s:010d}.pt"
            tensors = torch.load(path, weights_only=True) if path.exists() else None
        if tensors is not None:
            per_step.append(tensors)
    if not per_step:
        return {}
    return {k: torch.stack([t[k] for t in per_step]) for k in per_step[0]}


def config_fingerprint(params: dict) -> str:
    """A stable string of a run's settings, for ``TrainerConfig.fingerprint``."""
    return json.dumps(params, sort_keys=True, default=str)
