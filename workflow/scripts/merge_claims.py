"""Thin entry point of rule claims."""

from icl_dynamics.scorecard import merge_tables
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    print(merge_tables(list(snakemake.input), snakemake.output[0]).to_string())
