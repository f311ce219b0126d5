"""Figures 1-3: the linear transformer, theory curves over simulation (mean and min-max band over seeds).

Each function takes ``runs`` = {setting: {"sim": arrays, "theory": arrays, "comparison": dict}} and the
``linear.figures`` config naming which settings go where.
"""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from icl_dynamics.experiments.linear.measures import measure_curves
from icl_dynamics.plotting import band, mode_colors, save_figure
from icl_dynamics.theory.closed_form import fixed_point, predictor_matrix

SIM, CLOSED, EXACT = "simulation (SGD, full model)", "closed form (Eq. 13)", "exact mean flow"


def _theory_legend(ax, loc="best"):
    handles = [Line2D([], [], color="k", lw=2, label=SIM + ", band: seeds"),
               Line2D([], [], color="k", ls="--", lw=1, label=CLOSED),
               Line2D([], [], color="k", ls=":", lw=1.5, label=EXACT)]
    ax.legend(handles=handles, loc=loc, frameon=False)


def _modes_panel(ax, run, title, show_closed=True):
    sim, th = run["sim"], run["theory"]
    steps = sim["steps"]
    x = np.maximum(steps, 1)
    s = th["s"]
    for a, color in enumerate(mode_colors(len(s))):
        band(ax, x, sim["modes_total"][:, :, a].T, color, label=f"s = {s[a]:.3g}")
        if show_closed and np.all(np.isfinite(th["closed"])):
            ax.plot(x, th["closed"][:, :, a].mean(axis=0), color=color, ls="--", lw=1)
        ax.plot(x, th["exact"][:, :, a].mean(axis=0), color=color, ls=":", lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"mode strength $a_a$ = $(U^\top (p_2 q_1 + p_1 q_2) U)_{aa}$")
    ax.set_title(title)


def fig1(runs, figs, pdf, png):
    """Fixed point (claim C3): learned p2 q1 against s_inf(S)^{-1} (Eq. 11) and the exact fixed point."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), layout="constrained", gridspec_kw={"width_ratios": [1.3, 0.8, 0.8, 1.1]})
    ax = axes[0]
    sweep = figs["fig1_n_sweep"]
    Ns = np.array([runs[n]["comparison"]["N"] for n in sweep])
    s = runs[sweep[0]]["theory"]["s"]
    grid = np.geomspace(Ns.min() * 0.8, Ns.max() * 1.25, 100)
    closed_curve = np.stack([fixed_point(s, N) for N in grid])
    for a, color in enumerate(mode_colors(len(s))):
        ax.plot(grid, closed_curve[:, a], color=color, ls="--", lw=1)
        finals = np.stack([runs[n]["sim"]["modes_total"][-1, :, a] for n in sweep])  # (len(sweep), seeds)
        ax.errorbar(Ns, finals.mean(axis=1), yerr=[finals.mean(1) - finals.min(1), finals.max(1) - finals.mean(1)],
                    fmt="o", color=color, ms=4, capsize=2, label=f"s = {s[a]:.3g}")
        ax.plot(Ns, [runs[n]["comparison"]["fp_exact"][a] for n in sweep], color=color, ls=":", lw=1.5,
                marker="x", ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length N")
    ax.set_ylabel(r"learned $a_a$ at the end of training")
    ax.set_title(r"A. fixed point vs N (markers: SGD, seed range)")
    handles = ax.get_legend_handles_labels()[0] + [
        Line2D([], [], color="k", ls="--", label=r"$1/s_{\infty,a}$ (Eq. 11)"),
        Line2D([], [], color="k", ls=":", marker="x", label="exact fixed point")]
    ax.legend(handles=handles, frameon=False, fontsize=6)

    rot = runs[figs["fig1_rotated"]]
    learned = rot["sim"]["p2q1"][-1].mean(axis=0)
    N = rot["comparison"]["N"]
    predicted = predictor_matrix(rot["sim"]["s"], rot["sim"]["U"], N)
    vmax = np.abs(predicted).max()
    for ax, mat, title in ((axes[1], learned, "B. learned $p_2 q_1$ (random $U$)"),
                           (axes[2], predicted, r"C. $[(N{+}1)/N\,\Sigma + \mathrm{Tr}\Sigma/N]^{-1}$")):
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(title)
        ax.set_xticks(range(mat.shape[0]))
        ax.set_yticks(range(mat.shape[0]))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.colorbar(im, ax=axes[1:3], shrink=0.8)
    exact = (rot["sim"]["U"] * np.array(rot["comparison"]["fp_exact"])) @ rot["sim"]["U"].T
    err = np.linalg.norm(learned - predicted) / np.linalg.norm(predicted)
    err_exact = np.linalg.norm(learned - exact) / np.linalg.norm(exact)
    axes[2].text(0.5, -0.32, f"N = {N}: relative Frobenius difference of B to C {err:.3f}, "
                 f"to the exact fixed point {err_exact:.3f}", transform=axes[2].transAxes, ha="center", fontsize=7)

    ax = axes[3]
    lim = [np.inf, 0]
    for name, run in runs.items():
        comp = run["comparison"]
        if comp["init"] != "aligned":
            continue
        learned = np.array(comp["final_sim"])
        ax.scatter(comp["fp_closed"], learned, marker="o", facecolors="none", edgecolors="C0", s=16)
        ax.scatter(comp["fp_exact"], learned, marker="x", color="C3", s=16)
        lim = [min(lim[0], learned.min()), max(lim[1], learned.max())]
    line = np.array([lim[0] * 0.8, lim[1] * 1.2])
    ax.plot(line, line, color="grey", lw=0.8)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="C0", label=r"vs $1/s_{\infty}$ (closed form)")
    ax.scatter([], [], marker="x", color="C3", label="vs exact fixed point")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [v for v in (0.1, 0.2, 0.5, 1, 2, 5, 10) if line[0] <= v <= line[1]]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
        axis.set_major_formatter(ScalarFormatter())
        axis.set_ticks(ticks)
    ax.set_xlabel("predicted fixed point")
    ax.set_ylabel("learned $a_a$ (seed mean)")
    ax.set_title("D. all settings and modes")
    ax.legend(frameon=False)
    save_figure(fig, pdf, png)


def fig2(runs, figs, pdf, png):
    """Staged learning (claims C1, C2, C4): per-mode sigmoids, loss cliffs, conservation, null blocks."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), layout="constrained")
    main = runs[figs["fig2_main"]]
    comp = main["comparison"]
    _modes_panel(axes[0, 0], main, f"A. {figs['fig2_main']}: modes learned in order of $s_a$")
    axes[0, 0].legend(loc="upper left", frameon=False, title=f"N = {comp['N']}")
    _theory_legend(axes[1, 2], loc="center")

    ax = axes[0, 1]
    x = np.maximum(main["sim"]["steps"], 1)
    band(ax, x, main["sim"]["loss"].T, "k", label=SIM)
    ax.plot(x, main["theory"]["loss_closed"].mean(axis=0), "C0--", lw=1, label="Eq. 14 with closed-form $a_a$")
    ax.plot(x, main["theory"]["loss_exact"].mean(axis=0), "C3:", lw=1.5, label=r"$L_{\rm exact}$ on exact flow")
    for step in comp["cliff_steps"]["sim"]:
        ax.axvline(step, color="grey", lw=0.6, alpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("held-out loss")
    ax.set_title(f"B. plateaus and cliffs ({comp['cliffs']['sim']} detected, grey)")
    ax.legend(frameon=False)

    ax = axes[0, 2]
    sim = main["sim"]
    band(ax, x, (sim["conserved"] - sim["conserved"][0]).T, "C2", label=r"$\Delta(\|W_P\|^2 - \|W_Q\|^2)$")
    band(ax, x, (sim["p2_norm"] ** 2 + sim["q1_norm"] ** 2).T, "C1", label=r"$\|p_2\|^2 + \|q_1\|^2$ (scale)")
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")
    ax.set_title(f"C. conservation law: relative drift {comp['conserved_drift_rel']:.3f}")
    ax.legend(frameon=False)

    ax = axes[1, 0]
    rnd = runs[figs["fig2_random_init"]]
    _modes_panel(ax, rnd, f"D. {figs['fig2_random_init']}: random small init", show_closed=False)
    ax.set_ylim(bottom=min(0, rnd["sim"]["modes_total"].min()))

    ax = axes[1, 1]
    for name, color in ((figs["fig2_main"], "C0"), (figs["fig2_random_init"], "C3")):
        s = runs[name]["sim"]
        xx = np.maximum(s["steps"], 1)
        band(ax, xx, s["p1_norm"].T, color, label=f"$\\|p_1\\|$ {name}")
        band(ax, xx, s["q2_norm"].T, color, ls="--", label=f"$\\|q_2\\|$ {name}")
        band(ax, xx, s["p2_norm"].T, color, ls=":", lw=1, label=f"$\\|p_2\\|$ {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("Frobenius norm")
    ax.set_title("E. null blocks p1, q2: aligned (blue) vs random (red) init")
    ax.legend(frameon=False, fontsize=6)

    ax = axes[1, 2]
    cf_run = runs[figs["fig2_closed_form"]]
    _modes_panel(ax, cf_run, f"F. {figs['fig2_closed_form']} (N = {cf_run['comparison']['N']}): closed-form regime")
    r2 = cf_run["comparison"]["r2_closed"]
    ax.text(0.02, 0.97, "closed-form R$^2$ per mode: " + ", ".join(f"{v:.4f}" for v in r2),
            transform=ax.transAxes, fontsize=6, va="top")
    save_figure(fig, pdf, png)


def fig3(runs, figs, pdf, png):
    """Sweeps: loss curves over spectra, theory error vs N, drift vs learning rate, escape times."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="constrained")
    ax = axes[0]
    for name, color in zip(figs["fig3_spectra"], mode_colors(len(figs["fig3_spectra"]))):
        run = runs[name]
        comp = run["comparison"]
        x = np.maximum(run["sim"]["steps"], 1)
        loss = run["sim"]["loss"]
        band(ax, x, (loss / loss[0]).T, color,
             label=f"{name}: {comp['cliffs']['sim']} cliffs / {comp['distinct_eigenvalues']} distinct $s_a$")
        for step in comp["cliff_steps"]["sim"]:
            ax.plot(step, np.interp(np.log(step), np.log(x), (loss / loss[0]).mean(axis=1)), "v", color=color, ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("held-out loss / initial loss")
    ax.set_title("A. staged loss curves (triangles: detected cliffs)")
    ax.legend(frameon=False, fontsize=6)

    ax = axes[1]
    sweep = figs["fig1_n_sweep"]
    Ns = [runs[n]["comparison"]["N"] for n in sweep]
    ax.plot(Ns, [1 - min(runs[n]["comparison"]["r2_closed"]) for n in sweep], "o--", color="C0", label=CLOSED)
    ax.plot(Ns, [1 - min(runs[n]["comparison"]["r2_exact"]) for n in sweep], "x:", color="C3", label=EXACT)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length N")
    ax.set_ylabel("1 - worst per-mode R$^2$ vs simulation")
    ax.set_title("B. where the closed form holds")
    ax.legend(frameon=False)

    ax = axes[2]
    lr_runs = [runs[n]["comparison"] for n in figs["fig3_lr_sweep"]]
    lrs = np.array([c["lr"] for c in lr_runs])
    drift = np.array([c["conserved_drift"] for c in lr_runs])
    ax.plot(lrs, drift, "o-", color="C2", label=r"$|\Delta(\|W_P\|^2 - \|W_Q\|^2)|$ at the end")
    ax.plot(lrs, drift[0] * lrs / lrs[0], "k--", lw=0.8, label=r"$\propto$ lr")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (same theory time)")
    ax.set_ylabel("drift of the conserved quantity")
    ax.set_title("C. SGD breaks conservation at O(lr)")
    ax.legend(frameon=False)

    ax = axes[3]
    hi = 0
    for name, run in runs.items():
        comp = run["comparison"]
        if comp["init"] != "aligned":
            continue
        sim_t = np.array(comp["half_time"]["sim"])
        ax.scatter(comp["half_time"]["exact"], sim_t, marker="x", color="C3", s=14)
        if "closed" in comp["half_time"]:
            ax.scatter(comp["half_time"]["closed"], sim_t, marker="o", facecolors="none", edgecolors="C0", s=14)
        hi = max(hi, np.nanmax(sim_t))
    ax.plot([1, hi * 1.5], [1, hi * 1.5], color="grey", lw=0.8)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="C0", label=CLOSED)
    ax.scatter([], [], marker="x", color="C3", label=EXACT)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted half-rise step")
    ax.set_ylabel("measured half-rise step (SGD)")
    ax.set_title("D. escape times, all settings and modes")
    ax.legend(frameon=False)
    save_figure(fig, pdf, png)


# ---------------------------------------------------------------------------------------------------
# Figure S1
# Figure S1: the macroscopic measures (docs/science.md section 5) of the linear model's p2 q1 over training.
# 
# ``runs`` = {setting: (measures table, comparison dict)}: the table of
# :func:`icl_dynamics.experiments.linear.measures.p2q1_measures` and the setting's ``comparison.json``. The first
# setting is the main one, the second (if any) the random-basis one. Simulation: mean over seeds with a
# min-max band; theory: the exact mean flow (dotted) and the closed form (dashed) where defined.


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


def figS1(runs: dict, settings: dict, pdf, png) -> None:
    """Six panels: effective rank against its prediction (main and random-basis setting), mode strengths,
    marginalised effective ranks, stable rank, and subspace distance to the final p2 q1."""
    names = list(runs)
    main_table, main_comp = runs[names[0]]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), layout="constrained")

    _rank_panel(axes[0, 0], main_table, main_comp, f"A. effective rank of $p_2 q_1$: {names[0]}")
    if len(names) > 1:
        table, comp = runs[names[1]]
        _rank_panel(axes[0, 1], table, comp, f"B. effective rank of $p_2 q_1$: {names[1]}")
    else:
        axes[0, 1].set_visible(False)

    ax = axes[0, 2]
    d = len(main_comp["s"])
    colors = mode_colors(d)
    for i, color in enumerate(colors):
        steps, values = _positive(*measure_curves(main_table, f"mode_strength_{i + 1}"))
        band(ax, steps, values, color, label=f"mode {i + 1}")
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

    ax = axes[1, 2]
    _two_settings(ax, runs, ["subspace_distance"], ["C4"], ["subspace distance"])
    ax.set_ylabel(r"$\|M(\infty)(I - M(t)^+ M(t))\|_F / \|M(\infty)\|_F$")
    ax.set_title(f"F. subspace distance to the final $p_2 q_1$ (pinv rtol {settings['pinv_rtol']:g})")
    ax.set_ylim(-0.05, 1.05)
    largest = max(float(np.nanmax(np.abs(measure_curves(table, "subspace_distance")[1]))) for table, _ in runs.values())
    if largest < 1e-8:  # rounding level: M(t) never loses rank, so its row space is all of R^d
        ax.text(0.5, 0.5, f"largest value {largest:.1e}: $p_2 q_1$ keeps full rank d at every step\n"
                "(all singular values above rtol x the largest), so its row space\nalways contains the final rows",
                transform=ax.transAxes, ha="center", va="center", fontsize=7)
    ax.legend(frameon=False, fontsize=6)

    fig.suptitle(r"Macroscopic measures of the learned $p_2 q_1$; "
                 "dash-dot lines in A-B: the exact mean flow's half-rise step of each mode")
    save_figure(fig, pdf, png)


# ---------------------------------------------------------------------------------------------------
# Figure S3
# Figure S3: the validity map (``experiments.linear.validity``): per cell of N x s_min/s_max x lr, how well
# each theory describes SGD. Rows: worst per-mode R^2, fixed-point error, half-rise-step error; columns:
# closed form and exact mean flow at each learning rate.

THEORY_TITLES = {"closed": "closed form (Eq. 13)", "exact": "exact mean flow"}
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


def _map_panel(ax, values: np.ndarray, annot: np.ndarray, norm, cmap, level: float):
    """One heat map (rows: s_min/s_max, largest first; columns: N) with its threshold drawn on the
    :func:`threshold_edges` (an interpolated contour would cut through cells whose value is a single run's)."""
    import seaborn as sns

    sns.heatmap(values, ax=ax, cmap=cmap, norm=norm, cbar=False, annot=annot, fmt="", annot_kws={"fontsize": 6},
                linewidths=0.5, linecolor="white", square=False)
    ax.set_facecolor("0.85")
    for xs, ys in threshold_edges(values, level):
        ax.plot(xs, ys, color="C0", lw=2.5, solid_capstyle="butt")


def figS3(table, rule: dict, operating: dict, thr: dict, grid: dict, pdf, png) -> None:
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
    columns = [(th, lr) for th in ("closed", "exact") for lr in lrs]
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
                     label="preset setting: " + (", ".join(f"{s} (cell {c})" for c, s in operating.items())
                                                 or "none on the grid")),
               Patch(facecolor="0.85", label="not defined: run ended before the fixed point (exact flow > "
                                             f"{grid['converged_rel']:.0%} away) or before a mode's half-rise")]
    fig.legend(handles=handles, loc="outside lower center", ncol=1 if len(columns) <= 2 else 2, frameon=False,
               fontsize=7)
    fig.suptitle("Where the closed form and the exact mean flow describe SGD. Each cell: one run, mean over seeds, "
                 "worst of the d modes;\n" + f"spectrum $s_a = {grid['scale']:g}\\,r^{{a-1}}$, trained for "
                 f"{grid['duration']:g} slowest timescales $1/s_{{min}}^2$ at learning rate $\\eta$", fontsize=9)
    save_figure(fig, pdf, png)
