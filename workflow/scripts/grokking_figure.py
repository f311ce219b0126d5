"""Thin entry point of rule grokking_figure: figure 7."""

import pandas as pd

from icl_dynamics.experiments.grokking.figures import figure7
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    metrics = pd.concat([pd.read_parquet(p) for p in snakemake.input.metrics], ignore_index=True)
    fig = figure7(metrics, pd.read_parquet(snakemake.input.measures), pd.read_parquet(snakemake.input.events))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
