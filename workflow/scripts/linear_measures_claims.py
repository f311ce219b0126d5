"""Thin entry point of rule linear_measures_claims: scorecard row M1."""

from icl_dynamics.experiments.linear.claims import rank_staircase_row
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: (read_cached(table), read_cached(comp))
            for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures,
                                         snakemake.input.comparisons)}
    frame = write_rows([rank_staircase_row(runs, snakemake.params.tol)], snakemake.output[0])
    print(frame.to_string())
