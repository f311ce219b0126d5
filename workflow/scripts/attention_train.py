"""Thin entry point of rule attention_train: one attention-only run (depth x seed)."""

from icl_dynamics.experiments.attention.run import train_attention_run
from icl_dynamics.workflow_io.rule_context import rule_logging, set_training_threads
from icl_dynamics.workflow_io.cached_files import save_training_outputs

with rule_logging(snakemake.log[0]):
    set_training_threads(snakemake.params.torch_threads, snakemake.threads)
    # the run's settings come from params (they decide reruns); the runtime section (state saving, logging,
    # divergence limit) is the one part read from the config: it must never retrain
    section = {**snakemake.params.run, "runtime": snakemake.config["attention"]["runtime"]}
    metrics, checkpoints, result = train_attention_run(
        section, int(snakemake.wildcards.layers), int(snakemake.wildcards.seed),
        state_dir=snakemake.params.state_dir, device=snakemake.params.device,
        code=snakemake.params.code)
    save_training_outputs(metrics, checkpoints, result, snakemake.output.metrics, snakemake.output.checkpoints)
