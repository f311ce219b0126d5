"""Simulation against theory on one setting (rule ``linear_compare``): per-mode R^2, half-rise times, fixed
points, conservation drift, null blocks and loss cliffs, as one JSON-serialisable dict that the scorecard
rows L1-L6 and figures 1-3 read."""

from __future__ import annotations

import numpy as np

from icl_dynamics.measures.events import count_cliffs
from icl_dynamics.theory import exact_flow

# The thresholds :func:`compare` reads (``linear.thresholds``).
COMPARE_THRESHOLDS = ("eigen_rel_tol", "cliff_prominence", "cliff_min_drop", "cliff_smoothing", "cliff_n_grid")


def r_squared(observed: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """1 - SS_res / SS_tot along axis 0 (time), per remaining index (mode)."""
    ss_res = np.sum((observed - predicted) ** 2, axis=0)
    ss_tot = np.sum((observed - observed.mean(axis=0)) ** 2, axis=0)
    return 1.0 - ss_res / ss_tot


def count_distinct(values: np.ndarray, rel_tol: float) -> int:
    """Number of clusters of ``values`` whose neighbours differ by more than ``rel_tol`` (relative)."""
    v = np.sort(np.asarray(values, float))[::-1]
    return 1 + int(np.sum(np.abs(np.diff(v)) > rel_tol * np.abs(v[:-1])))


def compare(setting: dict, sim: dict, th: dict, thresholds: dict) -> dict:
    """Every number the scorecard and figures need for one setting (JSON-serialisable)."""
    steps = sim["steps"]
    if not np.array_equal(steps, th["steps"]):
        raise ValueError(f"setting {setting['name']}: simulation and theory use different logging steps")
    a_sim = sim["modes_total"].mean(axis=0)          # (T, d), seed mean of the learned map per mode
    a_exact = th["exact"].mean(axis=0)               # (T, d)
    a_closed = th["closed"].mean(axis=0)
    a_finite = th["finite_n"].mean(axis=0)
    has_closed = bool(np.all(np.isfinite(a_closed)))
    has_finite = bool(np.all(np.isfinite(a_finite)))
    fp_finite = th["fp_finite_n"].mean(axis=0)
    s = th["s"]
    final_sim = sim["modes_total"][:, -1].mean(axis=0)
    fp_exact = th["fp_exact"].mean(axis=0)
    loss_sim = sim["loss"].mean(axis=0)
    total_sq = (sim["p2_norm"] ** 2 + sim["p1_norm"] ** 2 + sim["q1_norm"] ** 2 + sim["q2_norm"] ** 2)
    drift = np.abs(sim["conserved"][:, -1] - sim["conserved"][:, 0])
    null = (sim["p1_norm"][:, -1] + sim["q2_norm"][:, -1]) / (sim["p2_norm"][:, -1] + sim["q1_norm"][:, -1])
    # half-rise: the step at which a mode reaches half the exact fixed point (the value SGD converges
    # to, checked by L3); each closed form's own prediction is the step at which it reaches half of its own
    # fixed point (1 / (2 s_inf) for Eq. 13)
    half = {"sim": exact_flow.half_time(steps, a_sim, fp_exact / 2),
            "exact": exact_flow.half_time(steps, a_exact, fp_exact / 2)}
    if has_closed:
        half["closed"] = exact_flow.half_time(steps, a_closed, th["fp_closed"] / 2)
    if has_finite:
        half["finite_n"] = exact_flow.half_time(steps, a_finite, fp_finite / 2)
    distinct = count_distinct(s, thresholds["eigen_rel_tol"])
    detect = dict(prominence=thresholds["cliff_prominence"], min_drop=thresholds["cliff_min_drop"],
                  smoothing=thresholds["cliff_smoothing"], n_grid=thresholds["cliff_n_grid"])
    cliffs = {"sim": count_cliffs(steps, loss_sim, **detect),
              "exact": count_cliffs(steps, th["loss_exact"].mean(axis=0), **detect)}
    if has_closed:
        cliffs["closed"] = count_cliffs(steps, th["loss_closed"].mean(axis=0), **detect)
    if has_finite:
        cliffs["finite_n"] = count_cliffs(steps, th["loss_finite_n"].mean(axis=0), **detect)

    def rel(x, ref):
        return np.abs(x - ref) / np.abs(ref)

    out = {
        "setting": setting["name"], "N": setting["N"], "lr": setting["lr"], "steps": setting["steps"],
        "init": setting["init"], "basis": setting["basis"], "closed_form_regime": setting["closed_form_regime"],
        "s": s.tolist(), "distinct_eigenvalues": distinct,
        "r2_exact": r_squared(a_sim, a_exact).tolist(),
        "r2_closed": r_squared(a_sim, a_closed).tolist() if has_closed else None,
        "r2_finite_n": r_squared(a_sim, a_finite).tolist() if has_finite else None,
        "final_sim": final_sim.tolist(), "fp_exact": fp_exact.tolist(), "fp_closed": th["fp_closed"].tolist(),
        "fp_finite_n": fp_finite.tolist(),
        "exact_at_end": a_exact[-1].tolist(),
        "fp_rel_exact": rel(final_sim, fp_exact).tolist(),
        "fp_rel_closed": rel(final_sim, th["fp_closed"]).tolist(),
        "fp_rel_finite_n": rel(final_sim, fp_finite).tolist() if has_finite else None,
        "end_rel_exact": rel(final_sim, a_exact[-1]).tolist(),
        "half_time": {k: v.tolist() for k, v in half.items()},
        "half_rel_exact": rel(half["sim"], half["exact"]).tolist(),
        "half_rel_closed": rel(half["sim"], half["closed"]).tolist() if has_closed else None,
        "half_rel_finite_n": rel(half["sim"], half["finite_n"]).tolist() if has_finite else None,
        "order_by_s": bool(_order_matches(s, half["sim"], thresholds["eigen_rel_tol"])),
        "conserved_drift": float(drift.mean()),
        "conserved_drift_rel": float((drift / total_sq[:, -1]).mean()),
        "null_ratio": float(null.max()),
        "null_ratio_initial": float(((sim["p1_norm"][:, 0] + sim["q2_norm"][:, 0])
                                     / (sim["p2_norm"][:, 0] + sim["q1_norm"][:, 0])).max()),
        "cliffs": {k: v[0] for k, v in cliffs.items()},
        "cliff_steps": {k: v[1].tolist() for k, v in cliffs.items()},
        "loss_final_sim": float(loss_sim[-1]),
        "loss_final_exact": float(th["loss_exact"].mean(axis=0)[-1]),
    }
    return out


def _order_matches(s: np.ndarray, times: np.ndarray, rel_tol: float) -> bool:
    """Larger eigenvalues rise first: for every pair of clearly distinct eigenvalues (relative gap
    > rel_tol) the one with larger s has the earlier half-rise time."""
    for i in range(len(s)):
        for j in range(len(s)):
            if s[i] > s[j] * (1 + rel_tol) and not times[i] < times[j]:
                return False
    return True
