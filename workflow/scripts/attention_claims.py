"""Thin entry point of rule attention_claims: rows N1-N3 of the main family, N1-<family> of each ablation,
C7-attention."""

import pandas as pd

from icl_dynamics.experiments.attention.claims import evaluate_claims, jump_table, sudden_emergence_row
from icl_dynamics.experiments.attention.monitor import attention_monitor_row
from icl_dynamics.experiments.readings.table import with_readings_note
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io.cached_files import check_runs, read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    settings = measures_section(snakemake.params.measures)
    thresholds = snakemake.params.thresholds
    main, *ablations = snakemake.params.families
    runs = snakemake.params.runs
    tables = {family: (check_runs(read_cached(w), runs, w, one_row_per_run=True), check_runs(read_cached(m), runs, m))
              for family, w, m in zip(snakemake.params.families, snakemake.input.windows, snakemake.input.metrics)}
    measures = check_runs(read_cached(snakemake.input.measures), runs, snakemake.input.measures)
    rows, per_run = evaluate_claims(*tables[main], measures, thresholds, settings["marginal_rank_k"])
    per_family = [per_run.assign(family=main)]
    for family in ablations:
        jumps = jump_table(*tables[family], thresholds)
        rows.append(sudden_emergence_row(jumps, thresholds, family))
        per_family.append(jumps.assign(family=family))
    readings = read_cached(snakemake.input.readings)
    rows = [with_readings_note(row, readings, snakemake.input.readings) for row in rows]
    monitor = check_runs(read_cached(snakemake.input.monitor), runs, snakemake.input.monitor)
    monitor_events = check_runs(read_cached(snakemake.input.monitor_events), runs, snakemake.input.monitor_events,
                                one_row_per_run=True)
    rows.append(attention_monitor_row(monitor, monitor_events, runs, thresholds))
    write_cached(pd.concat(per_family, ignore_index=True), snakemake.output.per_run)
    print(write_rows(rows, snakemake.output.claims).to_string())
