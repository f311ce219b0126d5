"""The resumable state of one training run, kept in a folder that is not a workflow output.

Layout of ``state_dir``::

    lock                      held (flock) by the trainer using the folder; names its pid and host
    state.pt                  model, optimizer, scheduler and RNG states, step, records, snapshot checksums
    checkpoints/step_*.pt     one snapshot of the checkpoint tensors per checkpoint step

Every file is written atomically (temporary file, then ``os.replace``). ``state.pt`` lists the SHA-256 of
every snapshot made up to its step, so a resume verifies each one: a missing or damaged snapshot, or an
unreadable ``state.pt``, is named in a warning and the run restarts from step 0 (it can never finish
with metrics and snapshots out of step). These warnings also go to the process's real stderr when
``sys.stderr`` is redirected (rule logging sends it to the job's log), so the user sees that training was
lost. A save that fails for lack of disk space raises :class:`DiskFullError` naming the folder, the space
needed and the space free (torch itself reports only a failed write). The folder is deleted by
:meth:`StateFolder.discard` only after the run's outputs are written and verified (see
:func:`icl_dynamics.workflow_io.cached_files.save_training_outputs`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import torch

log = logging.getLogger("icl_dynamics.training")


class StateLocked(RuntimeError):
    """Another trainer holds the state folder."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DiskFullError(OSError):
    """Saving the resumable state failed: the disk (or quota) has no space left."""


def _warn(message: str, *args) -> None:
    """Log a warning, and print it to the real stderr too when ``sys.stderr`` is redirected (to a job log)."""
    log.warning(message, *args)
    if sys.__stderr__ is not None and sys.stderr is not sys.__stderr__:
        print(f"WARNING: {message % args}", file=sys.__stderr__, flush=True)


def _tensor_bytes(obj) -> int:
    """Bytes of the tensors in ``obj`` (nested dicts, lists and tuples): about the size torch.save writes."""
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(value) for value in obj)
    return 0


def _decimal_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename it over ``path``.

    Raises
    ------
    DiskFullError
        (errno ENOSPC) when the save fails and the disk lacks the space the tensors need (torch raises a
        RuntimeError naming only a failed write), or the failure is ENOSPC or EDQUOT; the temporary file is
        removed and ``path`` is left as it was. Other failures are raised as they are.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except (OSError, RuntimeError) as error:
        tmp.unlink(missing_ok=True)
        need, free = _tensor_bytes(obj), shutil.disk_usage(path.parent).free
        if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or free < need:
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on device: saving {path.name} in {path.parent} needs about {_decimal_bytes(need)}, "
                f"but {_decimal_bytes(free)} is free there; free space on that disk, then rerun to resume from "
                f"the last saved state (torch: {' '.join(str(error).split())})") from error
        raise
    os.replace(tmp, path)


class StateFolder:
    """Lock, save, verify, load and delete the resumable state of one run.

    Use as a context manager: entering takes the folder's lock (raising :class:`StateLocked`, naming the
    holder, when another trainer has it); leaving releases it.
    """

    def __init__(self, path: str | Path, meta: dict):
        self.path = Path(path)
        self.meta = meta
        self.state_file = self.path / "state.pt"
        self.snapshot_dir = self.path / "checkpoints"
        self.snapshots: dict[int, str] = {}   # step -> SHA-256 of every snapshot written so far
        self._lock = None

    # -- lock ---------------------------------------------------------------------------------------
    def __enter__(self) -> "StateFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / "lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            fh.close()
            raise StateLocked(
                f"state folder {self.path} is in use by another trainer ({holder}); wait for it to finish "
                f"or stop it before running this run again") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on host {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        self._lock = fh
        self.snapshot_dir.mkdir(exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # -- snapshots ----------------------------------------------------------------------------------
    def snapshot_path(self, step: int) -> Path:
        return self.snapshot_dir / f"step_{step:010d}.pt"

    def write_snapshot(self, step: int, tensors: dict[str, torch.Tensor]) -> None:
        path = self.snapshot_path(step)
        atomic_save(tensors, path)
        self.snapshots[step] = _sha256(path)

    def read_snapshot(self, step: int) -> dict[str, torch.Tensor]:
        path = self.snapshot_path(step)
        problem = self._snapshot_problem(step)
        if problem:
            raise RuntimeError(f"{path}: {problem}; delete {self.path} and rerun to train again")
        return torch.load(path, weights_only=True)

    def _snapshot_problem(self, step: int) -> str | None:
        path = self.snapshot_path(step)
        if not path.exists():
            return "snapshot missing"
        if _sha256(path) != self.snapshots.get(step):
            return "snapshot damaged (checksum differs from the one recorded in state.pt)"
        return None

    # -- state --------------------------------------------------------------------------------------
    def save(self, state: dict) -> None:
        """Write ``state`` plus the metadata and the snapshot checksums to ``state.pt``."""
        atomic_save({**state, "meta": self.meta, "snapshots": dict(self.snapshots)}, self.state_file)

    def load(self) -> dict | None:
        """The saved state if it exists, belongs to these settings and every snapshot it lists is intact;
        otherwise None (after a warning naming the file, and clearing the folder)."""
        if not self.state_file.exists():
            self.clear()
            return None
        try:
            state = torch.load(self.state_file, weights_only=False)
            meta, snapshots = state["meta"], state["snapshots"]
        except Exception as error:  # torch raises many types for a truncated or foreign file
            _warn("%s: unreadable (%s: %s); restarting the run from step 0", self.state_file,
                  type(error).__name__, str(error).splitlines()[0] if str(error) else "")
            self.clear()
            return None
        if meta != self.meta:
            log.info("%s: saved by a run of other settings; restarting from step 0", self.state_file)
            self.clear()
            return None
        self.snapshots = dict(snapshots)
        problems = {s: p for s in sorted(self.snapshots) if (p := self._snapshot_problem(s))}
        if problems:
            for step, problem in problems.items():
                _warn("%s: %s", self.snapshot_path(step), problem)
            _warn("%s: %d snapshot(s) missing or damaged; restarting the run from step 0", self.path, len(problems))
            self.clear()
            return None
        return state

    def clear(self) -> None:
        """Delete the state, every snapshot and the finished mark (``workflow_io.cached_files.FINISHED``) (the
        lock stays held)."""
        self.snapshots = {}
        for path in [self.state_file, self.path / "finished.json", *self.snapshot_dir.glob("step_*.pt*"),
                     *self.path.glob("*.tmp")]:
            path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Delete the whole folder's contents and the folder (call once the outputs are safely written)."""
        self.clear()
        (self.path / "lock").unlink(missing_ok=True)
        for folder in (self.snapshot_dir, self.path):
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
