"""Thin entry point of rule grokking_train_batched: every grokking seed, trained together."""

from icl_dynamics.experiments.grokking.batched import train_grokking_batch
from icl_dynamics.workflow_io.rule_context import rule_logging, set_training_threads
from icl_dynamics.workflow_io.cached_files import save_training_outputs

with rule_logging(snakemake.log[0]):
    set_training_threads(snakemake.params.torch_threads, snakemake.threads)
    # as grokking_train: the settings from params, the runtime section (never retrains) from the config
    section = {**snakemake.params.run, "runtime": snakemake.config["grokking"]["runtime"]}
    runs = train_grokking_batch(section, snakemake.params.seeds, state_dirs=snakemake.params.state_dirs,
                                device=snakemake.params.device, code=snakemake.params.code)
    for (metrics, checkpoints, result), metrics_path, checkpoints_path in zip(
            runs, snakemake.output.metrics, snakemake.output.checkpoints):
        print(metrics.iloc[:: max(1, len(metrics) // 20)].to_string())
        save_training_outputs(metrics, checkpoints, result, metrics_path, checkpoints_path)
