"""Grokking (docs/science.md section 8): training per seed, measures over checkpoints, figure 7, claims G1-G2."""

from icl_dynamics.experiments.grokking import figures as grokking_figures
from icl_dynamics.experiments.grokking.checks import check_config as check_grokking_config
from icl_dynamics.experiments.grokking.measures import EVENTS as GROKKING_EVENTS
from icl_dynamics.experiments.grokking.run import trajectory_settings as grokking_trajectory

check_section(check_grokking_config, "grokking")

GROKKING = config["grokking"]
GROKKING_SEEDS = GROKKING["seeds"]
# The runs (and per-seed events) the tables must hold (checked where a claim or figure reads them).
GROKKING_RUN_IDS = [{"seed": seed} for seed in GROKKING_SEEDS]
GROKKING_EVENT_IDS = [{"seed": seed, "event": event} for seed in GROKKING_SEEDS for event in GROKKING_EVENTS]
ALL_FIGURES += list(grokking_figures.FIGURES)
CLAIM_TABLES += ["results/claims/grokking.csv"]

# Paths, written once.
GROKKING_METRICS = "results/grokking/seed{seed}/metrics.parquet"
GROKKING_CHECKPOINTS = "results/grokking/seed{seed}/checkpoints.npz"
GROKKING_MEASURES = "results/grokking/measures.parquet"
GROKKING_EVENTS = "results/grokking/events.parquet"
GROKKING_READINGS = "results/readings/grokking.csv"  # row G2 under every reading (readings.smk)
# The monitor replayed over every seed and row C7-grokking's events (monitor.smk).
GROKKING_MONITOR = "results/monitor/grokking.parquet"
GROKKING_MONITOR_EVENTS = "results/monitor/grokking_events.csv"


rule grokking_train:
    """Full-batch AdamW on (a + b) mod p; resumes from state/grokking/seed{seed} (not an output). Params
    hold only what changes the run (its settings, device and training code)."""
    output:
        metrics=GROKKING_METRICS,
        checkpoints=GROKKING_CHECKPOINTS,
    params:
        run=grokking_trajectory(GROKKING),
        device=TRAINING_DEVICE,
        torch_threads=TRAIN_THREADS,
        code=train_code("grokking_train", "icl_dynamics.experiments.grokking.run"),
        state_dir="state/grokking/seed{seed}",
    wildcard_constraints:
        seed=r"\d+",
    log:
        log_file("grokking", "grokking_train", "seed{seed}"),
    benchmark:
        benchmark_file("grokking", "grokking_train", "seed{seed}")
    threads: TRAIN_THREADS
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_train.py"


rule grokking_train_batched:
    """Every seed as one stacked model (config training_jobs: batched): the same per-seed outputs and state
    folders as grokking_train, each seed its own split, initialisation and optimizer state (equal to its run
    alone up to float reduction order); on CUDA the full-batch step is replayed as a CUDA graph."""
    output:
        metrics=expand(GROKKING_METRICS, seed=GROKKING_SEEDS),
        checkpoints=expand(GROKKING_CHECKPOINTS, seed=GROKKING_SEEDS),
    params:
        run=grokking_trajectory(GROKKING),
        device=TRAINING_DEVICE,
        torch_threads=TRAIN_THREADS,
        code=train_code("grokking_train_batched", "icl_dynamics.experiments.grokking.batched"),
        seeds=GROKKING_SEEDS,
        state_dirs=expand("state/grokking/seed{seed}", seed=GROKKING_SEEDS),
    log:
        log_file("grokking", "grokking_train_batched"),
    benchmark:
        benchmark_file("grokking", "grokking_train_batched")
    threads: TRAIN_THREADS
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_train_batched.py"


# training_jobs chooses which of the two rules makes a seed's files (their outputs are the same paths).
if config["training_jobs"] == "batched":

    ruleorder: grokking_train_batched > grokking_train

else:

    ruleorder: grokking_train > grokking_train_batched


rule grokking_measures:
    """Per-head QK/OV spectra and subspace distances, curvatures, memorisation/grokking/stabilisation."""
    input:
        metrics=expand(GROKKING_METRICS, seed=GROKKING_SEEDS),
        checkpoints=expand(GROKKING_CHECKPOINTS, seed=GROKKING_SEEDS),
    output:
        measures=GROKKING_MEASURES,
        events=GROKKING_EVENTS,
    params:
        measures=config["measures"],
        events=GROKKING["events"],
        code=rule_code("grokking_measures"),
    log:
        log_file("grokking", "grokking_measures"),
    benchmark:
        benchmark_file("grokking", "grokking_measures")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_measures.py"


rule grokking_figure:
    """Figure 7: accuracy, loss, OV subspace distance, ranks and curvature on one epoch axis."""
    input:
        metrics=expand(GROKKING_METRICS, seed=GROKKING_SEEDS),
        measures=GROKKING_MEASURES,
        events=GROKKING_EVENTS,
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/grokking_figure.rst", category="Figures",
                   subcategory="Grokking", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(grokking_figures.FIGURES),
    params:
        runs=GROKKING_RUN_IDS,
        events=GROKKING_EVENT_IDS,
        code=rule_code("grokking_figure"),
    log:
        log_file("grokking", "grokking_figure", "{stem}"),
    benchmark:
        benchmark_file("grokking", "grokking_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_figure.py"


rule grokking_claims:
    """Scorecard rows G1 (grokking occurs), G2 (late OV stabilisation with the test-error drop) and C7-grokking
    (the replayed monitor's alarms against the grokking epochs, monitor.smk); G2's note ends with how its
    readings (readings.smk) score it."""
    input:
        events=GROKKING_EVENTS,
        readings=GROKKING_READINGS,
        monitor=GROKKING_MONITOR,
        monitor_events=GROKKING_MONITOR_EVENTS,
    output:
        "results/claims/grokking.csv",
    params:
        thresholds=GROKKING["thresholds"],
        events=GROKKING_EVENT_IDS,
        runs=GROKKING_RUN_IDS,
        code=rule_code("grokking_claims"),
    log:
        log_file("grokking", "grokking_claims"),
    benchmark:
        benchmark_file("grokking", "grokking_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/grokking_claims.py"
