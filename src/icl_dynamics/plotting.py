"""Shared figure style and saving: every figure is written as a PDF and a PNG twin."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
plt.rcParams.update(STYLE)


def mode_colors(n: int):
    """``n`` distinguishable colours, one per mode / depth / head."""
    cmap = plt.get_cmap("viridis" if n > 6 else "tab10")
    return [cmap(i / max(n - 1, 1)) if n > 6 else cmap(i) for i in range(n)]


def save_figure(fig, pdf_path: str | Path, png_path: str | Path) -> None:
    """Save ``fig`` to both paths and close it."""
    for path in (pdf_path, png_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def legend_below(fig, ax) -> None:
    """One legend for the whole figure, in one row below its panels (outside every axis, so it covers no
    curve), from the labelled artists of ``ax``. Needs a figure made with ``layout="constrained"``."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)


def band(ax, x, values, color, label=None, alpha=0.25, lw=1.5, ls="-"):
    """Plot the mean over axis 0 of ``values`` (seeds x points) with a min-max band."""
    import numpy as np

    values = np.asarray(values)
    mean = values.mean(axis=0)
    ax.plot(x, mean, color=color, lw=lw, ls=ls, label=label)
    if values.shape[0] > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=alpha, lw=0)
    return mean
