"""Benchmark: the finite-N closed form (theory.finite_n) against integrating the exact mean flow, in one run.

On every cell of a preset's validity-map grid (``linear.validity_map``: N x ratio x lr, geometric spectrum
s_a = scale ratio^(a-1), d and the start from ``linear.defaults``), with the cell's seeds, their task-pool
moments m_a and start (p0, q0), and the cell's logging steps (t = lr x step), exactly the inputs
``experiments.linear.theory.theory`` gives both theories. Times ``finite_n.mode_strength`` (best of
``--repeat`` calls) and ``exact_flow.integrate_mean_flow`` (LSODA, as ``theory`` calls it; best of
``--repeat-exact``), prints
both per cell with the speed-up, and the formula's worst per-mode R^2 against the integrated flow
(seed means, as ``experiments.linear.compare`` scores a theory against SGD; theory against theory here, no SGD).

    python benchmarks/bench_finite_n.py [--preset paper|quick] [--repeat 20] [--repeat-exact 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from icl_dynamics.config import load_config, validate
from icl_dynamics.data.regression import make_task_pool, pool_moments
from icl_dynamics.experiments.linear.compare import r_squared
from icl_dynamics.experiments.linear.initial import initial_modes
from icl_dynamics.experiments.linear.settings import logging_steps, make_task
from icl_dynamics.experiments.validity_map.grid import grid_cells
from icl_dynamics.theory import exact_flow, finite_n

REPO = Path(__file__).resolve().parents[1]


def cell_inputs(cell: dict, seeds: list[int]) -> dict:
    """What ``experiments.linear.theory.theory`` hands the theories for one cell: t (T,), s (d,), N, m, p0, q0 (S, d)."""
    task = make_task(cell)
    t = cell["lr"] * np.array(logging_steps(cell), dtype=float)
    m = np.stack([pool_moments(make_task_pool(task.P, task.d, seed)) for seed in seeds])
    p0, q0 = map(np.stack, zip(*[initial_modes(task, cell["init"], cell["eps"], seed) for seed in seeds]))
    return dict(t=t, s=task.s, N=task.N, m=m, p0=p0, q0=q0)


def timed(fn, repeat: int):
    """(result, best wall time in s over ``repeat`` calls)."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["paper", "quick"], default="paper")
    parser.add_argument("--repeat", type=int, default=20, help="calls of the formula per cell (best is kept)")
    parser.add_argument("--repeat-exact", type=int, default=3, help="integrations of the exact flow per cell")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    files = [REPO / "config/config.yaml"] + ([REPO / "config/quick.yaml"] if args.preset == "quick" else [])
    linear = validate(load_config(*files)["linear"], "linear", prefix="linear")
    seeds, cells = linear["seeds"], grid_cells(linear)
    print(f"{args.preset} grid: {len(cells)} cells x {len(seeds)} seeds, d={cells[0]['d']}, "
          f"{len(logging_steps(cells[0]))} logging steps per cell; threads={args.threads}")
    print(f"{'cell':28s} {'formula ms':>10s} {'exact ms':>9s} {'speed-up':>9s} {'worst R^2':>10s}")
    totals, worst, ratio = np.zeros(2), [], []
    for cell in cells:
        x = cell_inputs(cell, seeds)
        if not np.allclose(x["p0"], x["q0"]):
            raise SystemExit(f"{cell['name']}: the formula needs a balanced start (init {cell['init']!r})")
        a0 = x["p0"] * x["q0"]
        formula, t_formula = timed(lambda: finite_n.mode_strength(x["t"], x["s"], x["N"], a0, x["m"]), args.repeat)
        (p, q), t_exact = timed(lambda: exact_flow.integrate_mean_flow(x["p0"], x["q0"], x["t"], x["s"], x["N"],
                                                                       x["m"]), args.repeat_exact)
        r2 = float(np.min(r_squared((p * q).mean(axis=0), formula.mean(axis=0))))
        totals += (t_formula, t_exact)
        worst.append(r2)
        ratio.append(t_exact / t_formula)
        print(f"{cell['name']:28s} {1e3 * t_formula:10.3f} {1e3 * t_exact:9.1f} {t_exact / t_formula:8.0f}x "
              f"{r2:10.5f}")
    worst = np.array(worst)
    print(f"total: formula {totals[0]:.3f} s, exact flow {totals[1]:.2f} s, speed-up {totals[1] / totals[0]:.0f}x; "
          f"per cell from {np.min(ratio):.0f}x to {np.max(ratio):.0f}x, median {np.median(ratio):.0f}x")
    for threshold in (0.99, 0.999):
        print(f"cells with the formula's worst per-mode R^2 >= {threshold} against the exact flow: "
              f"{int(np.sum(worst >= threshold))} of {len(cells)}")
    i = int(np.argmin(worst))
    print(f"lowest: {worst[i]:.5f} ({cells[i]['name']}); median {np.median(worst):.6f}")


if __name__ == "__main__":
    main()
