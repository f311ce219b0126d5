"""Benchmark: the validity map's SGD, cells x seeds batched, against one cell at a time, in one run.

Batched (``experiments.validity_map.run.batches`` + ``linear.simulate.simulate_batch``, as rule validity_map_cells
runs it): cells x seeds stacked in batches of at most MAX_BATCH_RUNS runs, longest first. Per setting
(``run.simulate``, as rule linear_simulate runs a setting): one cell at a time, its seeds batched. Both
run the same cells of a preset's grid (by default its cells at one learning rate), each cut to ``--steps``
SGD steps so that both do equal work, and must give equal results.

Prints cells x seeds x steps per second for both and the speed-up.

    python benchmarks/bench_validity_map.py [--preset paper|quick] [--lr 0.02] [--steps 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments.linear.simulate import simulate, simulate_batch
from icl_dynamics.experiments.validity_map.grid import grid_cells
from icl_dynamics.experiments.validity_map.run import MAX_BATCH_RUNS, batches

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["paper", "quick"], default="paper")
    parser.add_argument("--lr", type=float, default=0.02, help="the grid's cells at this learning rate")
    parser.add_argument("--steps", type=int, default=300, help="SGD steps of every cell")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    files = [REPO / "config/config.yaml"] + ([REPO / "config/quick.yaml"] if args.preset == "quick" else [])
    linear = validate(load_config(*files)["linear"], "linear", prefix="linear")
    seeds = linear["seeds"]
    cells = [dict(cell, steps=args.steps, n_log=2, n_lin=0) for cell in grid_cells(linear) if cell["lr"] == args.lr]
    if not cells:
        raise SystemExit(f"no cell of the {args.preset} grid has lr {args.lr} "
                         f"(grid lr: {linear['validity_map']['lr']})")
    d = cells[0]["d"]
    print(f"{args.preset} grid at lr {args.lr}: {len(cells)} cells x {len(seeds)} seeds x {args.steps} steps; d={d}, "
          f"batch={cells[0]['batch']}, batches of <= {MAX_BATCH_RUNS} runs, threads={args.threads}")

    t0 = time.perf_counter()
    alone = [simulate(cell, seeds) for cell in cells]
    t_alone = time.perf_counter() - t0

    t0 = time.perf_counter()
    together = {}
    for part in batches(cells, len(seeds)):
        together.update(zip([cell["name"] for cell in part], simulate_batch(part, seeds)))
    t_batched = time.perf_counter() - t0

    for cell, result in zip(cells, alone):
        np.testing.assert_equal(together[cell["name"]], result)
    work = len(cells) * len(seeds) * args.steps
    print(f"per setting (one cell at a time, seeds batched): {work / t_alone:10.1f} cells x seeds x steps / s  "
          f"({t_alone:.2f} s)")
    print(f"batched (cells x seeds):                         {work / t_batched:10.1f} cells x seeds x steps / s  "
          f"({t_batched:.2f} s)")
    print(f"speed-up: {t_alone / t_batched:.2f}x; results equal")


if __name__ == "__main__":
    main()
