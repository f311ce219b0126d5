"""The validity map: the linear-transformer theories (Eq. 13, the exact mean flow, the finite-N closed form)
against SGD over N x spectrum x learning rate (config ``linear.validity_map``), figure S3, rows L7 and L8."""

from icl_dynamics.experiments.linear.compare import COMPARE_THRESHOLDS
from icl_dynamics.experiments.validity_map import figures as validity_figures
from icl_dynamics.experiments.validity_map.checks import check_config as check_validity_config
from icl_dynamics.experiments.validity_map.grid import grid_cells, operating_points

check_section(check_validity_config, "linear")

VALIDITY = config["linear"]["validity_map"]
VALIDITY_CELLS = grid_cells(config["linear"])
ALL_FIGURES += list(validity_figures.FIGURES)
CLAIM_TABLES += ["results/claims/validity_map.csv"]

# Paths, written once.
VALIDITY_PART = "results/validity_map/N{N}.csv"
VALIDITY_TABLE = "results/validity_map/map.csv"
VALIDITY_RULE = "results/validity_map/rule.json"


rule validity_map_cells:
    """Validity map, one context length: every cell of linear.validity_map with this N (a setting: N,
    geometric spectrum, lr) simulated, integrated and compared as a setting is, its cells x seeds batched in
    SGD runs; one long table. One job per N, so that a many-core machine or a cluster computes the map's
    columns at once (cells of equal N cost the same at every N: the Wishart draw does not grow with N).
    Each cell's SGD result is cached in state/validity_map/sim/<cell>.npz under a key of its computation,
    seeds and the simulation's code: the job reruns when its cells, the theories or the comparison change,
    and simulates only cells whose key is new."""
    output:
        VALIDITY_PART,
    wildcard_constraints:
        N=r"\d+",
    params:
        cells=lambda wc: [cell for cell in VALIDITY_CELLS if cell["N"] == int(wc.N)],
        seeds=LINEAR_SEEDS,
        thresholds={k: config["linear"]["thresholds"][k] for k in COMPARE_THRESHOLDS},
        converged_rel=VALIDITY["converged_rel"],
        sim_code=training_code("icl_dynamics.experiments.linear.simulate"),
        device=LINEAR_DEVICE,
        code=rule_code("validity_map_cells"),
        cache_dir="state/validity_map/sim",
    log:
        log_file("validity_map", "validity_map_cells", "N{N}"),
    benchmark:
        benchmark_file("validity_map", "validity_map_cells", "N{N}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/validity_map_cells.py"


rule validity_map_table:
    """The validity map's long table: the per-N tables as one, rows in the grid's cell order."""
    input:
        expand(VALIDITY_PART, N=VALIDITY["N"]),
    output:
        VALIDITY_TABLE,
    params:
        cells=[cell["name"] for cell in VALIDITY_CELLS],
        code=rule_code("validity_map_table"),
    log:
        log_file("validity_map", "validity_map_table"),
    benchmark:
        benchmark_file("validity_map", "validity_map_table")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/validity_map_table.py"


rule validity_map_claims:
    """Scorecard rows L7 (the rule of thumb for the closed form, fitted on part of the map, scored on the
    rest) and L8 (the finite-N closed form where the exact mean flow holds)."""
    input:
        VALIDITY_TABLE,
    output:
        claims="results/claims/validity_map.csv",
        rule=VALIDITY_RULE,
    params:
        thresholds={k: config["linear"]["thresholds"][k] for k in ("r2", "validity_accuracy", "finite_n_capture")},
        holdout=VALIDITY["holdout"],
        cells=[cell["name"] for cell in VALIDITY_CELLS],
        code=rule_code("validity_map_claims"),
    log:
        log_file("validity_map", "validity_map_claims"),
    benchmark:
        benchmark_file("validity_map", "validity_map_claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/validity_map_claims.py"


rule validity_map_figure:
    """Figure S3: heat maps of the validity map with threshold edges, the rule and the preset's settings."""
    input:
        table=VALIDITY_TABLE,
        rule=VALIDITY_RULE,
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/validity_map_figure.rst", category="Figures",
                   subcategory="Linear transformer", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(validity_figures.FIGURES),
    params:
        operating=operating_points(config["linear"]),
        thresholds={k: config["linear"]["thresholds"][k] for k in ("r2", "fixed_point_rel", "escape_rel")},
        grid={k: VALIDITY[k] for k in ("scale", "duration", "converged_rel")},
        code=rule_code("validity_map_figure"),
    log:
        log_file("validity_map", "validity_map_figure", "{stem}"),
    benchmark:
        benchmark_file("validity_map", "validity_map_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/validity_map_figure.py"


rule validity_map:
    """The validity map sweep with its row L7 and figure S3."""
    input:
        VALIDITY_TABLE,
        "results/claims/validity_map.csv",
        [path for stem in validity_figures.FIGURES for path in figure_paths(stem)],
