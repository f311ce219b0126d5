"""Thin entry point of rule readings_grokking: row G2 under every reading of grokking.readings."""

import pandas as pd

from icl_dynamics.experiments.grokking.readings import grokking_readings
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    paths = dict(zip(snakemake.params.seeds, snakemake.input.checkpoints))
    metrics = pd.concat([read_cached(p) for p in snakemake.input.metrics], ignore_index=True)
    table = grokking_readings(read_cached(snakemake.input.events), metrics, read_cached(snakemake.input.measures),
                              lambda seed: read_cached(paths[seed]), snakemake.params.section,
                              measures_section(snakemake.params.measures))
    write_cached(table, snakemake.output[0])
    print(table.drop(columns=["per_run", "note"]).to_string())
