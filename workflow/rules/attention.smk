"""Attention-only transformers of 1-4 layers: training, circuit measures, figures 4-6, scorecard N1-N3,
and the model-family ablation (figure S2, rows N1-<family>)."""

from icl_dynamics.experiments.attention.run import MAIN_FAMILY, families, family_section
from icl_dynamics.experiments.attention.checks import check_config as check_attention_config
from icl_dynamics.experiments.attention.run import trajectory_settings as attention_trajectory

check_section(check_attention_config, "attention")

ATTENTION = config["attention"]
ATTENTION_FAMILIES = families(ATTENTION)
ATTENTION_ABLATIONS = [family for family in ATTENTION_FAMILIES if family != MAIN_FAMILY]
ATTENTION_RUNS = [f"L{layers}_seed{seed}" for layers in ATTENTION["depths"] for seed in ATTENTION["seeds"]]
ATTENTION_FIGURES = {"fig4": "fig4_icl_emergence", "fig5": "fig5_qk_ov_ranks", "fig6": "fig6_subspace_distance"}
ABLATION_FIGURE = "figS2_model_family_ablation"
ALL_FIGURES += [p for stem in ATTENTION_FIGURES.values() for p in figure_paths(stem)]
ALL_FIGURES += figure_paths(ABLATION_FIGURE) if ATTENTION_ABLATIONS else []
CLAIM_TABLES += ["results/claims/attention.csv"]


wildcard_constraints:
    layers=r"\d+",
    seed=r"\d+",
    family="|".join(ATTENTION_FAMILIES),


rule attention_train:
    """One model family, depth and seed: metrics per checkpoint and the stack of per-head W_Q, W_K, W_V, W_O
    (float32). Resumable state lives in state/attention/{family}/L{layers}_seed{seed}, not an output. Params
    hold only what changes the run (its settings, device and training code): no other config edit retrains."""
    output:
        metrics="results/attention/{family}/L{layers}_seed{seed}/metrics.parquet",
        checkpoints="results/attention/{family}/L{layers}_seed{seed}/checkpoints.npz",
    params:
        run=lambda wc: attention_trajectory(family_section(ATTENTION, wc.family)),
        device=TRAINING_DEVICE,
        code=code_fingerprint("icl_dynamics.experiments.attention.run"),
        state_dir="state/attention/{family}/L{layers}_seed{seed}",
    log:
        "logs/attention/{family}/L{layers}_seed{seed}/train.log",
    benchmark:
        "benchmarks/out/attention/{family}/L{layers}_seed{seed}/train.tsv"
    threads: train_threads()
    resources:
        gpu=train_gpus(),
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_train.py"


rule attention_measures:
    """Per-head QK/OV spectral measures of every run of a family, the runs' metrics and their ICL windows."""
    input:
        metrics=expand("results/attention/{{family}}/{run}/metrics.parquet", run=ATTENTION_RUNS),
        checkpoints=expand("results/attention/{{family}}/{run}/checkpoints.npz", run=ATTENTION_RUNS),
    output:
        measures="results/attention/{family}/measures.parquet",
        metrics="results/attention/{family}/metrics.parquet",
        windows="results/attention/{family}/windows.csv",
    params:
        measures=config.get("measures", {}),
    log:
        "logs/attention/{family}/measures.log",
    benchmark:
        "benchmarks/out/attention/{family}/measures.tsv"
    threads: config["threads"]["default"]
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_measures.py"


rule attention_figure:
    """Figures 4-6 of the main family from the small tables (never retrains)."""
    input:
        measures=f"results/attention/{MAIN_FAMILY}/measures.parquet",
        metrics=f"results/attention/{MAIN_FAMILY}/metrics.parquet",
        windows=f"results/attention/{MAIN_FAMILY}/windows.csv",
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


rule attention_ablation_figure:
    """Figure S2: ICL score per depth of every model family, detected windows shaded."""
    input:
        metrics=expand("results/attention/{family}/metrics.parquet", family=ATTENTION_FAMILIES),
        windows=expand("results/attention/{family}/windows.csv", family=ATTENTION_FAMILIES),
    output:
        pdf=f"figures/{ABLATION_FIGURE}.pdf",
        png=report(f"figures/{ABLATION_FIGURE}.png", caption="../report/attention_ablation_figure.rst",
                   category="Figures", subcategory="Attention-only transformers", labels={"figure": ABLATION_FIGURE}),
    params:
        families=ATTENTION_FAMILIES,
        models={family: family_section(ATTENTION, family)["model"] for family in ATTENTION_FAMILIES},
    log:
        f"logs/attention/{ABLATION_FIGURE}.log",
    benchmark:
        f"benchmarks/out/attention/{ABLATION_FIGURE}.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/attention_ablation_figure.py"


rule attention_claims:
    """Scorecard rows N1-N3 of the main family, N1-<family> of each ablation, and the per-run numbers."""
    input:
        measures=f"results/attention/{MAIN_FAMILY}/measures.parquet",
        metrics=expand("results/attention/{family}/metrics.parquet", family=ATTENTION_FAMILIES),
        windows=expand("results/attention/{family}/windows.csv", family=ATTENTION_FAMILIES),
    output:
        claims="results/claims/attention.csv",
        per_run="results/attention/claims_per_run.csv",
    params:
        families=ATTENTION_FAMILIES,
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


rule figS2:
    """Figure S2: the model-family ablation (ICL score per depth, each family)."""
    input:
        figure_paths(ABLATION_FIGURE),


rule attention_ablation:
    """Every ablation family's runs and figure S2 (the scorecard rows N1-<family> come with `claims`)."""
    input:
        expand("results/attention/{family}/windows.csv", family=ATTENTION_ABLATIONS),
        figure_paths(ABLATION_FIGURE),
