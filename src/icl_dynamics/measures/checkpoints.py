"""Reading an ordered series of state_dict checkpoints and selecting tensors from them.

A checkpoint is a file ``*.pt``, ``*.pth`` or ``*.bin`` saved with ``torch.save`` (tensors only), or a
``*.safetensors`` file when the ``safetensors`` package is installed; a dict holding the state_dict under
``model`` or ``state_dict`` (beside e.g. the optimizer's state) is read through that entry. Every failure
raises :class:`CheckpointError` with a one-line message that names the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import torch

from icl_dynamics.models import HEAD_WEIGHTS

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
STATE_DICT_ENTRIES = ("model", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint folder, file or tensor is not what the measures need."""


def checkpoint_step(path: Path) -> int:
    """The step number of a checkpoint: the last integer in its file name (``ckpt_000500.pt`` -> 500)."""
    numbers = re.findall(r"\d+", path.name)
    if not numbers:
        raise CheckpointError(f"{path}: no step number in the file name")
    return int(numbers[-1])


def list_checkpoints(folder: str | Path, pattern: str | None = None) -> list[tuple[int, Path]]:
    """The checkpoint files in ``folder`` matching the glob ``pattern`` (default: every file ending in one
    of :data:`CHECKPOINT_SUFFIXES`), as (step, path) sorted by step."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder")
    files = folder.glob(pattern) if pattern else (p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    found = sorted((checkpoint_step(p), p) for p in files if p.is_file())
    if not found:
        wanted = pattern or ", ".join(f"*{suffix}" for suffix in CHECKPOINT_SUFFIXES)
        raise CheckpointError(f"{folder}: no checkpoint files matching '{wanted}'")
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


def _load_safetensors(path: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{path}: reading .safetensors files needs the safetensors package "
                              "(pip install safetensors)") from None
    try:
        return load_file(path, device="cpu")
    except Exception as error:  # safetensors raises its own error types for unreadable files
        raise CheckpointError(f"{path}: cannot read as a safetensors file ({_first_sentence(error)})") from None


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict: a ``.safetensors`` file, or a file saved with ``torch.save`` (tensors only).

    A dict with an entry ``model`` or ``state_dict`` that is itself a dict (a training checkpoint) is read
    through that entry; nested dicts get dotted keys, and entries that are not tensors are left out.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        loaded = _load_safetensors(path)
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for unreadable files; all mean "cannot read"
            raise CheckpointError(
                f"{path}: cannot read as a state_dict saved with torch.save (corrupt, truncated or holding "
                f"objects other than tensors: {_first_sentence(error)})"
            ) from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: holds a {type(loaded).__name__}, not a state_dict")
    entry = next((name for name in STATE_DICT_ENTRIES if isinstance(loaded.get(name), dict)), None)
    if entry is not None:
        loaded = loaded[entry]
    return {key: value for key, value in _flatten(loaded).items() if isinstance(value, torch.Tensor)}


def _some_keys(state_dict: dict) -> str:
    return ", ".join(list(state_dict)[:10]) + (", ..." if len(state_dict) > 10 else "")


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
            raise CheckpointError(f"{path}: no key matches '{pattern}' (keys: {_some_keys(state_dict)})")
        selected += [key for key in hits if key not in selected]
    return selected


def circuit_keys(state_dict: dict, template: str, path: str | Path) -> dict[int | None, dict[str, str]]:
    """The attention weights named by ``template``: {layer: {"W_Q": key, "W_K": key, "W_V": key, "W_O": key}}.

    ``template`` is a key with ``{W}`` in place of the weight's name (W_Q, W_K, W_V, W_O) and, for models
    with several layers, ``{layer}`` in place of the layer number, e.g. ``blocks.{layer}.attn.{W}``
    (TransformerLens). Without ``{layer}`` the one attention module has layer None.

    Raises CheckpointError naming the template and the file if it matches no key or a layer lacks a weight.
    """
    parts = re.split(r"(\{layer\}|\{W\})", template)
    if parts.count("{W}") != 1 or parts.count("{layer}") > 1:
        raise CheckpointError(f"circuit key template '{template}' must contain {{W}} once and {{layer}} at most once")
    names = "|".join(HEAD_WEIGHTS)
    pattern = re.compile("".join({"{layer}": r"(?P<layer>\d+)", "{W}": f"(?P<W>{names})"}.get(part, re.escape(part))
                                 for part in parts))
    modules: dict[int | None, dict[str, str]] = {}
    for key in state_dict:
        found = pattern.fullmatch(key)
        if found:
            layer = int(found["layer"]) if "{layer}" in parts else None
            modules.setdefault(layer, {})[found["W"]] = key
    if not modules:
        raise CheckpointError(f"{path}: no key matches the circuit template '{template}' "
                              f"(keys: {_some_keys(state_dict)})")
    for layer, weights in modules.items():
        for name in HEAD_WEIGHTS:
            if name not in weights:
                missing = template.replace("{layer}", str(layer)).replace("{W}", name)
                raise CheckpointError(f"{path}: missing key '{missing}' (the {name} of the circuit template "
                                      f"'{template}')")
    return dict(sorted(modules.items(), key=lambda item: item[0] or 0))


def tensor_series(checkpoints: list[tuple[int, Path]], keys: list[str]) -> dict[str, torch.Tensor]:
    """Stack each tensor ``key`` over the checkpoints, reading every file once: {key: tensor (T, ...)}, float64.

    Raises CheckpointError naming the file and key of a missing or differently shaped tensor, and naming
    file, key and step of one with NaN or Inf values (never measured silently).
    """
    series: dict[str, list[torch.Tensor]] = {key: [] for key in keys}
    for step, path in checkpoints:
        state_dict = load_state_dict(path)
        for key in keys:
            if key not in state_dict:
                raise CheckpointError(f"{path}: missing key '{key}'")
            tensor = state_dict[key]
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
