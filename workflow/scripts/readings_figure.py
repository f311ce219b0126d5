"""Thin entry point of rule readings_figure: figure S4."""

from icl_dynamics.experiments.readings.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    fig = FIGURES[snakemake.wildcards.stem](read_cached(snakemake.input.attention), read_cached(snakemake.input.grokking))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
