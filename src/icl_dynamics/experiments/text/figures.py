"""Figure S5: in-context learning of the attention-only models trained on real code.

One column per depth, a log axis of bytes trained on (step x batch x seq_len; step 0 left out). Rows: the
ICL score (loss at the late position minus loss at the early one, each seed) with the detected window
shaded (median over seeds, as in figures 4-6); the prefix-matching score of the best head of each layer;
the QK marginalised effective rank of each layer (mean over heads and seeds, band min-max). Inputs are the
small tables of rule text_measures: ``metrics``, ``measures``, ``windows``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.experiments.attention.figures import depth_grid, seed_matrix
from icl_dynamics.plotting import band, legend_below, mode_colors, plt


def tokens_per_step(metrics: pd.DataFrame) -> float:
    """Bytes trained on per update (the same for every run of a config)."""
    later = metrics[metrics["step"] > 0]
    return float((later["tokens"] / later["step"]).iloc[0])


def _shade(ax, windows: pd.DataFrame, layers: int, scale: float) -> None:
    runs = windows[(windows["n_layers"] == layers) & windows["detected"].astype(bool)]
    if runs.empty:
        ax.text(0.03, 0.04, "no window detected", transform=ax.transAxes, fontsize=7, color="0.4")
        return
    ax.axvspan(runs["start"].median() * scale, runs["end"].median() * scale, color="orange", alpha=0.2, lw=0,
               label="detected window")


def figS5(tables: dict, settings: dict) -> plt.Figure:
    """ICL score with windows, best prefix-matching head per layer and QK marginalised rank per layer."""
    metrics, measures, windows = tables["metrics"], tables["measures"], tables["windows"]
    k = settings["marginal_rank_k"]
    depths = sorted(metrics["n_layers"].unique())
    scale = tokens_per_step(metrics)
    colors = mode_colors(max(max(depths), 3))
    fig, axes = depth_grid(3, len(depths))
    for col, layers in enumerate(depths):
        steps, icl = seed_matrix(metrics, layers, "icl_score")
        lines = axes[0, col].plot(steps * scale, icl.T, color="C0", lw=1)
        lines[0].set_label("ICL score, each seed")
        for layer in range(layers):
            heads = [c for c in metrics.columns if c.startswith(f"prefix_matching_L{layer}H")]
            run = metrics[(metrics["n_layers"] == layers) & (metrics["step"] > 0)]
            best = run.assign(best=run[heads].max(axis=1)).pivot(index="seed", columns="step", values="best")
            axes[1, col].plot(best.columns.to_numpy() * scale, best.to_numpy().T, color=colors[layer], lw=1,
                              label=f"layer {layer + 1}")
            sel = measures[(measures["n_layers"] == layers) & (measures["layer"] == layer)
                           & (measures["series"] == "QK") & (measures["measure"] == f"marginal_effective_rank_k{k}")
                           & (measures["step"] > 0)]
            table = sel.pivot_table(index=["seed", "head"], columns="step", values="value")
            band(axes[2, col], table.columns.to_numpy() * scale, table.to_numpy(), color=colors[layer])
        for row, label in enumerate(["ICL score (nats)\nloss 500 - loss 50", "prefix matching\n(best head)",
                                     f"QK marg. eff. rank\n(k={k})"]):
            ax = axes[row, col]
            _shade(ax, windows, layers, scale)
            ax.set_xscale("log")
            if col == 0:
                ax.set_ylabel(label)
        axes[0, col].set_title(f"{layers} layer{'s' if layers > 1 else ''}")
        axes[1, col].set_ylim(bottom=0)
        axes[2, col].set_xlabel("bytes trained on")
    legend_axis = axes[1, int(np.argmax(depths))]
    legend_axis.fill_between([], [], [], color="0.5", alpha=0.25, lw=0,  # a legend entry only: draws nothing
                             label="QK rank row: line mean, band min-max over heads and seeds")
    legend_below(fig, legend_axis)
    fig.suptitle("Fig. S5: ICL on real code (byte-level attention-only models, Python standard library)")
    return fig


FIGURES = {"figS5_text_icl": figS5}
"""Figures of the rule text_figure, by file stem; each takes (tables, measures section) and returns a Figure."""
