"""A corpus of real code that every machine has without a download: the running interpreter's standard
library source (docs/science.md, section 'ICL on real code').

Rules (fixed before any run was looked at):

- **Files**: every file under ``root`` whose name ends with one of ``suffixes`` (``.py``), found by a
  recursive walk that skips ``site-packages``, ``dist-packages`` and ``__pycache__`` folders (installed
  third-party packages are not the standard library). Paths are taken relative to ``root`` with ``/`` as
  separator and sorted, so the list depends only on the files, not on the order the filesystem lists them.
  ``root`` null means the standard library of the running interpreter (``sysconfig.get_paths()["stdlib"]``);
  a folder of the user's own text is the config key ``text.corpus.root``.
- **Held-out files**: a file is held out for evaluation when the first 8 hex digits of the SHA-256 of its
  relative path, read as an integer, are below ``heldout_fraction * 16**8``: a rule of the name alone, so
  a file keeps its side when other files are added or removed.
- **Tokens**: bytes (vocabulary 256). Each split is its files' bytes in list order, each file followed by
  one byte 0 (which no source file of the standard library contains) as a document separator.
- **Identity**: the Python version, the root, file and byte counts per split, and the SHA-256 over every
  file's relative path and bytes in list order (:func:`corpus_identity`), recorded in every run's outputs.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

VOCAB_SIZE = 256
SEPARATOR = 0  # byte appended after each file
_SKIPPED_FOLDERS = {"site-packages", "dist-packages", "__pycache__"}


def corpus_root(root: str | None) -> Path:
    """The configured folder, or the running interpreter's standard library when ``root`` is None."""
    path = Path(sysconfig.get_paths()["stdlib"] if root is None else root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"config key 'text.corpus.root' = {root!r}: {path} is not a folder")
    return path


def corpus_files(root: Path, suffixes: list[str]) -> list[str]:
    """Sorted relative paths (``/``-separated) of the files under ``root`` ending with one of ``suffixes``."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if s not in _SKIPPED_FOLDERS]
        rel = Path(folder).relative_to(root)
        found += [(rel / name).as_posix() for name in names if name.endswith(tuple(suffixes))]
    if not found:
        raise FileNotFoundError(f"no file ending with {', '.join(suffixes)} under {root} (config key 'text.corpus')")
    return sorted(found)


def is_heldout(relative_path: str, heldout_fraction: float) -> bool:
    """The held-out rule: SHA-256 of the relative path, first 8 hex digits < ``heldout_fraction * 16**8``."""
    return int(hashlib.sha256(relative_path.encode()).hexdigest()[:8], 16) < heldout_fraction * 16**8


@dataclass
class CodeCorpus:
    """Byte tokens of the training and held-out files, and the corpus identity (:func:`corpus_identity`)."""

    train: torch.Tensor  # uint8 (n_bytes,)
    heldout: torch.Tensor  # uint8 (n_bytes,)
    identity: dict


def _split_bytes(root: Path, files: list[str], digest) -> bytes:
    parts = []
    for name in files:
        data = (root / name).read_bytes()
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
        parts.append(data + bytes([SEPARATOR]))
    return b"".join(parts)


def load_corpus(corpus: dict) -> CodeCorpus:
    """Read the corpus of the ``text.corpus`` config (``root``, ``suffixes``, ``heldout_fraction``)."""
    root = corpus_root(corpus["root"])
    files = corpus_files(root, corpus["suffixes"])
    heldout = [f for f in files if is_heldout(f, corpus["heldout_fraction"])]
    train = [f for f in files if not is_heldout(f, corpus["heldout_fraction"])]
    if not heldout or not train:
        raise ValueError(f"config key 'text.corpus.heldout_fraction' = {corpus['heldout_fraction']}: the "
                         f"{len(files)} files under {root} give {len(train)} training and {len(heldout)} held-out "
                         "files; both must be non-empty")
    digest = hashlib.sha256()
    train_bytes = _split_bytes(root, train, digest)
    heldout_bytes = _split_bytes(root, heldout, digest)
    identity = {
        "corpus_root": str(root),
        "corpus_python": platform.python_version() if corpus["root"] is None else "",
        "corpus_files_train": len(train),
        "corpus_files_heldout": len(heldout),
        "corpus_bytes_train": len(train_bytes),
        "corpus_bytes_heldout": len(heldout_bytes),
        "corpus_sha256": digest.hexdigest(),
    }
    as_tensor = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8)  # noqa: E731
    return CodeCorpus(as_tensor(train_bytes), as_tensor(heldout_bytes), identity)


def corpus_identity(corpus: dict) -> dict:
    """The identity of the configured corpus (Python version, root, counts, SHA-256), as recorded in runs."""
    return load_corpus(corpus).identity


def windows(tokens: torch.Tensor, offsets: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Token windows ``tokens[o : o + seq_len]`` for each offset, as long ids ``(len(offsets), seq_len)``."""
    index = offsets.to(tokens.device).unsqueeze(1) + torch.arange(seq_len, device=tokens.device)
    return tokens[index].long()


def random_offsets(n_tokens: int, n: int, seq_len: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` window starts uniform on ``[0, n_tokens - seq_len]`` (CPU generator, so the batch of a step is the
    same on every device)."""
    if n_tokens < seq_len:
        raise ValueError(f"the corpus split has {n_tokens} tokens, fewer than one context of {seq_len}")
    return torch.randint(0, n_tokens - seq_len + 1, (n,), generator=generator)
