"""Thin entry point of rule claims: every experiment's rows as one scorecard, in the order of claim_ids."""

from icl_dynamics.scorecard import merge_tables
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    frames = [read_cached(path) for path in snakemake.input]
    print(merge_tables(frames, snakemake.params.claims, snakemake.output[0]).to_string())
