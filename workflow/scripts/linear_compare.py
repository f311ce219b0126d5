"""Thin entry point of rule linear_compare: prints both theories' errors against the simulation."""

from icl_dynamics.experiments.linear.compare import compare
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    result = compare(snakemake.params.setting, read_cached(snakemake.input.sim), read_cached(snakemake.input.theory),
                     snakemake.params.thresholds)
    write_cached(result, snakemake.output[0])
    for key in ("r2_closed", "r2_exact", "fp_rel_closed", "fp_rel_exact", "half_rel_exact", "cliffs"):
        print(f"{key}: {result[key]}")
