"""Thin entry point of rule linear_validity_map: the per-context-length tables as one, in grid order."""

from icl_dynamics.experiments.linear.validity import merge_parts
from icl_dynamics.workflow_io import read_cached, rule_logging, write_cached

with rule_logging(snakemake.log[0]):
    table = merge_parts([read_cached(path) for path in snakemake.input], snakemake.params.cells)
    write_cached(table, snakemake.output[0])
    print(f"{table['cell'].nunique()} cells from {len(snakemake.input)} tables")
