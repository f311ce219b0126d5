"""Thin entry point of rule text_figure: figure S5."""

from icl_dynamics.experiments.text.figures import FIGURES
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    tables = {name: check_runs(read_cached(snakemake.input[name]), snakemake.params.runs, snakemake.input[name],
                               one_row_per_run=name == "windows") for name in ("measures", "metrics", "windows")}
    fig = FIGURES[snakemake.wildcards.stem](tables, measures_section(snakemake.params.measures))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
