"""Readings the paper leaves open (docs/science.md, section 'Readings the paper leaves open'): rows N2, N3
and G2 scored under every reading of attention.readings and grokking.readings on the same runs (no
training), their tables, figure S4 and, through the claims rules, one sentence in each row's note.
Included after attention.smk and grokking.smk, whose paths and runs it reads."""

from icl_dynamics.experiments.attention.readings import check_config as check_attention_readings
from icl_dynamics.experiments.grokking.readings import check_config as check_grokking_readings
from icl_dynamics.experiments.readings import figures as readings_figures

check_section(check_attention_readings, "attention")
check_section(check_grokking_readings, "grokking")

ALL_FIGURES += list(readings_figures.FIGURES)
# ATTENTION_READINGS and GROKKING_READINGS (the tables) are written once in attention.smk and grokking.smk,
# whose claims rules read them.


rule readings_attention:
    """Rows N2 and N3 of the main family under every reading of attention.readings: one row per reading
    with its factor values, value, verdict and per-run pass counts. Reads the cached tables; the checkpoint
    stacks only for a shorter training length (the distance to an earlier checkpoint)."""
    input:
        measures=ATTENTION_MEASURES.format(family=MAIN_FAMILY),
        metrics=ATTENTION_METRICS.format(family=MAIN_FAMILY),
        windows=ATTENTION_WINDOWS.format(family=MAIN_FAMILY),
        checkpoints=[ATTENTION_RUN_CHECKPOINTS.replace("{family}", MAIN_FAMILY).replace("L{layers}_seed{seed}", run)
                     for run in ATTENTION_RUNS],
    output:
        ATTENTION_READINGS,
    params:
        runs=ATTENTION_RUNS,
        section={key: ATTENTION[key] for key in ("thresholds", "readings")},
        measures=config["measures"],
        code=rule_code("readings_attention"),
    log:
        log_file("readings", "readings_attention"),
    benchmark:
        benchmark_file("readings", "readings_attention")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/readings_attention.py"


rule readings_grokking:
    """Row G2 under every reading of grokking.readings (as readings_attention)."""
    input:
        events=GROKKING_EVENTS,
        measures=GROKKING_MEASURES,
        metrics=expand(GROKKING_METRICS, seed=GROKKING_SEEDS),
        checkpoints=expand(GROKKING_CHECKPOINTS, seed=GROKKING_SEEDS),
    output:
        GROKKING_READINGS,
    params:
        seeds=GROKKING_SEEDS,
        section={key: GROKKING[key] for key in ("events", "thresholds", "readings")},
        measures=config["measures"],
        code=rule_code("readings_grokking"),
    log:
        log_file("readings", "readings_grokking"),
    benchmark:
        benchmark_file("readings", "readings_grokking")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/readings_grokking.py"


rule readings_figure:
    """Figure S4: readings x rows, coloured by verdict, the primary reading marked."""
    input:
        attention=ATTENTION_READINGS,
        grokking=GROKKING_READINGS,
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/readings_figure.rst", category="Figures",
                   subcategory="Readings the paper leaves open", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(readings_figures.FIGURES),
    params:
        code=rule_code("readings_figure"),
    log:
        log_file("readings", "readings_figure", "{stem}"),
    benchmark:
        benchmark_file("readings", "readings_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/readings_figure.py"
