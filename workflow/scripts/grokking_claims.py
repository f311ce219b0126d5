"""Thin entry point of rule grokking_claims: scorecard rows G1, G2 and C7-grokking."""

from icl_dynamics.experiments.grokking.claims import grokking_rows
from icl_dynamics.experiments.grokking.monitor import grokking_monitor_row
from icl_dynamics.experiments.readings.table import with_readings_note
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    events = check_runs(read_cached(snakemake.input.events), snakemake.params.events, snakemake.input.events,
                        one_row_per_run=True)
    readings = read_cached(snakemake.input.readings)
    rows = [with_readings_note(row, readings, snakemake.input.readings)
            for row in grokking_rows(events, snakemake.params.thresholds)]
    runs = snakemake.params.runs
    monitor = check_runs(read_cached(snakemake.input.monitor), runs, snakemake.input.monitor)
    monitor_events = check_runs(read_cached(snakemake.input.monitor_events), runs, snakemake.input.monitor_events,
                                one_row_per_run=True)
    rows.append(grokking_monitor_row(monitor, monitor_events, runs, snakemake.params.thresholds))
    frame = write_rows(rows, snakemake.output[0])
    print(frame.to_string())
