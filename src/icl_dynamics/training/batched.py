"""Runs that share a shape trained together: one stacked model, one optimizer, one state folder per run.

:func:`train_batched` is :func:`icl_dynamics.training.trainer.train` for ``M`` runs at once. The caller
stacks the runs' models (:class:`~icl_dynamics.models.stacked.StackedParameters`, each member initialised
from its own seed), builds one optimizer over the stack and passes:

- ``losses_fn(step) -> list of M scalar tensors``: member ``m``'s loss on its own batch of ``step``;
- ``on_checkpoint(m, step) -> dict``: member ``m``'s record and checkpoint tensors, as the per-run
  ``on_checkpoint`` gives them (the caller evaluates a per-run model holding member ``m``'s weights).

Why this is each run's own computation: the stack's loss is the sum of the members' losses, so the
gradient in member ``m``'s slice is that of member ``m``'s loss alone; the optimizers of the project (Adam,
AdamW, SGD) and the LR schedule act elementwise with the same settings for every member, so the update of
each slice is the update the run makes alone. Only the order of float reductions in the batched products
differs (results agree to float32 rounding, not bit for bit).

Each member has its own :class:`~icl_dynamics.training.state.StateFolder` (its run's ``state_dir``), records,
checkpoint snapshots and divergence check, and its saved state is exactly a per-run state: the member's
model ``state_dict``, its slice of the optimizer state (a per-run optimizer ``state_dict``), the scheduler
and RNG states, step, records and first loss. A rerun resumes when every member has a valid state at one
step; otherwise (a member's state missing or damaged, or members at different steps after a kill in the
middle of saving) it warns and restarts every member from step 0. Members stop together: a divergence of one
member stops the job, naming that run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable

import torch

from icl_dynamics.models.stacked import StackedParameters
from icl_dynamics.training.errors import TrainingInterrupted
from icl_dynamics.training.state import StateFolder, _warn
from icl_dynamics.training.trainer import TrainerConfig, TrainResult, _rng_state, _Run, _set_rng_state, _StopFlag

log = logging.getLogger("icl_dynamics.training")

# TrainerConfig fields that must be equal across the members of a batch (one loop drives them all).
SHARED_FIELDS = ("total_steps", "state_every", "log_every", "check_every", "checkpoint_steps")


def member_optimizer_state(state: dict, stack: StackedParameters, m: int) -> dict:
    """Member ``m``'s part of the stack's optimizer ``state_dict``: a per-run optimizer ``state_dict``.

    A state tensor of the shape of its stacked parameter (Adam's moments, SGD's momentum) is sliced; any
    other (Adam's step count) is shared by all members and copied."""
    shapes = [tuple(p.shape) for p in stack.parameters()]
    per_param = {}
    for index, values in state["state"].items():
        per_param[index] = {key: (value[m].clone() if isinstance(value, torch.Tensor)
                                  and tuple(value.shape) == shapes[index] else _copy(value))
                            for key, value in values.items()}
    return {"state": per_param, "param_groups": state["param_groups"]}


def stacked_optimizer_state(states: list[dict], stack: StackedParameters) -> dict:
    """The stack's optimizer ``state_dict`` from the members' per-run ones (inverse of
    :func:`member_optimizer_state`); shared entries must agree across members."""
    shapes = [tuple(p.shape[1:]) for p in stack.parameters()]
    first = states[0]
    stacked = {}
    for index, values in first["state"].items():
        stacked[index] = {}
        for key, value in values.items():
            column = [state["state"][index][key] for state in states]
            if isinstance(value, torch.Tensor) and tuple(value.shape) == shapes[index]:
                stacked[index][key] = torch.stack(column)
            elif all(torch.equal(torch.as_tensor(c), torch.as_tensor(value)) for c in column):
                stacked[index][key] = value
            else:
                raise ValueError(f"optimizer state {key!r} of parameter {index} differs between the members")
    return {"state": stacked, "param_groups": first["param_groups"]}


def _copy(value):
    return value.clone() if isinstance(value, torch.Tensor) else value


def _folder(config: TrainerConfig) -> StateFolder | None:
    if config.state_dir is None:
        return None
    return StateFolder(config.state_dir, {"run_name": config.run_name, "total_steps": config.total_steps,
                                          "fingerprint": config.fingerprint})


def _restore(runs: list[_Run], stack: StackedParameters, optimizer, scheduler) -> None:
    """Resume every member from its folder when all hold a valid state at one step (module docstring)."""
    states = [run.folder.load() if run.folder is not None else None for run in runs]
    if all(state is None for state in states):
        return
    steps = sorted({state["step"] for state in states if state is not None})
    if any(state is None for state in states) or len(steps) > 1:
        found = ", ".join(f"{run.config.run_name}: {'none' if s is None else 'step ' + str(s['step'])}"
                          for run, s in zip(runs, states))
        _warn("batched runs have no common saved step (%s); restarting every member from step 0", found)
        for run in runs:
            if run.folder is not None:
                run.folder.clear()
        return
    stack.load_members([state["model"] for state in states])
    optimizer.load_state_dict(stacked_optimizer_state([state["optimizer"] for state in states], stack))
    if scheduler is not None:
        scheduler.load_state_dict(states[0]["scheduler"])
    _set_rng_state(states[0]["rng"])
    for run, state in zip(runs, states):
        run.step, run.records, run.initial_loss = state["step"], state["records"], state["initial_loss"]
        log.info("%s: resumed from %s at step %d", run.config.run_name, run.folder.state_file, run.step)


def _save(runs: list[_Run], stack: StackedParameters, optimizer, scheduler) -> None:
    """Write each member's per-run state to its own folder."""
    if all(run.folder is None for run in runs):
        return
    optimizer_state, rng = optimizer.state_dict(), _rng_state()
    for m, run in enumerate(runs):
        if run.folder is not None:
            run.folder.save({"model": stack.member_state(m), "optimizer": member_optimizer_state(optimizer_state, stack, m),
                             "scheduler": scheduler.state_dict() if scheduler is not None else None,
                             "rng": rng, "step": run.step, "records": run.records, "initial_loss": run.initial_loss})


def train_batched(stack: StackedParameters, optimizer: torch.optim.Optimizer,
                  losses_fn: Callable[[int], list[torch.Tensor]], configs: list[TrainerConfig], scheduler=None,
                  on_checkpoint: Callable[[int, int], dict] | None = None) -> list[TrainResult]:
    """Train the ``M`` members of ``stack`` together, ``configs[m]`` being member ``m``'s run (its name, state
    folder and fingerprint; the step settings :data:`SHARED_FIELDS` must agree). Returns one
    :class:`TrainResult` per member, as :func:`~icl_dynamics.training.trainer.train` returns for that run.

    Raises DivergenceError naming the member's run, step and learning rate, TrainingInterrupted after saving
    every member's state when SIGTERM/SIGINT arrives, and StateLocked when another trainer holds a member's
    folder.
    """
    if len(configs) != stack.n_members:
        raise ValueError(f"{len(configs)} run configs for a stack of {stack.n_members} members")
    for name in SHARED_FIELDS:
        values = {str(sorted(set(v)) if name == "checkpoint_steps" else v) for v in (getattr(c, name) for c in configs)}
        if len(values) > 1:
            raise ValueError(f"the runs of a batch must share {name}; got {', '.join(sorted(values))}")
    config = configs[0]
    checkpoint_steps = sorted(set(config.checkpoint_steps))
    if checkpoint_steps and not (0 <= checkpoint_steps[0] and checkpoint_steps[-1] <= config.total_steps):
        raise ValueError(f"checkpoint steps must lie in [0, {config.total_steps}]")
    runs = [_Run(None, None, None, c, _folder(c)) for c in configs]
    folders = [run.folder for run in runs if run.folder is not None]
    with contextlib.ExitStack() as held:
        for folder in folders:
            held.enter_context(folder)
        stop = held.enter_context(_StopFlag())
        _restore(runs, stack, optimizer, scheduler)
        step = runs[0].step
        todo = set(checkpoint_steps) - {r["step"] for r in runs[0].records}
        t0, step0 = time.perf_counter(), step
        while True:
            if step in todo:
                for m, run in enumerate(runs):
                    run.checkpoint(lambda s, _model, m=m: on_checkpoint(m, s) if on_checkpoint is not None else {})
            if step == config.total_steps:
                break
            if stop.signum is not None:
                _save(runs, stack, optimizer, scheduler)
                saved = "state saved per run, rerun to resume" if folders else "no state_dir, nothing saved"
                raise TrainingInterrupted(f"{len(runs)} batched runs ({', '.join(c.run_name for c in configs)}): "
                                          f"signal {stop.signum} at step {step}; {saved}")
            current_lr = optimizer.param_groups[0]["lr"]
            # gradients dropped before the forward pass: a step replayed as a CUDA graph reuses their memory
            optimizer.zero_grad(set_to_none=True)
            losses = losses_fn(step)
            torch.stack(losses).sum().backward()
            for run, loss in zip(runs, losses):
                run.check_loss(loss, current_lr)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            for run in runs:
                run.step = step
            if step % config.log_every == 0:
                rate = (step - step0) / (time.perf_counter() - t0)
                for run, loss in zip(runs, losses):
                    log.info("%s: step %d/%d loss %.4g lr %.3g (%.1f steps/s, batched)", run.config.run_name, step,
                             config.total_steps, loss.item(), current_lr, rate)
            if step % config.state_every == 0:
                _save(runs, stack, optimizer, scheduler)
        _save(runs, stack, optimizer, scheduler)  # the final states, kept until the caller has written its outputs
        checkpoints = [run.stacked_checkpoints() for run in runs]
    return [TrainResult(records=run.records, checkpoints=ckpt, state=run.folder) for run, ckpt in zip(runs, checkpoints)]
