"""``icl-measures``: spectral measures of weight matrices over a folder of state_dict checkpoints.

Example::

    icl-measures checkpoints/ -o measures.parquet --match 'blocks.*.attn.W_Q' --heads 8

reads every ``*.pt`` file of ``checkpoints/`` in the order of the step number in its name, takes the
matching 2-D tensors (optionally split into heads), and writes one tidy table with columns
step, series, layer, head, measure, value (``series`` is the key; CSV or Parquet by the output's extension). The reference matrix of
the subspace distance and the mode strengths is the last checkpoint's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from icl_dynamics.config import ConfigError, load_config
from icl_dynamics.measures.checkpoints import CheckpointError, list_checkpoints, load_state_dict, matrix_series, select_keys
from icl_dynamics.measures.circuits import split_heads
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.measures.summary import long_table, spectral_measures
from icl_dynamics.measures.svd import thin_svd

WRITERS = {".csv": "to_csv", ".parquet": "to_parquet"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icl-measures", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", help="folder of checkpoints saved with torch.save(model.state_dict(), ...)")
    parser.add_argument("-o", "--output", required=True, help="output table, .csv or .parquet")
    parser.add_argument("-m", "--match", action="append", required=True, metavar="PATTERN",
                        help="state_dict keys to measure: a glob (or a regex with --regex); repeatable")
    parser.add_argument("--regex", action="store_true", help="treat --match patterns as regular expressions")
    parser.add_argument("--heads", type=int, metavar="N", help="split each matrix into N heads")
    parser.add_argument("--head-axis", choices=["columns", "rows"], default="columns",
                        help="split (d_in, N*d_head) weights by columns (default) or (N*d_head, d_out) by rows")
    parser.add_argument("--glob", default="*.pt", help="checkpoint file names in the folder (default: *.pt)")
    parser.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="config file(s) whose 'measures:' section sets the measures; later ones override")
    return parser


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Compute the table for parsed arguments; raises CheckpointError or ConfigError on bad input."""
    output = Path(args.output)
    if output.suffix not in WRITERS:
        raise CheckpointError(f"{output}: output must end in .csv or .parquet")
    settings = measures_section(load_config(*args.config).get("measures") if args.config else None)
    checkpoints = list_checkpoints(args.folder, args.glob)
    final_path = checkpoints[-1][1]
    keys = select_keys(load_state_dict(final_path), args.match, args.regex, final_path)
    steps = [step for step, _ in checkpoints]
    tables = []
    for key, stack in matrix_series(checkpoints, keys).items():
        if args.heads is not None:
            try:
                stack = split_heads(stack, args.heads, args.head_axis)
            except ValueError as error:
                raise CheckpointError(f"{final_path}: key '{key}': {error}") from None
        svd_series = thin_svd(stack)
        svd_final = thin_svd(stack[-1])
        try:
            measures = spectral_measures(svd_series, svd_final, settings)
        except ValueError as error:
            raise CheckpointError(f"key '{key}' (matrix shape {stack.shape[-2:]}): {error}") from None
        tables.append(long_table(steps, key, measures))
    return pd.concat(tables, ignore_index=True)


def write_table(table: pd.DataFrame, output: Path) -> None:
    """Write through a temporary file so that a failed run leaves no partial table behind."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial{output.suffix}")
    getattr(table, WRITERS[output.suffix])(partial, index=False)
    os.replace(partial, output)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        table = run(args)
        write_table(table, Path(args.output))
    except (CheckpointError, ConfigError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"icl-measures: error: {message}", file=sys.stderr)
        return 1
    return 0
