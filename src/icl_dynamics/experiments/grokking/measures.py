"""Measures of the grokking runs (docs/science.md sections 5 and 8): circuit spectra, curvatures and events.

Uses the shared measures (:func:`~icl_dynamics.measures.summary.circuit_table` of the factored
per-head QK and OV circuits, :func:`~icl_dynamics.measures.curvature.autocorrelation_curvature`,
:func:`~icl_dynamics.measures.events.detect_transition`); this module arranges one seed's metrics table
and checkpoint stack (``icl_dynamics.experiments.grokking.run.train_grokking_run``) into their inputs and their
outputs into tables.

Steps are full-batch epochs. Events of a seed, each detected from the data (``grokking.events``):

- memorisation step: first checkpoint with train accuracy >= ``memorisation_acc``;
- grokking step: first checkpoint with test accuracy >= ``grokking_acc``;
- test-loss transition: the detected main fall of log10(test loss) (start, middle, end);
- OV stabilisation: the detected main fall of the head-mean OV subspace distance to the final
  circuit; its ``middle`` (half of the fall done) is the stabilisation step. Same for QK.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.curvature import autocorrelation_curvature
from icl_dynamics.measures.events import detect_transition
from icl_dynamics.measures.summary import circuit_table, long_table

EVENT_COLUMNS = ["seed", "event", "start", "middle", "end"]
EVENTS = ("memorisation", "grokking", "test_loss_fall", "OV_stabilisation", "QK_stabilisation")  # per seed, in order


def curvature_measures(metrics: pd.DataFrame, window: int, log_loss: bool) -> pd.DataFrame:
    """Autocorrelation curvature of the train and test loss and of the parameter norm over checkpoints.

    The value of the window of checkpoints ``i .. i + window - 1`` is placed at the step of its centre
    sample ``i + (window - 1) // 2``. With ``log_loss`` the losses enter as log10(loss) ([choice]: the
    loss falls over seven decades, so the raw loss's autocorrelation only sees the first steps). Long-table
    format with ``series`` the curve's name, layer and head -1.
    """
    steps = metrics["step"].to_numpy()
    centre = steps[(window - 1) // 2: len(steps) - window + 1 + (window - 1) // 2]
    series = {name: metrics[name].to_numpy() for name in ("train_loss", "test_loss", "param_norm")}
    if log_loss:
        series["train_loss"] = np.log10(series["train_loss"])
        series["test_loss"] = np.log10(series["test_loss"])
    seed = int(metrics["seed"].iloc[0])
    return pd.concat([long_table(centre, name, {"autocorrelation_curvature": autocorrelation_curvature(values, window)},
                                 seed=seed) for name, values in series.items()], ignore_index=True)


def first_step_at_least(steps, values, level: float) -> float:
    """First step where ``values >= level``; NaN if never."""
    hit = np.nonzero(np.asarray(values) >= level)[0]
    return float(np.asarray(steps)[hit[0]]) if hit.size else float("nan")


def grokking_events(metrics: pd.DataFrame, circuits: pd.DataFrame, memorisation_acc: float, grokking_acc: float,
                    transition: dict) -> pd.DataFrame:
    """The events of one seed (see the module docstring) as rows of :data:`EVENT_COLUMNS`.

    ``transition`` holds the keyword arguments of ``detect_transition`` (``measures.transition``); an
    event it does not detect has NaN epochs.
    """
    seed = int(metrics["seed"].iloc[0])
    steps = metrics["step"].to_numpy()
    rows = [(seed, "memorisation", np.nan, first_step_at_least(steps, metrics["train_acc"], memorisation_acc), np.nan),
            (seed, "grokking", np.nan, first_step_at_least(steps, metrics["test_acc"], grokking_acc), np.nan)]

    def detected(name, x, y):
        found = detect_transition(x, y, **transition)
        rows.append((seed, name, *(found if found is not None else (np.nan, np.nan, np.nan))))

    detected("test_loss_fall", steps, np.log10(metrics["test_loss"].to_numpy()))
    for circuit in ("OV", "QK"):
        distance = (circuits[(circuits.series == circuit) & (circuits.measure == "subspace_distance")]
                    .groupby("step")["value"].mean())
        detected(f"{circuit}_stabilisation", distance.index.to_numpy(), distance.to_numpy())
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def seed_measures(metrics: pd.DataFrame, checkpoints: dict, settings: dict, events: dict):
    """All measures and events of one seed: (measures table, events table).

    ``settings`` is the validated ``measures:`` section, ``events`` the ``grokking.events`` section (event
    accuracies and ``curvature_log_loss``).
    """
    seed = int(metrics["seed"].iloc[0])
    circuits = circuit_table(checkpoints, settings, seed=seed)
    curvatures = curvature_measures(metrics, settings["curvature_window"], events["curvature_log_loss"])
    events = grokking_events(metrics, circuits, events["memorisation_acc"], events["grokking_acc"],
                             settings["transition"])
    return pd.concat([circuits, curvatures], ignore_index=True), events
