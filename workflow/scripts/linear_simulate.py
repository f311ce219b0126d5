"""Thin entry point of rule linear_simulate."""

from icl_dynamics.experiments.linear.simulate import simulate
from icl_dynamics.workflow_io.rule_context import rule_logging, set_threads
from icl_dynamics.workflow_io.cached_files import write_cached

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    setting = snakemake.params.setting
    print(f"simulating setting {setting['name']}: {setting}")
    result = simulate(setting, list(snakemake.params.seeds), device=snakemake.params.device)
    write_cached(result, snakemake.output[0])
    print("final mode strengths (seed mean):", result["modes"][:, -1].mean(axis=0))
