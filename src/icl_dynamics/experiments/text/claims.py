"""Scorecard rows N1-text, N2-text, N3-text: the rules of rows N1-N3
(:mod:`icl_dynamics.experiments.attention.claims`, the same functions) on the models trained on real code.

Inputs are those of N1-N3: the per-run emergence windows of the ICL score, the runs' metrics, the circuit
measures table and the ``text.thresholds`` config (the attention section's rules; only ``min_jump`` has its
own default, see the schema). A model that learns no induction circuit within its budget has no detected
window and no jump; its row then says so with the budget (tokens) in the note.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from icl_dynamics.experiments.attention.claims import (
    early_stabilisation_row,
    per_run_table,
    qk_rank_dip_row,
    sudden_emergence_row,
)
from icl_dynamics.scorecard import ClaimRow

EXPERIMENT = "text"


def claim_ids(section: dict) -> list[str]:
    """The scorecard rows the text experiment writes."""
    return ["N1-text", "N2-text", "N3-text"]


def budget_note(metrics: pd.DataFrame) -> str:
    """The training budget of the runs: tokens (bytes) trained on, per depth, and the corpus they came from."""
    last = metrics.sort_values("step").groupby(["n_layers", "seed"]).tail(1)
    per_depth = "; ".join(f"L{d}: " + ", ".join(f"{t / 1e6:.3g} M" for t in g["tokens"])
                          for d, g in last.groupby("n_layers"))
    first = metrics.iloc[0]
    python = f"Python {first['corpus_python']} standard library" if first["corpus_python"] else first["corpus_root"]
    return (f"budget (bytes trained on, per seed) {per_depth}; corpus {python}, {first['corpus_files_train']} "
            f"training files, sha256 {first['corpus_sha256'][:12]}")


def evaluate_claims(windows: pd.DataFrame, metrics: pd.DataFrame, measures: pd.DataFrame, thresholds: dict,
                    marginal_rank_k: int) -> tuple[list[ClaimRow], pd.DataFrame]:
    """Rows N1-text, N2-text, N3-text and the per-run table (:func:`attention.claims.per_run_table`)."""
    runs = per_run_table(windows, metrics, measures, thresholds, marginal_rank_k)
    rows = [sudden_emergence_row(runs, thresholds), qk_rank_dip_row(runs, thresholds, marginal_rank_k),
            early_stabilisation_row(runs, thresholds)]
    budget = budget_note(metrics)
    rows = [replace(row, claim=f"{row.claim}-text", experiment=EXPERIMENT, note=f"{row.note}; {budget}")
            for row in rows]
    return rows, runs
