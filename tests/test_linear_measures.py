"""Known-answer tests of the linear model's p2 q1 measures (experiments.linear.measures), row M1
(claims.linear_measures) and figure S1."""

import re

import numpy as np
import pytest
from scipy.stats import ortho_group

from icl_dynamics.experiments.linear.claims import (
    plateau_steps,
    rank_staircase,
    rank_staircase_row,
    upward_steps,
    value_at,
)
from icl_dynamics.experiments.linear.measures_figures import figS1
from icl_dynamics.plotting import mode_colors, save_figure
from icl_dynamics.experiments.linear.measures import measure_curves, p2q1_measures
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.theory import closed_form
from icl_dynamics.theory.exact_flow import half_time

S = np.array([2.0, 1.0, 0.5, 0.25])
N, LR, EPS = 30, 0.02, 0.01
SEEDS = [0, 1]


def synthetic_run(U=None, steps=None):
    """Aligned run: p2 q1 = U diag(a(t)) U^T with a(t) the closed form (Eq. 13) from a0 = eps^2, two seeds."""
    d = len(S)
    steps = np.unique(np.concatenate([[0], np.geomspace(1, 9000, 150).astype(int)])) if steps is None else steps
    U = np.eye(d) if U is None else U
    a = closed_form.logistic_mode_strength(LR * steps, S, N, np.full((len(SEEDS), d), EPS**2))  # (S, T, d)
    p2q1 = np.einsum("ij,stj,kj->stik", U, a, U)  # (S, T, d, d)
    sim = {"steps": steps, "p2q1": p2q1, "seeds": np.array(SEEDS)}
    theory = {"steps": steps, "exact": a, "closed": np.full_like(a, np.nan)}
    comp = {"init": "aligned", "s": S.tolist(), "distinct_eigenvalues": d, "fp_exact": closed_form.fixed_point(S, N).tolist(),
            "half_time": {"exact": half_time(steps, a.mean(axis=0), closed_form.fixed_point(S, N) / 2).tolist()}}
    return sim, theory, comp


def test_measures_of_a_diagonal_matrix_are_the_predicted_ones():
    sim, theory, _ = synthetic_run(U=ortho_group.rvs(4, random_state=3))
    table = p2q1_measures(sim, theory, measures_section({}))
    steps, erank = measure_curves(table, "effective_rank")
    _, predicted = measure_curves(table, "effective_rank_theory_exact")
    assert np.array_equal(steps, sim["steps"])
    assert erank.shape == (2, len(steps))
    np.testing.assert_allclose(erank, predicted, rtol=1e-9)
    np.testing.assert_allclose(erank[:, 0], 4.0)  # eps^2 I at step 0
    # closed form is NaN here (a random-init-like theory file): no closed-form columns
    assert not (table["measure"] == "effective_rank_theory_closed").any()
    a = theory["exact"]  # (S, T, d), all positive
    _, stable = measure_curves(table, "stable_rank")
    np.testing.assert_allclose(stable, (a**2).sum(-1) / (a**2).max(-1), rtol=1e-9)
    # mode i is the i-th largest final mode: the s = 0.25 mode first (largest 1 / s_inf)
    _, m1 = measure_curves(table, "mode_strength_1")
    np.testing.assert_allclose(m1, a[..., 3], rtol=1e-9, atol=1e-12)
    _, m1_theory = measure_curves(table, "mode_strength_1_theory_exact")
    np.testing.assert_allclose(m1_theory, a[..., 3])
    # full rank at every step: the row space always contains the final rows
    _, dist = measure_curves(table, "subspace_distance")
    assert np.all(np.abs(dist) < 1e-10)
    _, marginal = measure_curves(table, "marginal_effective_rank_k1")
    np.testing.assert_allclose(marginal[:, 0], 3.0)


def test_subspace_distance_sees_a_missing_direction():
    sim, theory, _ = synthetic_run()
    sim["p2q1"][:, :5, 3, 3] = 0.0  # mode 4 absent in the first five logged steps
    table = p2q1_measures(sim, theory, measures_section({}))
    _, dist = measure_curves(table, "subspace_distance")
    final = theory["exact"][:, -1]  # (S, d)
    expected = final[:, 3] / np.linalg.norm(final, axis=-1)  # ||M(inf) e_4 e_4^T||_F / ||M(inf)||_F
    np.testing.assert_allclose(dist[:, :5], np.repeat(expected[:, None], 5, axis=1), rtol=1e-9)
    assert np.all(dist[:, 5:] < 1e-10)


def test_mismatched_steps_are_refused():
    sim, theory, _ = synthetic_run()
    theory["steps"] = theory["steps"] + 1
    with pytest.raises(ValueError, match="different logging steps"):
        p2q1_measures(sim, theory, measures_section({}))


def test_plateau_steps_and_log_interpolation():
    np.testing.assert_allclose(plateau_steps([160, 10, 40, 640], 1000), [20, 80, 320, 1000])
    np.testing.assert_allclose(value_at([0, 10, 1000], [5.0, 1.0, 3.0], [100]), [2.0])


def test_planted_staircase_has_d_minus_1_steps():
    half = np.array([10.0, 100.0, 1000.0, 10000.0])
    steps = np.geomspace(1, 1e5, 400)
    # erank 1 after the first escape, +1 at each further half-rise (steep logistic in log step)
    erank = 1 + sum(1 / (1 + np.exp(-8 * (np.log(steps) - np.log(t)))) for t in half[1:])
    plateaus = value_at(steps, erank, plateau_steps(half, steps[-1]))
    np.testing.assert_allclose(plateaus, [1, 2, 3, 4], atol=1e-3)
    assert upward_steps(plateaus, 0.25) == 3
    assert upward_steps([1.0, 2.0, 2.1, 3.0], 0.25) == 2  # a missing step is not counted


def _tables(n_settings=2):
    runs = {}
    for i in range(n_settings):
        sim, theory, comp = synthetic_run(U=ortho_group.rvs(4, random_state=i))
        runs[f"set{i}"] = (p2q1_measures(sim, theory, measures_section({})), comp)
    return runs


def test_m1_reproduced_when_simulation_equals_theory():
    runs = _tables()
    table, comp = runs["set0"]
    r = rank_staircase(table, comp["half_time"]["exact"], 0.25)
    assert r["max_deviation"] < 1e-9
    assert r["sim_up"] == r["theory_up"] == 3
    assert r["sim_plateaus"][0] < 1.2 and np.all(np.diff(r["sim_plateaus"]) > 0.25)
    row = rank_staircase_row(runs, 0.25)
    assert (row.claim, row.experiment, row.verdict) == ("M1", "linear_transformer_measures", "reproduced")
    assert row.value < 1e-9 and row.threshold == 0.25
    assert "expected 3" in row.note and "(equal)" in row.note


def test_m1_verdict_flips_when_the_simulated_rank_is_perturbed():
    runs = _tables()
    for name, (table, comp) in runs.items():
        first = min(comp["half_time"]["exact"])
        shift = (table["measure"] == "effective_rank") & (table["step"] >= first)
        table.loc[shift, "value"] += 0.5  # off by half a rank everywhere after the first escape: steps intact
    row = rank_staircase_row(runs, 0.25)
    assert row.verdict == "partial"
    np.testing.assert_allclose(row.value, 0.5, rtol=1e-9)

    runs = _tables()
    for name, (table, comp) in runs.items():
        first = min(comp["half_time"]["exact"])
        flat = (table["measure"] == "effective_rank") & (table["step"] >= first)
        table.loc[flat, "value"] = 1.0  # rank never climbs after the first escape
    row = rank_staircase_row(runs, 0.25)
    assert row.verdict == "not_reproduced"
    assert "0 upward steps" in row.note


def test_m1_refuses_random_init():
    runs = _tables(1)
    runs["set0"][1]["init"] = "random"
    with pytest.raises(ValueError, match="aligned init"):
        rank_staircase_row(runs, 0.25)


def test_figure_writes_both_files(tmp_path):
    runs = _tables()
    save_figure(figS1(runs, measures_section({})), tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").stat().st_size > 0 and (tmp_path / "f.png").stat().st_size > 0


def test_figure_s1_colours_the_final_modes_by_their_s_as_figure_2_does():
    """Regression: panel C coloured the final matrix's modes largest first with figure 2's colour order, which
    is by s_a, largest s first; the largest final mode is the smallest s (a_inf = 1/s_inf), so the colours were
    reversed. Now mode i takes the colour of its s_a, and the subspace distance (0 at every step here) has
    no empty panel but its largest value in the title."""
    fig = figS1(_tables(), measures_section({}))
    assert len(fig.axes) == 5
    panel_c = next(ax for ax in fig.axes if ax.get_title().startswith("C."))
    colours = {line.get_label(): line.get_color() for line in panel_c.get_lines() if line.get_label().startswith("mode")}
    assert list(colours) == ["mode 1: s = 0.25", "mode 2: s = 0.5", "mode 3: s = 1", "mode 4: s = 2"]
    assert list(colours.values()) == [mode_colors(4)[a] for a in (3, 2, 1, 0)]
    largest = re.search(r"at most (\S+) over every step", fig._suptitle.get_text())
    assert largest and float(largest.group(1)) < 1e-8
