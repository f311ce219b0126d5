"""Figure S4: rows N2, N3 and G2 under every reading the paper leaves open (docs/science.md, section
'Readings the paper leaves open').

One panel per row, one cell per reading (the primary on top, framed and in bold), coloured by the verdict
that reading gives; each cell shows the reading's value and its passing units (2+ layer runs, layers, heads,
(run, circuit) pairs or seeds) out of those scored, and for N2 the 1-layer runs' passing units in brackets.
A grey cell is a reading the runs cannot give (the run ends before the training length it reads).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.patches import Patch

from icl_dynamics.experiments.readings.table import UNAVAILABLE
from icl_dynamics.plotting import plt
from icl_dynamics.scorecard import fmt

COLORS = {"reproduced": "#4daf4a", "partial": "#fdb827", "not_reproduced": "#e8584f", UNAVAILABLE: "#d9d9d9"}
LABELS = {"reproduced": "reproduced", "partial": "partial", "not_reproduced": "not reproduced",
          UNAVAILABLE: "unavailable (run too short)"}
VALUES = {"N2": ("fraction of 2+ layer units that dip", "units"), "N3": ("fraction of units falling early", "units"),
          "G2": ("max |offset| in gaps (none: a seed never groks)", "seeds")}


def _cell_text(row) -> str:
    if row.verdict == UNAVAILABLE:
        return "n/a"
    text = f"{fmt(row.value, '.2f')}   {int(row.passed)}/{int(row.scored)}"
    return text + (f"   (1-layer {int(row.shallow_passed)}/{int(row.shallow_scored)})" if row.shallow_scored else "")


def _panel(ax, rows: pd.DataFrame, claim: str, n_rows: int) -> None:
    """One row's readings as a column of cells from the top, ``n_rows`` cells high (the longest panel's)."""
    y = list(range(n_rows - 1, n_rows - 1 - len(rows), -1))
    for yi, row in zip(y, rows.itertuples()):
        primary = bool(row.primary)
        ax.barh(yi, 1.0, left=0.0, height=0.86, color=COLORS[row.verdict], edgecolor="black" if primary else "white",
                linewidth=2.0 if primary else 0.5)
        ax.text(0.5, yi, _cell_text(row), ha="center", va="center", fontsize=7,
                fontweight="bold" if primary else "normal")
    ax.set_yticks(y, [f"{r.reading}" for r in rows.itertuples()], fontsize=7)
    for label, row in zip(ax.get_yticklabels(), rows.itertuples()):
        label.set_fontweight("bold" if bool(row.primary) else "normal")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    primary = rows.loc[rows["primary"].astype(bool), "verdict"].iloc[0]
    value, units = VALUES.get(claim, ("value", "units"))
    ax.set_title(f"{claim} (row verdict: {LABELS[primary]})\ncell: {value},\n{units} passed/scored", fontsize=8)


def readings_figure(attention: pd.DataFrame, grokking: pd.DataFrame):
    """Draw figure S4 from the readings tables of the attention and grokking experiments
    (``results/readings/<experiment>.csv``)."""
    table = pd.concat([attention, grokking], ignore_index=True)
    claims = list(dict.fromkeys(table["claim"]))
    longest = max(int((table["claim"] == c).sum()) for c in claims)
    fig, axes = plt.subplots(1, len(claims), figsize=(4.0 * len(claims), 0.27 * longest + 1.6),
                             layout="constrained", squeeze=False)
    for ax, claim in zip(axes[0], claims):
        rows = table[table["claim"] == claim].reset_index(drop=True)
        _panel(ax, rows, claim, longest)
    present = [v for v in COLORS if v in set(table["verdict"])]
    handles = [Patch(facecolor=COLORS[v], edgecolor="none", label=LABELS[v]) for v in present]
    handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2.0, label="primary reading (the row's rule)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=7)
    return fig


FIGURES = {"figS4_readings": readings_figure}
