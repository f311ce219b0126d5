"""Thin entry point of rule attention_claims: scorecard rows N1-N3."""

from icl_dynamics.experiments.attention.claims import evaluate_claims
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io import read_cached, rule_logging, write_cached

with rule_logging(snakemake.log[0]):
    settings = measures_section(snakemake.params.measures)
    rows, per_run = evaluate_claims(read_cached(snakemake.input.windows), read_cached(snakemake.input.measures),
                                    snakemake.params.thresholds, settings["marginal_rank_k"])
    write_cached(per_run, snakemake.output.per_run)
    print(write_rows(rows, snakemake.output.claims).to_string())
