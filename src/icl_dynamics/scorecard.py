"""The reproduction scorecard: one row per checked claim, written to ``results/claims.csv``.

Columns: ``claim, experiment, metric, value, threshold, verdict, note`` with verdict in
{reproduced, partial, not_reproduced}. Each experiment writes its rows to ``results/claims/<exp>.csv``;
the ``claims`` rule concatenates them in the order ``icl_dynamics.experiments.claim_ids`` names them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["claim", "experiment", "metric", "value", "threshold", "verdict", "note"]
VERDICTS = ("reproduced", "partial", "not_reproduced")


def verdict(full: bool, partial: bool) -> str:
    """The verdict of a row from its rule: ``reproduced`` when the full criterion holds, ``partial`` when
    only the row's weaker criterion holds, else ``not_reproduced``."""
    return "reproduced" if full else "partial" if partial else "not_reproduced"


def fmt(value, spec: str = ".3g") -> str:
    """A number of a claim note with format ``spec`` ("none" when missing or not finite), or a list of
    them in brackets."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(fmt(v, spec) for v in value) + "]"
    if value is None or not np.isfinite(value):
        return "none"
    return format(value, spec)


@dataclass
class ClaimRow:
    """One scorecard row. ``value`` and ``threshold`` are numbers; ``note`` says what was measured."""

    claim: str
    experiment: str
    metric: str
    value: float
    threshold: float
    verdict: str
    note: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not in {VERDICTS}")


def write_rows(rows: list[ClaimRow], path: str | Path) -> pd.DataFrame:
    """Write rows as CSV with the scorecard's columns."""
    frame = pd.DataFrame([asdict(r) for r in rows], columns=COLUMNS)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


def merge_tables(frames: list[pd.DataFrame], order: list[str], out: str | Path) -> pd.DataFrame:
    """Concatenate per-experiment tables into the scorecard with exactly the rows ``order`` names, in
    that order; a missing, unexpected or repeated row is an error."""
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"claim tables lack columns {sorted(missing)}")
    if sorted(frame["claim"]) != sorted(order):
        raise ValueError(f"claim tables hold rows {sorted(frame['claim'])}, expected {sorted(order)}")
    frame = frame.set_index("claim").loc[order].reset_index()[COLUMNS]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame
