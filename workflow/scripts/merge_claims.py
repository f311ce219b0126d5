"""Thin entry point of rule claims."""

from icl_dynamics.experiments import claim_ids
from icl_dynamics.scorecard import merge_tables
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    frames = [read_cached(path) for path in snakemake.input]
    print(merge_tables(frames, claim_ids(snakemake.config), snakemake.output[0]).to_string())
