"""Thin entry point of rule validity_map_table: the per-context-length tables as one, in grid order."""

from icl_dynamics.experiments.validity_map.table import merge_parts
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    table = merge_parts([read_cached(path) for path in snakemake.input], snakemake.params.cells)
    write_cached(table, snakemake.output[0])
    print(f"{table['cell'].nunique()} cells from {len(snakemake.input)} tables")
