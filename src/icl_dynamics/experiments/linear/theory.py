"""The three mean-flow theories on a setting's seeds, at the simulation's logging steps (rule
``linear_theory``): the paper's closed form (Eq. 13, loss Eq. 14), the exact mean flow (docs/science.md
section 4, integrated) and our finite-N closed form of that flow (section 11), each with that seed's
task-pool moments m_a and initial (p_a, q_a)."""

from __future__ import annotations

import numpy as np

from icl_dynamics.data.regression import make_task_pool, pool_moments
from icl_dynamics.experiments.linear.initial import initial_modes
from icl_dynamics.experiments.linear.settings import logging_steps, make_task
from icl_dynamics.theory import closed_form, exact_flow, finite_n


def theory(setting: dict, seeds: list[int]) -> dict:
    """The closed form, the exact mean flow and the finite-N closed form per seed on the simulation's
    logging steps.

    Returns steps (T,), closed and finite_n (S, T, d) (NaN for a start that is not balanced: neither closed
    form describes it), exact (S, T, d), loss_closed / loss_exact / loss_finite_n (S, T), fp_closed (d,),
    fp_exact (S, d) (the integrated flow's), fp_finite_n (S, d) (its closed form), m (S, d).
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
        finite = finite_n.mode_strength(t, task.s, task.N, p0 * q0, m)
    else:
        closed = finite = np.full_like(p, np.nan)
    return dict(steps=steps, closed=closed, exact=p * q, finite_n=finite,
                loss_closed=closed_form.loss(closed, task.s, task.N, m[:, None, :]),
                loss_exact=exact_flow.exact_loss(p, q, task.s, task.N, m[:, None, :]),
                loss_finite_n=finite_n.loss(finite, task.s, task.N, m[:, None, :]),
                fp_closed=closed_form.fixed_point(task.s, task.N), fp_exact=fp_p * fp_q,
                fp_finite_n=finite_n.fixed_point(task.s, task.N, m), m=m, s=task.s)
