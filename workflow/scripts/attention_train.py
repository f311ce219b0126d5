"""Thin entry point of rule attention_train: one attention-only run (depth x seed)."""

from pathlib import Path

import torch

from icl_dynamics.experiments.attention.run import train_attention_run
from icl_dynamics.workflow_io import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    metrics, checkpoints = train_attention_run(
        snakemake.params.section, int(snakemake.wildcards.layers), int(snakemake.wildcards.seed),
        state_dir=snakemake.params.state_dir, device=snakemake.params.device, threads=snakemake.threads)
    Path(snakemake.output.metrics).parent.mkdir(parents=True, exist_ok=True)
    metrics.to_parquet(snakemake.output.metrics, index=False)
    torch.save(checkpoints, snakemake.output.checkpoints)
