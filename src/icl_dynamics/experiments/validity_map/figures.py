"""Figure S3: the validity map, per cell of N x s_min/s_max x lr, how well each theory describes SGD.
Rows: worst per-mode R^2, fixed-point error, half-rise-step error; columns: the closed form (Eq. 13), the exact
mean flow and the finite-N closed form at each learning rate."""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

THEORY_TITLES = {"closed": "closed form (Eq. 13)", "exact": "exact mean flow", "finite_n": "finite-N closed form"}
MAP_ROWS = {  # measure: (colour-bar label, threshold key in linear.thresholds, threshold label)
    "worst_r2": ("1 - worst-mode $R^2$ of $a_a(t)$\n(numbers: $R^2$)", "r2", "$R^2$ = {:g}"),
    "fixed_point_rel": ("fixed-point error\n(closed form: $1/s_\\infty$, Eq. 11)", "fixed_point_rel",
                        "fixed point {:.0%}"),
    "half_rise_rel": ("half-rise-step error", "escape_rel", "half-rise {:.0%}"),
}


def threshold_edges(values: np.ndarray, level: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The cell edges between a cell that passes (value <= ``level``) and a neighbour that fails, as
    ((x0, x1), (y0, y1)) segments in heat-map coordinates (cell (i, j) spans x in [j, j + 1], y in
    [i, i + 1]); an edge next to a cell without a value (NaN) is not a threshold edge."""
    defined = np.isfinite(values)
    passed = defined & (np.where(defined, values, np.inf) <= level)
    ny, nx = values.shape
    edges = []
    for i in range(ny):
        for j in range(nx):
            if j + 1 < nx and defined[i, j] and defined[i, j + 1] and passed[i, j] != passed[i, j + 1]:
                edges.append(((j + 1, j + 1), (i, i + 1)))
            if i + 1 < ny and defined[i, j] and defined[i + 1, j] and passed[i, j] != passed[i + 1, j]:
                edges.append(((j, j + 1), (i + 1, i + 1)))
    return edges


def _cell_label(table, cell: str) -> str:
    """A cell in the axes' terms, e.g. 'N = 30, s_min/s_max = 0.125, lr 0.02', from its rows of the map table."""
    row = table[table["cell"] == cell].iloc[0]
    return f"N = {row['N']:g}, $s_{{min}}/s_{{max}}$ = {row['s_ratio']:.3g}, $\\eta$ = {row['lr']:g}"


def _map_panel(ax, values: np.ndarray, annot: np.ndarray, norm, cmap, level: float):
    """One heat map (rows: s_min/s_max, largest first; columns: N) with its threshold drawn on the
    :func:`threshold_edges` (an interpolated contour would cut through cells whose value is a single run's)."""
    import seaborn as sns

    sns.heatmap(values, ax=ax, cmap=cmap, norm=norm, cbar=False, annot=annot, fmt="", annot_kws={"fontsize": 6},
                linewidths=0.5, linecolor="white", square=False)
    ax.set_facecolor("0.85")
    for xs, ys in threshold_edges(values, level):
        ax.plot(xs, ys, color="C0", lw=2.5, solid_capstyle="butt")


def figS3(table, rule: dict, operating: dict, thr: dict, grid: dict) -> plt.Figure:
    """Heat maps of the validity map's long table (``validity.map_table``) with the rule of thumb
    (``validity.rule_of_thumb``) drawn on the closed form's R^2 panels and the cells that are preset
    settings (``operating`` = {cell: setting}) boxed."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch, Rectangle
    import seaborn as sns

    Ns = sorted(table["N"].unique())
    ratios = sorted(table["ratio"].unique(), reverse=True)  # isotropic at the top
    lrs = sorted(table["lr"].unique())
    s_ratio = table.drop_duplicates("ratio").set_index("ratio")["s_ratio"]
    aniso = table.drop_duplicates("ratio").set_index("ratio")["anisotropy"]
    held = set(rule["held_out"]["cells"])
    columns = [(th, lr) for th in THEORY_TITLES for lr in lrs]
    width = 0.42 * len(Ns) + 1.0
    # no layout engine while seaborn draws (it draws the whole figure once per heat map); constrained after
    fig, axes = plt.subplots(len(MAP_ROWS), len(columns), squeeze=False,
                             figsize=(width * len(columns) + 1.6, 3 * (0.3 * len(ratios) + 1.2)))
    cmap = sns.color_palette("rocket_r", as_cmap=True)
    bars = []
    for row, (measure, (label, thr_key, thr_label)) in enumerate(MAP_ROWS.items()):
        norm = LogNorm(1e-4 if measure == "worst_r2" else 1e-3, 1.0, clip=True)
        level = 1 - thr[thr_key] if measure == "worst_r2" else thr[thr_key]
        bars.append((norm, label, level))
        for col, (th, lr) in enumerate(columns):
            ax = axes[row, col]
            part = table[(table["theory"] == th) & (table["measure"] == measure) & (table["lr"] == lr)]
            raw = part.pivot_table(index="ratio", columns="N", values="value", aggfunc="first", dropna=False)
            raw = raw.reindex(index=ratios, columns=Ns).to_numpy(dtype=float)
            if measure == "worst_r2":
                values = np.maximum(1 - raw, 1e-6)
                annot = np.vectorize(lambda v: "" if not np.isfinite(v) else "<0" if v < 0 else
                                     f"{v:.4f}" if v >= 0.999 else f"{v:.3f}")(raw)
            else:
                values = raw
                annot = np.vectorize(lambda v: "" if not np.isfinite(v) else f"{v:.2g}")(raw)
            _map_panel(ax, values, annot, norm, cmap, level)
            for i, ratio in enumerate(ratios):
                for j, N in enumerate(Ns):
                    name = part.loc[(part["ratio"] == ratio) & (part["N"] == N), "cell"]
                    if len(name) and name.iloc[0] in operating:
                        ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="C9", lw=3, clip_on=False))
                    if measure == "worst_r2" and th == "closed" and len(name) and name.iloc[0] in held:
                        ax.plot(j + 0.12, i + 0.18, marker="o", ms=3, color="C9")
            if measure == "worst_r2" and th == "closed":
                edge = [np.sum(np.array(Ns) < rule["c"] * aniso[ratio]) for ratio in ratios]
                xs = np.repeat(edge, 2)
                ys = np.ravel([[i, i + 1] for i in range(len(ratios))])
                ax.plot(xs, ys, color="C2", ls="--", lw=2)
            ax.set_title(f"{THEORY_TITLES[th]}, $\\eta$ = {lr:g}", fontsize=8)
            ax.set_xticklabels([f"{N:g}" for N in Ns], rotation=0)
            ax.set_yticklabels([f"{s_ratio[r]:.3g}" for r in ratios], rotation=0)
            ax.set_xlabel("context length N" if row == len(MAP_ROWS) - 1 else "")
            ax.set_ylabel("$s_{min}/s_{max}$" if col == 0 else "")
    fig.set_layout_engine("constrained")
    for row, (norm, label, level) in enumerate(bars):
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[row, :], shrink=0.9, pad=0.01)
        bar.set_label(label, fontsize=7)
        bar.ax.axhline(level, color="C0", lw=1.8)
    thresholds = [label.format(thr[key]) for _, key, label in MAP_ROWS.values()]
    handles = [Line2D([], [], color="C0", lw=2,
                      label=f"threshold ({', '.join(thresholds)}): edge between a passing and a failing cell"),
               Line2D([], [], color="C2", ls="--", lw=2,
                      label=f"rule of thumb (closed-form R$^2$ panels): the closed form passes right of the line, N >= "
                            f"{rule['c']:.3g} " + "$\\sum_a (s_a - s_{min})/s_{min}$"),
               Line2D([], [], color="C9", marker="o", ms=3, ls="none",
                      label=f"held-out cell: scores the rule ({rule['holdout']} split); the others fit c"),
               Patch(facecolor="none", edgecolor="C9", lw=3,
                     label="preset setting: " + (", ".join(f"{s} ({_cell_label(table, c)})" for c, s in operating.items())
                                                 or "none on the grid")),
               Patch(facecolor="0.85", label="not defined: run ended before the fixed point (exact flow > "
                                             f"{grid['converged_rel']:.0%} away) or before a mode's half-rise")]
    fig.legend(handles=handles, loc="outside lower center", ncol=1 if len(columns) <= 2 else 2, frameon=False,
               fontsize=7)
    fig.suptitle("Where the closed form (Eq. 13), the exact mean flow and its finite-N closed form describe SGD. "
                 "Each cell: one run, mean over seeds, "
                 "worst of the d modes;\n" + f"spectrum $s_a = {grid['scale']:g}\\,r^{{a-1}}$, trained for "
                 f"{grid['duration']:g} slowest timescales $1/s_{{min}}^2$ at learning rate $\\eta$", fontsize=9)
    return fig


FIGURES = {"figS3_validity_map": figS3}
"""Figures of the rule validity_map_figure, by file stem; each takes (table, rule, operating points,
thresholds, grid) and returns a Figure."""
