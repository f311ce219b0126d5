"""Thin entry point of rule linear_measures_claims: scorecard row M1."""

import json

import pandas as pd

from icl_dynamics.experiments.linear.claims import rank_staircase_row
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {}
    for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures, snakemake.input.comparisons):
        with open(comp) as fh:
            runs[name] = (pd.read_parquet(table), json.load(fh))
    frame = write_rows([rank_staircase_row(runs, snakemake.params.tol)], snakemake.output[0])
    print(frame.to_string())
