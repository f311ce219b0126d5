"""Thin entry point of rule linear_measures: the measures table of one setting's p2 q1."""

from icl_dynamics.experiments.linear.measures import p2q1_measures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    table = p2q1_measures(read_cached(snakemake.input.sim), read_cached(snakemake.input.theory),
                          measures_section(snakemake.params.measures))
    write_cached(table, snakemake.output[0])
    last = table[table["step"] == table["step"].max()]
    print(last.groupby("measure")["value"].mean().to_string())
