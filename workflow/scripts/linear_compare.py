"""Thin entry point of rule linear_compare: prints both theories' errors against the simulation."""

import json

import numpy as np

from icl_dynamics.experiments.linear.run import compare
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    sim = dict(np.load(snakemake.input.sim))
    th = dict(np.load(snakemake.input.theory))
    result = compare(snakemake.params.setting, sim, th, snakemake.params.thresholds)
    with open(snakemake.output[0], "w") as fh:
        json.dump(result, fh, indent=1)
    for key in ("r2_closed", "r2_exact", "fp_rel_closed", "fp_rel_exact", "half_rel_exact", "cliffs"):
        print(f"{key}: {result[key]}")
