"""Thin entry point of rule linear_validity_figure: figure S3."""

from icl_dynamics.experiments.linear.figures import figS3
from icl_dynamics.workflow_io import read_cached, rule_logging

with rule_logging(snakemake.log[0]):
    figS3(read_cached(snakemake.input.table), read_cached(snakemake.input.rule), snakemake.params.operating,
          snakemake.params.thresholds, snakemake.params.grid, snakemake.output.pdf, snakemake.output.png)
