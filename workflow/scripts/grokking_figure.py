"""Thin entry point of rule grokking_figure: figure 7."""

import pandas as pd

from icl_dynamics.experiments.grokking.figures import figure7
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    metrics = pd.concat([read_cached(p) for p in snakemake.input.metrics], ignore_index=True)
    fig = figure7(metrics, read_cached(snakemake.input.measures), read_cached(snakemake.input.events))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
