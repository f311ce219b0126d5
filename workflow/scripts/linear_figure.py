"""Thin entry point of rule linear_figure: figures 1-3."""

from icl_dynamics.experiments.linear.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: {"sim": read_cached(sim), "theory": read_cached(th), "comparison": read_cached(comp)}
            for name, sim, th, comp in zip(snakemake.params.settings, snakemake.input.sims, snakemake.input.theories,
                                           snakemake.input.comparisons)}
    fig = FIGURES[snakemake.wildcards.stem](runs, snakemake.params.figures)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
