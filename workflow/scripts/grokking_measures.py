"""Thin entry point of rule grokking_measures: circuit spectra, curvatures and events of every seed."""

import numpy as np
import pandas as pd

from icl_dynamics.experiments.grokking.measures import seed_measures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    settings = measures_section(snakemake.params.measures)
    tables, events = [], []
    for metrics_path, checkpoint_path in zip(snakemake.input.metrics, snakemake.input.checkpoints):
        with np.load(checkpoint_path) as stack:
            checkpoints = {name: stack[name] for name in ("W_Q", "W_K", "W_V", "W_O")}
        measures, seed_events = seed_measures(pd.read_parquet(metrics_path), checkpoints, settings,
                                              snakemake.params.grokking)
        tables.append(measures)
        events.append(seed_events)
    events = pd.concat(events, ignore_index=True)
    print(events.to_string())
    pd.concat(tables, ignore_index=True).to_parquet(snakemake.output.measures, index=False)
    events.to_parquet(snakemake.output.events, index=False)
