"""The online monitor replayed over every experiment's stored runs (docs/science.md, section 12, "Rows C7"):
its rows and alarms, each experiment's events, and figure S6. No training; rows C7-attention, C7-grokking
and C7-linear are written by each experiment's claims rule from these tables. Included after linear.smk,
attention.smk and grokking.smk, whose paths and runs it reads (the tables' paths are written there)."""

from icl_dynamics.experiments.monitor import figures as monitor_figures

ALL_FIGURES += list(monitor_figures.FIGURES)


rule monitor_attention:
    """The monitor replayed over every run of the main family's checkpoint stacks; the starts of the 2+ layer
    runs' detected windows as events."""
    input:
        checkpoints=[ATTENTION_RUN_CHECKPOINTS.replace("{family}", MAIN_FAMILY).replace("L{layers}_seed{seed}", run)
                     for run in ATTENTION_RUNS],
        windows=ATTENTION_WINDOWS.format(family=MAIN_FAMILY),
    output:
        monitor=ATTENTION_MONITOR,
        events=ATTENTION_MONITOR_EVENTS,
    params:
        runs=ATTENTION_RUN_IDS,
        measures=config["measures"],
        code=rule_code("monitor_attention"),
    log:
        log_file("monitor", "monitor_attention"),
    benchmark:
        benchmark_file("monitor", "monitor_attention")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/monitor_attention.py"


rule monitor_grokking:
    """The monitor replayed over every seed's checkpoint stack; the grokking epochs as events."""
    input:
        checkpoints=expand(GROKKING_CHECKPOINTS, seed=GROKKING_SEEDS),
        events=GROKKING_EVENTS,
    output:
        monitor=GROKKING_MONITOR,
        events=GROKKING_MONITOR_EVENTS,
    params:
        seeds=GROKKING_SEEDS,
        runs=GROKKING_RUN_IDS,
        events=GROKKING_EVENT_IDS,
        measures=config["measures"],
        code=rule_code("monitor_grokking"),
    log:
        log_file("monitor", "monitor_grokking"),
    benchmark:
        benchmark_file("monitor", "monitor_grokking")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/monitor_grokking.py"


rule monitor_linear:
    """The monitor replayed over every seed's simulated p2 q1 of row M1's settings; each mode's half-rise per
    seed as events."""
    input:
        sims=expand(LINEAR_SIM, setting=LINEAR_MEASURES_SETTINGS),
        theories=expand(LINEAR_THEORY, setting=LINEAR_MEASURES_SETTINGS),
    output:
        monitor=LINEAR_MONITOR,
        events=LINEAR_MONITOR_EVENTS,
    params:
        settings=LINEAR_MEASURES_SETTINGS,
        measures=config["measures"],
        code=rule_code("monitor_linear"),
    log:
        log_file("monitor", "monitor_linear"),
    benchmark:
        benchmark_file("monitor", "monitor_linear")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/monitor_linear.py"


rule monitor_figure:
    """Figure S6: the alarm statistic over training per experiment, alarms and events marked."""
    input:
        attention=ATTENTION_MONITOR,
        attention_events=ATTENTION_MONITOR_EVENTS,
        grokking=GROKKING_MONITOR,
        grokking_events=GROKKING_MONITOR_EVENTS,
        linear=LINEAR_MONITOR,
        linear_events=LINEAR_MONITOR_EVENTS,
    output:
        pdf="figures/{stem}.pdf",
        png=report("figures/{stem}.png", caption="../report/monitor_figure.rst", category="Figures",
                   subcategory="Online monitor", labels={"figure": "{stem}"}),
    wildcard_constraints:
        stem="|".join(monitor_figures.FIGURES),
    params:
        attention_runs=ATTENTION_RUN_IDS,
        grokking_runs=GROKKING_RUN_IDS,
        linear_runs=LINEAR_MONITOR_RUNS,
        code=rule_code("monitor_figure"),
    log:
        log_file("monitor", "monitor_figure", "{stem}"),
    benchmark:
        benchmark_file("monitor", "monitor_figure", "{stem}")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/monitor_figure.py"
