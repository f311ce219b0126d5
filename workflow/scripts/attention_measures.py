"""Thin entry point of rule attention_measures: circuit measures, metrics and ICL windows of all runs."""

import pandas as pd
import torch

from icl_dynamics.experiments.attention.measures import WINDOW_COLUMNS, circuit_measures, emergence_window
from icl_dynamics.measures.settings import measures_section, transition_kwargs
from icl_dynamics.workflow_io import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    settings = measures_section(snakemake.params.measures)
    transition = transition_kwargs(snakemake.params.measures)
    tables, metrics, windows = [], [], []
    for metrics_path, checkpoint_path in zip(snakemake.input.metrics, snakemake.input.checkpoints):
        run = pd.read_parquet(metrics_path)
        layers, seed = int(run["layers"].iloc[0]), int(run["seed"].iloc[0])
        tables.append(circuit_measures(torch.load(checkpoint_path, weights_only=True), settings, layers, seed))
        metrics.append(run)
        windows.append({"layers": layers, "seed": seed, **emergence_window(run, transition)})
        print(f"L{layers} seed {seed}: window {windows[-1]}")
    pd.concat(tables, ignore_index=True).to_parquet(snakemake.output.measures, index=False)
    pd.concat(metrics, ignore_index=True).to_parquet(snakemake.output.metrics, index=False)
    pd.DataFrame(windows, columns=WINDOW_COLUMNS).to_csv(snakemake.output.windows, index=False)
