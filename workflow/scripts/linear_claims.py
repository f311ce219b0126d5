"""Thin entry point of rule linear_claims."""

from icl_dynamics.experiments.linear.claims import linear_rows
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    comps = {name: read_cached(path) for name, path in zip(snakemake.params.settings, snakemake.input)}
    frame = write_rows(linear_rows(comps, snakemake.params.linear), snakemake.output[0])
    print(frame.to_string())
