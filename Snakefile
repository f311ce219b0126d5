"""Reproduction workflow for Mainali & Teixeira (2025), arXiv 2504.12916.

    snakemake --cores 8 all                                   # paper preset
    snakemake --cores 2 all --configfile config/quick.yaml    # CPU smoke preset
    snakemake --cores 1 fig2                                  # one figure

Every rule reads parameters from the validated config (workflow/rules/common.smk); all logic lives in
the package ``icl_dynamics`` (src/), the scripts in workflow/scripts are thin entry points.
"""

configfile: "config/config.yaml"
# The front page of `snakemake --report report.html`.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/linear.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/grokking.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"  # last: its job needs every figure and the scorecard


rule all:
    input:
        ALL_FIGURES,
        "results/claims.csv",
        REPORT_TABLES,
    default_target: True
