"""Figure S2: the model-family ablation of the attention-only experiment, ICL score per depth of every
family with its detected windows."""

from __future__ import annotations

import pandas as pd
from matplotlib.patches import Patch

from icl_dynamics.experiments.attention.figures import depth_grid, seed_matrix
from icl_dynamics.plotting import band, mode_colors, plt

BAR = 0.05  # height of one family's window bar, as a fraction of the panel's height


def figS2(families: dict[str, tuple[pd.DataFrame, pd.DataFrame]], models: dict[str, dict]) -> plt.Figure:
    """The model-family ablation: ICL score per depth for every family (mean, min-max band and each seed),
    each family's detected window (median over seeds of start and end) as a bar in its colour along the top
    of the panel, one row of bars per family, above the curves (the y range is extended to make room), so
    that two families' windows never overlap.

    ``families`` maps a family name to its (metrics, windows) tables, the main family first; ``models``
    maps it to its ``model`` settings, which label the curves.
    """
    depths = sorted(next(iter(families.values()))[0]["n_layers"].unique())
    colors = dict(zip(families, mode_colors(max(len(families), 3))))
    top = BAR * len(families) + 0.02  # fraction of each panel above the curves
    fig, axes = depth_grid(1, len(depths))
    for col, layers in enumerate(depths):
        ax = axes[0, col]
        spans = []
        for family, (metrics, windows) in families.items():
            steps, values = seed_matrix(metrics, layers, "icl_score")
            model = models[family]
            band(ax, steps, values, color=colors[family],
                 label=f"{family}: layer_norm {model['layer_norm']}, positions {model['positional']}")
            ax.plot(steps, values.T, color=colors[family], lw=0.5, alpha=0.5)
            runs = windows[(windows["n_layers"] == layers) & windows["detected"].astype(bool)]
            if not runs.empty:
                spans.append((family, runs["start"].median(), runs["end"].median()))
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + (high - low) * top / (1 - top))
        for family, start, end in spans:
            row = list(families).index(family)
            ax.axvspan(start, end, ymin=1 - BAR * (row + 1), ymax=1 - BAR * row - 0.01, color=colors[family],
                       alpha=0.7, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_title(f"{layers} layer{'s' if layers > 1 else ''}")
    axes[0, 0].set_ylabel("ICL score (nats)\nloss late - loss early")
    handles = axes[0, 0].get_legend_handles_labels()[0]
    handles += [Patch(color=colors[family], alpha=0.7, label=f"{family}: detected window, median over seeds (bar)")
                for family in families]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(families), frameon=False)
    fig.suptitle("Fig. S2: ICL score of each model family\n(mean, min-max band and each seed; bars: median "
                 "detected window)")
    return fig


FIGURES = {"figS2_model_family_ablation": figS2}
"""Figures of the rule attention_ablation_figure, by file stem; each takes (families, models)."""
