"""Figure S1: the macroscopic measures (docs/science.md section 5) of the linear model's p2 q1 over training.

``runs`` = {setting: (measures table, comparison dict)}: the table of
:func:`icl_dynamics.experiments.linear.measures.p2q1_measures` and the setting's ``comparison.json``. The first
setting is the main one, the second (if any) the random-basis one. Simulation: mean over seeds with a
min-max band; theory: the exact mean flow (dotted) and the closed form (dashed) where defined.
"""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from icl_dynamics.experiments.linear.measures import measure_curves
from icl_dynamics.plotting import band, mode_colors


def _positive(steps, values):
    """Drop step 0 for the log axis."""
    keep = steps > 0
    return steps[keep], values[..., keep]


def _has(table, measure):
    return bool((table["measure"] == measure).any())


def _half_lines(ax, comp, colors):
    for t, color in zip(comp["half_time"]["exact"], colors):
        ax.axvline(t, color=color, lw=0.8, ls="-.", alpha=0.8)


def _rank_panel(ax, table, comp, title):
    d = len(comp["s"])
    colors = mode_colors(d)
    steps, sim = _positive(*measure_curves(table, "effective_rank"))
    band(ax, steps, sim, "k", lw=2)
    for theory, ls, lw in (("exact", ":", 1.8), ("closed", "--", 1.0)):
        if _has(table, f"effective_rank_theory_{theory}"):
            x, pred = _positive(*measure_curves(table, f"effective_rank_theory_{theory}"))
            ax.plot(x, pred.mean(axis=0), color="C3", ls=ls, lw=lw)
    _half_lines(ax, comp, colors)
    ax.set_xscale("log")
    ax.set_ylim(0.8, d + 1.4)
    ax.set_yticks(range(1, d + 1))
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"effective rank of $p_2 q_1$")
    ax.set_title(title)
    handles = [Line2D([], [], color="k", lw=2, label="simulation (seed mean, band: min-max)"),
               Line2D([], [], color="C3", ls=":", lw=1.8, label=r"theory: erank$(|a(t)|)$, exact mean flow"),
               Line2D([], [], color="C3", ls="--", lw=1.0, label="theory: closed form (Eq. 13)")]
    handles += [Line2D([], [], color=c, ls="-.", lw=0.8, label=f"half-rise (exact), s = {s:.3g}")
                for c, s in zip(colors, comp["s"])]
    ax.legend(handles=handles, frameon=False, loc="upper center", ncol=2, fontsize=6)


def _two_settings(ax, runs, measures, colors, labels):
    """Main setting: band; second setting: dashed mean line of the same colour."""
    names = list(runs)
    for measure, color, label in zip(measures, colors, labels):
        for i, name in enumerate(names[:2]):
            steps, values = _positive(*measure_curves(runs[name][0], measure))
            if i == 0:
                band(ax, steps, values, color, label=f"{label}, {name}")
            else:
                ax.plot(steps, values.mean(axis=0), color=color, ls="--", lw=1, label=f"{label}, {name} (mean)")
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")


def final_mode_order(comp: dict) -> np.ndarray:
    """The index a of the spectrum mode s_a behind each mode of the final p2 q1, largest first: in the aligned
    case p2 q1 = U diag(a) U^T, so its i-th largest singular value is the i-th largest of the exact fixed point
    a_inf (the learned final matrix matches it, row L3)."""
    return np.argsort(-np.abs(np.asarray(comp["fp_exact"])), kind="stable")


def figS1(runs: dict, settings: dict) -> plt.Figure:
    """Five panels: effective rank against its prediction (main and random-basis setting), mode strengths,
    marginalised effective ranks and stable rank. The subspace distance to the final p2 q1 has no panel, only
    its largest value over steps, seeds and settings in the title: while p2 q1 keeps full rank d (all singular
    values above ``pinv_rtol`` times the largest) its row space holds the final rows and the distance is 0 to
    rounding, as at every step of the quick preset (at most 1.1e-15)."""
    names = list(runs)
    main_table, main_comp = runs[names[0]]
    fig = plt.figure(figsize=(14, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 6)
    axes = np.array([[fig.add_subplot(grid[0, 0:2]), fig.add_subplot(grid[0, 2:4]), fig.add_subplot(grid[0, 4:6])],
                     [fig.add_subplot(grid[1, 0:3]), fig.add_subplot(grid[1, 3:6]), None]], dtype=object)

    _rank_panel(axes[0, 0], main_table, main_comp, f"A. effective rank of $p_2 q_1$: {names[0]}")
    if len(names) > 1:
        table, comp = runs[names[1]]
        _rank_panel(axes[0, 1], table, comp, f"B. effective rank of $p_2 q_1$: {names[1]}")
    else:
        axes[0, 1].set_visible(False)

    ax = axes[0, 2]
    d = len(main_comp["s"])
    colors = mode_colors(d)  # by s_a, as in figures 1-2
    for i, a in enumerate(final_mode_order(main_comp)):
        color = colors[a]
        steps, values = _positive(*measure_curves(main_table, f"mode_strength_{i + 1}"))
        band(ax, steps, values, color, label=f"mode {i + 1}: s = {main_comp['s'][a]:.3g}")
        if _has(main_table, f"mode_strength_{i + 1}_theory_exact"):
            x, pred = _positive(*measure_curves(main_table, f"mode_strength_{i + 1}_theory_exact"))
            ax.plot(x, pred.mean(axis=0), color=color, ls=":", lw=1.8)
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"mode strength $u_i^\top p_2 q_1(t)\, v_i$")
    ax.set_title(f"C. strengths of the final matrix's modes (largest first): {names[0]}")
    handles = ax.get_legend_handles_labels()[0] + [Line2D([], [], color="k", ls=":", lw=1.8, label="exact mean flow")]
    ax.legend(handles=handles, frameon=False, fontsize=6)

    ks = sorted({settings["marginal_rank_k"], settings["marginal_rank_k_variant"]})
    ax = axes[1, 0]
    _two_settings(ax, runs, [f"marginal_effective_rank_k{k}" for k in ks], ["C0", "C1"], [f"k = {k}" for k in ks])
    ax.set_ylabel("marginalised effective rank")
    ax.set_title("D. effective rank without the k largest singular values")
    ax.legend(frameon=False, fontsize=6)

    ax = axes[1, 1]
    _two_settings(ax, runs, ["stable_rank"], ["C2"], ["stable rank"])
    ax.set_ylabel(r"stable rank $\|M\|_F^2 / \|M\|_2^2$")
    ax.set_title("E. stable rank of $p_2 q_1$")
    ax.legend(frameon=False, fontsize=6)

    largest = max(float(np.nanmax(np.abs(measure_curves(table, "subspace_distance")[1]))) for table, _ in runs.values())
    fig.suptitle(r"Macroscopic measures of the learned $p_2 q_1$; "
                 "dash-dot lines in A-B: the exact mean flow's half-rise step of each mode\n"
                 f"(subspace distance to the final $p_2 q_1$, pinv rtol {settings['pinv_rtol']:g}: at most {largest:.1e} "
                 "over every step, seed and setting)")
    return fig


FIGURES = {"figS1_linear_measures": figS1}
"""Figures of the rule linear_measures_figure, by file stem; each takes (runs, measures section)."""
