"""Thin entry point of rule linear_figure: figures 1-3."""

import json

import numpy as np

from icl_dynamics.experiments.linear import figures as linear_figures
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    names = snakemake.params.settings
    runs = {}
    for name, sim, th, comp in zip(names, snakemake.input.sims, snakemake.input.theories, snakemake.input.comparisons):
        with open(comp) as fh:
            runs[name] = {"sim": dict(np.load(sim)), "theory": dict(np.load(th)), "comparison": json.load(fh)}
    draw = {"fig1_fixed_point": linear_figures.fig1, "fig2_staged_learning": linear_figures.fig2,
            "fig3_sweeps": linear_figures.fig3}[snakemake.wildcards.fig]
    draw(runs, snakemake.params.figures, snakemake.output.pdf, snakemake.output.png)
