"""The attention-only models trained on real code (issue 26): next-byte prediction on the Python standard
library source (or text.corpus.root), rows N1-text, N2-text, N3-text, figure S5."""

from icl_dynamics.experiments.text import figures as text_figures
from icl_dynamics.experiments.text.checks import check_config as check_text_config
from icl_dynamics.experiments.text.run import corpus_version
from icl_dynamics.experiments.text.run import trajectory_settings as text_trajectory

check_section(check_text_config, "text")

TEXT = config["text"]
TEXT_RUNS = [f"L{layers}_seed{seed}" for layers in TEXT["depths"] for seed in TEXT["seeds"]]
TEXT_RUN_IDS = [{"n_layers": layers, "seed": seed} for layers in TEXT["depths"] for seed in TEXT["seeds"]]
ALL_FIGURES += list(text_figures.FIGURES)
CLAIM_TABLES += ["results/claims/text.csv"]

TEXT_RUN_METRICS = "results/text/L{layers}_seed{seed}/metrics.parquet"
TEXT_RUN_CHECKPOINTS = "results/text/L{layers}_seed{seed}/checkpoints.npz"
TEXT_MEASURES = "results/text/measures.parquet"
TEXT_METRICS = "results/text/metrics.parquet"
TEXT_WINDOWS = "results/text/windows.csv"


rule text_train:
    """One depth and seed on the corpus: metrics per checkpoint (with the corpus identity) and the stack of
    per-head W_Q, W_K, W_V, W_O (float32). Resumable state in state/text/L{layers}_seed{seed}. Params hold
    what changes the run: its settings, the interpreter's Python version (the standard library is the
    corpus), the device and the training code."""
    output:
        metrics=TEXT_RUN_METRICS,
        checkpoints=TEXT_RUN_CHECKPOINTS,
    params:
        run=text_trajectory(TEXT),
        corpus_python=corpus_version(TEXT),
        device=TRAINING_DEVICE,
        torch_threads=TRAIN_THREADS,
        code=train_code("text_train", "icl_dynamics.experiments.text.run"),
        state_dir="state/text/L{layers}_seed{seed}",
    wildcard_constraints:
        layers=r"\d+",
        seed=r"\d+",
    log:
        log_file("text", "text_train", "L{layers}_seed{seed}"),
    benchmark:
        benchmark_file("text", "text_train", "L{layers}_seed{seed}")
    threads: TRAIN_THREADS
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/text_train.py"


rule text_measures:
    """Per-head QK/OV spectral measures of every text run, the runs' metrics and their ICL windows: the
    attention experiment's script, whose tables these are too."""
    input:
        metrics=[TEXT_RUN_METRICS.replace("L{layers}_seed{seed}", run) for run in TEXT_RUNS],
        checkpoints=[TEXT_RUN_CHECKPOINTS.replace("L{layers}_seed{seed}", run) for run in TEXT_RUNS],
    output:
        measures=TEXT_MEASURES,
        metrics=TEXT_METRICS,
        windows=TEXT_WINDOWS,
    params:
        measures=config["measures"],
        code=rule_code("attention_measures"),
    log:
        log_file("text", "text_measures"),
    benchmark:
        benchmark_file("text", "text_measures")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_measures.py"


rule text_claims:
    """Scorecard rows N1-text, N2-text, N3-text (the rules of N1-N3) and the per-run numbers."""
    input:
        measures=TEXT_MEASURES,
        metrics=TEXT_METRICS,
        windows=TEXT_WINDOWS,
    output:
        claims="results/claims/text.csv",
        per_run="results/text/claims_per_run.csv",
    params:
        thresholds=TEXT["thresholds"],
        measures=config["measures"],
        runs=TEXT_RUN_IDS,
        code=rule_code("text_claims"),
    log:
        log_file("text", "text_claims"),
    benchmark:
        benchmark_file("text", "text_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/text_claims.py"


rule text_figure:
    """Figure S5 from the small tables (never retrains)."""
    input:
        measures=TEXT_MEASURES,
        metrics=TEXT_METRICS,
        windows=TEXT_WINDOWS,
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/text_figure.rst", category="Figures",
                   subcategory="Attention-only transformers on code", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(text_figures.FIGURES),
    params:
        measures=config["measures"],
        runs=TEXT_RUN_IDS,
        code=rule_code("text_figure"),
    log:
        log_file("text", "text_figure", "{stem}"),
    benchmark:
        benchmark_file("text", "text_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/text_figure.py"
