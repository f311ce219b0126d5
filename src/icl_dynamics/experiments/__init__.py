"""One folder per experiment: its run, measures, claims and figures modules.

Each folder mirrors ``workflow/rules/<experiment>.smk`` and ``tests/test_<experiment>*.py``; a new experiment
is one folder here plus one rule file.
"""

EXPERIMENTS = ("linear", "attention", "grokking")


def claim_ids(config: dict) -> list[str]:
    """Every scorecard row the workflow writes for a validated ``config``, as each experiment's
    ``claims.claim_ids`` names them (so a reference scorecard can be checked against the workflow)."""
    from importlib import import_module

    return [claim for name in EXPERIMENTS
            for claim in import_module(f"icl_dynamics.experiments.{name}.claims").claim_ids(config[name])]
