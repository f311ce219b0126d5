"""Thin entry point of rule validity_map_cells: the grid's cells of one context length (their SGD read back
from the cache where it holds them), one table."""

from icl_dynamics.experiments.validity_map.run import run_cells
from icl_dynamics.experiments.validity_map.table import map_table
from icl_dynamics.workflow_io.cached_files import write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    cells = snakemake.params.cells
    comps = run_cells(cells, list(snakemake.params.seeds), snakemake.params.thresholds, snakemake.params.cache_dir,
                      sim_code=snakemake.params.sim_code, device=snakemake.params.device)
    table = map_table(cells, comps, snakemake.params.converged_rel)
    write_cached(table, snakemake.output[0])
    print(table[table["measure"] == "worst_r2"].to_string())
