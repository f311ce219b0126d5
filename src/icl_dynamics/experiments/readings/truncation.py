"""A run stopped earlier, read from the stored checkpoints of the long run (docs/science.md, section
'Readings the paper leaves open').

Training has a constant learning rate after its warm-up and nothing in it depends on the total step count
(tested in tests/test_readings.py), so the weights at step s of a run of any length >= s are the same: the
checkpoints of a long run up to a step are those of a run stopped there, its last one the final weights
M(inf). Only the subspace distance depends on M(inf); it is recomputed here from the checkpoint stack by
the same code as the circuit table (:func:`icl_dynamics.measures.summary.circuit_spectral_measures`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.summary import circuit_spectral_measures, long_table


def stop_index(steps, stop_step: float) -> int | None:
    """Index of the last checkpoint at or before ``stop_step``; None when the run ends before it (it cannot
    be read as a run stopped there) or ``stop_step`` is not finite."""
    steps = np.asarray(steps, dtype=float)
    if not np.isfinite(stop_step) or stop_step > steps[-1]:
        return None
    return int(np.searchsorted(steps, stop_step, side="right") - 1)


def truncated_stack(checkpoints: dict, index: int) -> dict:
    """The checkpoint stack of checkpoints ``0 .. index`` (every array's first axis cut)."""
    return {name: np.asarray(values)[: index + 1] for name, values in checkpoints.items()}


def distance_table(checkpoints: dict, index: int, settings: dict, **run) -> pd.DataFrame:
    """Subspace distance of every head's QK and OV circuit at checkpoints ``0 .. index`` to the circuit at
    checkpoint ``index``, the final weights of the run stopped there.

    Parameters
    ----------
    checkpoints : dict
        A stack: ``step`` (T,), ``W_Q, W_K, W_V`` (T, layers, heads, d_model, d_head), ``W_O`` (T, layers,
        heads, d_head, d_model).
    index : int
        The last checkpoint kept.
    settings : dict
        The validated ``measures:`` section (``pinv_rtol``).
    **run
        Constant columns identifying the run.

    Returns
    -------
    DataFrame in the circuit table's long format, ``series`` QK and OV, ``measure`` subspace_distance.
    """
    stack = truncated_stack(checkpoints, index)
    measures = circuit_spectral_measures(stack, settings)
    return pd.concat([long_table(stack["step"], circuit, {"subspace_distance": measures[circuit]["subspace_distance"]},
                                 **run) for circuit in ("QK", "OV")], ignore_index=True)
