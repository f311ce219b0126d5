"""Validity map of the linear-transformer theories (scorecard row L7, figure S3): where in context length
N x spectrum anisotropy x learning rate the closed form (Eq. 13, its fixed point Eq. 11) and the exact
mean flow (docs/science.md section 4) describe SGD.

A *cell* of the grid ``linear.validity_map`` is a setting like those of ``linear.settings``: the
defaults with N, the spectrum and the learning rate replaced. Its spectrum is geometric,
s_a = scale ratio^(a-1), so s_max = scale in every cell and s_min / s_max = ratio^(d-1); its length is
``duration`` slowest timescales, steps = duration / (lr s_min^2) (tau_a = 1 / s_a^2 in theory time
t = lr x step, Eq. 12 with m_a = 1). A cell whose :func:`icl_dynamics.experiments.linear.run.computation_key`
equals a setting's is the same computation (the paper preset's grid holds aniso_N10, the quick one's
aniso_N30 and aniso_N300); :func:`operating_points` finds them. Each cell is simulated, integrated and compared
by the per-setting pieces of ``experiments.linear.run`` (``simulate_batch``, ``theory``, ``compare``);
cells x seeds run in SGD batches of runs of similar length (:func:`batches`; the workflow runs one job per
N, whose tables :func:`merge_parts` joins), and each cell's comparison is cached in its own file, named
after the cell, so that widening the grid computes only the new cells.

The rule of thumb (:func:`rule_of_thumb`): the closed form's worst per-mode R^2 reaches the threshold when

    N >= c * sum_a (s_a - s_min) / s_min

The form was chosen from the equations before any map was computed: Eq. 14 differs from the exact loss by
the cross-mode term (1/N) p_a^2 s_a sum_b s_b (q_b^2 s_b - q_a^2 s_a), which vanishes for an isotropic
spectrum and, for the slow mode rising after the others have converged (q_b^2 s_b ~ 1), is about
sum_b (s_b - s_a) / (N s_a) of that mode's driving term. The constant c is fitted on one part of the grid
and scored on the other (``holdout``), a split fixed in the config.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd

from icl_dynamics.experiments.linear.run import (COMPARE_THRESHOLDS, compare, computation_key, resolve_setting,
                                                 simulate_batch, theory)
from icl_dynamics.workflow_io import CachedFileError, read_cached, write_cached

THEORIES = ("closed", "exact")
MEASURES = ("worst_r2", "fixed_point_rel", "half_rise_rel")
CELL_COLUMNS = ["cell", "N", "ratio", "s_ratio", "anisotropy", "lr", "steps", "converged"]
# Runs (cells x seeds) per SGD batch. Each holds DRAW_CHUNK x batch drawn sequences (about 4 MB at batch
# 512); the throughput per run is flat from 5 to 60 runs per batch (benchmarks/bench_validity_map.py).
MAX_BATCH_RUNS = 30


def cell_name(N: int, ratio: float, lr: float) -> str:
    """``N30_ratio0.5_lr0.02``: the grid values that make the cell."""
    return f"N{N}_ratio{ratio:g}_lr{lr:g}"


def cell_steps(grid: dict, d: int, ratio: float, lr: float) -> int:
    """SGD steps of a cell: ``duration`` slowest timescales 1 / s_min^2 of theory time, t = lr x step."""
    s_min = grid["scale"] * ratio ** (d - 1)
    return max(1, int(round(grid["duration"] / (lr * s_min**2))))


def grid_cells(linear_cfg: dict) -> list[dict]:
    """Every cell of ``linear.validity_map`` as a setting (``run.resolve_setting``'s format), N fastest,
    then ratio, then lr; ``grid`` holds the cell's values and its index on each axis."""
    grid = linear_cfg["validity_map"]
    cells = []
    for k, lr in enumerate(grid["lr"]):
        for j, ratio in enumerate(grid["ratio"]):
            for i, N in enumerate(grid["N"]):
                setting = copy.deepcopy(linear_cfg["defaults"])
                setting.update(N=N, lr=lr, spectrum={"kind": "geometric", "ratio": ratio, "scale": grid["scale"]},
                               steps=cell_steps(grid, setting["d"], ratio, lr), name=cell_name(N, ratio, lr))
                setting["grid"] = {"N": N, "ratio": ratio, "lr": lr, "index": [i, j, k]}
                cells.append(setting)
    return cells


def operating_points(linear_cfg: dict) -> dict[str, str]:
    """Cells that are the same computation as a setting of ``linear.settings``: {cell: setting name}
    (names joined by ', ' where several settings are equal)."""
    keys = {}
    for name in linear_cfg["settings"]:
        key = json.dumps(computation_key(resolve_setting(linear_cfg, name)), sort_keys=True)
        keys.setdefault(key, []).append(name)
    out = {}
    for cell in grid_cells(linear_cfg):
        names = keys.get(json.dumps(computation_key(cell), sort_keys=True))
        if names:
            out[cell["name"]] = ", ".join(names)
    return out


def cell_key(cell: dict, seeds: list[int], thresholds: dict, code: str) -> dict:
    """Everything a cell's cached comparison depends on: its computation, seeds, the thresholds
    ``run.compare`` reads and the fingerprint of the code that ran it."""
    key = {"setting": computation_key(cell), "seeds": list(seeds),
           "thresholds": {k: thresholds[k] for k in COMPARE_THRESHOLDS}, "code": code}
    return json.loads(json.dumps(key))  # as it reads back from the cache file


def run_cells(cells: list[dict], seeds: list[int], thresholds: dict, cache_dir: str | Path, code: str = "",
              max_batch_runs: int = MAX_BATCH_RUNS, log=print) -> list[dict]:
    """The ``run.compare`` dict of every cell, from ``cache_dir/<cell>.json`` where that file holds the
    same :func:`cell_key`, else computed and written there.

    Cells to compute are ordered by their number of steps and simulated in batches of at most
    ``max_batch_runs`` cells x seeds (``run.simulate_batch``), so runs of similar length share a batch;
    then each cell's theory and comparison follow as for a setting.
    """
    cache_dir = Path(cache_dir)
    comps, todo = {}, []
    for cell in cells:
        path = cache_dir / f"{cell['name']}.json"
        key = cell_key(cell, seeds, thresholds, code)
        try:
            stored = read_cached(path) if path.exists() else None
        except CachedFileError as error:
            log(f"recomputing: {error}")
            stored = None
        if stored is not None and stored.get("key") == key:
            comps[cell["name"]] = stored["comparison"]
        else:
            todo.append((cell, key, path))
    log(f"{len(cells) - len(todo)} of {len(cells)} cells cached; computing {len(todo)}")
    keys = {cell["name"]: (key, path) for cell, key, path in todo}
    for part in batches([cell for cell, _, _ in todo], len(seeds), max_batch_runs):
        for cell, sim in zip(part, simulate_batch(part, seeds)):
            comp = compare(cell, sim, theory(cell, seeds), thresholds)
            key, path = keys[cell["name"]]
            write_cached({"key": key, "comparison": comp}, path)
            comps[cell["name"]] = comp
        log(f"computed {', '.join(cell['name'] for cell in part)}")
    return [comps[cell["name"]] for cell in cells]


def batches(cells: list[dict], n_seeds: int, max_batch_runs: int = MAX_BATCH_RUNS) -> list[list[dict]]:
    """``cells`` in SGD batches of at most ``max_batch_runs`` cells x seeds, longest runs first, so that
    runs of similar length share a batch."""
    ordered = sorted(cells, key=lambda cell: -cell["steps"])
    per_batch = max(1, max_batch_runs // n_seeds)
    return [ordered[i:i + per_batch] for i in range(0, len(ordered), per_batch)]


def anisotropy(s) -> float:
    """sum_a (s_a - s_min) / s_min = Tr S / s_min - d: zero for an isotropic spectrum."""
    s = np.asarray(s, dtype=float)
    return float(s.sum() / s.min() - s.size)


def cell_measures(comp: dict, converged_rel: float) -> dict:
    """The map's numbers of one cell (seed means, worst mode), per theory: ``worst_r2`` = min_a R^2 of
    a_a(t); ``fixed_point_rel`` = max_a |a_sim(end) - a_inf| / a_inf with a_inf = 1 / s_inf (Eq. 11) or the
    exact flow's fixed point, NaN unless the run is ``converged`` (the exact flow at the last step within
    ``converged_rel`` of its fixed point in every mode); ``half_rise_rel`` = max_a relative error of the
    half-rise step (NaN where a mode has not half-risen by the end)."""
    end, fp = np.array(comp["exact_at_end"]), np.array(comp["fp_exact"])
    converged = bool(np.max(np.abs(end - fp) / np.abs(fp)) <= converged_rel)
    out = {"converged": converged}
    for th in THEORIES:
        r2, fp_rel, half = comp[f"r2_{th}"], comp[f"fp_rel_{th}"], comp[f"half_rel_{th}"]
        out[th] = {"worst_r2": float(np.min(r2)) if r2 is not None else np.nan,
                   "fixed_point_rel": float(np.max(fp_rel)) if converged else np.nan,
                   "half_rise_rel": float(np.max(np.asarray(half, dtype=float))) if half is not None else np.nan}
    return out


def map_table(cells: list[dict], comps: list[dict], converged_rel: float) -> pd.DataFrame:
    """Long table of the map: :data:`CELL_COLUMNS` (the cell, its grid values, s_min / s_max,
    :func:`anisotropy`, steps, convergence), then ``theory`` (closed, exact), ``measure``
    (:data:`MEASURES`, see :func:`cell_measures`), ``value``."""
    rows = []
    for cell, comp in zip(cells, comps):
        grid, s = cell["grid"], np.array(comp["s"])
        values = cell_measures(comp, converged_rel)
        ident = {"cell": cell["name"], "N": grid["N"], "ratio": grid["ratio"], "s_ratio": float(s.min() / s.max()),
                 "anisotropy": anisotropy(s), "lr": grid["lr"], "steps": cell["steps"],
                 "converged": values["converged"]}
        rows += [{**ident, "theory": th, "measure": m, "value": values[th][m]} for th in THEORIES for m in MEASURES]
    return pd.DataFrame(rows, columns=CELL_COLUMNS + ["theory", "measure", "value"])


def merge_parts(parts: list[pd.DataFrame], cell_names: list[str]) -> pd.DataFrame:
    """One long table from :func:`map_table` tables of disjoint sets of cells (the workflow's one per N):
    rows in the order of ``cell_names`` (the grid's), each cell's rows in their own order. Raises
    ValueError naming the cells that are missing, extra or in two parts."""
    table = pd.concat(parts, ignore_index=True)
    seen = pd.concat([part["cell"].drop_duplicates() for part in parts]).value_counts()  # parts per cell
    wanted = set(cell_names)
    problems = {"missing": sorted(wanted - set(seen.index)), "not in the grid": sorted(set(seen.index) - wanted),
                "in more than one part": sorted(seen.index[seen > 1])}
    problems = {kind: names for kind, names in problems.items() if names}
    if problems:
        raise ValueError("validity map parts do not make the grid: "
                         + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in problems.items()))
    order = {name: i for i, name in enumerate(cell_names)}
    return table.sort_values("cell", key=lambda cells: cells.map(order), kind="stable").reset_index(drop=True)


def wide_cells(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: :data:`CELL_COLUMNS` and a column ``<measure>_<theory>`` per measured value, in
    the table's cell order."""
    wide = table.pivot_table(index="cell", columns=["measure", "theory"], values="value", aggfunc="first", dropna=False)
    wide.columns = [f"{m}_{th}" for m, th in wide.columns]
    cells = table.drop_duplicates("cell")[CELL_COLUMNS].set_index("cell")
    return cells.join(wide).reset_index()


def held_out(cells: pd.DataFrame, kind: str) -> np.ndarray:
    """Which cells score the rule (True) and which fit it (False), from their grid positions alone.

    ``checkerboard``: held out where the sum of the cell's indices along N, ratio and lr is odd;
    ``alternate_N``: held out where N is the 2nd, 4th, ... smallest of the grid's N values.
    """
    index = {axis: cells[axis].rank(method="dense").astype(int).to_numpy() - 1 for axis in ("N", "ratio", "lr")}
    if kind == "checkerboard":
        return (index["N"] + index["ratio"] + index["lr"]) % 2 == 1
    if kind == "alternate_N":
        return index["N"] % 2 == 1
    raise ValueError(f"unknown holdout {kind!r}; allowed: checkerboard, alternate_N")


def rule_statistic(N, aniso) -> np.ndarray:
    """x = N / (sum_a (s_a - s_min) / s_min); infinite for an isotropic spectrum."""
    N, aniso = np.asarray(N, dtype=float), np.asarray(aniso, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(aniso > 0, N / np.where(aniso > 0, aniso, 1.0), np.inf)


def fit_threshold(x, passed) -> float:
    """The c of the rule 'passes when x >= c' with the fewest misclassified cells.

    Candidates are geometric midpoints between consecutive distinct finite values of x, plus half the
    smallest and twice the largest; among equally good candidates the middle one (by rank, the lower of
    two) is taken. Infinite x always counts as passing. Returns 0.0 where no x is finite.
    """
    x, passed = np.asarray(x, dtype=float), np.asarray(passed, dtype=bool)
    values = np.unique(x[np.isfinite(x)])
    if values.size == 0:
        return 0.0
    candidates = np.concatenate([[values[0] / 2], np.sqrt(values[:-1] * values[1:]), [values[-1] * 2]])
    errors = np.array([np.sum((x >= c) != passed) for c in candidates])
    best = np.flatnonzero(errors == errors.min())
    return float(candidates[best[(best.size - 1) // 2]])


def rule_of_thumb(table: pd.DataFrame, r2_threshold: float, holdout: str) -> dict:
    """Fit the rule 'closed form worst per-mode R^2 >= r2_threshold when N >= c * sum_a (s_a - s_min) / s_min'
    on the fitting cells (:func:`held_out` False) and score it on the held-out ones.

    Returns c; per part (``fit``, ``held_out``) the cells, how many the rule puts on the observed side
    (``correct``) and ``accuracy``; the held-out accuracy of the majority-class rule of the fitting part
    (``baseline_accuracy``); the misclassified held-out cells; and how many cells each theory passes.
    """
    cells = wide_cells(table)
    hold = held_out(cells, holdout)
    x = rule_statistic(cells["N"], cells["anisotropy"])
    passed = (cells["worst_r2_closed"] >= r2_threshold).to_numpy()
    c = fit_threshold(x[~hold], passed[~hold])
    predicted = x >= c
    majority = bool(np.mean(passed[~hold]) >= 0.5) if np.any(~hold) else True
    parts = {}
    for part, mask in (("fit", ~hold), ("held_out", hold)):
        correct = int(np.sum(predicted[mask] == passed[mask]))
        parts[part] = {"cells": cells["cell"][mask].tolist(), "correct": correct, "n": int(mask.sum()),
                       "accuracy": correct / mask.sum() if mask.any() else float("nan")}
    wrong = hold & (predicted != passed)
    return {"c": c, "r2_threshold": r2_threshold, "holdout": holdout, **parts,
            "baseline_accuracy": float(np.mean(passed[hold] == majority)) if hold.any() else float("nan"),
            "misclassified": [{"cell": cell, "x": float(xi), "worst_r2_closed": float(r2)}
                              for cell, xi, r2 in zip(cells["cell"][wrong], x[wrong], cells["worst_r2_closed"][wrong])],
            "n_cells": len(cells), "closed_pass": int(passed.sum()),
            "exact_pass": int((cells["worst_r2_exact"] >= r2_threshold).sum()),
            "grid": {axis: sorted(cells[axis].unique().tolist()) for axis in ("N", "ratio", "s_ratio", "lr")}}

