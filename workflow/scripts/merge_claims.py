"""Thin entry point of rule claims."""

from icl_dynamics.scorecard import merge_tables
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    print(merge_tables([read_cached(path) for path in snakemake.input], snakemake.output[0]).to_string())
