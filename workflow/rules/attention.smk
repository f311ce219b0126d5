"""Attention-only transformers of 1-4 layers: training, circuit measures, figures 4-6, scorecard N1-N3,
and the model-family ablation (figure S2, rows N1-<family>)."""

from icl_dynamics.experiments.attention import ablation_figures as attention_ablation_figures
from icl_dynamics.experiments.attention import figures as attention_figures
from icl_dynamics.experiments.attention.checks import check_config as check_attention_config
from icl_dynamics.experiments.attention.run import MAIN_FAMILY, families, family_section
from icl_dynamics.experiments.attention.run import trajectory_settings as attention_trajectory

check_section(check_attention_config, "attention")

ATTENTION = config["attention"]
ATTENTION_FAMILIES = families(ATTENTION)
ATTENTION_ABLATIONS = [family for family in ATTENTION_FAMILIES if family != MAIN_FAMILY]
ATTENTION_RUNS = [f"L{layers}_seed{seed}" for layers in ATTENTION["depths"] for seed in ATTENTION["seeds"]]
# The runs every family's tables must hold (checked where a claim or figure reads them).
ATTENTION_RUN_IDS = [{"n_layers": layers, "seed": seed} for layers in ATTENTION["depths"] for seed in ATTENTION["seeds"]]
ALL_FIGURES += list(attention_figures.FIGURES)
ALL_FIGURES += list(attention_ablation_figures.FIGURES) if ATTENTION_ABLATIONS else []
CLAIM_TABLES += ["results/claims/attention.csv"]

# Paths, written once.
ATTENTION_RUN_METRICS = "results/attention/{family}/L{layers}_seed{seed}/metrics.parquet"
ATTENTION_RUN_CHECKPOINTS = "results/attention/{family}/L{layers}_seed{seed}/checkpoints.npz"
ATTENTION_MEASURES = "results/attention/{family}/measures.parquet"
ATTENTION_METRICS = "results/attention/{family}/metrics.parquet"
ATTENTION_WINDOWS = "results/attention/{family}/windows.csv"
ATTENTION_READINGS = "results/readings/attention.csv"  # rows N2, N3 under every reading (readings.smk)
# The monitor replayed over the main family's runs and row C7-attention's events (monitor.smk).
ATTENTION_MONITOR = "results/monitor/attention.parquet"
ATTENTION_MONITOR_EVENTS = "results/monitor/attention_events.csv"


wildcard_constraints:
    layers=r"\d+",
    seed=r"\d+",
    family="|".join(ATTENTION_FAMILIES),


rule attention_train:
    """One model family, depth and seed: metrics per checkpoint and the stack of per-head W_Q, W_K, W_V, W_O
    (float32). Resumable state lives in state/attention/{family}/L{layers}_seed{seed}, not an output. Params
    hold only what changes the run (its settings, device and training code): no other config edit retrains."""
    output:
        metrics=ATTENTION_RUN_METRICS,
        checkpoints=ATTENTION_RUN_CHECKPOINTS,
    params:
        run=lambda wc: attention_trajectory(family_section(ATTENTION, wc.family)),
        device=TRAINING_DEVICE,
        torch_threads=TRAIN_THREADS,
        code=train_code("attention_train", "icl_dynamics.experiments.attention.run"),
        state_dir="state/attention/{family}/L{layers}_seed{seed}",
    log:
        log_file("attention", "attention_train", "{family}/L{layers}_seed{seed}"),
    benchmark:
        benchmark_file("attention", "attention_train", "{family}/L{layers}_seed{seed}")
    threads: TRAIN_THREADS
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_train.py"


rule attention_train_batched:
    """Every seed of one model family and depth as one stacked model (config training_jobs: batched): the same
    per-run outputs and per-run state folders as attention_train, each seed its own initialisation, data and
    optimizer state (equal to its run alone up to float reduction order)."""
    output:
        metrics=[ATTENTION_RUN_METRICS.replace("{seed}", str(seed)) for seed in ATTENTION["seeds"]],
        checkpoints=[ATTENTION_RUN_CHECKPOINTS.replace("{seed}", str(seed)) for seed in ATTENTION["seeds"]],
    params:
        run=lambda wc: attention_trajectory(family_section(ATTENTION, wc.family)),
        device=TRAINING_DEVICE,
        torch_threads=TRAIN_THREADS,
        code=train_code("attention_train_batched", "icl_dynamics.experiments.attention.batched"),
        seeds=ATTENTION["seeds"],
        state_dirs=lambda wc: [f"state/attention/{wc.family}/L{wc.layers}_seed{seed}" for seed in ATTENTION["seeds"]],
    log:
        log_file("attention", "attention_train_batched", "{family}/L{layers}"),
    benchmark:
        benchmark_file("attention", "attention_train_batched", "{family}/L{layers}")
    threads: TRAIN_THREADS
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_train_batched.py"


# training_jobs chooses which of the two rules makes a run's files (their outputs are the same paths).
if config["training_jobs"] == "batched":

    ruleorder: attention_train_batched > attention_train

else:

    ruleorder: attention_train > attention_train_batched


rule attention_measures:
    """Per-head QK/OV spectral measures of every run of a family, the runs' metrics and their ICL windows."""
    input:
        metrics=[ATTENTION_RUN_METRICS.replace("L{layers}_seed{seed}", run) for run in ATTENTION_RUNS],
        checkpoints=[ATTENTION_RUN_CHECKPOINTS.replace("L{layers}_seed{seed}", run) for run in ATTENTION_RUNS],
    output:
        measures=ATTENTION_MEASURES,
        metrics=ATTENTION_METRICS,
        windows=ATTENTION_WINDOWS,
    params:
        measures=config["measures"],
        code=rule_code("attention_measures"),
    log:
        log_file("attention", "attention_measures", "{family}"),
    benchmark:
        benchmark_file("attention", "attention_measures", "{family}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_measures.py"


rule attention_figure:
    """Figures 4-6 of the main family from the small tables (never retrains)."""
    input:
        measures=ATTENTION_MEASURES.format(family=MAIN_FAMILY),
        metrics=ATTENTION_METRICS.format(family=MAIN_FAMILY),
        windows=ATTENTION_WINDOWS.format(family=MAIN_FAMILY),
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/attention_figures.rst", category="Figures",
                   subcategory="Attention-only transformers", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(attention_figures.FIGURES),
    params:
        measures=config["measures"],
        runs=ATTENTION_RUN_IDS,
        code=rule_code("attention_figure"),
    log:
        log_file("attention", "attention_figure", "{stem}"),
    benchmark:
        benchmark_file("attention", "attention_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_figure.py"


rule attention_ablation_figure:
    """Figure S2: ICL score per depth of every model family, detected windows shaded."""
    input:
        metrics=expand(ATTENTION_METRICS, family=ATTENTION_FAMILIES),
        windows=expand(ATTENTION_WINDOWS, family=ATTENTION_FAMILIES),
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/attention_ablation_figure.rst",
                   category="Figures", subcategory="Attention-only transformers", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(attention_ablation_figures.FIGURES),
    params:
        families=ATTENTION_FAMILIES,
        models={family: family_section(ATTENTION, family)["model"] for family in ATTENTION_FAMILIES},
        runs=ATTENTION_RUN_IDS,
        code=rule_code("attention_ablation_figure"),
    log:
        log_file("attention", "attention_ablation_figure", "{stem}"),
    benchmark:
        benchmark_file("attention", "attention_ablation_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_ablation_figure.py"


rule attention_claims:
    """Scorecard rows N1-N3 of the main family, N1-<family> of each ablation, C7-attention (the replayed
    monitor's alarms against the windows, monitor.smk), and the per-run numbers; the notes of N2 and N3 end
    with how their readings (readings.smk) score them."""
    input:
        measures=ATTENTION_MEASURES.format(family=MAIN_FAMILY),
        metrics=expand(ATTENTION_METRICS, family=ATTENTION_FAMILIES),
        windows=expand(ATTENTION_WINDOWS, family=ATTENTION_FAMILIES),
        readings=ATTENTION_READINGS,
        monitor=ATTENTION_MONITOR,
        monitor_events=ATTENTION_MONITOR_EVENTS,
    output:
        claims="results/claims/attention.csv",
        per_run="results/attention/claims_per_run.csv",
    params:
        families=ATTENTION_FAMILIES,
        thresholds=ATTENTION["thresholds"],
        measures=config["measures"],
        runs=ATTENTION_RUN_IDS,
        code=rule_code("attention_claims"),
    log:
        log_file("attention", "attention_claims"),
    benchmark:
        benchmark_file("attention", "attention_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_claims.py"


rule attention_ablation:
    """Every ablation family's runs and figure S2 (the scorecard rows N1-<family> come with `claims`)."""
    input:
        expand(ATTENTION_WINDOWS, family=ATTENTION_ABLATIONS),
        [path for stem in attention_ablation_figures.FIGURES for path in figure_paths(stem)],
