"""Report tables: benchmark files named by rule and wildcards, the per-rule summary, the HTML pages."""

import math

import pandas as pd
import pytest

from icl_dynamics.reporting import (benchmark_summary, benchmarks_page, collect_benchmarks, identify,
                                    pattern_regex, scorecard_page)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
PATTERNS = {
    "linear_simulate": "logs/linear/{setting}/simulate.tsv",
    "linear_figure": "logs/figures/{fig}.tsv",
    "attention_train": "logs/attention/L{layers}_seed{seed}/train.tsv",
    "attention_measures": "logs/attention/measures.tsv",
    "claims": "logs/claims.tsv",
}


def _write(path, seconds, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t10\t5\t6\t0\t0\t50\t{cpu}\n")


def test_pattern_regex_matches_one_path_component_per_wildcard():
    regex = pattern_regex("logs/linear/{setting}/simulate.tsv")
    assert regex.match("logs/linear/aniso_N30_lr0.01/simulate.tsv").group("setting") == "aniso_N30_lr0.01"
    assert regex.match("logs/linear/a/b/simulate.tsv") is None       # no '/' inside a wildcard
    assert regex.match("logs/linear/a/simulate.tsvx") is None        # anchored at the end
    assert pattern_regex("x/{a,[0-9]+}.tsv").match("x/12.tsv").group("a") == "12"  # constraint syntax accepted
    repeated = pattern_regex("{run}/{run}.tsv")
    assert repeated.match("a/a.tsv") and not repeated.match("a/b.tsv")


def test_identify_names_rule_and_wildcards():
    assert identify("logs/attention/L2_seed1/train.tsv", PATTERNS) == (
        "attention_train", {"layers": "2", "seed": "1"})
    # attention/measures.tsv also fits no wildcard pattern of another rule by accident: the literal one wins.
    assert identify("logs/attention/measures.tsv", PATTERNS) == ("attention_measures", {})
    assert identify("logs/unknown.tsv", PATTERNS) is None


def test_collect_benchmarks_reads_every_file(tmp_path):
    _write(tmp_path / "logs/linear/aniso_N30/simulate.tsv", 12.5, 300.25, 11.0)
    _write(tmp_path / "logs/linear/near_iso_N300/simulate.tsv", 7.5, 290.0, 7.0)
    _write(tmp_path / "logs/figures/fig2_staged_learning.tsv", 3.0, "-", 2.5)  # memory not measured
    _write(tmp_path / "logs/claims.tsv", 1.0, 100.0, 0.9)
    _write(tmp_path / "logs/stray/thing.tsv", 99.0, 1.0, 1.0)  # matches no rule: left out
    table = collect_benchmarks(tmp_path, PATTERNS)
    assert list(table["rule"]) == ["claims", "linear_figure", "linear_simulate", "linear_simulate"]
    assert list(table["wildcards"]) == ["", "fig=fig2_staged_learning", "setting=aniso_N30", "setting=near_iso_N300"]
    assert table.loc[2, "seconds"] == 12.5 and table.loc[2, "max_rss_mb"] == 300.25 and table.loc[2, "cpu_seconds"] == 11.0
    assert math.isnan(table.loc[1, "max_rss_mb"])

    summary = benchmark_summary(table).set_index("rule")
    assert summary.loc["linear_simulate", "jobs"] == 2
    assert summary.loc["linear_simulate", "total_seconds"] == pytest.approx(20.0)
    assert summary.loc["linear_simulate", "max_seconds"] == 12.5
    assert summary.loc["linear_simulate", "max_rss_mb"] == 300.25
    assert list(summary.index)[0] == "linear_simulate"  # the most expensive rule first

    page = benchmarks_page(table)
    assert page.startswith("<!DOCTYPE html>") and "setting=near_iso_N300" in page and "12.5" in page


def test_scorecard_page_shows_every_row_with_its_verdict():
    claims = pd.DataFrame({
        "claim": ["L1", "N1", "G1"], "experiment": ["linear", "attention", "grokking"],
        "metric": ["m1", "m2", "a <b> & c"], "value": [0.01, 0.5, float("nan")], "threshold": [0.15, 1.0, 3.0],
        "verdict": ["reproduced", "partial", "not_reproduced"], "note": ["", "n", "x"]})
    page = scorecard_page(claims)
    assert "3 claims: 1 reproduced, 1 partial, 1 not reproduced" in page
    for verdict in ("reproduced", "partial", "not_reproduced"):
        assert f'<tr class="{verdict}">' in page
    assert "a &lt;b&gt; &amp; c" in page  # text is escaped, never injected as markup
    assert page.count("<tr") == 4  # header + 3 rows
