"""Thin entry point of rule text_claims: rows N1-text, N2-text, N3-text and the per-run numbers."""

from icl_dynamics.experiments.text.claims import evaluate_claims
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = snakemake.params.runs
    tables = {name: check_runs(read_cached(snakemake.input[name]), runs, snakemake.input[name],
                               one_row_per_run=name == "windows") for name in ("windows", "metrics", "measures")}
    rows, per_run = evaluate_claims(tables["windows"], tables["metrics"], tables["measures"],
                                    snakemake.params.thresholds,
                                    measures_section(snakemake.params.measures)["marginal_rank_k"])
    write_cached(per_run, snakemake.output.per_run)
    print(write_rows(rows, snakemake.output.claims).to_string())
