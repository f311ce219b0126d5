"""Thin entry point of rule text_train: one attention-only model trained on real code (depth x seed)."""

from icl_dynamics.experiments.text.run import train_text_run
from icl_dynamics.workflow_io.cached_files import save_training_outputs
from icl_dynamics.workflow_io.rule_context import rule_logging, set_training_threads

with rule_logging(snakemake.log[0]):
    set_training_threads(snakemake.params.torch_threads, snakemake.threads)
    # the run's settings come from params (they decide reruns); the runtime section (state saving, logging,
    # divergence limit, compiling) is the one part read from the config: it must never retrain
    section = {**snakemake.params.run, "runtime": snakemake.config["text"]["runtime"]}
    metrics, checkpoints, result = train_text_run(
        section, int(snakemake.wildcards.layers), int(snakemake.wildcards.seed),
        state_dir=snakemake.params.state_dir, device=snakemake.params.device, code=snakemake.params.code)
    save_training_outputs(metrics, checkpoints, result, snakemake.output.metrics, snakemake.output.checkpoints)
