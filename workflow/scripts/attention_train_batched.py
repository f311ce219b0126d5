"""Thin entry point of rule attention_train_batched: every seed of one family and depth, trained together."""

from icl_dynamics.experiments.attention.batched import train_attention_batch
from icl_dynamics.workflow_io.rule_context import rule_logging, set_training_threads
from icl_dynamics.workflow_io.cached_files import save_training_outputs

with rule_logging(snakemake.log[0]):
    set_training_threads(snakemake.params.torch_threads, snakemake.threads)
    # as attention_train: the settings from params, the runtime section (never retrains) from the config
    section = {**snakemake.params.run, "runtime": snakemake.config["attention"]["runtime"]}
    runs = train_attention_batch(section, int(snakemake.wildcards.layers), snakemake.params.seeds,
                                 state_dirs=snakemake.params.state_dirs, device=snakemake.params.device,
                                 code=snakemake.params.code)
    for (metrics, checkpoints, result), metrics_path, checkpoints_path in zip(
            runs, snakemake.output.metrics, snakemake.output.checkpoints):
        save_training_outputs(metrics, checkpoints, result, metrics_path, checkpoints_path)
