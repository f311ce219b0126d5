"""Thin entry point of rule grokking_figure: figure 7."""

import pandas as pd

from icl_dynamics.experiments.grokking.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    metrics = pd.concat([read_cached(p) for p in snakemake.input.metrics], ignore_index=True)
    fig = FIGURES[snakemake.wildcards.stem](metrics, read_cached(snakemake.input.measures),
                                            read_cached(snakemake.input.events))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
