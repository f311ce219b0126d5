"""Thin entry point of rule monitor_grokking: the monitor replayed over every seed, and row C7-grokking's
events (the grokking epochs)."""

from icl_dynamics.experiments.grokking.monitor import grokking_epochs
from icl_dynamics.experiments.monitor.replay import replay_runs
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    paths = dict(zip(snakemake.params.seeds, snakemake.input.checkpoints))
    events = check_runs(read_cached(snakemake.input.events), snakemake.params.events, snakemake.input.events,
                        one_row_per_run=True)
    table = replay_runs(snakemake.params.runs, lambda run: read_cached(paths[run["seed"]]),
                        measures_section(snakemake.params.measures))
    epochs = grokking_epochs(events)
    write_cached(table, snakemake.output.monitor)
    write_cached(epochs, snakemake.output.events)
    print(epochs.to_string())
