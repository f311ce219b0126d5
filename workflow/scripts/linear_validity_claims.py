"""Thin entry point of rule linear_validity_claims: the rule of thumb, fitted and scored, and row L7."""

from icl_dynamics.experiments.linear.claims import validity_row
from icl_dynamics.experiments.linear.validity import rule_of_thumb
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io import read_cached, rule_logging, write_cached

with rule_logging(snakemake.log[0]):
    thresholds = snakemake.params.thresholds
    rule = rule_of_thumb(read_cached(snakemake.input[0]), thresholds["r2"], snakemake.params.holdout)
    write_cached(rule, snakemake.output.rule)
    frame = write_rows([validity_row(rule, thresholds)], snakemake.output.claims)
    print(frame.to_string())
