"""Thin entry point of rule linear_validity_cells: the grid's cells of one context length (cached ones read
back), one table."""

from icl_dynamics.experiments.linear.validity import map_table, run_cells
from icl_dynamics.workflow_io import rule_logging, set_threads, write_cached

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    cells = snakemake.params.cells
    comps = run_cells(cells, list(snakemake.params.seeds), snakemake.params.thresholds, snakemake.params.cache_dir,
                      code=snakemake.params.code)
    table = map_table(cells, comps, snakemake.params.converged_rel)
    write_cached(table, snakemake.output[0])
    print(table[table["measure"] == "worst_r2"].to_string())
