"""Linear transformer: SGD simulation, closed-form and exact mean-flow theory, comparison, figures 1-3;
macroscopic measures of p2 q1 against the theory's prediction, figure S1, row M1; the validity map of
both theories over N x spectrum x learning rate, figure S3, row L7."""

from icl_dynamics.experiments.linear.checks import check_config as check_linear_config
from icl_dynamics.experiments.linear.run import COMPARE_THRESHOLDS, resolve_setting, used_settings
from icl_dynamics.experiments.linear.validity import grid_cells, operating_points

check_section(check_linear_config, "linear")

LINEAR_SETTINGS = used_settings(config["linear"])
LINEAR_SEEDS = config["linear"]["seeds"]
LINEAR_FIGURES = ["fig1_fixed_point", "fig2_staged_learning", "fig3_sweeps"]
ALL_FIGURES += [p for stem in LINEAR_FIGURES for p in figure_paths(stem)]
CLAIM_TABLES += ["results/claims/linear.csv"]
LINEAR_FIG = config["linear"]["figures"]
# The measures figure and row M1 use the main and the random-basis setting (both aligned init).
LINEAR_MEASURES_SETTINGS = list(dict.fromkeys([LINEAR_FIG["fig2_main"], LINEAR_FIG["fig1_rotated"]]))
ALL_FIGURES += figure_paths("figS1_linear_measures")
CLAIM_TABLES += ["results/claims/linear_measures.csv"]
VALIDITY = config["linear"]["validity_map"]
VALIDITY_CELLS = grid_cells(config["linear"])
ALL_FIGURES += figure_paths("figS3_validity_map")
CLAIM_TABLES += ["results/claims/linear_validity.csv"]


wildcard_constraints:
    setting="|".join(LINEAR_SETTINGS),


rule linear_simulate:
    """Minibatch SGD on the full D x D model, all seeds batched in one process."""
    output:
        "results/linear/{setting}/sim.npz",
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        seeds=LINEAR_SEEDS,
        code=code_fingerprint("icl_dynamics.experiments.linear.run"),
    log:
        "logs/linear/{setting}/simulate.log",
    benchmark:
        "benchmarks/out/linear/{setting}/simulate.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_simulate.py"


rule linear_theory:
    """Closed form (Eq. 13-14) and exact mean flow, per seed, on the simulation's logging steps."""
    output:
        "results/linear/{setting}/theory.npz",
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        seeds=LINEAR_SEEDS,
    log:
        "logs/linear/{setting}/theory.log",
    benchmark:
        "benchmarks/out/linear/{setting}/theory.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_theory.py"


rule linear_compare:
    """Per-mode R^2, half-rise times, fixed points, conservation, null blocks and cliffs."""
    input:
        sim="results/linear/{setting}/sim.npz",
        theory="results/linear/{setting}/theory.npz",
    output:
        "results/linear/{setting}/comparison.json",
    params:
        setting=lambda wc: resolve_setting(config["linear"], wc.setting),
        thresholds=config["linear"]["thresholds"],
    log:
        "logs/linear/{setting}/compare.log",
    benchmark:
        "benchmarks/out/linear/{setting}/compare.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_compare.py"


rule linear_claims:
    """Scorecard rows L1-L6."""
    input:
        expand("results/linear/{setting}/comparison.json", setting=LINEAR_SETTINGS),
    output:
        "results/claims/linear.csv",
    params:
        linear=config["linear"],
        settings=LINEAR_SETTINGS,
    log:
        "logs/linear/claims.log",
    benchmark:
        "benchmarks/out/linear/claims.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_claims.py"


rule linear_figure:
    """Figures 1-3 from the small per-setting tables."""
    input:
        sims=expand("results/linear/{setting}/sim.npz", setting=LINEAR_SETTINGS),
        theories=expand("results/linear/{setting}/theory.npz", setting=LINEAR_SETTINGS),
        comparisons=expand("results/linear/{setting}/comparison.json", setting=LINEAR_SETTINGS),
    output:
        pdf="figures/{fig}.pdf",
        png=report("figures/{fig}.png", caption="../report/linear_figures.rst", category="Figures",
                   subcategory="Linear transformer", labels={"figure": "{fig}"}),
    wildcard_constraints:
        fig="|".join(LINEAR_FIGURES),
    params:
        figures=config["linear"]["figures"],
        settings=LINEAR_SETTINGS,
    log:
        "logs/figures/{fig}.log",
    benchmark:
        "benchmarks/out/figures/{fig}.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_figure.py"


rule fig1:
    input:
        figure_paths("fig1_fixed_point"),


rule fig2:
    input:
        figure_paths("fig2_staged_learning"),


rule fig3:
    input:
        figure_paths("fig3_sweeps"),


rule linear_measures:
    """Effective, marginalised and stable rank, subspace distance and mode strengths of p2 q1 per seed
    and logged step, with the effective rank and mode strengths the mean-flow theories predict."""
    input:
        sim="results/linear/{setting}/sim.npz",
        theory="results/linear/{setting}/theory.npz",
    output:
        "results/linear/{setting}/measures.parquet",
    params:
        measures=config.get("measures", {}),
    log:
        "logs/linear/{setting}/measures.log",
    benchmark:
        "benchmarks/out/linear/{setting}/measures.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures.py"


rule linear_measures_figure:
    """Figure S1: spectral measures of p2 q1 over training, simulation against the predicted rank."""
    input:
        measures=expand("results/linear/{setting}/measures.parquet", setting=LINEAR_MEASURES_SETTINGS),
        comparisons=expand("results/linear/{setting}/comparison.json", setting=LINEAR_MEASURES_SETTINGS),
    output:
        pdf="figures/figS1_linear_measures.pdf",
        png=report("figures/figS1_linear_measures.png", caption="../report/linear_measures_figure.rst",
                   category="Figures", subcategory="Linear transformer", labels={"figure": "figS1_linear_measures"}),
    params:
        settings=LINEAR_MEASURES_SETTINGS,
        measures=config.get("measures", {}),
    log:
        "logs/figures/figS1_linear_measures.log",
    benchmark:
        "benchmarks/out/figures/figS1_linear_measures.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures_figure.py"


rule linear_measures_claims:
    """Scorecard row M1: the rank staircase of p2 q1 against the theory's escape times."""
    input:
        measures=expand("results/linear/{setting}/measures.parquet", setting=LINEAR_MEASURES_SETTINGS),
        comparisons=expand("results/linear/{setting}/comparison.json", setting=LINEAR_MEASURES_SETTINGS),
    output:
        "results/claims/linear_measures.csv",
    params:
        settings=LINEAR_MEASURES_SETTINGS,
        tol=config["linear"]["thresholds"]["rank_step_tol"],
    log:
        "logs/linear/measures_claims.log",
    benchmark:
        "benchmarks/out/linear/measures_claims.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_measures_claims.py"


rule figS1:
    input:
        figure_paths("figS1_linear_measures"),


rule linear_validity_cells:
    """Validity map, one context length: every cell of linear.validity_map with this N (a setting: N,
    geometric spectrum, lr) simulated, integrated and compared as a setting is, its cells x seeds batched in
    SGD runs; one long table. One job per N, so that a many-core machine or a cluster computes the map's
    columns at once (cells of equal N cost the same at every N: the Wishart draw does not grow with N).
    Each cell's comparison is cached in results/linear/validity_map/cells/<cell>.json, not an output: the
    job reruns when its cells change, but computes only cells whose cached key (their computation, seeds,
    compare thresholds, code) is new."""
    output:
        "results/linear/validity_map/N{N}.csv",
    wildcard_constraints:
        N=r"\d+",
    params:
        cells=lambda wc: [cell for cell in VALIDITY_CELLS if cell["N"] == int(wc.N)],
        seeds=LINEAR_SEEDS,
        thresholds={k: config["linear"]["thresholds"][k] for k in COMPARE_THRESHOLDS},
        converged_rel=VALIDITY["converged_rel"],
        code=code_fingerprint("icl_dynamics.experiments.linear.validity"),
        cache_dir="results/linear/validity_map/cells",
    log:
        "logs/linear/validity_map/N{N}.log",
    benchmark:
        "benchmarks/out/linear/validity_map/N{N}.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_validity_cells.py"


rule linear_validity_map:
    """The validity map's long table: the per-N tables as one, rows in the grid's cell order."""
    input:
        expand("results/linear/validity_map/N{N}.csv", N=VALIDITY["N"]),
    output:
        "results/linear/validity_map/map.csv",
    params:
        cells=[cell["name"] for cell in VALIDITY_CELLS],
    log:
        "logs/linear/validity_map/map.log",
    benchmark:
        "benchmarks/out/linear/validity_map/map.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_validity_map.py"


rule linear_validity_claims:
    """Scorecard row L7: the rule of thumb for the closed form, fitted on part of the map, scored on the rest."""
    input:
        "results/linear/validity_map/map.csv",
    output:
        claims="results/claims/linear_validity.csv",
        rule="results/linear/validity_map/rule.json",
    params:
        thresholds={k: config["linear"]["thresholds"][k] for k in ("r2", "validity_accuracy")},
        holdout=VALIDITY["holdout"],
    log:
        "logs/linear/validity_map/claims.log",
    benchmark:
        "benchmarks/out/linear/validity_map/claims.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_validity_claims.py"


rule linear_validity_figure:
    """Figure S3: heat maps of the validity map with threshold edges, the rule and the preset's settings."""
    input:
        table="results/linear/validity_map/map.csv",
        rule="results/linear/validity_map/rule.json",
    output:
        pdf="figures/figS3_validity_map.pdf",
        png=report("figures/figS3_validity_map.png", caption="../report/validity_map_figure.rst", category="Figures",
                   subcategory="Linear transformer", labels={"figure": "figS3_validity_map"}),
    params:
        operating=operating_points(config["linear"]),
        thresholds={k: config["linear"]["thresholds"][k] for k in ("r2", "fixed_point_rel", "escape_rel")},
        grid={k: VALIDITY[k] for k in ("scale", "duration", "converged_rel")},
    log:
        "logs/figures/figS3_validity_map.log",
    benchmark:
        "benchmarks/out/figures/figS3_validity_map.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/linear_validity_figure.py"


rule figS3:
    input:
        figure_paths("figS3_validity_map"),


rule validity_map:
    """The validity map sweep with its row L7 and figure S3."""
    input:
        "results/linear/validity_map/map.csv",
        "results/claims/linear_validity.csv",
        figure_paths("figS3_validity_map"),
