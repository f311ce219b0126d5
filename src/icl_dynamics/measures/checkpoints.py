"""Reading an ordered series of PyTorch state_dict checkpoints and selecting matrices from them.

Every failure raises :class:`CheckpointError` with a one-line message that names the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import torch


class CheckpointError(ValueError):
    """A checkpoint folder, file or tensor is not what the measures need."""


def checkpoint_step(path: Path) -> int:
    """The step number of a checkpoint: the last integer in its file name (``ckpt_000500.pt`` -> 500)."""
    numbers = re.findall(r"\d+", path.name)
    if not numbers:
        raise CheckpointError(f"{path}: no step number in the file name")
    return int(numbers[-1])


def list_checkpoints(folder: str | Path, pattern: str = "*.pt") -> list[tuple[int, Path]]:
    """The checkpoint files in ``folder`` matching the glob ``pattern``, as (step, path) sorted by step."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder")
    found = sorted((checkpoint_step(p), p) for p in folder.glob(pattern) if p.is_file())
    if not found:
        raise CheckpointError(f"{folder}: no checkpoint files matching '{pattern}'")
    for (step, path), (next_step, next_path) in zip(found, found[1:]):
        if step == next_step:
            raise CheckpointError(f"{path} and {next_path}: both have step {step}")
    return found


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _first_sentence(error: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip() or type(error).__name__
    return text.split(". ")[0].splitlines()[0].rstrip(".")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict saved with ``torch.save`` (tensors only); nested dicts get dotted keys."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for unreadable files; all mean "cannot read"
        raise CheckpointError(
            f"{path}: cannot read as a state_dict saved with torch.save (corrupt, truncated or holding "
            f"objects other than tensors: {_first_sentence(error)})"
        ) from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: holds a {type(loaded).__name__}, not a state_dict")
    return {key: value for key, value in _flatten(loaded).items() if isinstance(value, torch.Tensor)}


def select_keys(state_dict: dict, patterns: list[str], regex: bool, path: str | Path) -> list[str]:
    """Keys of ``state_dict`` matching any of ``patterns`` (globs, or regexes searched in the key).

    Raises CheckpointError naming the pattern and the file if a pattern matches no key.
    """
    selected = []
    for pattern in patterns:
        if regex:
            try:
                matcher = re.compile(pattern)
            except re.error as error:
                raise CheckpointError(f"pattern '{pattern}' is not a valid regular expression ({error})") from None
            hits = [key for key in state_dict if matcher.search(key)]
        else:
            hits = [key for key in state_dict if fnmatch.fnmatchcase(key, pattern)]
        if not hits:
            known = ", ".join(list(state_dict)[:10]) + (", ..." if len(state_dict) > 10 else "")
            raise CheckpointError(f"{path}: no key matches '{pattern}' (keys: {known})")
        selected += [key for key in hits if key not in selected]
    return selected


def matrix_series(checkpoints: list[tuple[int, Path]], keys: list[str]) -> dict[str, torch.Tensor]:
    """Stack each 2-D tensor ``key`` over the checkpoints: {key: tensor of shape (T, m, n)}.

    Raises CheckpointError naming the file and key of a missing, non-2-D or differently shaped tensor, and
    naming file, key and step of one with NaN or Inf values (never measured silently).
    """
    series: dict[str, list[torch.Tensor]] = {key: [] for key in keys}
    for step, path in checkpoints:
        state_dict = load_state_dict(path)
        for key in keys:
            if key not in state_dict:
                raise CheckpointError(f"{path}: missing key '{key}'")
            tensor = state_dict[key]
            if tensor.ndim != 2:
                raise CheckpointError(f"{path}: key '{key}' has shape {tuple(tensor.shape)}, not a matrix")
            if series[key] and tensor.shape != series[key][0].shape:
                raise CheckpointError(
                    f"{path}: key '{key}' has shape {tuple(tensor.shape)}, "
                    f"but {tuple(series[key][0].shape)} in {checkpoints[0][1]}"
                )
            if not torch.isfinite(tensor).all():
                bad = int((~torch.isfinite(tensor)).sum())
                raise CheckpointError(f"{path}: key '{key}' at step {step} has {bad} non-finite values (NaN or Inf); "
                                      "the measures need finite weights (did that training run diverge?)")
            series[key].append(tensor.detach().to(torch.float64))
    return {key: torch.stack(tensors) for key, tensors in series.items()}
