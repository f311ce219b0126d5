"""Thin entry point of rule readings_attention: rows N2 and N3 under every reading of attention.readings."""

from icl_dynamics.experiments.attention.readings import attention_readings
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    paths = dict(zip(snakemake.params.runs, snakemake.input.checkpoints))
    table = attention_readings(read_cached(snakemake.input.windows), read_cached(snakemake.input.metrics),
                               read_cached(snakemake.input.measures),
                               lambda layers, seed: read_cached(paths[f"L{layers}_seed{seed}"]),
                               snakemake.params.section, measures_section(snakemake.params.measures))
    write_cached(table, snakemake.output[0])
    print(table.drop(columns=["per_run", "note"]).to_string())
