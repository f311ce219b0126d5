"""Thin entry point of rule attention_ablation_figure: figure S2."""

from icl_dynamics.experiments.attention.figures import figS2
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    families = {family: (read_cached(m), read_cached(w))
                for family, m, w in zip(snakemake.params.families, snakemake.input.metrics, snakemake.input.windows)}
    figS2(families, snakemake.params.models, snakemake.output.pdf, snakemake.output.png)
