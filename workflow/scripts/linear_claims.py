"""Thin entry point of rule linear_claims."""

import json

from icl_dynamics.experiments.linear.claims import linear_rows
from icl_dynamics.scorecard import write_rows
from icl_dynamics.workflow_io import rule_logging

with rule_logging(snakemake.log[0]):
    comps = {}
    for name, path in zip(snakemake.params.settings, snakemake.input):
        with open(path) as fh:
            comps[name] = json.load(fh)
    frame = write_rows(linear_rows(comps, snakemake.params.linear), snakemake.output[0])
    print(frame.to_string())
