"""Thin entry point of rule monitor_linear: the monitor replayed over every seed's simulated p2 q1 of row M1's
settings, and row C7-linear's events (each mode's half-rise per seed)."""

import pandas as pd

from icl_dynamics.experiments.linear.monitor import half_rise_events, seed_stacks
from icl_dynamics.experiments.monitor.replay import replay_runs
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import read_cached, write_cached
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    settings = measures_section(snakemake.params.measures)
    tables, events = [], []
    for name, sim_path, theory_path in zip(snakemake.params.settings, snakemake.input.sims, snakemake.input.theories):
        sim = read_cached(sim_path)
        stacks = seed_stacks(sim)
        runs = [{"setting": name, "seed": seed} for seed in stacks]
        tables.append(replay_runs(runs, lambda run: stacks[run["seed"]], settings))
        events.append(half_rise_events(name, sim, read_cached(theory_path)))
    events = pd.concat(events, ignore_index=True)
    write_cached(pd.concat(tables, ignore_index=True), snakemake.output.monitor)
    write_cached(events, snakemake.output.events)
    print(events.to_string())
