"""Thin entry point of rule grokking_figure: figure 7."""

import pandas as pd

from icl_dynamics.experiments.grokking.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    metrics = pd.concat([read_cached(p) for p in snakemake.input.metrics], ignore_index=True)
    measures = check_runs(read_cached(snakemake.input.measures), snakemake.params.runs, snakemake.input.measures)
    events = check_runs(read_cached(snakemake.input.events), snakemake.params.events, snakemake.input.events,
                        one_row_per_run=True)
    fig = FIGURES[snakemake.wildcards.stem](metrics, measures, events)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
