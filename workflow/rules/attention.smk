"""Attention-only transformers of 1-4 layers: training, circuit measures, figures 4-6, scorecard N1-N3."""

from icl_dynamics.experiments.attention.run import check_config as check_attention_config
from icl_dynamics.experiments.attention.run import trajectory_settings as attention_trajectory

check_section(check_attention_config, "attention")

ATTENTION = config["attention"]
ATTENTION_RUNS = [f"L{layers}_seed{seed}" for layers in ATTENTION["depths"] for seed in ATTENTION["seeds"]]
ATTENTION_FIGURES = {"fig4": "fig4_icl_emergence", "fig5": "fig5_qk_ov_ranks", "fig6": "fig6_subspace_distance"}
ALL_FIGURES += [p for stem in ATTENTION_FIGURES.values() for p in figure_paths(stem)]
CLAIM_TABLES += ["results/claims/attention.csv"]


wildcard_constraints:
    layers=r"\d+",
    seed=r"\d+",


rule attention_train:
    """One depth and seed: metrics per checkpoint and the stack of per-head W_Q, W_K, W_V, W_O (float32).
    Resumable state lives in state/attention/L{layers}_seed{seed}, not an output. Params hold only what
    changes the run (its settings, device and training code): any other config edit never retrains."""
    output:
        metrics="results/attention/L{layers}_seed{seed}/metrics.parquet",
        checkpoints="results/attention/L{layers}_seed{seed}/checkpoints.npz",
    params:
        run=attention_trajectory(ATTENTION),
        device=TRAINING_DEVICE,
        code=code_fingerprint("icl_dynamics.experiments.attention.run"),
        state_dir="state/attention/L{layers}_seed{seed}",
    log:
        "logs/attention/L{layers}_seed{seed}/train.log",
    benchmark:
        "benchmarks/out/attention/L{layers}_seed{seed}/train.tsv"
    threads: train_threads()
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_train.py"


rule attention_measures:
    """Per-head QK/OV spectral measures of every run, the runs' metrics and their detected ICL windows."""
    input:
        metrics=expand("results/attention/{run}/metrics.parquet", run=ATTENTION_RUNS),
        checkpoints=expand("results/attention/{run}/checkpoints.npz", run=ATTENTION_RUNS),
    output:
        measures="results/attention/measures.parquet",
        metrics="results/attention/metrics.parquet",
        windows="results/attention/windows.csv",
    params:
        measures=config.get("measures", {}),
    log:
        "logs/attention/measures.log",
    benchmark:
        "benchmarks/out/attention/measures.tsv"
    threads: config["threads"]["default"]
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_measures.py"


rule attention_figure:
    """Figures 4-6 from the small tables (never retrains)."""
    input:
        measures="results/attention/measures.parquet",
        metrics="results/attention/metrics.parquet",
        windows="results/attention/windows.csv",
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/attention_figures.rst", category="Figures",
                   subcategory="Attention-only transformers", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(ATTENTION_FIGURES.values()),
    params:
        measures=config.get("measures", {}),
    log:
        "logs/attention/{stem}.log",
    benchmark:
        "benchmarks/out/attention/{stem}.tsv"
    threads: config["threads"]["default"]
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_figure.py"


rule attention_claims:
    """Scorecard rows N1-N3 and the per-run numbers behind them."""
    input:
        measures="results/attention/measures.parquet",
        windows="results/attention/windows.csv",
    output:
        claims="results/claims/attention.csv",
        per_run="results/attention/claims_per_run.csv",
    params:
        thresholds=ATTENTION["thresholds"],
        measures=config.get("measures", {}),
    log:
        "logs/attention/claims.log",
    benchmark:
        "benchmarks/out/attention/claims.tsv"
    threads: config["threads"]["default"]
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_claims.py"


rule fig4:
    """Figure 4: ICL score and loss over training per depth, detected window shaded."""
    input:
        figure_paths(ATTENTION_FIGURES["fig4"]),


rule fig5:
    """Figure 5: QK/OV effective and marginalised effective ranks per depth."""
    input:
        figure_paths(ATTENTION_FIGURES["fig5"]),


rule fig6:
    """Figure 6: subspace distance of QK/OV circuits to the final weights per depth."""
    input:
        figure_paths(ATTENTION_FIGURES["fig6"]),
