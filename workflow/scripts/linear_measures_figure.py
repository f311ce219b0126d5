"""Thin entry point of rule linear_measures_figure: figure S1."""

import json

import pandas as pd

from icl_dynamics.experiments.linear.figures import figS1
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {}
    for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures, snakemake.input.comparisons):
        with open(comp) as fh:
            runs[name] = (pd.read_parquet(table), json.load(fh))
    figS1(runs, measures_section(snakemake.params.measures), snakemake.output.pdf, snakemake.output.png)
