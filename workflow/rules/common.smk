"""Config validation (before any job starts) and helpers shared by all rule files."""

import sys

from icl_dynamics.config import ConfigError, validate

# One schema per top-level section, in workflow/schemas/<section>.schema.yaml.
CONFIG_SECTIONS = ["linear", "measures", "attention", "grokking"]

try:
    validate(config, "config")
    for _section in CONFIG_SECTIONS:
        if _section in config:
            validate(config[_section], _section, prefix=_section)
except ConfigError as _err:
    sys.exit(f"ERROR in configuration: {_err}")

# Rule files append their figure paths (pdf and png) and per-experiment scorecard tables here.
ALL_FIGURES = []
CLAIM_TABLES = []


def figure_paths(stem):
    """The PDF and PNG twin of ``figures/<stem>``."""
    return [f"figures/{stem}.pdf", f"figures/{stem}.png"]


def train_gpus():
    """GPUs of a training job: 1 when the config says ``device: cuda`` (the SLURM executor then asks
    for --gpus=1), else 0 (no request; ``device: auto`` uses a GPU only where a profile gives one)."""
    return 1 if config["device"] == "cuda" else 0


def train_threads():
    """Threads for a training job: the configured count (torch's thread count is set from it)."""
    return config["threads"]["train"]
