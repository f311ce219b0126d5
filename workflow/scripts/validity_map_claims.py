"""Thin entry point of rule validity_map_claims: the rule of thumb, fitted and scored (row L7), and row L8."""

from icl_dynamics.experiments.validity_map.claims import finite_n_row, validity_row
from icl_dynamics.experiments.validity_map.rule_of_thumb import rule_of_thumb
from icl_dynamics.experiments.validity_map.table import check_cells
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    thresholds = snakemake.params.thresholds
    table = check_cells(read_cached(snakemake.input[0]), snakemake.params.cells, snakemake.input[0])
    rule = rule_of_thumb(table, thresholds["r2"], snakemake.params.holdout)
    write_cached(rule, snakemake.output.rule)
    frame = write_rows([validity_row(rule, thresholds), finite_n_row(table, thresholds)], snakemake.output.claims)
    print(frame.to_string())
