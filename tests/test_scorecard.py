"""The scorecard: rows merged in the order the experiments name them, and nothing else."""

import pandas as pd
import pytest

from icl_dynamics.scorecard import COLUMNS, ClaimRow, merge_tables, verdict


def _table(*claims: str) -> pd.DataFrame:
    return pd.DataFrame([dict(claim=c, experiment="e", metric="m", value=1.0, threshold=1.0,
                              verdict="reproduced", note="n") for c in claims], columns=COLUMNS)


def test_merge_tables_orders_rows_as_named(tmp_path):
    out = tmp_path / "claims.csv"
    merged = merge_tables([_table("N1", "N1-noLN"), _table("L2", "L1")], ["L1", "L2", "N1", "N1-noLN"], out)
    assert list(merged["claim"]) == ["L1", "L2", "N1", "N1-noLN"]
    assert pd.read_csv(out).equals(merged)


@pytest.mark.parametrize("tables", [[_table("L1")], [_table("L1", "L2", "X9")], [_table("L1", "L2", "L2")]])
def test_merge_tables_refuses_missing_unexpected_or_repeated_rows(tmp_path, tables):
    with pytest.raises(ValueError, match="expected"):
        merge_tables(tables, ["L1", "L2"], tmp_path / "claims.csv")


def test_verdict_and_row_check():
    assert [verdict(True, True), verdict(False, True), verdict(False, False)] == \
        ["reproduced", "partial", "not_reproduced"]
    with pytest.raises(ValueError, match="verdict"):
        ClaimRow("L1", "e", "m", 1.0, 1.0, "green", "n")
