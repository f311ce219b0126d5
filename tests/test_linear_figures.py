"""Figures 1-3 (experiments.linear.figures) drawn from short runs of the quick preset's settings: what each
panel names (legends, axis labels, titles)."""

from __future__ import annotations

import pytest

from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments.linear.compare import COMPARE_THRESHOLDS, compare
from icl_dynamics.experiments.linear.figures import fig2, fig3
from icl_dynamics.experiments.linear.settings import resolve_setting, used_settings
from icl_dynamics.experiments.linear.simulate import simulate
from icl_dynamics.experiments.linear.theory import theory
from icl_dynamics.plotting import mode_colors, plt

from conftest import REPO


@pytest.fixture(scope="module")
def quick_runs():
    """Every setting of the quick preset's figures, 2 seeds, 300 steps, small batches (a few seconds)."""
    config = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    linear = validate(config["linear"], "linear", prefix="linear")
    runs = {}
    for name in used_settings(linear):
        setting = resolve_setting(linear, name)
        setting.update(steps=300, batch=16, eval_batch=32, n_log=12, n_lin=8)
        sim, th = simulate(setting, [0, 1]), theory(setting, [0, 1])
        thresholds = {k: linear["thresholds"][k] for k in COMPARE_THRESHOLDS}
        runs[name] = {"sim": sim, "theory": th, "comparison": compare(setting, sim, th, thresholds)}
    return runs, linear["figures"]


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_figure_2_legends_name_every_colour_and_line_style(quick_runs):
    """Regression: 2A had no legend for its line styles (only F explained them, inside F's curves), F's
    colours were not mapped to its s values and C had no y label."""
    runs, figs = quick_runs
    fig = fig2(runs, figs)
    panels = {ax.get_title()[:2]: ax for ax in fig.axes}
    styles = ["simulation (SGD, full model), band: seeds", "closed form (Eq. 13)", "exact mean flow",
              "finite-N closed form (ours)"]
    for key, setting in (("A.", figs["fig2_main"]), ("F.", figs["fig2_closed_form"])):
        s = runs[setting]["theory"]["s"]
        assert _legend_texts(panels[key]) == [f"s = {v:.3g}" for v in s] + styles
        handles = panels[key].get_legend().legend_handles
        assert [h.get_color() for h in handles[:len(s)]] == mode_colors(len(s))
    assert _legend_texts(panels["D."])[-2:] == [styles[0], styles[2]]  # random init: no closed form drawn
    assert panels["C."].get_ylabel() == "squared Frobenius norm"
    plt.close(fig)


def test_figure_3b_says_which_context_length_ran_at_which_learning_rate(quick_runs):
    runs, figs = quick_runs
    fig = fig3(runs, figs)
    (panel,) = [ax for ax in fig.axes if ax.get_title().startswith("B.")]
    assert panel.get_title() == "B. where the closed form holds\n(lr 0.01 at N = 10; lr 0.02 at N = 30, 300)"
    plt.close(fig)
