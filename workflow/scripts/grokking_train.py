"""Thin entry point of rule grokking_train: one seed of the grokking run, resumable from state/."""

import numpy as np

from icl_dynamics.experiments.grokking.run import GrokkingRunConfig, train_grokking
from icl_dynamics.workflow_io import rule_logging, set_threads

with rule_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    cfg = GrokkingRunConfig.from_params(snakemake.params.run)
    metrics, checkpoints = train_grokking(cfg, seed=snakemake.params.seed, state_dir=snakemake.params.state_dir,
                                          device=snakemake.params.device, threads=snakemake.threads)
    print(metrics.iloc[:: max(1, len(metrics) // 20)].to_string())
    np.savez(snakemake.output.checkpoints, epoch=metrics["epoch"].to_numpy(),
             **{name: t.numpy() for name, t in checkpoints.items()})
    metrics.to_parquet(snakemake.output.metrics, index=False)
