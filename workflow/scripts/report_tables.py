"""Thin entry point of rule report_tables: the scorecard and the benchmark table as report pages."""

from pathlib import Path

from icl_dynamics.reporting import benchmarks_page, collect_benchmarks, scorecard_page
from icl_dynamics.workflow_io.cached_files import read_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    claims = read_cached(snakemake.input.claims)
    Path(snakemake.output.scorecard).write_text(scorecard_page(claims))
    benchmarks = collect_benchmarks(".", snakemake.params.patterns)
    benchmarks.to_csv(snakemake.output.benchmarks_csv, index=False)
    Path(snakemake.output.benchmarks).write_text(benchmarks_page(benchmarks))
    print(f"{len(claims)} claim rows, {len(benchmarks)} benchmark files")
