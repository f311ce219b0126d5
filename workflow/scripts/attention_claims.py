"""Thin entry point of rule attention_claims: scorecard rows N1-N3."""

import pandas as pd

from icl_dynamics.experiments.attention.claims import evaluate_claims
from icl_dynamics.scorecard import write_rows
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    settings = measures_section(snakemake.params.measures)
    rows, per_run = evaluate_claims(pd.read_csv(snakemake.input.windows), pd.read_parquet(snakemake.input.measures),
                                    snakemake.params.thresholds, settings["marginal_rank_k"])
    per_run.to_csv(snakemake.output.per_run, index=False)
    print(write_rows(rows, snakemake.output.claims).to_string())
