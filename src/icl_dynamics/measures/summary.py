"""All spectral measures of a matrix series at once, and their tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.measures.circuits import ov_circuit_svd, qk_circuit_svd
from icl_dynamics.measures.ranks import (
    effective_rank_from_singular_values,
    marginal_effective_rank_from_singular_values,
    stable_rank_from_singular_values,
)
from icl_dynamics.measures.settings import DEFAULTS
from icl_dynamics.measures.subspace import projected_mode_strengths_from_svd, subspace_distance_from_svd
from icl_dynamics.measures.svd import SVD

TABLE_COLUMNS = ["step", "series", "layer", "head", "measure", "value"]


def circuit_spectral_measures(checkpoints: dict, settings: dict | None = None) -> dict[str, dict[str, np.ndarray]]:
    """:func:`spectral_measures` of the per-head QK = W_Q W_K^T and OV = W_V W_O circuits over checkpoints,
    against the last checkpoint, from factored SVDs.

    ``checkpoints`` holds ``W_Q, W_K, W_V`` of shape (T, ..., heads, d_model, d_head) and ``W_O`` of shape
    (T, ..., heads, d_head, d_model); ``settings`` as in :func:`spectral_measures`. Returns {"QK": measures,
    "OV": measures}, arrays of shape (T, ..., heads).
    """
    svds = {"QK": qk_circuit_svd(checkpoints["W_Q"], checkpoints["W_K"]),
            "OV": ov_circuit_svd(checkpoints["W_V"], checkpoints["W_O"])}
    return {circuit: spectral_measures(svd, SVD(svd.U[-1], svd.s[-1], svd.V[-1]), settings)
            for circuit, svd in svds.items()}


def spectral_measures(svd_series: SVD, svd_final: SVD, settings: dict | None = None) -> dict[str, np.ndarray]:
    """Every spectral measure of a series ``M(t)`` against its final matrix ``M(inf)``, from thin SVDs.

    Dense matrices and factored circuits go through the same code: only their SVDs differ in origin.

    Parameters
    ----------
    svd_series : SVD
        Thin SVD of ``M(t)``, shape (T, ..., m, n) (checkpoints first).
    svd_final : SVD
        Thin SVD of ``M(inf)``, shape (..., m, n).
    settings : dict, optional
        The validated ``measures:`` section (:func:`icl_dynamics.measures.settings.measures_section`);
        None: the schema's defaults.

    Returns
    -------
    dict of str to ndarray of shape (T, ...)
        ``effective_rank``, ``marginal_effective_rank_k<k>`` for the main and variant ``k``,
        ``stable_rank``, ``subspace_distance`` and ``mode_strength_<i>`` for i = 1..n_mode_strengths
        (fewer if the matrix has fewer modes).
    """
    settings = DEFAULTS if settings is None else settings
    s = svd_series.s
    out = {"effective_rank": effective_rank_from_singular_values(s)}
    for k in sorted({settings["marginal_rank_k"], settings["marginal_rank_k_variant"]}):
        out[f"marginal_effective_rank_k{k}"] = marginal_effective_rank_from_singular_values(s, k)
    out["stable_rank"] = stable_rank_from_singular_values(s)
    out["subspace_distance"] = subspace_distance_from_svd(svd_series, svd_final, settings["pinv_rtol"])
    n_modes = min(settings["n_mode_strengths"], svd_final.s.shape[-1])
    final_top = SVD(svd_final.U[..., :n_modes], svd_final.s[..., :n_modes], svd_final.V[..., :n_modes])
    strengths = projected_mode_strengths_from_svd(svd_series, final_top)
    for i in range(n_modes):
        out[f"mode_strength_{i + 1}"] = strengths[..., i]
    return out


def long_table(steps, series: str, measures: dict[str, np.ndarray], **run) -> pd.DataFrame:
    """The one long-table format of per-checkpoint measures, used by every experiment and ``icl-measures``.

    Columns: the ``run`` identity columns (e.g. ``n_layers``, ``seed``), then :data:`TABLE_COLUMNS` =
    ``step, series, layer, head, measure, value``. ``series`` names what is measured: a circuit (``QK``,
    ``OV``), a matrix (``p2q1``, a state_dict key) or a curve (``train_loss``); ``layer`` and ``head`` are
    -1 where they do not apply.

    Parameters
    ----------
    steps : array_like, shape (T,)
        Checkpoint steps, in the order of the measures' first axis.
    series : str
    measures : dict of str to ndarray
        Arrays of shape (T,), (T, heads) or (T, layers, heads).
    **run
        Constant columns identifying the run.
    """
    steps = np.asarray(steps)
    frames = []
    for name, values in measures.items():
        values = np.asarray(values)
        if values.ndim > 3 or values.shape[0] != len(steps):
            raise ValueError(f"measure {name!r} has shape {values.shape}; expected ({len(steps)},), "
                             f"({len(steps)}, heads) or ({len(steps)}, layers, heads)")
        grid = np.indices(values.shape).reshape(values.ndim, -1)
        layer = grid[1] if values.ndim == 3 else np.full(values.size, -1)
        head = grid[-1] if values.ndim >= 2 else np.full(values.size, -1)
        frames.append(pd.DataFrame({**run, "step": steps[grid[0]], "series": series, "layer": layer, "head": head,
                                    "measure": name, "value": values.reshape(-1)}))
    return pd.concat(frames, ignore_index=True)[list(run) + TABLE_COLUMNS]


def circuit_table(checkpoints: dict, settings: dict | None = None, **run) -> pd.DataFrame:
    """Every spectral measure of every head's QK (``W_Q W_K^T``) and OV (``W_V W_O``) circuit at every
    checkpoint, against the last checkpoint (the final weights ``M(inf)``), as one long table.

    Parameters
    ----------
    checkpoints : dict
        A checkpoint stack in the layout every model shares: ``step`` (T,), ``W_Q, W_K, W_V`` (T, layers,
        heads, d_model, d_head), ``W_O`` (T, layers, heads, d_head, d_model).
    settings : dict, optional
        The validated ``measures:`` section; None: the schema's defaults.
    **run
        Constant columns identifying the run (e.g. ``n_layers``, ``seed``).

    Returns
    -------
    DataFrame in the :func:`long_table` format, ``series`` QK and OV, ``layer`` and ``head`` the head's
    indices: effective rank, marginalised effective ranks, stable rank, subspace distance to the final
    circuit and mode strengths.
    """
    if np.ndim(checkpoints["W_O"]) != 5:
        raise ValueError(f"checkpoint stack W_O has shape {tuple(np.shape(checkpoints['W_O']))}; expected (steps, "
                         "layers, heads, d_head, d_model)")
    steps = np.asarray(checkpoints["step"])
    return pd.concat([long_table(steps, circuit, measures, **run)
                      for circuit, measures in circuit_spectral_measures(checkpoints, settings).items()],
                     ignore_index=True)
