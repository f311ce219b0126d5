"""Minibatch SGD on the full D x D model for a setting's seeds (:mod:`.sgd` does the steps): the workflow's
``linear_simulate`` rule, and the validity map's cells in batches."""

from __future__ import annotations

from icl_dynamics.experiments.linear.settings import logging_steps, make_task
from icl_dynamics.experiments.linear.sgd import SGDRun, SGDSettings, run_sgd_batch, stack_seeds


def simulate(setting: dict, seeds: list[int], device: str = "cpu") -> dict:
    """SGD on the full model for all seeds; arrays as in ``experiments.linear.sgd.run_sgd`` plus s, U.
    ``device`` ``cpu``: NumPy float64; ``cuda``: torch float64 on the GPU (equal to about 1e-12)."""
    return simulate_batch([setting], seeds, device)[0]


def simulate_batch(settings: list[dict], seeds: list[int], device: str = "cpu") -> list[dict]:
    """:func:`simulate` for several settings at once: every setting x seed is one run of a single
    ``experiments.linear.sgd.run_sgd_batch`` (the settings must share d, batch and eval_batch). Each
    setting's result equals what :func:`simulate` returns for it alone."""
    tasks = [make_task(setting) for setting in settings]
    runs = [SGDRun(task, _sgd_settings(setting), seed, tuple(logging_steps(setting)), setting["name"])
            for setting, task in zip(settings, tasks) for seed in seeds]
    results = run_sgd_batch(runs, torch_device=None if device == "cpu" else device)
    out = []
    for i, task in enumerate(tasks):
        result = stack_seeds(results[i * len(seeds):(i + 1) * len(seeds)])
        result.update(s=task.s, U=task.U)
        out.append(result)
    return out


def _sgd_settings(setting: dict) -> SGDSettings:
    return SGDSettings(lr=setting["lr"], batch=setting["batch"], steps=setting["steps"], init=setting["init"],
                       eps=setting["eps"], context_sampling=setting["context_sampling"],
                       eval_batch=setting["eval_batch"], divergence_factor=setting["divergence_factor"])
