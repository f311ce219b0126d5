"""What the thin scripts in workflow/scripts share: the rule's log file, thread counts, and the one
reader and writer of cached intermediate files.

Cached files by suffix: ``.parquet`` and ``.csv`` tables (DataFrame), ``.npz`` array bundles (dict of
arrays; a checkpoint stack holds ``step`` (T,) and one (T, ...) array per weight), ``.json`` (dict).
:func:`write_cached` writes atomically and reads the file back, so a file on disk is complete;
:func:`read_cached` turns any failure into a :class:`CachedFileError` naming the file and saying how to
regenerate it.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd


@contextlib.contextmanager
def rule_logging(log_path: str | Path | None):
    """Send stdout, stderr and the ``logging`` root logger to ``log_path`` while the block runs."""
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            traceback.print_exc(file=fh)
            raise
        finally:
            root.removeHandler(handler)


def set_threads(n: int) -> None:
    """Set torch's and BLAS's thread counts to the rule's ``threads`` (the one place that does)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    print(f"threads: {n}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------
# cached intermediate files


class CachedFileError(RuntimeError):
    """A cached intermediate file cannot be read or written."""


def _regenerate_hint(path: Path) -> str:
    return (f"it is a workflow output: delete it (rm {path}) and run snakemake again to regenerate it "
            "(with the same config, nothing else reruns)")


def read_cached(path: str | Path):
    """Read a cached file by its suffix (module docstring); raise CachedFileError naming it on failure."""
    path = Path(path)
    suffix = path.suffix
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as bundle:
                return {name: bundle[name] for name in bundle.files}
        if suffix == ".json":
            with open(path) as fh:
                return json.load(fh)
    except Exception as error:  # each reader raises its own types for truncated or foreign files
        reason = str(error).splitlines()[0] if str(error) else ""
        raise CachedFileError(f"{path}: cannot be read ({type(error).__name__}: {reason}); "
                              f"{_regenerate_hint(path)}") from None
    raise CachedFileError(f"{path}: unknown cached file type {suffix!r} (known: .parquet, .csv, .npz, .json)")


def write_cached(obj, path: str | Path) -> None:
    """Write ``obj`` (DataFrame for .parquet/.csv, dict of arrays for .npz, dict for .json) atomically,
    then read it back, so that a file that exists is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writers = {".parquet": lambda tmp: obj.to_parquet(tmp, index=False),
               ".csv": lambda tmp: obj.to_csv(tmp, index=False),
               ".npz": lambda tmp: np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in obj.items()}),
               ".json": lambda tmp: tmp.write_text(json.dumps(obj, indent=1))}
    if path.suffix not in writers:
        raise CachedFileError(f"{path}: unknown cached file type {path.suffix!r}")
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    try:
        writers[path.suffix](tmp)
        read_cached(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_training_outputs(metrics: pd.DataFrame, checkpoints: dict, result, metrics_path, checkpoints_path) -> None:
    """Write a training run's metrics table and checkpoint stack (each verified by reading it back), and
    only then delete the run's resumable state, so a failure while writing loses no training."""
    write_cached(metrics, metrics_path)
    write_cached({name: value.numpy() if hasattr(value, "numpy") else value for name, value in checkpoints.items()},
                 checkpoints_path)
    result.discard_state()


# ---------------------------------------------------------------------------------------------------
# code fingerprints: training reruns when the code it runs changes


PACKAGE_ROOT = Path(__file__).resolve().parent


def _module_file(name: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of module ``<package>.<...>`` (a module or a package's __init__) under the package
    folder ``root``, found without importing it; None if ``name`` is not a module of the package (e.g. a
    function imported by name)."""
    base = root.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_imports(tree: ast.AST, root: Path) -> set[str]:
    """Modules of the package at ``root`` imported by a module (``from a.b import c`` counts a.b.c when it
    is a module)."""
    package, found = root.name, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if _module_file(f"{node.module}.{alias.name}", root) is not None}
    return found


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


# Modules a training module imports that compute nothing of a run: config validation (its defaults live in
# the schemas and reach the training rules through their params; its code only checks and words errors).
NOT_TRAJECTORY = ("config",)


def code_fingerprint(module: str, root: Path = PACKAGE_ROOT) -> str:
    """A hash of the code ``module`` runs: its source and that of every module of its package (the folder
    ``root``, by default this package) it imports, transitively, each without comments, docstrings or
    formatting (their ASTs), leaving out :data:`NOT_TRAJECTORY`. Training rules put it in their ``params``,
    so Snakemake reruns them when that code changes, and only then."""
    skip = {f"{root.name}.{name}" for name in NOT_TRAJECTORY}
    todo, seen, digest = [module], set(), hashlib.sha256()
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        seen.add(name)
        path = _module_file(name, root)
        if path is None:
            continue
        tree = ast.parse(path.read_text())
        todo += sorted(_package_imports(tree, root) - seen)
    for name in sorted(seen):
        path = _module_file(name, root)
        if path is not None:
            digest.update(name.encode() + ast.dump(_strip_docstrings(ast.parse(path.read_text()))).encode())
    return digest.hexdigest()[:16]
