"""Grokking (docs/science.md section 8): training per seed, measures over checkpoints, figure 7, claims G1-G2."""

from icl_dynamics.experiments.grokking.checks import check_config as check_grokking_config
from icl_dynamics.experiments.grokking.run import trajectory_settings as grokking_trajectory

check_section(check_grokking_config, "grokking")

GROKKING = config["grokking"]
GROKKING_SEEDS = GROKKING["seeds"]
ALL_FIGURES += figure_paths("fig7_grokking")
CLAIM_TABLES += ["results/claims/grokking.csv"]


rule grokking_train:
    """Full-batch AdamW on (a + b) mod p; resumes from state/grokking/seed{seed} (not an output). Params
    hold only what changes the run (its settings, device and training code)."""
    output:
        metrics="results/grokking/seed{seed}/metrics.parquet",
        checkpoints="results/grokking/seed{seed}/checkpoints.npz",
    params:
        run=grokking_trajectory(GROKKING),
        device=TRAINING_DEVICE,
        code=code_fingerprint("icl_dynamics.experiments.grokking.run"),
        state_dir="state/grokking/seed{seed}",
    wildcard_constraints:
        seed=r"\d+",
    log:
        "logs/grokking/train_seed{seed}.log",
    benchmark:
        "benchmarks/out/grokking/train_seed{seed}.tsv"
    threads: train_threads()
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_train.py"


rule grokking_measures:
    """Per-head QK/OV spectra and subspace distances, curvatures, memorisation/grokking/stabilisation."""
    input:
        metrics=expand("results/grokking/seed{seed}/metrics.parquet", seed=GROKKING_SEEDS),
        checkpoints=expand("results/grokking/seed{seed}/checkpoints.npz", seed=GROKKING_SEEDS),
    output:
        measures="results/grokking/measures.parquet",
        events="results/grokking/events.parquet",
    params:
        measures=config.get("measures", {}),
        events=GROKKING["events"],
    log:
        "logs/grokking/measures.log",
    benchmark:
        "benchmarks/out/grokking/measures.tsv"
    threads: config["threads"]["default"]
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_measures.py"


rule grokking_figure:
    """Figure 7: accuracy, loss, OV subspace distance, ranks and curvature on one epoch axis."""
    input:
        metrics=expand("results/grokking/seed{seed}/metrics.parquet", seed=GROKKING_SEEDS),
        measures="results/grokking/measures.parquet",
        events="results/grokking/events.parquet",
    output:
        pdf="figures/fig7_grokking.pdf",
        png=report("figures/fig7_grokking.png", caption="../report/grokking_figure.rst", category="Figures",
                   subcategory="Grokking", labels={"figure": "fig7_grokking"}),
    log:
        "logs/grokking/figure.log",
    benchmark:
        "benchmarks/out/grokking/figure.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_figure.py"


rule grokking_claims:
    """Scorecard rows G1 (grokking occurs) and G2 (late OV stabilisation with the test-error drop)."""
    input:
        events="results/grokking/events.parquet",
    output:
        "results/claims/grokking.csv",
    params:
        thresholds=GROKKING["thresholds"],
    log:
        "logs/grokking/claims.log",
    benchmark:
        "benchmarks/out/grokking/claims.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_claims.py"


rule fig7:
    """Named target: figure 7."""
    input:
        figure_paths("fig7_grokking"),
