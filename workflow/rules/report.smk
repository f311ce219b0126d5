"""Report items: the scorecard and every job's run time and peak memory, as pages of `snakemake --report`.

Included after every experiment's rule file: its input is all figures and the scorecard, so it runs
last, when every other job's benchmark file exists. Figures enter the report through report(...) in
their own rules' outputs, with captions in workflow/report/.
"""

import os

REPORT_TABLES = ["results/report/scorecard.html", "results/report/benchmarks.html"]


rule report_tables:
    """results/report/: the scorecard and a table of seconds and max_rss per job from the benchmark files."""
    input:
        figures=[path for stem in ALL_FIGURES for path in figure_paths(stem)],
        claims="results/claims.csv",
    output:
        scorecard=report("results/report/scorecard.html", caption="../report/scorecard.rst", category="Scorecard"),
        benchmarks=report(
            "results/report/benchmarks.html", caption="../report/benchmarks.rst", category="Run time and memory"
        ),
        benchmarks_csv="results/report/benchmarks.csv",
    params:
        # Rule name -> benchmark path pattern of every other rule (this one's file is being written);
        # a function, so that it is evaluated when the job is built, after every rule file was read.
        patterns=lambda wildcards: {
            r.name: str(r.benchmark) for r in workflow.rules if r.benchmark and not r.name.endswith("report_tables")
        },
        code=rule_code("report_tables"),
    log:
        log_file("report", "report_tables"),
    benchmark:
        benchmark_file("report", "report_tables")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/report_tables.py"


REFERENCE_STEMS = reference_stems()


rule reference_figures:
    """docs/results/figures/: the figure PNGs of this run (every one, or config reference_figures for a run
    segment; shrunk below 400 KB where larger) and manifest.json (per file: stem, bytes, sha256, the drawing
    rule's code fingerprint, the run's commit and config files; the entries of figures not drawn now are
    kept). Not part of `all`: run it after a reference run (`snakemake --cores 1 reference_figures`)."""
    input:
        figures=[figure_paths(stem)[1] for stem in REFERENCE_STEMS],
    output:
        figures=[f"docs/results/figures/{stem}.png" for stem in REFERENCE_STEMS],
        manifest="docs/results/figures/manifest.json",
    params:
        # stem -> (name, code fingerprint) of the rule that draws figures/<stem>.png; a function, evaluated
        # when the job is built, after every rule file was read
        rules=lambda wildcards: {
            stem: (r.name, dict(r.params.items())["code"])
            for stem in REFERENCE_STEMS
            for r in workflow.rules
            if r.is_producer(figure_paths(stem)[1])
        },
        config_files=[os.path.relpath(os.path.abspath(path), workflow.basedir) for path in workflow.configfiles],
        root=workflow.basedir,
        max_bytes=400_000,
        code=rule_code("reference_figures"),
    log:
        log_file("report", "reference_figures"),
    benchmark:
        benchmark_file("report", "reference_figures")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/reference_figures.py"
