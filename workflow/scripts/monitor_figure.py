"""Thin entry point of rule monitor_figure: figure S6."""

from icl_dynamics.experiments.monitor.figures import FIGURES
from icl_dynamics.plotting import save_figure
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    tables = {}
    for experiment in ("attention", "grokking", "linear"):
        runs = snakemake.params[f"{experiment}_runs"]
        monitor, events = snakemake.input[experiment], snakemake.input[f"{experiment}_events"]
        tables[experiment] = (check_runs(read_cached(monitor), runs, monitor), check_runs(read_cached(events), runs, events))
    fig = FIGURES[snakemake.wildcards.stem](**tables)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
