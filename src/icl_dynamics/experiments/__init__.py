"""One folder per experiment: its run, measures, claims and figures modules.

Each folder mirrors ``workflow/rules/<experiment>.smk`` and ``tests/test_<experiment>*.py``; a new experiment
is one folder here, one rule file and one schema (or a section of the schema of the model it studies, as the
validity map's ``linear.validity_map``).
"""

# Experiment -> the top-level config section it reads, in scorecard order.
EXPERIMENTS = {"linear": "linear", "validity_map": "linear", "attention": "attention", "grokking": "grokking", "text": "text"}
# Folders with figures but no scorecard rows, after the experiments whose runs they read.
SUPPLEMENTS = ["readings", "monitor"]


def claim_ids(config: dict) -> list[str]:
    """Every scorecard row the workflow writes for a validated ``config``, as each experiment's
    ``claims.claim_ids`` names them, in scorecard order (so a reference scorecard can be checked against
    the workflow)."""
    from importlib import import_module

    return [claim for name, section in EXPERIMENTS.items()
            for claim in import_module(f"icl_dynamics.experiments.{name}.claims").claim_ids(config[section])]


def figure_stems() -> list[str]:
    """Every figure the workflow renders (the keys of each experiment's ``FIGURES``), in experiment order."""
    from importlib import import_module
    from pkgutil import iter_modules
    from pathlib import Path

    stems = []
    for name in [*EXPERIMENTS, *SUPPLEMENTS]:
        folder = Path(__file__).parent / name
        for module in sorted(m.name for m in iter_modules([str(folder)]) if m.name.endswith("figures")):
            stems += list(import_module(f"icl_dynamics.experiments.{name}.{module}").FIGURES)
    return stems
