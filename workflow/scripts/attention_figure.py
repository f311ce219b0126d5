"""Thin entry point of rule attention_figure: figures 4-6."""

from icl_dynamics.experiments.attention import figures as attention_figures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    tables = {name: read_cached(snakemake.input[name]) for name in ("measures", "metrics", "windows")}
    draw = {"fig4_icl_emergence": attention_figures.fig4, "fig5_qk_ov_ranks": attention_figures.fig5,
            "fig6_subspace_distance": attention_figures.fig6}[snakemake.wildcards.stem]
    draw(tables, measures_section(snakemake.params.measures), snakemake.output.pdf, snakemake.output.png)
