"""Config validation (before any job starts) and helpers shared by all rule files."""

import sys

from icl_dynamics.config import ConfigError, validate
from icl_dynamics.workflow_io import code_fingerprint

# One schema per top-level section, in workflow/schemas/<section>.schema.yaml.
CONFIG_SECTIONS = ["linear", "measures", "attention", "grokking"]

try:
    validate(config, "config")
    for _section in CONFIG_SECTIONS:
        if _section in config:
            validate(config[_section], _section, prefix=_section)
except ConfigError as _err:
    sys.exit(f"ERROR in configuration: {_err}")


def check_section(check, name):
    """Run an experiment's cross-key checks on its section (before any job), exiting with their message."""
    try:
        check(config[name], config)
    except ConfigError as err:
        sys.exit(f"ERROR in configuration: {err}")


# Rule files append their figure paths (pdf and png) and per-experiment scorecard tables here.
ALL_FIGURES = []
CLAIM_TABLES = []


def figure_paths(stem):
    """The PDF and PNG twin of ``figures/<stem>``."""
    return [f"figures/{stem}.pdf", f"figures/{stem}.png"]


def resolve_training_device(name):
    """The device of every training job, resolved once when the workflow is read: ``auto`` is ``cuda``
    where this machine has a GPU, else ``cpu``. Training rules get the resolved name in their params,
    so ``--config device=cpu`` on a CPU machine (where ``auto`` already meant cpu) retrains nothing.
    On a cluster whose GPUs are on other nodes than the one running snakemake, say ``device: cuda``
    (profiles/slurm-gpu does)."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


TRAINING_DEVICE = resolve_training_device(config["device"])


def train_gpus():
    """GPUs of a training job: 1 when training runs on CUDA (the SLURM executor then asks for --gpus=1)."""
    return 1 if TRAINING_DEVICE == "cuda" else 0


def train_threads():
    """Threads for a training job: the configured count (torch's thread count is set from it)."""
    return config["threads"]["train"]
