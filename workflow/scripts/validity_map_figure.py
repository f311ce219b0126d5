"""Thin entry point of rule validity_map_figure: figure S3."""

from icl_dynamics.experiments.validity_map.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    fig = FIGURES[snakemake.wildcards.stem](read_cached(snakemake.input.table), read_cached(snakemake.input.rule),
                                            snakemake.params.operating, snakemake.params.thresholds,
                                            snakemake.params.grid)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
