"""Thin entry point of rule linear_measures_claims: scorecard rows M1 and C7-linear."""

from icl_dynamics.experiments.linear.claims import rank_staircase_row
from icl_dynamics.experiments.linear.monitor import linear_monitor_row
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = {name: (read_cached(table), read_cached(comp))
            for name, table, comp in zip(snakemake.params.settings, snakemake.input.measures,
                                         snakemake.input.comparisons)}
    monitor_runs = snakemake.params.runs
    monitor = check_runs(read_cached(snakemake.input.monitor), monitor_runs, snakemake.input.monitor)
    monitor_events = check_runs(read_cached(snakemake.input.monitor_events), monitor_runs,
                                snakemake.input.monitor_events)
    rows = [rank_staircase_row(runs, snakemake.params.tol),
            linear_monitor_row(monitor, monitor_events, monitor_runs, snakemake.params.thresholds)]
    frame = write_rows(rows, snakemake.output[0])
    print(frame.to_string())
