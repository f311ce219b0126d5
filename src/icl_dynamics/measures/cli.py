"""``icl-measures``: spectral measures of weight matrices and attention circuits over a folder of checkpoints.

Examples::

    icl-measures checkpoints/ -o measures.csv --circuits
    icl-measures checkpoints/ -o measures.csv --circuits 'attn_blocks.{layer}.attn.{W}' --layout progress-measures
    icl-measures checkpoints/ -o measures.parquet --match 'blocks.*.attn.W_Q' --heads 8

reads every checkpoint of ``checkpoints/`` (``*.pt``, ``*.pth``, ``*.bin``, ``*.safetensors``; a state_dict,
or a dict holding one under ``model`` or ``state_dict``) in the order of the step number in its name, and
writes one tidy table with columns step, series, layer, head, measure, value (CSV or Parquet by the output's
extension; layer and head are -1 where they do not apply). The reference matrix of the subspace distance
and the mode strengths is the last checkpoint's.

--circuits: the per-head circuits QK = W_Q W_K^T and OV = W_V W_O (series QK and OV) of every layer, from
the keys of a template with {layer} and {W} (default: TransformerLens' blocks.{layer}.attn.{W}), in factored
form. --match: each matching key on its own (series: the key); a 2-D matrix as stored, or split into
--heads along --head-axis; a 3-D per-head stack head by head.

--layout says how per-head weights are stored (h heads of width e, residual width d):
  transformer-lens   W_Q, W_K, W_V (h, d, e); W_O (h, e, d)
  progress-measures  W_Q, W_K, W_V (h, e, d); W_O (d, h*e)   (Nanda et al. 2023's code)
  fused              W_Q, W_K, W_V (d, h*e); W_O (h*e, d)    (--circuits only; needs --heads)
auto (default) reads it from the layer's W_O: 3-D: transformer-lens; 2-D beside a 3-D W_Q:
progress-measures; 2-D beside a 2-D W_Q: fused. Weights are brought to the transformer-lens layout before
they are measured, so a model gives the same numbers in every layout. --heads is needed only to split 2-D
weights (--match, fused); per-head (3-D) weights store their head count, and a --heads that differs from it
is an error.

--config: YAML files whose measures: section sets the measures (k of the marginalised effective rank, etc.);
any other top-level key must be a section of the workflow's config, so config/config.yaml can be given.

Undefined values are NaN, with a warning on stderr naming the key, step and file: the ranks of a matrix (or
circuit) with no nonzero singular value at that step (a zero matrix, e.g. a zero-initialised W_O at step
0), the marginalised rank with no nonzero singular value left after the k largest (rank <= k), and the
subspace distance when the last checkpoint's matrix (the reference) is zero. A matrix or circuit with r <=
measures.marginal_rank_k_variant singular values (e.g. heads with d_head <= 2 for the default k = 2) has no
column for the variant, with a warning; r <= measures.marginal_rank_k is an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from icl_dynamics.config import ConfigError
from icl_dynamics.measures.checkpoints import (
    CheckpointError,
    circuit_keys,
    list_checkpoints,
    load_state_dict,
    select_keys,
    tensor_series,
)
from icl_dynamics.measures.circuits import split_heads
from icl_dynamics.measures.layouts import LAYOUTS, circuit_weights, detect_layout, head_stack
from icl_dynamics.measures.settings import measures_from_files
from icl_dynamics.measures.summary import circuit_spectral_measures, long_table, spectral_measures
from icl_dynamics.measures.svd import thin_svd
from icl_dynamics.models import HEAD_WEIGHTS

WRITERS = {".csv": "to_csv", ".parquet": "to_parquet"}
TRANSFORMER_LENS_KEYS = "blocks.{layer}.attn.{W}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icl-measures", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", help="folder of checkpoints, one file per step (the step is the last number "
                                       "in the file name)")
    parser.add_argument("-o", "--output", required=True, help="output table, .csv or .parquet")
    parser.add_argument("-m", "--match", action="append", default=[], metavar="PATTERN",
                        help="state_dict keys to measure: a glob (or a regex with --regex); repeatable")
    parser.add_argument("--regex", action="store_true", help="treat --match patterns as regular expressions")
    parser.add_argument("--circuits", nargs="?", const=TRANSFORMER_LENS_KEYS, metavar="TEMPLATE",
                        help="measure the QK and OV circuits of the keys TEMPLATE names, with {layer} and {W} "
                             f"(W_Q, W_K, W_V, W_O) in it (default: {TRANSFORMER_LENS_KEYS})")
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto",
                        help="how per-head weights are stored (see above; default: auto)")
    parser.add_argument("--heads", type=int, metavar="N",
                        help="number of heads: splits each 2-D --match matrix into N heads, and fused weights "
                             "(per-head 3-D weights store it: there it must equal their head count)")
    parser.add_argument("--head-axis", choices=["columns", "rows"], default="columns",
                        help="split 2-D --match weights (d_in, N*d_head) by columns (default) or "
                             "(N*d_head, d_out) by rows")
    parser.add_argument("--glob", metavar="PATTERN",
                        help="checkpoint file names in the folder (default: *.pt, *.pth, *.bin, *.safetensors)")
    parser.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="config file(s) whose 'measures:' section sets the measures; later ones override")
    return parser


def _sibling(key: str, name: str) -> str:
    """The key of weight ``name`` in the module of ``key`` (``blocks.0.attn.W_Q`` -> ``blocks.0.attn.W_O``)."""
    prefix, _, _ = key.rpartition(".")
    return f"{prefix}.{name}" if prefix else name


def _stack_layout(final: dict, key: str, layout: str, path: Path) -> str:
    """The layout of the 3-D tensor ``key``: ``layout``, or under ``auto`` the layout of its module's W_O."""
    shape = tuple(final[key].shape)
    W_Q, W_O = _sibling(key, "W_Q"), _sibling(key, "W_O")
    if layout == "auto" and key.rpartition(".")[2] in HEAD_WEIGHTS and W_Q in final and W_O in final:
        try:
            layout = detect_layout(tuple(final[W_Q].shape), tuple(final[W_O].shape))
        except ValueError as error:
            raise CheckpointError(f"{path}: key '{key}' has shape {shape}: {error}") from None
    if layout not in ("transformer-lens", "progress-measures"):
        reason = ("cannot be read from the checkpoint (auto reads it from the W_Q and W_O beside a key named "
                  "W_Q, W_K, W_V or W_O)" if layout == "auto" else f"is not {layout}")
        raise CheckpointError(f"{path}: key '{key}' has shape {shape}, per-head weights whose layout {reason}: pass "
                              "--layout transformer-lens (heads, d_model, d_head) or progress-measures "
                              "(heads, d_head, d_model)")
    return layout


def _check_heads(heads: int | None, key: str, shape: tuple, path: Path) -> None:
    """--heads must equal the head count of per-head (3-D) weights, which store it on their first axis."""
    if heads is not None and heads != shape[0]:
        raise CheckpointError(f"{path}: --heads {heads} contradicts key '{key}' of shape {shape}, which stores "
                              f"{shape[0]} heads on its first axis; --heads splits only 2-D weights (--match, "
                              f"--layout fused): leave it out or give {shape[0]}")


def _rank_settings(settings: dict, n_values: int, what: str, path: Path, warn) -> dict:
    """``settings`` for a matrix of ``n_values`` singular values: the variant k left out (with a warning)
    where it cannot be computed; CheckpointError naming the key where the main k cannot."""
    k, variant = settings["marginal_rank_k"], settings["marginal_rank_k_variant"]
    values = f"{n_values} singular value{'s' if n_values != 1 else ''}"
    if k >= n_values:
        raise CheckpointError(f"{path}: {what} has {values}, so the marginal rank k = {k} (config key "
                              f"'measures.marginal_rank_k' = {k}, the leading values the marginalised effective rank "
                              f"removes) must be below {n_values}: set measures: {{marginal_rank_k: {n_values - 1}}} "
                              "in a --config file")
    if variant >= n_values:
        warn(f"{path}: {what} has {values}, so 'measures.marginal_rank_k_variant' = {variant} cannot be "
             f"computed: its column marginal_effective_rank_k{variant} is left out (set "
             f"measures.marginal_rank_k_variant below {n_values} in a --config file to get one)")
        return {**settings, "marginal_rank_k_variant": k}
    return settings


def _warn_undefined(table: pd.DataFrame, what: str, paths: dict[int, Path], warn) -> None:
    """Warn, naming ``what``, steps and files, where ``table`` holds NaN values (undefined measures)."""
    nan = table[table["value"].isna()]
    if nan.empty:
        return
    steps = sorted(int(step) for step in nan["step"].unique())
    shown = ", ".join(map(str, steps[:5])) + (f", ... ({len(steps)} steps)" if len(steps) > 5 else "")
    files = ", ".join(str(paths[step]) for step in steps[:3]) + (", ..." if len(steps) > 3 else "")
    measures = ", ".join(sorted(nan["measure"].unique()))
    warn(f"{len(nan)} values of {what} are NaN at step{'s' if len(steps) > 1 else ''} {shown} ({files}): "
         f"{measures}. NaN means undefined: the ranks where the matrix has no nonzero singular value at that step "
         "(it is zero, e.g. a zero-initialised W_O), the marginalised rank where none is left after the k largest, "
         "the subspace distance where the last checkpoint's matrix (the reference) is zero")


def matrix_table(key: str, stack, steps: list[int], final: dict, args: argparse.Namespace, settings: dict,
                 path: Path, warn=None) -> pd.DataFrame:
    """The measures of one --match key over the checkpoints (``stack``: its tensors, (T, ...))."""
    warn = warn or _print_warning
    shape = tuple(final[key].shape)
    if len(shape) == 3:
        _check_heads(args.heads, key, shape, path)
        stack = head_stack(stack, _stack_layout(final, key, args.layout, path))
    elif len(shape) != 2:
        raise CheckpointError(f"{path}: key '{key}' has shape {shape}, not a matrix or a per-head stack of them")
    elif args.heads is not None:
        try:
            stack = split_heads(stack, args.heads, args.head_axis)
        except ValueError as error:
            raise CheckpointError(f"{path}: key '{key}': {error}") from None
    settings = _rank_settings(settings, min(stack.shape[-2:]), f"key '{key}'", path, warn)
    try:
        measures = spectral_measures(thin_svd(stack), thin_svd(stack[-1]), settings)
    except ValueError as error:
        raise CheckpointError(f"key '{key}' (matrix shape {stack.shape[-2:]}): {error}") from None
    return long_table(steps, key, measures)


def circuit_tables(keys: dict[str, str], layer: int | None, series: dict, steps: list[int], final: dict,
                   args: argparse.Namespace, settings: dict, path: Path, warn=None) -> list[pd.DataFrame]:
    """The QK and OV measures of one layer (its weights' ``keys``) over the checkpoints."""
    warn = warn or _print_warning
    names = ", ".join(f"'{key}'" for key in keys.values())
    try:
        layout = args.layout
        if layout == "auto":
            layout = detect_layout(tuple(final[keys["W_Q"]].shape), tuple(final[keys["W_O"]].shape))
        if layout != "fused" and final[keys["W_Q"]].ndim == 3:
            _check_heads(args.heads, keys["W_Q"], tuple(final[keys["W_Q"]].shape), path)
        weights = circuit_weights({name: series[key] for name, key in keys.items()}, layout, args.heads, batch_dims=1)
        n_values = min(*weights["W_Q"].shape[-2:], *weights["W_V"].shape[-2:])   # a circuit's rank <= d_head
        settings = _rank_settings(settings, n_values, f"each head's QK and OV circuit (keys {names})", path, warn)
        measures = circuit_spectral_measures(weights, settings)
    except CheckpointError:
        raise
    except ValueError as error:
        raise CheckpointError(f"{path}: keys {names}: {error}") from None
    tables = [long_table(steps, circuit, values) for circuit, values in measures.items()]
    for table in tables:
        table["layer"] = -1 if layer is None else layer
    return tables


def _print_warning(message: str) -> None:
    print(f"icl-measures: warning: {' '.join(message.split())}", file=sys.stderr)


def run(args: argparse.Namespace, warn=None) -> pd.DataFrame:
    """Compute the table for parsed arguments; raises CheckpointError or ConfigError on bad input, and
    passes each warning (a left-out variant rank, undefined values) to ``warn`` (default: stderr)."""
    warn = warn or _print_warning
    output = Path(args.output)
    if output.suffix not in WRITERS:
        raise CheckpointError(f"{output}: output must end in .csv or .parquet")
    if not args.match and args.circuits is None:
        raise CheckpointError("nothing to measure: give --match PATTERN and/or --circuits [TEMPLATE]")
    settings = measures_from_files(args.config)
    checkpoints = list_checkpoints(args.folder, args.glob)
    final_path = checkpoints[-1][1]
    final = load_state_dict(final_path)
    match_keys = select_keys(final, args.match, args.regex, final_path) if args.match else []
    modules = circuit_keys(final, args.circuits, final_path) if args.circuits is not None else {}
    circuit_key_list = [key for keys in modules.values() for key in keys.values()]
    series = tensor_series(checkpoints, list(dict.fromkeys(match_keys + circuit_key_list)))
    steps = [step for step, _ in checkpoints]
    paths = dict(checkpoints)
    tables = []
    for key in match_keys:
        tables.append(matrix_table(key, series[key], steps, final, args, settings, final_path, warn))
        _warn_undefined(tables[-1], f"key '{key}'", paths, warn)
    for layer, keys in modules.items():
        for table in circuit_tables(keys, layer, series, steps, final, args, settings, final_path, warn):
            circuit = table["series"].iloc[0]
            factors = [keys[name] for name in (("W_Q", "W_K") if circuit == "QK" else ("W_V", "W_O"))]
            where = "" if layer is None else f" of layer {layer}"
            _warn_undefined(table, f"circuit '{circuit}'{where} (keys {', '.join(map(repr, factors))})", paths, warn)
            tables.append(table)
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
