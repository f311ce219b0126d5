"""Thin entry point of rule attention_ablation_figure: figure S2."""

from icl_dynamics.experiments.attention.ablation_figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = snakemake.params.runs
    families = {family: (check_runs(read_cached(m), runs, m), check_runs(read_cached(w), runs, w, one_row_per_run=True))
                for family, m, w in zip(snakemake.params.families, snakemake.input.metrics, snakemake.input.windows)}
    fig = FIGURES[snakemake.wildcards.stem](families, snakemake.params.models)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
