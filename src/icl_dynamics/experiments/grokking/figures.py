"""Figure 7: grokking on modular addition, progress measures on one epoch axis (docs/science.md section 6).

Panels: (a) train/test accuracy, (b) train/test loss, (c) OV and QK subspace distance to the final
weights, (d) OV effective and marginalised effective rank, (e) curvature of the loss autocorrelation,
(f) parameter norm and the curvature of its autocorrelation. Curves are means over seeds (head means
for per-head measures) with a min-max band over seeds; vertical lines mark the mean memorisation and
grokking epochs, the dotted line in (c) the mean detected OV stabilisation epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.plotting import band, legend_below, mode_colors, plt


def _per_seed(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values of shape (seeds, steps)) of a long table with columns seed, step, ``column``; one
    step is one full-batch epoch."""
    wide = frame.pivot_table(index="seed", columns="step", values=column, aggfunc="mean")
    return wide.columns.to_numpy(dtype=float), wide.to_numpy()


def _measure(measures: pd.DataFrame, series: str, measure: str) -> tuple[np.ndarray, np.ndarray]:
    rows = measures[(measures.series == series) & (measures.measure == measure)]
    return _per_seed(rows, "value")


def _positive(x, values):
    keep = x > 0
    return x[keep], values[:, keep]


def figure7(metrics: pd.DataFrame, measures: pd.DataFrame, events: pd.DataFrame):
    """Draw figure 7 from the metrics of every seed, the measures table and the events table."""
    colors = mode_colors(4)
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.9), sharex=True, layout="constrained")
    (ax_acc, ax_loss, ax_dist), (ax_rank, ax_curv, ax_norm) = axes

    for col, name, color in (("train_acc", "train", colors[0]), ("test_acc", "test", colors[1])):
        band(ax_acc, *_positive(*_per_seed(metrics, col)), color, label=name)
    ax_acc.set(ylabel="accuracy", title="(a) accuracy")

    for col, name, color in (("train_loss", "train", colors[0]), ("test_loss", "test", colors[1])):
        band(ax_loss, *_positive(*_per_seed(metrics, col)), color, label=name)
    ax_loss.set(yscale="log", ylabel="cross-entropy", title="(b) loss")

    for series, color, ls in (("OV", colors[2], "-"), ("QK", colors[3], "--")):
        band(ax_dist, *_positive(*_measure(measures, series, "subspace_distance")), color, ls=ls,
             label=f"{series} (head mean)")
    ax_dist.set(ylabel="subspace distance to final", title="(c) subspace distance")
    stab = events[events.event == "OV_stabilisation"]["middle"].dropna()
    if len(stab):
        ax_dist.axvline(stab.mean(), color=colors[2], ls=":", lw=1.2, label="OV stabilisation")

    marginal = sorted(m for m in measures.measure.unique() if m.startswith("marginal_effective_rank"))[0]
    band(ax_rank, *_positive(*_measure(measures, "OV", "effective_rank")), colors[2], label="OV effective rank")
    band(ax_rank, *_positive(*_measure(measures, "OV", marginal)), colors[2], ls="--",
         label=f"OV marginalised ({marginal.rsplit('_', 1)[-1]})")
    ax_rank.set(ylabel="rank (head mean)", title="(d) effective ranks")

    for series, name, color in (("train_loss", "train loss", colors[0]), ("test_loss", "test loss", colors[1])):
        band(ax_curv, *_positive(*_measure(measures, series, "autocorrelation_curvature")), color, label=name)
    ax_curv.set(ylabel="autocorrelation curvature", title="(e) curvature of log-loss autocorrelation")
    ax_curv.set_yscale("symlog", linthresh=1e-3)

    # (f) has no legend (at both scales its curves fill every corner): the axis labels name the curves
    band(ax_norm, *_positive(*_per_seed(metrics, "param_norm")), colors[3])
    ax_norm.set(title="(f) parameter norm and its curvature")
    ax_norm.set_ylabel("parameter norm (solid)", color=colors[3])
    twin = ax_norm.twinx()
    band(twin, *_positive(*_measure(measures, "param_norm", "autocorrelation_curvature")), "0.4", ls="--",
         lw=1.0)
    twin.set_ylabel("autocorrelation curvature (dashed)", color="0.4")
    twin.spines["right"].set_visible(True)

    event_lines = [(events[events.event == name]["middle"].dropna(), color, ls, f"{name} (mean epoch)")
                   for name, color, ls in (("memorisation", "0.3", "--"), ("grokking", "k", "-."))]
    for ax in axes.flat:  # the event lines are labelled once, in panel (a), for the legend below the panels
        ax.set_xscale("log")
        for steps, color, ls, label in event_lines:
            if len(steps):
                ax.axvline(steps.mean(), color=color, lw=0.8, ls=ls, label=label if ax is ax_acc else None)
    for ax in axes[1]:
        ax.set_xlabel("epoch (full-batch step)")
    legend_below(fig, ax_acc)  # train, test and the event lines: at paper scale no corner of (a) or (b) is free
    for ax in (ax_dist, ax_rank, ax_curv):
        ax.legend(loc="best", frameon=False)
    n_seeds = metrics["seed"].nunique()
    fig.suptitle(f"Grokking of (a + b) mod p: mean and min-max band over {n_seeds} seeds")
    return fig


FIGURES = {"fig7_grokking": figure7}
"""Figures of the rule grokking_figure, by file stem; each takes (metrics, measures, events)."""
