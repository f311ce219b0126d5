"""The validity map's long table: per cell and theory, the worst per-mode R^2, fixed-point and half-rise errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.experiments.validity_map.grid import anisotropy

THEORIES = ("closed", "exact", "finite_n")
MEASURES = ("worst_r2", "fixed_point_rel", "half_rise_rel")
CELL_COLUMNS = ["cell", "N", "ratio", "s_ratio", "anisotropy", "lr", "steps", "converged"]


def cell_measures(comp: dict, converged_rel: float) -> dict:
    """The map's numbers of one cell (seed means, worst mode), per theory: ``worst_r2`` = min_a R^2 of
    a_a(t); ``fixed_point_rel`` = max_a |a_sim(end) - a_inf| / a_inf with a_inf = 1 / s_inf (Eq. 11), the
    exact flow's fixed point or its closed form (finite_n), NaN unless the run is ``converged`` (the exact flow at the last step within
    ``converged_rel`` of its fixed point in every mode); ``half_rise_rel`` = max_a relative error of the
    half-rise step (NaN where a mode has not half-risen by the end)."""
    end, fp = np.array(comp["exact_at_end"]), np.array(comp["fp_exact"])
    converged = bool(np.max(np.abs(end - fp) / np.abs(fp)) <= converged_rel)
    out = {"converged": converged}
    for th in THEORIES:
        r2, fp_rel, half = comp[f"r2_{th}"], comp[f"fp_rel_{th}"], comp[f"half_rel_{th}"]
        out[th] = {"worst_r2": float(np.min(r2)) if r2 is not None else np.nan,
                   "fixed_point_rel": float(np.max(fp_rel)) if converged and fp_rel is not None else np.nan,
                   "half_rise_rel": float(np.max(np.asarray(half, dtype=float))) if half is not None else np.nan}
    return out


def map_table(cells: list[dict], comps: list[dict], converged_rel: float) -> pd.DataFrame:
    """Long table of the map: :data:`CELL_COLUMNS` (the cell, its grid values, s_min / s_max,
    :func:`anisotropy`, steps, convergence), then ``theory`` (:data:`THEORIES`), ``measure``
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


def check_cells(table: pd.DataFrame, cell_names: list[str], path: str = "the validity map") -> pd.DataFrame:
    """``table`` (a :func:`map_table` long table read back) if it holds exactly the cells ``cell_names``,
    each with one row per theory and measure; else ValueError naming the file and the cells missing, extra
    or incomplete (a table cut short must not score row L7 on fewer cells)."""
    rows = table.groupby("cell").size()
    wanted = set(cell_names)
    problems = {"missing": sorted(wanted - set(rows.index)), "not in the grid": sorted(set(rows.index) - wanted),
                "incomplete": sorted(rows.index[rows != len(THEORIES) * len(MEASURES)])}
    problems = {kind: names for kind, names in problems.items() if names}
    if problems:
        raise ValueError(f"{path} does not hold the configured grid: "
                         + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in problems.items())
                         + "; rerun its rule (snakemake --forcerun validity_map_table)")
    return table
