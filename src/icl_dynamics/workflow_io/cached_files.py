"""The one reader and writer of cached intermediate files (workflow outputs and caches under ``state/``).

Cached files by suffix: ``.parquet`` and ``.csv`` tables (DataFrame), ``.npz`` array bundles (dict of
arrays; a checkpoint stack holds ``step`` (T,) and one (T, ...) array per weight), ``.json`` (dict).
:func:`write_cached` writes atomically and reads the file back, so a file on disk is complete;
:func:`read_cached` turns any failure into a :class:`CachedFileError` naming the file and saying how to
regenerate it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd


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
