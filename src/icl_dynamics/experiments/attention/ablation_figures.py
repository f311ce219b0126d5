"""Figure S2: the model-family ablation of the attention-only experiment, ICL score per depth of every
family with its detected windows."""

from __future__ import annotations

import pandas as pd

from icl_dynamics.experiments.attention.figures import depth_grid, seed_matrix
from icl_dynamics.plotting import band, legend_below, mode_colors, plt


def figS2(families: dict[str, tuple[pd.DataFrame, pd.DataFrame]], models: dict[str, dict]) -> plt.Figure:
    """The model-family ablation: ICL score per depth for every family (mean, min-max band and each seed),
    each family's detected windows as a shaded span (median over seeds) in its colour.

    ``families`` maps a family name to its (metrics, windows) tables, the main family first; ``models``
    maps it to its ``model`` settings, which label the curves.
    """
    depths = sorted(next(iter(families.values()))[0]["n_layers"].unique())
    fig, axes = depth_grid(1, len(depths))
    for col, layers in enumerate(depths):
        ax = axes[0, col]
        for color, (family, (metrics, windows)) in zip(mode_colors(max(len(families), 3)), families.items()):
            steps, values = seed_matrix(metrics, layers, "icl_score")
            model = models[family]
            band(ax, steps, values, color=color,
                 label=f"{family}: layer_norm {model['layer_norm']}, positions {model['positional']}")
            ax.plot(steps, values.T, color=color, lw=0.5, alpha=0.5)
            runs = windows[(windows["n_layers"] == layers) & windows["detected"].astype(bool)]
            if not runs.empty:
                ax.axvspan(runs["start"].median(), runs["end"].median(), color=color, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_title(f"{layers} layer{'s' if layers > 1 else ''}")
    axes[0, 0].set_ylabel("ICL score (nats)\nloss late - loss early")
    legend_below(fig, axes[0, 0])
    fig.suptitle("Fig. S2: ICL score of each model family\n(mean, min-max band and each seed; shaded: median "
                 "detected window)")
    return fig


FIGURES = {"figS2_model_family_ablation": figS2}
"""Figures of the rule attention_ablation_figure, by file stem; each takes (families, models)."""
