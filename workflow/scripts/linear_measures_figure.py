"""Thin entry point of rule linear_measures_figure: figure S1."""

from icl_dynamics.experiments.linear.measures_figures import FIGURES
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: (read_cached(table), read_cached(comp))
            for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures,
                                         snakemake.input.comparisons)}
    fig = FIGURES[snakemake.wildcards.stem](runs, measures_section(snakemake.params.measures))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
