"""Figures 4-6: ICL emergence, QK/OV ranks and subspace distance of the attention-only models, one column per
depth (the preset's: 1-4 layers in the paper preset, 1 and 2 in the quick one).

Each figure has a log-step axis (step 0, the initial model, is left out). The emergence window shaded in
every panel is the median over seeds of the detected windows' start and end
(:func:`icl_dynamics.experiments.attention.measures.emergence_window`); thin dotted lines mark each seed's.
Inputs are the small tables of rule attention_measures: ``metrics``, ``measures``, ``windows``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.plotting import band, legend_below, mode_colors, plt


def _depths(tables: dict) -> list[int]:
    return sorted(tables["metrics"]["n_layers"].unique())


def depth_words(depths) -> str:
    """'1 layer', '1 and 2 layers', '1, 2, 3 and 4 layers'."""
    names = [str(d) for d in depths]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{joined} layer{'s' if len(names) > 1 or depths[0] > 1 else ''}"


def _shade_window(ax, windows: pd.DataFrame, layers: int) -> None:
    """Shade the median detected window of depth ``layers``; dotted lines at each seed's edges."""
    runs = windows[(windows["n_layers"] == layers) & windows["detected"].astype(bool)]
    if runs.empty:
        ax.text(0.03, 0.04, "no window detected", transform=ax.transAxes, fontsize=7, color="0.4")
        return
    ax.axvspan(runs["start"].median(), runs["end"].median(), color="orange", alpha=0.2, lw=0,
               label="detected window, median over seeds")
    for i, edge in enumerate(np.concatenate([runs["start"].to_numpy(), runs["end"].to_numpy()])):
        ax.axvline(edge, color="orange", lw=0.6, ls=":", label="each seed's detected window (start, end)" if i == 0 else None)


def seed_matrix(metrics: pd.DataFrame, layers: int, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps (> 0) and a (seeds, steps) array of one metric at depth ``layers``."""
    table = metrics[(metrics["n_layers"] == layers) & (metrics["step"] > 0)].pivot(index="seed", columns="step",
                                                                                  values=column)
    return table.columns.to_numpy(), table.to_numpy()


def _head_matrix(measures: pd.DataFrame, layers: int, layer: int, circuit: str, measure: str):
    """Steps (> 0) and a (seeds x heads, steps) array of one measure of one layer at depth ``layers``."""
    sel = measures[(measures["n_layers"] == layers) & (measures["layer"] == layer) & (measures["series"] == circuit)
                   & (measures["measure"] == measure) & (measures["step"] > 0)]
    table = sel.pivot_table(index=["seed", "head"], columns="step", values="value")
    return table.columns.to_numpy(), table.to_numpy()


def _finish_cell(ax, windows: pd.DataFrame, layers: int, ylabel: str, first_col: bool, first_row: bool,
                 last_row: bool) -> None:
    """Shade the detected window, log-step axis; y label on the first column, depth title on the first
    row, x label on the last row."""
    _shade_window(ax, windows, layers)
    ax.set_xscale("log")
    if first_col:
        ax.set_ylabel(ylabel)
    if first_row:
        ax.set_title(f"{layers} layer{'s' if layers > 1 else ''}")
    if last_row:
        ax.set_xlabel("training step")


def depth_grid(n_rows: int, n_cols: int, sharey: bool | str = False):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols + 0.8, 1.9 * n_rows + 0.4), sharex=True,
                             sharey=sharey, squeeze=False, layout="constrained")
    return fig, axes


def fig4(tables: dict, settings: dict) -> plt.Figure:
    """ICL score (top) and held-out loss (bottom) over training: mean, min-max band and each seed. Each row
    shares its y axis, so that a depth's fall reads at its size beside the others'."""
    metrics, windows = tables["metrics"], tables["windows"]
    depths = _depths(tables)
    fig, axes = depth_grid(2, len(depths), sharey="row")
    for col, layers in enumerate(depths):
        for row, (column, label) in enumerate([("icl_score", "ICL score (nats)\nloss late - loss early"),
                                               ("eval_loss", "held-out loss (nats)")]):
            ax = axes[row, col]
            steps, values = seed_matrix(metrics, layers, column)
            color = "C0" if row == 0 else "C3"
            band(ax, steps, values, color=color, label=f"mean over {values.shape[0]} seeds (band: min-max)")
            # Seeds can jump at different steps, which the mean smears out: draw each one too.
            seed_lines = ax.plot(steps, values.T, color=color, lw=0.6, alpha=0.5)
            seed_lines[0].set_label("each seed")
            _finish_cell(ax, windows, layers, label, first_col=col == 0, first_row=row == 0, last_row=row == 1)
    legend_below(fig, axes[0, 0])
    fig.suptitle(f"Fig. 4: ICL score and loss of attention-only models with {depth_words(depths)}")
    return fig


def _per_layer_panels(tables: dict, rows: list[tuple[str, str, str]], title: str) -> plt.Figure:
    """One row per (circuit, measure, y-label), one column per depth, one line per layer."""
    measures, windows = tables["measures"], tables["windows"]
    depths = _depths(tables)
    fig, axes = depth_grid(len(rows), len(depths))
    colors = mode_colors(max(depths))
    for col, layers in enumerate(depths):
        for row, (circuit, measure, label) in enumerate(rows):
            ax = axes[row, col]
            for layer in range(layers):
                steps, values = _head_matrix(measures, layers, layer, circuit, measure)
                band(ax, steps, values, color=colors[layer], label=f"layer {layer + 1}")
            _finish_cell(ax, windows, layers, label, first_col=col == 0, first_row=row == 0,
                         last_row=row == len(rows) - 1)
    legend_below(fig, axes[0, -1])  # the deepest model's panel names every layer
    fig.suptitle(title + "\n(mean over heads and seeds, band: min-max)")
    return fig


def fig5(tables: dict, settings: dict) -> plt.Figure:
    """Effective rank and marginalised effective rank of the per-head QK and OV circuits."""
    k = settings["marginal_rank_k"]
    marginal = f"marginal_effective_rank_k{k}"
    rows = [("QK", "effective_rank", "QK effective rank"), ("QK", marginal, f"QK marg. eff. rank (k={k})"),
            ("OV", "effective_rank", "OV effective rank"), ("OV", marginal, f"OV marg. eff. rank (k={k})")]
    return _per_layer_panels(tables, rows, "Fig. 5: spectral rank dynamics of the QK and OV circuits")


def fig6(tables: dict, settings: dict) -> plt.Figure:
    """Subspace distance of each head's QK and OV circuit to its final value."""
    rows = [("QK", "subspace_distance", "QK subspace dist.\nto final"),
            ("OV", "subspace_distance", "OV subspace dist.\nto final")]
    return _per_layer_panels(tables, rows, "Fig. 6: subspace distance to the final circuits")


FIGURES = {"fig4_icl_emergence": fig4, "fig5_qk_ov_ranks": fig5, "fig6_subspace_distance": fig6}
"""Figures of the rule attention_figure, by file stem; each takes (tables, measures section) and returns a Figure."""
