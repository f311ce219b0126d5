"""Thin entry point of rule monitor_attention: the monitor replayed over every run of the main family, and
row C7-attention's events (the starts of the detected windows)."""

from icl_dynamics.experiments.attention.monitor import window_events
from icl_dynamics.experiments.monitor.replay import replay_runs
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    runs = snakemake.params.runs
    paths = {(run["n_layers"], run["seed"]): path for run, path in zip(runs, snakemake.input.checkpoints)}
    windows = check_runs(read_cached(snakemake.input.windows), runs, snakemake.input.windows, one_row_per_run=True)
    table = replay_runs(runs, lambda run: read_cached(paths[run["n_layers"], run["seed"]]),
                        measures_section(snakemake.params.measures))
    events = window_events(windows)
    write_cached(table, snakemake.output.monitor)
    write_cached(events, snakemake.output.events)
    print(events.to_string())
