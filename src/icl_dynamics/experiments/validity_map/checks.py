"""Checks across keys of the validity map's config (``linear.validity_map``), run before any job
(workflow/rules/validity_map.smk)."""

from __future__ import annotations

from icl_dynamics.config import ConfigError
from icl_dynamics.experiments.budget import TensorEstimate, WorkEstimate, check_job_budget
from icl_dynamics.experiments.linear.checks import job_estimates
from icl_dynamics.experiments.validity_map.grid import grid_cells
from icl_dynamics.experiments.validity_map.run import batches


def check_config(linear_cfg: dict, config: dict | None = None) -> None:
    """Checks of ``linear.validity_map`` against ``linear.defaults`` that the schema cannot express; raises
    ConfigError naming the keys. ``config`` (the whole config) is accepted for a uniform signature."""
    defaults = linear_cfg["defaults"]
    smallest = min(linear_cfg["validity_map"]["N"])
    if defaults["context_sampling"] == "wishart" and smallest < defaults["d"]:
        raise ConfigError(f"config key 'linear.validity_map.N' holds N = {smallest} < d = {defaults['d']}: "
                          "Wishart context sampling needs N >= d")
    for N in linear_cfg["validity_map"]["N"]:
        check_job_budget(*validity_estimates(linear_cfg, N))


def validity_estimates(linear_cfg: dict, N: int) -> tuple[TensorEstimate, WorkEstimate]:
    """The largest tensor and the work of the validity map's job for context length ``N`` (its cells x seeds,
    in SGD batches of at most ``validity_map.run.MAX_BATCH_RUNS`` runs)."""
    seeds = linear_cfg["seeds"]
    cells = [cell for cell in grid_cells(linear_cfg) if cell["N"] == N]
    parts = batches(cells, len(seeds))
    defaults = linear_cfg["defaults"]
    grid = linear_cfg["validity_map"]
    keys = {"linear.defaults.batch": defaults["batch"], "linear.defaults.eval_batch": defaults["eval_batch"],
            "linear.defaults.d": defaults["d"], "linear.seeds": seeds}
    work_keys = {"linear.validity_map.duration": grid["duration"], "linear.validity_map.lr": grid["lr"],
                 "linear.validity_map.ratio": grid["ratio"], **keys}
    tensor, _ = job_estimates([cell for cell in parts[0] for _ in seeds], 0, "", keys, {})
    runs = [cell for cell in cells for _ in seeds]
    updates = sum(max(cell["steps"] for cell in part) for part in parts)
    _, work = job_estimates(runs, updates, f"the validity map's cells with N = {N}", keys, work_keys)
    return tensor, work
