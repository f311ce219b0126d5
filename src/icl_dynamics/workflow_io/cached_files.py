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
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd


class CachedFileError(RuntimeError):
    """A cached intermediate file cannot be read or written."""


def _regenerate_hint(path: Path) -> str:
    return (f"it is a workflow output: delete it (rm {path}), make it again with `snakemake --cores 1 {path}` "
            "(with your --configfile), then run your target again (what reads the file reruns)")


def check_runs(table: pd.DataFrame, runs: list[dict], path: str | Path, one_row_per_run: bool = False) -> pd.DataFrame:
    """``table`` (read from ``path``) if the distinct values of the runs' columns are exactly ``runs`` (each
    a dict of column -> value, e.g. ``{"n_layers": 2, "seed": 0}``), and, with ``one_row_per_run``, each
    run has one row; else :class:`CachedFileError` naming the file, the missing and the unexpected runs and
    how to make the file again. A table that lost rows must not score a claim on fewer runs."""
    columns = list(runs[0])
    wanted = [tuple(run[c] for c in columns) for run in runs]
    missing_columns = [c for c in columns if c not in table.columns]
    if missing_columns:
        raise CachedFileError(f"{path}: no column {', '.join(missing_columns)}; {_regenerate_hint(Path(path))}")
    counts = Counter(tuple(row) for row in table[columns].itertuples(index=False))

    def name(run):
        return " ".join(f"{c}={v}" for c, v in zip(columns, run))

    problems = {"missing": [name(r) for r in wanted if r not in counts],
                "not configured": [name(r) for r in counts if r not in set(wanted)]}
    if one_row_per_run:
        problems["more than one row"] = [name(r) for r in counts if counts[r] > 1]
    problems = {kind: names for kind, names in problems.items() if names}
    if problems:
        raise CachedFileError(f"{path}: does not hold the configured runs ("
                              + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in problems.items())
                              + f"); {_regenerate_hint(Path(path))}")
    return table


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


FINISHED = "finished.json"  # in a state folder: the run is done, these outputs were written from it


def save_training_outputs(metrics: pd.DataFrame, checkpoints: dict, result, metrics_path, checkpoints_path) -> None:
    """Write a training run's metrics table and checkpoint stack (each verified by reading it back), then
    mark its resumable state finished (:data:`FINISHED`, naming the outputs) but keep it: a signal that
    arrives before the job has exited (Snakemake then deletes the outputs of a failed job) loses no
    training, the rerun resumes at the last step and only writes the outputs again.
    :func:`remove_finished_states` deletes the state once the workflow has succeeded."""
    write_cached(metrics, metrics_path)
    write_cached({name: value.numpy() if hasattr(value, "numpy") else value for name, value in checkpoints.items()},
                 checkpoints_path)
    if result.state is not None:
        (result.state.path / FINISHED).write_text(json.dumps({"outputs": [str(metrics_path), str(checkpoints_path)]}))


def remove_finished_states(state_root: str | Path, log=print) -> list[Path]:
    """Delete every state folder under ``state_root`` marked finished whose outputs all exist and that no
    trainer holds (its lock); return the folders deleted. The Snakefile calls it when a workflow run has
    succeeded (``onsuccess``), when every finished job's outputs are known to be kept."""
    import fcntl
    import shutil

    removed = []
    for marker in sorted(Path(state_root).rglob(FINISHED)):
        folder = marker.parent
        try:
            outputs = json.loads(marker.read_text())["outputs"]
        except (OSError, ValueError, KeyError):
            continue
        if not all(Path(path).exists() for path in outputs):
            continue
        with open(folder / "lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another trainer is using it
            shutil.rmtree(folder)
        removed.append(folder)
    if removed:
        log(f"removed the resumable state of {len(removed)} finished training run(s) under {state_root}/")
    return removed
