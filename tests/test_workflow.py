"""Workflow tests: lint, dry runs, a bad config, and the quick preset end to end."""

import pandas as pd
import pytest

from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments import claim_ids
from icl_dynamics.scorecard import COLUMNS, VERDICTS, fmt

from conftest import REPO, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow

FIGURE_STEMS = ["fig1_fixed_point", "fig2_staged_learning", "fig3_sweeps", "figS1_linear_measures",
                "figS3_validity_map", "fig4_icl_emergence", "fig5_qk_ov_ranks", "fig6_subspace_distance",
                "figS2_model_family_ablation", "fig7_grokking"]
REFERENCES = {"paper": (REPO / "docs/results/claims_paper.csv", ["config.yaml"]),
              "quick": (REPO / "docs/results/claims_quick.csv", ["config.yaml", "quick.yaml"])}
README_SCORECARD_HEADER = "| row | paper value | threshold | paper verdict | quick value | quick verdict | what was seen |"
CLAIMS = {"L1", "L2", "L3", "L4", "L5", "L6", "L7", "M1", "N1", "N1-noLN", "N2", "N3", "G1", "G2"}


def validate_preset(*names: str) -> dict:
    """The validated config of ``config/<name>`` files, later ones overriding earlier ones."""
    config = load_config(*(REPO / "config" / name for name in names))
    for section in ("linear", "measures", "attention", "grokking"):
        validate(config[section], section, prefix=section)
    return config


@pytest.mark.parametrize("names", [["config.yaml"], ["config.yaml", "quick.yaml"]])
def test_claim_ids_name_every_row_of_both_presets(names):
    """The rows a preset's scorecard must hold (the quick end-to-end run checks them against a real one)."""
    ids = claim_ids(validate_preset(*names))
    assert set(ids) == CLAIMS and len(ids) == len(CLAIMS)


@pytest.mark.parametrize("preset", sorted(REFERENCES))
def test_reference_scorecard_has_the_rows_and_columns_the_workflow_writes(preset):
    """docs/results/claims_<preset>.csv (a preset's scorecard) goes stale loudly when a row is added."""
    path, configs = REFERENCES[preset]
    reference = pd.read_csv(path)
    assert list(reference.columns) == COLUMNS
    assert list(reference["claim"]) == claim_ids(validate_preset(*configs))
    assert reference["verdict"].isin(VERDICTS).all()


def readme_scorecard() -> dict[str, list[str]]:
    """The README's scorecard table: row id -> the row's cells."""
    lines = (REPO / "README.md").read_text().splitlines()
    rows = {}
    for line in lines[lines.index(README_SCORECARD_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


def test_readme_scorecard_quotes_the_references():
    """The README's paper and quick columns are the references' values (4 significant digits) and verdicts,
    the threshold column the paper reference's."""
    paper, quick = (pd.read_csv(REFERENCES[p][0]).set_index("claim") for p in ("paper", "quick"))
    rows = readme_scorecard()
    assert list(rows) == list(paper.index) == list(quick.index)
    for claim, cells in rows.items():
        assert cells[1:6] == [fmt(paper.loc[claim, "value"], ".4g"), fmt(paper.loc[claim, "threshold"], ".4g"),
                              paper.loc[claim, "verdict"], fmt(quick.loc[claim, "value"], ".4g"),
                              quick.loc[claim, "verdict"]], claim
