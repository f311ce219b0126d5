"""A rule's log file and thread count: what every thin script in workflow/scripts sets up first."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path


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


def set_training_threads(threads: int, reserved: int) -> None:
    """Set torch's thread count of a training job to ``threads``, the config's ``threads.train``, which is
    part of the run's params (float32 sums depend on it, so changing it retrains), not to the job's
    ``threads`` (``reserved``, which ``--set-threads`` changes without a rerun: it only decides how many
    cores the scheduler reserves); say so where the user sees it when the two differ."""
    if reserved != threads:
        print(f"note: this training job reserves {reserved} cores but trains on threads.train = {threads} "
              "torch threads, the count its results and fingerprint record; set threads.train in a config "
              "file to change it (that retrains)", file=sys.__stderr__)
    set_threads(threads)


def set_threads(n: int) -> None:
    """Set torch's and BLAS's thread counts to the rule's ``threads`` (the one place that does)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    print(f"threads: {n}", file=sys.stderr)
