"""Reproduction workflow for Mainali & Teixeira (2025), arXiv 2504.12916.

    snakemake --cores 8 all                                   # paper preset
    snakemake --cores 2 all --configfile config/quick.yaml    # CPU smoke preset
    snakemake --cores 1 fig2                                  # one figure

Every rule reads parameters from the validated config (workflow/rules/common.smk); all logic lives in
the package ``icl_dynamics`` (src/), the scripts in workflow/scripts are thin entry points. One rule file
per experiment (the package's experiments/<name>/ folder), then the scorecard and the report.
"""

import sys

from icl_dynamics.config import ConfigError, check_working_directory

# Before `configfile:`: run from another directory, Snakemake would skip the missing default config
# whenever --configfile is given, and validation would report its keys as missing. (Used as a module of
# another workflow with its own config, this workflow reads no config file: nothing to check.)
if not workflow.modifier.skip_configfile:
    try:
        check_working_directory(workflow.basedir)
    except ConfigError as _err:
        sys.exit(f"ERROR: {_err}")


configfile: "config/config.yaml"
# The front page of `snakemake --report report.html`.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/linear.smk"
include: "workflow/rules/validity_map.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/grokking.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/readings.smk"  # after attention.smk and grokking.smk, whose runs it reads
include: "workflow/rules/monitor.smk"  # after linear.smk, attention.smk and grokking.smk, whose runs it reads
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"  # last: its job needs every figure and the scorecard


rule all:
    input:
        [path for stem in ALL_FIGURES for path in figure_paths(stem)],
        "results/claims.csv",
        REPORT_TABLES,
    default_target: True


# One named target per figure, from the figures' stems: `fig7` for figures/fig7_grokking.{pdf,png}.
for _stem in ALL_FIGURES:

    rule:
        name:
            _stem.split("_")[0]
        input:
            figure_paths(_stem),


check_code_fingerprints(workflow.rules)


# A training job keeps its resumable state after writing its outputs, so that a signal arriving before it
# exits (Snakemake then deletes a failed job's outputs) costs no training; once the whole run has succeeded
# every finished run's state goes.
onsuccess:
    remove_finished_states("state")
