"""Sanity bounds on one job's memory and time, checked with the config before any job starts.

A setting such as ``grokking.task.p: 50000`` or ``attention.train.steps: 1.0e12`` is valid for the schema,
but its job cannot finish on any machine; run anyway, Snakemake first deletes the job's old outputs and the
job then dies on a huge allocation (or never ends). Each experiment's ``checks.py`` estimates, from the
config alone (nothing is allocated), the largest tensor of its largest job and that job's work, and
:func:`check_job_budget` refuses the config when either is beyond the bounds below, naming the keys the
estimate grows with, the estimate and the bound.

Bounds (generous: the paper preset's largest tensor, 256 MiB of attention patterns, is 1/500 of the tensor
bound, and its longest job's time bound, 2 s, is 10^-6 of the time bound; see tests/test_input_checks.py):

- :data:`MAX_TENSOR_BYTES` = 128 GiB for one tensor. No GPU holds such a tensor beside the rest of a run
  (an H200 has 141 GB in all), and on a CPU node it would take most of a large node's memory.
- :data:`MAX_SECONDS` = 30 days for one job, estimated as a lower bound: its floating-point operations at
  :data:`FLOP_RATE` = 1e14 FLOP/s (above the float32 peak of any current GPU, 6.7e13 on an H100/H200) plus
  :data:`SECONDS_PER_UPDATE` = 10 us for each update (the least a Python training loop spends per step on
  kernel launches or NumPy calls; measured on one CPU thread: 11 ms per update of a linear setting's five
  seeds, 55 ms per update of the 1-layer attention model). So a refused job would take more than a month
  even on the fastest machine.

The bounds do not depend on the machine reading the workflow (on a cluster, jobs run elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from icl_dynamics.config import ConfigError

GiB = 2**30
MAX_TENSOR_BYTES = 128 * GiB
FLOP_RATE = 1e14
SECONDS_PER_UPDATE = 1e-5
MAX_DAYS = 30
MAX_SECONDS = MAX_DAYS * 86400.0


@dataclass(frozen=True)
class TensorEstimate:
    """One tensor of a job: what it is (shape and dtype in words), its size in bytes and the config keys
    (dotted path -> value) its size grows with."""

    what: str
    bytes: int
    keys: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WorkEstimate:
    """The work of one job: floating-point operations and optimizer updates, what they are, and the keys
    (dotted path -> value) they grow with."""

    what: str
    flops: float
    updates: int
    keys: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Lower bound of the job's time: ``flops / FLOP_RATE + updates * SECONDS_PER_UPDATE``."""
        return self.flops / FLOP_RATE + self.updates * SECONDS_PER_UPDATE


def largest(tensors: list[TensorEstimate]) -> TensorEstimate:
    """The largest of ``tensors``."""
    return max(tensors, key=lambda t: t.bytes)


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit below it (``3.2 TiB``)."""
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def format_duration(seconds: float) -> str:
    """``seconds`` in years, days, hours or seconds (``4.2 years``)."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400.0), ("hours", 3600.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _keys(keys: dict) -> str:
    return ", ".join(f"'{key}' = {value!r}" for key, value in keys.items())


def check_job_budget(tensor: TensorEstimate, work: WorkEstimate) -> None:
    """Raise ConfigError when ``tensor`` is above :data:`MAX_TENSOR_BYTES` or the lower bound of the job's
    time (:attr:`WorkEstimate.seconds`) above :data:`MAX_SECONDS`; the message names the keys, the
    estimate and the bound."""
    if tensor.bytes > MAX_TENSOR_BYTES:
        raise ConfigError(
            f"config keys {_keys(tensor.keys)}: the largest tensor of one job, {tensor.what}, would take "
            f"{format_bytes(tensor.bytes)}, beyond the bound of {format_bytes(MAX_TENSOR_BYTES)} on one tensor "
            "(no GPU holds it beside the rest of a run: an H200 has 141 GB); lower these values")
    if work.seconds > MAX_SECONDS:
        raise ConfigError(
            f"config keys {_keys(work.keys)}: one job ({work.what}) needs about {work.flops:.2g} floating-point "
            f"operations and {work.updates} updates, at least {format_duration(work.seconds)} at "
            f"{FLOP_RATE:.0e} FLOP/s and {SECONDS_PER_UPDATE * 1e6:.0f} us per update, beyond the bound of "
            f"{MAX_DAYS} days; lower these values")
