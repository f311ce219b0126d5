"""Thin entry point of rules attention_measures and text_measures: circuit measures, metrics and ICL windows of
all runs of an attention-only family (or of the text runs)."""

import pandas as pd

from icl_dynamics.experiments.attention.measures import WINDOW_COLUMNS, emergence_window
from icl_dynamics.measures.summary import circuit_table
from icl_dynamics.measures.settings import measures_section, transition_kwargs
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    settings = measures_section(snakemake.params.measures)
    transition = transition_kwargs(snakemake.params.measures)
    tables, metrics, windows = [], [], []
    for metrics_path, checkpoint_path in zip(snakemake.input.metrics, snakemake.input.checkpoints):
        run = read_cached(metrics_path)
        layers, seed = int(run["n_layers"].iloc[0]), int(run["seed"].iloc[0])
        tables.append(circuit_table(read_cached(checkpoint_path), settings, n_layers=layers, seed=seed))
        metrics.append(run)
        windows.append({"n_layers": layers, "seed": seed, **emergence_window(run, transition)})
        print(f"L{layers} seed {seed}: window {windows[-1]}")
    write_cached(pd.concat(tables, ignore_index=True), snakemake.output.measures)
    write_cached(pd.concat(metrics, ignore_index=True), snakemake.output.metrics)
    write_cached(pd.DataFrame(windows, columns=WINDOW_COLUMNS), snakemake.output.windows)
