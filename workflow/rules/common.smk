"""Config validation (before any job starts) and the helpers of every rule file (paths of logs and
benchmark files, thread counts, the training device, and the code fingerprint each rule carries)."""

import sys
from pathlib import Path

from icl_dynamics.config import ConfigError, canonical_seeds, check_config_files, validate
from icl_dynamics.workflow_io.cached_files import remove_finished_states
from icl_dynamics.workflow_io.fingerprints import script_code, training_code

# One schema per top-level section, in workflow/schemas/<section>.schema.yaml.
CONFIG_SECTIONS = ["linear", "measures", "attention", "grokking", "text"]

try:
    # Snakemake reads --configfile itself and keeps the last of two equal keys: refuse them.
    check_config_files(workflow.configfiles)
    # Snakemake merges a --configfile into config/config.yaml and cannot delete a key: `attention: {ablations:
    # null}` trains the main family alone (a run segment without figure S2 and rows N1-<family>).
    if isinstance(config.get("attention"), dict) and "ablations" in config["attention"] \
            and config["attention"]["ablations"] is None:
        config["attention"]["ablations"] = {}
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


# Rule files append their figure stems (FIGURES modules' keys) and per-experiment scorecard tables here.
ALL_FIGURES = []
CLAIM_TABLES = []


def reference_stems():
    """The figures the reference_figures job copies (config ``reference_figures``, a run segment), else all; called
    in report.smk, after every rule file has added its figures to ALL_FIGURES."""
    stems = config["reference_figures"] or ALL_FIGURES
    unknown = [stem for stem in stems if stem not in ALL_FIGURES]
    if unknown:
        sys.exit(f"ERROR in configuration: reference_figures names unknown figure(s) {', '.join(unknown)}; "
                 f"the workflow draws {', '.join(ALL_FIGURES)}")
    return stems


def figure_paths(stem):
    """The PDF and PNG twin of ``figures/<stem>``."""
    return [f"figures/{stem}.pdf", f"figures/{stem}.png"]


def log_file(experiment, rule, job=None):
    """The one log scheme of every rule, ``logs/<experiment>/<rule>/<job>.log`` (or ``<rule>.log`` for a
    rule with one job); ``job`` holds the rule's wildcards."""
    return f"{Path('logs', experiment, rule, job or '')}.log"


def benchmark_file(experiment, rule, job=None):
    """Snakemake's benchmark file of a job (its seconds and memory, read by the report) beside its log:
    ``logs/<experiment>/<rule>/<job>.tsv``. The speed benchmarks of the code are scripts in benchmarks/."""
    return f"{Path('logs', experiment, rule, job or '')}.tsv"


# Threads: training jobs take threads.train (torch's thread count is set from it), every other job
# threads.default; `--set-threads RULE=N` overrides either per rule.
TRAIN_THREADS = config["threads"]["train"]
DEFAULT_THREADS = config["threads"]["default"]


def resolve_training_device(name):
    """The device of every training job, resolved once when the workflow is read: ``auto`` is ``cuda``
    where this machine has a GPU, else ``cpu``; ``cuda`` must exist on this machine (else the workflow stops
    here, before Snakemake deletes any finished output of a job that would then fail); ``cuda-nodes`` is
    ``cuda`` on the compute nodes of a cluster whose GPUs are not on the machine running snakemake
    (profiles/slurm-gpu). Training rules get the resolved name (cpu or cuda) in their params, so
    ``--config device=cpu`` on a CPU machine (where ``auto`` already meant cpu) retrains nothing."""
    if name == "cpu":
        return name
    if name == "cuda-nodes":
        return "cuda"
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("ERROR in configuration: config key 'device' = 'cuda' but this machine has no CUDA device "
                 "(torch.cuda.is_available() is False), so every training job would fail after Snakemake had "
                 "deleted its old outputs. Use device: auto or cpu here; on a cluster whose GPUs sit on other "
                 "nodes than the one running snakemake, use device: cuda-nodes (docs/cluster.md).")
    return "cuda" if torch.cuda.is_available() else "cpu"


TRAINING_DEVICE = resolve_training_device(config["device"])


def train_gpus():
    """GPUs of a training job: 1 when training runs on CUDA (the SLURM executor then asks for --gpus=1)."""
    return 1 if TRAINING_DEVICE == "cuda" else 0


# Code fingerprints: every rule that runs library code has `code=` in its params, so Snakemake reruns a
# job when the code it runs changes (and only then). Training rules: the trajectory code of their training
# module (editing plotting, measures or claims never retrains). Every other rule: its script and everything
# it imports (editing a theory, measure, claim or figure function reruns that rule and what depends on it).
SCRIPTS = Path(workflow.current_basedir).parent / "scripts"
TRAINING_RULES = {}  # rule name -> training module, filled by the rule files


def rule_code(script):
    """The fingerprint of a non-training rule that runs ``workflow/scripts/<script>.py``."""
    return script_code(SCRIPTS / f"{script}.py")


def train_code(rule, module):
    """The fingerprint of a training rule (named ``rule``), the trajectory code of ``module`` and its imports."""
    TRAINING_RULES[rule] = module
    return training_code(module)


def check_code_fingerprints(rules):
    """Refuse a rule that runs a script without the fingerprint of exactly that code, called at the end of
    the Snakefile when every rule is defined. A training rule's is its module's trajectory code, every
    other rule's its own script's. (Used as a module, rule names carry the outer workflow's prefix.)"""
    for entry in rules:
        if entry.script is None:
            continue
        script = Path(str(entry.script)).stem
        params = dict(entry.params.items())
        trained = [name for name in TRAINING_RULES if entry.name == name or entry.name.endswith(f"_{name}")]
        expected = training_code(TRAINING_RULES[trained[0]]) if trained else script_code(SCRIPTS / f"{script}.py")
        if params.get("code") != expected:
            helper = f"train_code({trained[0]!r}, MODULE)" if trained else f"rule_code({script!r})"
            sys.exit(f"ERROR in workflow: rule {entry.name} runs workflow/scripts/{script}.py but its params hold "
                     f"no code fingerprint of that code (code={params.get('code')!r}); add code={helper} to its params")
