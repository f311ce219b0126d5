"""Figure S6: the online monitor replayed over every experiment's runs (docs/science.md, section 12, "Rows C7").

One panel per experiment (rows C7-attention, C7-grokking, C7-linear): the alarm statistic V_c of every run
over training (pooled relative speed of the circuits, per decade of steps; QK solid, OV dashed; in the linear
model QK = OV = p2 q1, so only one), the run's events as dotted vertical lines in its colour and its alarms as
markers on its QK curve, shaped by kind (early, late, false; :mod:`.rows`). Each panel's runs are named below
it. (The linear model's rotated-basis setting draws almost exactly over the aligned one: the measures do not
depend on the basis and its SGD runs share the seeds.)
"""

from __future__ import annotations

import pandas as pd
from matplotlib.lines import Line2D

from icl_dynamics.experiments.monitor.rows import alarm_steps, lead_tables, select_run
from icl_dynamics.plotting import mode_colors, plt

PANELS = {"attention": (["n_layers", "seed"], lambda r: f"L{r['n_layers']} seed {r['seed']}", "step"),
          "grokking": (["seed"], lambda r: f"seed {r['seed']}", "epoch"),
          "linear": (["setting", "seed"], lambda r: f"{r['setting']} seed {r['seed']}", "SGD step")}
MARKERS = {"early": ("o", "early alarm (0.05-1 decade before an event)"),
           "late": ("s", "late alarm (< 0.05 decade before, or after)"),
           "false": ("X", "false alarm (> 1 decade early, or no event)")}


def _runs(events: pd.DataFrame, keys: list[str]) -> list[dict]:
    return [dict(zip(keys, values)) for values in events[keys].drop_duplicates().itertuples(index=False)]


def _panel(ax, experiment: str, monitor: pd.DataFrame, events: pd.DataFrame) -> None:
    keys, label, unit = PANELS[experiment]
    runs = _runs(events, keys)
    per_event, per_alarm = lead_tables(runs, alarm_steps(monitor, keys), events)
    circuits = ["QK"] if experiment == "linear" else ["QK", "OV"]
    statistic = monitor[(monitor["measure"] == "monitor_statistic")]
    for run, color in zip(runs, mode_colors(len(runs))):
        mine = select_run(statistic, run)
        for circuit, ls in zip(circuits, ["-", "--"]):
            curve = mine[mine["series"] == circuit].sort_values("step")
            ax.plot(curve["step"], curve["value"], color=color, ls=ls, lw=1.1,
                    label=label(run) if circuit == "QK" else None)
        qk = mine[mine["series"] == "QK"].set_index("step")["value"]
        for e in select_run(per_event, run)["event_step"]:
            ax.axvline(e, color=color, ls=":", lw=1.2)
        for kind, group in select_run(per_alarm, run).groupby("kind"):
            ax.scatter(group["step"], qk.reindex(group["step"]).to_numpy(), marker=MARKERS[kind][0], s=42,
                       color=color, edgecolor="black", linewidth=0.8, zorder=5)
    caught = int(per_event["early"].sum())
    n_false = int((per_alarm["kind"] == "false").sum())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel("alarm statistic V (per decade)")
    ax.set_title(f"C7-{experiment}: {caught} of {len(per_event)} events caught early,\n"
                 f"{n_false} false alarm(s), {len(per_alarm)} alarm(s) in all")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=6, frameon=False, ncol=2)


def monitor_figure(attention: tuple[pd.DataFrame, pd.DataFrame], grokking: tuple[pd.DataFrame, pd.DataFrame],
                   linear: tuple[pd.DataFrame, pd.DataFrame]):
    """Draw figure S6 from each experiment's (monitor table, events table) (``results/monitor/<experiment>.parquet``
    and ``results/monitor/<experiment>_events.csv``)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.2), layout="constrained")
    for ax, (experiment, tables) in zip(axes, {"attention": attention, "grokking": grokking, "linear": linear}.items()):
        _panel(ax, experiment, *tables)
    handles = [Line2D([], [], color="grey", ls="-", label="QK circuit (linear: p2 q1)"),
               Line2D([], [], color="grey", ls="--", label="OV circuit"),
               Line2D([], [], color="grey", ls=":", label="event (window start, grokking epoch, half-rise)")]
    handles += [Line2D([], [], color="grey", marker=m, ls="", markeredgecolor="black", label=text)
                for m, text in MARKERS.values()]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


FIGURES = {"figS6_monitor": monitor_figure}
