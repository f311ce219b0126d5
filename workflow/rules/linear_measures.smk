"""Linear transformer: macroscopic measures of p2 q1 against the theory's prediction, figure S1, row M1."""

LINEAR_FIG = config["linear"]["figures"]
# The measures figure and row M1 use the main and the random-basis setting (both aligned init).
LINEAR_MEASURES_SETTINGS = list(dict.fromkeys([LINEAR_FIG["fig2_main"], LINEAR_FIG["fig1_rotated"]]))
ALL_FIGURES += figure_paths("figS1_linear_measures")
CLAIM_TABLES += ["results/claims/linear_measures.csv"]


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
