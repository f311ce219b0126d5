"""Thin entry point of rule grokking_train: one seed of the grokking run, resumable from state/."""

from icl_dynamics.experiments.grokking.run import train_grokking_run
from icl_dynamics.workflow_io.rule_context import rule_logging, set_training_threads
from icl_dynamics.workflow_io.cached_files import save_training_outputs

with rule_logging(snakemake.log[0]):
    set_training_threads(snakemake.params.torch_threads, snakemake.threads)
    # the run's settings come from params (they decide reruns); the runtime section (state saving, logging,
    # divergence limit) is the one part read from the config: it must never retrain
    section = {**snakemake.params.run, "runtime": snakemake.config["grokking"]["runtime"]}
    metrics, checkpoints, result = train_grokking_run(section, int(snakemake.wildcards.seed),
                                                      state_dir=snakemake.params.state_dir,
                                                      device=snakemake.params.device, code=snakemake.params.code)
    print(metrics.iloc[:: max(1, len(metrics) // 20)].to_string())
    save_training_outputs(metrics, checkpoints, result, snakemake.output.metrics, snakemake.output.checkpoints)
