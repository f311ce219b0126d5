"""Linear transformer: SGD simulation, closed-form and exact mean-flow theory, comparison, figures 1-3, rows
L1-L6; macroscopic measures of p2 q1 against the theory's prediction, figure S1, rows M1 and C7-linear."""

from icl_dynamics.experiments.linear import figures as linear_figures
from icl_dynamics.experiments.linear import measures_figures as linear_measures_figures
from icl_dynamics.experiments.linear.checks import check_config as check_linear_config
from icl_dynamics.experiments.linear.compare import COMPARE_THRESHOLDS
from icl_dynamics.experiments.linear.settings import resolve_setting, used_settings

check_section(check_linear_config, "linear")

LINEAR_SETTINGS = used_settings(config["linear"])
LINEAR_SEEDS = canonical_seeds(config["linear"]["seeds"])  # sorted: their order changes no result
LINEAR_FIG = config["linear"]["figures"]
# The measures figure and row M1 use the main and the random-basis setting (both aligned init).
LINEAR_MEASURES_SETTINGS = list(dict.fromkeys([LINEAR_FIG["fig2_main"], LINEAR_FIG["fig1_rotated"]]))
ALL_FIGURES += list(linear_figures.FIGURES) + list(linear_measures_figures.FIGURES)
CLAIM_TABLES += ["results/claims/linear.csv", "results/claims/linear_measures.csv"]

# Paths, written once.
LINEAR_SIM = "results/linear/{setting}/sim.npz"
LINEAR_THEORY = "results/linear/{setting}/theory.npz"
LINEAR_COMPARISON = "results/linear/{setting}/comparison.json"
LINEAR_MEASURES = "results/linear/{setting}/measures.parquet"
# The monitor replayed over the measures settings' seeds and row C7-linear's events (monitor.smk).
LINEAR_MONITOR = "results/monitor/linear.parquet"
LINEAR_MONITOR_EVENTS = "results/monitor/linear_events.csv"
LINEAR_MONITOR_RUNS = [{"setting": setting, "seed": seed} for setting in LINEAR_MEASURES_SETTINGS for seed in LINEAR_SEEDS]


wildcard_constraints:
    setting="|".join(LINEAR_SETTINGS),


# The linear SGD runs in torch float64 on this machine's GPU where training resolves to CUDA here, else in
# NumPy float64; not on a cluster's GPU nodes (device: cuda-nodes), where its jobs ask for no GPU.
LINEAR_DEVICE = "cuda" if TRAINING_DEVICE == "cuda" and config["device"] != "cuda-nodes" else "cpu"


rule linear_simulate:
    """Minibatch SGD on the full D x D model, all seeds batched in one process."""
    output:
        LINEAR_SIM,
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        seeds=LINEAR_SEEDS,
        device=LINEAR_DEVICE,
        code=train_code("linear_simulate", "icl_dynamics.experiments.linear.simulate"),
    log:
        log_file("linear", "linear_simulate", "{setting}"),
    benchmark:
        benchmark_file("linear", "linear_simulate", "{setting}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_simulate.py"


rule linear_theory:
    """Closed form (Eq. 13-14) and exact mean flow, per seed, on the simulation's logging steps."""
    output:
        LINEAR_THEORY,
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        seeds=LINEAR_SEEDS,
        code=rule_code("linear_theory"),
    log:
        log_file("linear", "linear_theory", "{setting}"),
    benchmark:
        benchmark_file("linear", "linear_theory", "{setting}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_theory.py"


rule linear_compare:
    """Per-mode R^2, half-rise times, fixed points, conservation, null blocks and cliffs."""
    input:
        sim=LINEAR_SIM,
        theory=LINEAR_THEORY,
    output:
        LINEAR_COMPARISON,
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        thresholds={k: config["linear"]["thresholds"][k] for k in COMPARE_THRESHOLDS},
        code=rule_code("linear_compare"),
    log:
        log_file("linear", "linear_compare", "{setting}"),
    benchmark:
        benchmark_file("linear", "linear_compare", "{setting}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_compare.py"


rule linear_claims:
    """Scorecard rows L1-L6."""
    input:
        expand(LINEAR_COMPARISON, setting=LINEAR_SETTINGS),
    output:
        "results/claims/linear.csv",
    params:
        linear=config["linear"],
        settings=LINEAR_SETTINGS,
        code=rule_code("linear_claims"),
    log:
        log_file("linear", "linear_claims"),
    benchmark:
        benchmark_file("linear", "linear_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_claims.py"


rule linear_figure:
    """Figures 1-3 from the small per-setting tables."""
    input:
        sims=expand(LINEAR_SIM, setting=LINEAR_SETTINGS),
        theories=expand(LINEAR_THEORY, setting=LINEAR_SETTINGS),
        comparisons=expand(LINEAR_COMPARISON, setting=LINEAR_SETTINGS),
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/linear_figures.rst", category="Figures",
                   subcategory="Linear transformer", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(linear_figures.FIGURES),
    params:
        figures=config["linear"]["figures"],
        settings=LINEAR_SETTINGS,
        code=rule_code("linear_figure"),
    log:
        log_file("linear", "linear_figure", "{stem}"),
    benchmark:
        benchmark_file("linear", "linear_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_figure.py"


rule linear_measures:
    """Effective, marginalised and stable rank, subspace distance and mode strengths of p2 q1 per seed
    and logged step, with the effective rank and mode strengths the mean-flow theories predict."""
    input:
        sim=LINEAR_SIM,
        theory=LINEAR_THEORY,
    output:
        LINEAR_MEASURES,
    params:
        measures=config["measures"],
        code=rule_code("linear_measures"),
    log:
        log_file("linear", "linear_measures", "{setting}"),
    benchmark:
        benchmark_file("linear", "linear_measures", "{setting}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures.py"


rule linear_measures_figure:
    """Figure S1: spectral measures of p2 q1 over training, simulation against the predicted rank."""
    input:
        measures=expand(LINEAR_MEASURES, setting=LINEAR_MEASURES_SETTINGS),
        comparisons=expand(LINEAR_COMPARISON, setting=LINEAR_MEASURES_SETTINGS),
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/linear_measures_figure.rst",
                   category="Figures", subcategory="Linear transformer", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(linear_measures_figures.FIGURES),
    params:
        settings=LINEAR_MEASURES_SETTINGS,
        measures=config["measures"],
        code=rule_code("linear_measures_figure"),
    log:
        log_file("linear", "linear_measures_figure", "{stem}"),
    benchmark:
        benchmark_file("linear", "linear_measures_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures_figure.py"


rule linear_measures_claims:
    """Scorecard rows M1 (the rank staircase of p2 q1 against the theory's escape times) and C7-linear (the
    replayed monitor's alarms against each mode's half-rise, monitor.smk)."""
    input:
        measures=expand(LINEAR_MEASURES, setting=LINEAR_MEASURES_SETTINGS),
        comparisons=expand(LINEAR_COMPARISON, setting=LINEAR_MEASURES_SETTINGS),
        monitor=LINEAR_MONITOR,
        monitor_events=LINEAR_MONITOR_EVENTS,
    output:
        "results/claims/linear_measures.csv",
    params:
        settings=LINEAR_MEASURES_SETTINGS,
        tol=config["linear"]["thresholds"]["rank_step_tol"],
        runs=LINEAR_MONITOR_RUNS,
        thresholds={k: config["linear"]["thresholds"][k] for k in ("monitor_caught_fraction", "monitor_false_alarms_per_run")},
        code=rule_code("linear_measures_claims"),
    log:
        log_file("linear", "linear_measures_claims"),
    benchmark:
        benchmark_file("linear", "linear_measures_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures_claims.py"
