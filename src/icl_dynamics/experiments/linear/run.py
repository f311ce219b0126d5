"""The linear-transformer experiment: settings, simulation, theory on the same runs, comparison.

A *setting* is the ``linear.defaults`` config with one entry of ``linear.settings`` applied. For each
setting the workflow runs three things on the same seeds, task pools and logging steps:

1. ``simulate``: minibatch SGD on the full D x D model (``training.linear_sgd``);
2. ``theory``: the paper's closed form (Eq. 13, 14) and the exact mean flow (docs/science.md section 4),
   each with that seed's task-pool moments m_a and initial (p_a, q_a);
3. ``compare``: per-mode R^2, half-rise times, fixed points, conservation drift, null blocks, cliffs.
"""

from __future__ import annotations

import copy

import numpy as np

from icl_dynamics.data.regression import RegressionTask, make_basis, make_spectrum, make_task_pool, pool_moments
from icl_dynamics.measures.events import count_cliffs
from icl_dynamics.theory import closed_form, exact_flow
from icl_dynamics.experiments.linear.sgd import SGDRun, SGDSettings, initial_modes, run_sgd_batch, stack_seeds
from icl_dynamics.training.schedules import log_spaced_steps


def resolve_setting(linear_cfg: dict, name: str) -> dict:
    """The defaults with setting ``name``'s overrides applied (nested dicts replaced whole)."""
    if name not in linear_cfg["settings"]:
        raise KeyError(f"unknown linear setting {name!r}; defined: {', '.join(linear_cfg['settings'])}")
    setting = copy.deepcopy(linear_cfg["defaults"])
    setting.update(copy.deepcopy(linear_cfg["settings"][name]))
    setting["name"] = name
    return setting


def used_settings(linear_cfg: dict) -> list[str]:
    """Settings named under ``linear.figures``, in order of first mention."""
    names = []
    for value in linear_cfg["figures"].values():
        for name in [value] if isinstance(value, str) else value:
            if name not in names:
                names.append(name)
    return names


# What a setting's SGD run and theory depend on besides its spectrum (``name`` and ``closed_form_regime``
# only label it); and the thresholds ``compare`` reads.
COMPUTATION_KEYS = ("d", "basis", "basis_seed", "N", "P", "lr", "batch", "steps", "init", "eps", "context_sampling",
                    "eval_batch", "n_log", "n_lin")
COMPARE_THRESHOLDS = ("eigen_rel_tol", "cliff_prominence", "cliff_min_drop", "cliff_smoothing")


def computation_key(setting: dict) -> dict:
    """What ``simulate``, ``theory`` and ``compare`` compute from a setting: its eigenvalues s (however the
    spectrum is written: explicit (2, 1, 0.5, 0.25) equals geometric ratio 0.5, scale 2) and the values of
    :data:`COMPUTATION_KEYS`. Two settings with equal keys give equal results on equal seeds."""
    s = make_task(setting).s
    return {"s": s.tolist(), **{k: setting[k] for k in COMPUTATION_KEYS}}


def make_task(setting: dict) -> RegressionTask:
    spec = {k: v for k, v in setting["spectrum"].items() if k != "kind"}
    s = make_spectrum(setting["spectrum"]["kind"], setting["d"], **spec)
    U = make_basis(setting["basis"], setting["d"], setting["basis_seed"])
    return RegressionTask(s=s, U=U, N=setting["N"], P=setting["P"])


def logging_steps(setting: dict) -> list[int]:
    """Log-spaced steps plus linearly spaced ones over the whole run."""
    return log_spaced_steps(setting["steps"], setting["n_log"], (0, setting["steps"]), setting["n_lin"])


def simulate(setting: dict, seeds: list[int]) -> dict:
    """SGD on the full model for all seeds; arrays as in ``experiments.linear.sgd.run_sgd`` plus s, U."""
    return simulate_batch([setting], seeds)[0]


def simulate_batch(settings: list[dict], seeds: list[int]) -> list[dict]:
    """:func:`simulate` for several settings at once: every setting x seed is one run of a single
    ``experiments.linear.sgd.run_sgd_batch`` (the settings must share d, batch and eval_batch). Each
    setting's result equals what :func:`simulate` returns for it alone."""
    tasks = [make_task(setting) for setting in settings]
    runs = [SGDRun(task, _sgd_settings(setting), seed, tuple(logging_steps(setting)), setting["name"])
            for setting, task in zip(settings, tasks) for seed in seeds]
    results = run_sgd_batch(runs)
    out = []
    for i, task in enumerate(tasks):
        result = stack_seeds(results[i * len(seeds):(i + 1) * len(seeds)])
        result.update(s=task.s, U=task.U)
        out.append(result)
    return out


def _sgd_settings(setting: dict) -> SGDSettings:
    return SGDSettings(lr=setting["lr"], batch=setting["batch"], steps=setting["steps"], init=setting["init"],
                       eps=setting["eps"], context_sampling=setting["context_sampling"],
                       eval_batch=setting["eval_batch"], divergence_factor=setting["divergence_factor"])


def theory(setting: dict, seeds: list[int]) -> dict:
    """Closed form and exact mean flow per seed on the simulation's logging steps.

    Returns steps (T,), closed (S, T, d) or NaN for a non-balanced start, exact (S, T, d),
    loss_closed / loss_exact (S, T), fp_closed (d,), fp_exact (S, d), m (S, d).
    """
    task = make_task(setting)
    steps = np.array(logging_steps(setting))
    t = setting["lr"] * steps
    m = np.stack([pool_moments(make_task_pool(task.P, task.d, seed)) for seed in seeds])
    p0, q0 = map(np.stack, zip(*[initial_modes(task, setting["init"], setting["eps"], seed) for seed in seeds]))
    p, q = exact_flow.integrate_mean_flow(p0, q0, t, task.s, task.N, m)
    fp_p, fp_q = exact_flow.exact_fixed_point(p0, q0, task.s, task.N, m)
    balanced = np.allclose(p0, q0) and np.all(p0 * q0 > 0)
    if balanced:
        closed = closed_form.logistic_mode_strength(t, task.s, task.N, p0 * q0, m)
    else:
        closed = np.full_like(p, np.nan)
    return dict(steps=steps, closed=closed, exact=p * q,
                loss_closed=closed_form.loss(closed, task.s, task.N, m[:, None, :]),
                loss_exact=exact_flow.exact_loss(p, q, task.s, task.N, m[:, None, :]),
                fp_closed=closed_form.fixed_point(task.s, task.N), fp_exact=fp_p * fp_q, m=m, s=task.s)


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
    a_sim = sim["modes_total"].mean(axis=1)          # (T, d), seed mean of the learned map per mode
    a_exact = th["exact"].mean(axis=0)               # (T, d)
    a_closed = th["closed"].mean(axis=0)
    has_closed = bool(np.all(np.isfinite(a_closed)))
    s = th["s"]
    final_sim = sim["modes_total"][-1].mean(axis=0)
    fp_exact = th["fp_exact"].mean(axis=0)
    loss_sim = sim["loss"].mean(axis=1)
    total_sq = (sim["p2_norm"] ** 2 + sim["p1_norm"] ** 2 + sim["q1_norm"] ** 2 + sim["q2_norm"] ** 2)
    drift = np.abs(sim["conserved"][-1] - sim["conserved"][0])
    null = (sim["p1_norm"][-1] + sim["q2_norm"][-1]) / (sim["p2_norm"][-1] + sim["q1_norm"][-1])
    # half-rise: the step at which a mode reaches half the exact fixed point (the value SGD converges
    # to, checked by L3); the closed form's own prediction is the step at which it reaches 1 / (2 s_inf)
    half = {"sim": exact_flow.half_time(steps, a_sim, fp_exact / 2),
            "exact": exact_flow.half_time(steps, a_exact, fp_exact / 2)}
    if has_closed:
        half["closed"] = exact_flow.half_time(steps, a_closed, th["fp_closed"] / 2)
    distinct = count_distinct(s, thresholds["eigen_rel_tol"])
    detect = dict(prominence=thresholds["cliff_prominence"], min_drop=thresholds["cliff_min_drop"],
                  smoothing=thresholds["cliff_smoothing"])
    cliffs = {"sim": count_cliffs(steps, loss_sim, **detect),
              "exact": count_cliffs(steps, th["loss_exact"].mean(axis=0), **detect)}
    if has_closed:
        cliffs["closed"] = count_cliffs(steps, th["loss_closed"].mean(axis=0), **detect)

    def rel(x, ref):
        return np.abs(x - ref) / np.abs(ref)

    out = {
        "setting": setting["name"], "N": setting["N"], "lr": setting["lr"], "steps": setting["steps"],
        "init": setting["init"], "basis": setting["basis"], "closed_form_regime": setting["closed_form_regime"],
        "s": s.tolist(), "distinct_eigenvalues": distinct,
        "r2_exact": r_squared(a_sim, a_exact).tolist(),
        "r2_closed": r_squared(a_sim, a_closed).tolist() if has_closed else None,
        "final_sim": final_sim.tolist(), "fp_exact": fp_exact.tolist(), "fp_closed": th["fp_closed"].tolist(),
        "exact_at_end": a_exact[-1].tolist(),
        "fp_rel_exact": rel(final_sim, fp_exact).tolist(),
        "fp_rel_closed": rel(final_sim, th["fp_closed"]).tolist(),
        "end_rel_exact": rel(final_sim, a_exact[-1]).tolist(),
        "half_time": {k: v.tolist() for k, v in half.items()},
        "half_rel_exact": rel(half["sim"], half["exact"]).tolist(),
        "half_rel_closed": rel(half["sim"], half["closed"]).tolist() if has_closed else None,
        "order_by_s": bool(_order_matches(s, half["sim"], thresholds["eigen_rel_tol"])),
        "conserved_drift": float(drift.mean()),
        "conserved_drift_rel": float((drift / total_sq[-1]).mean()),
        "null_ratio": float(null.max()),
        "null_ratio_initial": float(((sim["p1_norm"][0] + sim["q2_norm"][0])
                                     / (sim["p2_norm"][0] + sim["q1_norm"][0])).max()),
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
