"""The validity map's grid: every cell of ``linear.validity_map`` as a setting of the linear experiment."""

from __future__ import annotations

import copy
import json

import numpy as np

from icl_dynamics.experiments.linear.settings import computation_key, resolve_setting


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


def anisotropy(s) -> float:
    """sum_a (s_a - s_min) / s_min = Tr S / s_min - d: zero for an isotropic spectrum."""
    s = np.asarray(s, dtype=float)
    return float(s.sum() / s.min() - s.size)
