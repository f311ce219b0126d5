"""Thin entry point of rule linear_theory."""

from icl_dynamics.experiments.linear.theory import theory
from icl_dynamics.workflow_io.rule_context import rule_logging, set_threads
from icl_dynamics.workflow_io.cached_files import write_cached

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    result = theory(snakemake.params.setting, list(snakemake.params.seeds))
    write_cached(result, snakemake.output[0])
    print("closed-form fixed point 1/s_inf:", result["fp_closed"])
    print("exact mean-flow fixed point (seed mean):", result["fp_exact"].mean(axis=0))
