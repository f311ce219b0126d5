"""Computing the validity map's cells: SGD in batches of cells x seeds, then each cell's theories and
comparison as for a setting.

The SGD result of each cell (the expensive part) is cached in ``<cache_dir>/<cell>.npz`` (the workflow's is
``state/validity_map/sim/``) under a key of its computation, seeds and the simulation's code fingerprint
(:func:`sim_key`), so that a wider grid simulates only its new cells and a change of the theories or the
comparison reruns them without re-simulating.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from icl_dynamics.experiments.linear.compare import compare
from icl_dynamics.experiments.linear.settings import computation_key
from icl_dynamics.experiments.linear.simulate import simulate_batch
from icl_dynamics.experiments.linear.theory import theory
from icl_dynamics.workflow_io.cached_files import CachedFileError, read_cached, write_cached

# Runs (cells x seeds) per SGD batch. Each holds DRAW_CHUNK x batch drawn sequences (about 4 MB at batch
# 512); the throughput per run is flat from 5 to 60 runs per batch (benchmarks/bench_validity_map.py).
MAX_BATCH_RUNS = 30


def sim_key(cell: dict, seeds: list[int], code: str) -> str:
    """Everything a cell's SGD result depends on: its computation, the seeds and the fingerprint of the
    simulation code, as a canonical JSON string (stored beside the arrays)."""
    return json.dumps({"setting": computation_key(cell), "seeds": list(seeds), "code": code}, sort_keys=True)


def _cached_sim(path: Path, key: str, log) -> dict | None:
    if not path.exists():
        return None
    try:
        stored = read_cached(path)
    except CachedFileError as error:
        log(f"re-simulating: {error}")
        return None
    if str(stored.pop("key", "")) != key:
        return None
    return stored


def run_cells(cells: list[dict], seeds: list[int], thresholds: dict, cache_dir: str | Path, sim_code: str = "",
              max_batch_runs: int = MAX_BATCH_RUNS, log=print, device: str = "cpu") -> list[dict]:
    """The ``compare`` dict of every cell (in the order of ``cells``); the SGD on ``device`` (``cpu``: NumPy,
    ``cuda``: torch float64 on the GPU, equal to about 1e-12, so a cached cell serves both).

    Each cell's SGD result is read from ``cache_dir/<cell>.npz`` where that file holds the same
    :func:`sim_key`, else simulated and written there: cells to simulate are ordered by their number of
    steps and run in batches of at most ``max_batch_runs`` cells x seeds (``simulate_batch``), so runs of
    similar length share a batch. Then every cell's theories and comparison follow as for a setting.
    """
    cache_dir = Path(cache_dir)
    sims, todo = {}, []
    for cell in cells:
        path, key = cache_dir / f"{cell['name']}.npz", sim_key(cell, seeds, sim_code)
        stored = _cached_sim(path, key, log)
        if stored is None:
            todo.append(cell)
        else:
            sims[cell["name"]] = stored
    log(f"{len(cells) - len(todo)} of {len(cells)} cells' SGD cached; simulating {len(todo)}")
    for part in batches(todo, len(seeds), max_batch_runs):
        for cell, sim in zip(part, simulate_batch(part, seeds, device)):
            write_cached({**sim, "key": np.array(sim_key(cell, seeds, sim_code))}, cache_dir / f"{cell['name']}.npz")
            sims[cell["name"]] = sim
        log(f"simulated {', '.join(cell['name'] for cell in part)}")
    return [compare(cell, sims[cell["name"]], theory(cell, seeds), thresholds) for cell in cells]


def batches(cells: list[dict], n_seeds: int, max_batch_runs: int = MAX_BATCH_RUNS) -> list[list[dict]]:
    """``cells`` in SGD batches of at most ``max_batch_runs`` cells x seeds, longest runs first, so that
    runs of similar length share a batch."""
    ordered = sorted(cells, key=lambda cell: -cell["steps"])
    per_batch = max(1, max_batch_runs // n_seeds)
    return [ordered[i:i + per_batch] for i in range(0, len(ordered), per_batch)]
