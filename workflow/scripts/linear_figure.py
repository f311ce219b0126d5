"""Thin entry point of rule linear_figure: figures 1-3."""

from icl_dynamics.experiments.linear import figures as linear_figures
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: {"sim": read_cached(sim), "theory": read_cached(th), "comparison": read_cached(comp)}
            for name, sim, th, comp in zip(snakemake.params.settings, snakemake.input.sims, snakemake.input.theories,
                                           snakemake.input.comparisons)}
    draw = {"fig1_fixed_point": linear_figures.fig1, "fig2_staged_learning": linear_figures.fig2,
            "fig3_sweeps": linear_figures.fig3}[snakemake.wildcards.fig]
    draw(runs, snakemake.params.figures, snakemake.output.pdf, snakemake.output.png)
