"""Thin entry point of rule linear_measures: the measures table of one setting's p2 q1."""

import numpy as np

from icl_dynamics.experiments.linear.measures import p2q1_measures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    table = p2q1_measures(dict(np.load(snakemake.input.sim)), dict(np.load(snakemake.input.theory)),
                          measures_section(snakemake.params.measures))
    table.to_parquet(snakemake.output[0], index=False)
    last = table[table["step"] == table["step"].max()]
    print(last.groupby("measure")["value"].mean().to_string())
