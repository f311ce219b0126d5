"""Thin entry point of rule linear_theory."""

import numpy as np

from icl_dynamics.experiments.linear.run import theory
from icl_dynamics.workflow_io import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    setting = snakemake.params.setting
    result = theory(setting, list(snakemake.params.seeds))
    np.savez_compressed(snakemake.output[0], **result)
    print("closed-form fixed point 1/s_inf:", result["fp_closed"])
    print("exact mean-flow fixed point (seed mean):", result["fp_exact"].mean(axis=0))
