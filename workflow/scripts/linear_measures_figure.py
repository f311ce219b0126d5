"""Thin entry point of rule linear_measures_figure: figure S1."""

from icl_dynamics.experiments.linear.figures import figS1
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: (read_cached(table), read_cached(comp))
            for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures,
                                         snakemake.input.comparisons)}
    figS1(runs, measures_section(snakemake.params.measures), snakemake.output.pdf, snakemake.output.png)
