"""Thin entry point of rule grokking_measures: circuit spectra, curvatures and events of every seed."""

import pandas as pd

from icl_dynamics.experiments.grokking.measures import seed_measures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    settings = measures_section(snakemake.params.measures)
    tables, events = [], []
    for metrics_path, checkpoint_path in zip(snakemake.input.metrics, snakemake.input.checkpoints):
        measures, seed_events = seed_measures(read_cached(metrics_path), read_cached(checkpoint_path), settings,
                                              snakemake.params.events)
        tables.append(measures)
        events.append(seed_events)
    events = pd.concat(events, ignore_index=True)
    print(events.to_string())
    write_cached(pd.concat(tables, ignore_index=True), snakemake.output.measures)
    write_cached(events, snakemake.output.events)
