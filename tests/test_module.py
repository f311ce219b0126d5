"""This workflow used as a Snakemake module by an outer workflow (README "Use the workflow as a module").

The outer workflow lives in a temporary folder, outside the repository: it loads its own config (the quick
preset's values, from this repository's config/config.yaml and config/quick.yaml, plus an outer file of its
own), imports our Snakefile with ``module icl: snakefile: ... config: config`` and every rule with
``use rule * from icl as icl_*``, and dry-runs figure 7 there.
"""

import re

import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

OUTER_SNAKEFILE = """\
configfile: "{repo}/config/config.yaml"
configfile: "{repo}/config/quick.yaml"
configfile: "outer.yaml"


module icl:
    snakefile:
        "{repo}/Snakefile"
    config:
        config


use rule * from icl as icl_*


rule all:
    input:
        "figures/fig7_grokking.png",
    default_target: True
"""
# The outer workflow's own value, which neither of our presets has: seeds 4 and 7 of the grokking experiment.
OUTER_CONFIG = "grokking:\n  seeds: [4, 7]\n"


def planned_jobs(output: str) -> dict[str, int]:
    """Jobs per rule of a dry run, from its job-stats table."""
    table = output.split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)
            if rule != "total"}


def test_outer_workflow_dry_runs_a_figure_through_the_module(tmp_path):
    (tmp_path / "Snakefile").write_text(OUTER_SNAKEFILE.format(repo=REPO))
    (tmp_path / "outer.yaml").write_text(OUTER_CONFIG)
    proc = run_snakemake(tmp_path, "-n", "--cores", "1")
    assert planned_jobs(proc.stdout) == {"all": 1, "icl_grokking_train": 2, "icl_grokking_measures": 1,
                                         "icl_grokking_figure": 1}
    # The module's rules read the outer config (the seeds of outer.yaml, not the presets' 0, 1, 2), and their
    # outputs are paths relative to the outer workflow's working directory.
    assert sorted(set(re.findall(r"results/grokking/seed(\d+)/checkpoints\.npz", proc.stdout))) == ["4", "7"]
    assert "output: figures/fig7_grokking.pdf, figures/fig7_grokking.png" in proc.stdout
