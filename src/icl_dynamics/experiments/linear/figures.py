"""Figures 1-3: the linear transformer, theory curves over simulation (mean and min-max band over seeds).

Each function takes ``runs`` = {setting: {"sim": arrays, "theory": arrays, "comparison": dict}} and the
``linear.figures`` config naming which settings go where.
"""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from icl_dynamics.plotting import band, mode_colors
from icl_dynamics.theory import finite_n
from icl_dynamics.theory.closed_form import fixed_point, predictor_matrix

SIM, CLOSED, EXACT = "simulation (SGD, full model)", "closed form (Eq. 13)", "exact mean flow"
FINITE = "finite-N closed form (ours)"


def _modes_legend(ax, run, title, show_closed=True):
    """One legend for a :func:`_modes_panel`: a colour per mode (its s_a) and a line style per curve."""
    s = run["theory"]["s"]
    handles = [Line2D([], [], color=color, lw=2, label=f"s = {s[a]:.3g}") for a, color in enumerate(mode_colors(len(s)))]
    handles.append(Line2D([], [], color="k", lw=2, label=SIM + ", band: seeds"))
    if show_closed:
        handles.append(Line2D([], [], color="k", ls="--", lw=1, label=CLOSED))
    handles.append(Line2D([], [], color="k", ls=":", lw=1.5, label=EXACT))
    if show_closed:
        handles.append(Line2D([], [], color="k", ls="-.", lw=1, label=FINITE))
    ax.legend(handles=handles, loc="upper left", frameon=False, title=title, fontsize=6, title_fontsize=7)


def _plain_log_ticks(axis, low, high):
    """Ticks 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10 within [low, high] on a log axis, written as plain numbers."""
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(ScalarFormatter())
    axis.set_ticks([v for v in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10) if low <= v <= high])


def _modes_panel(ax, run, title, show_closed=True):
    sim, th = run["sim"], run["theory"]
    steps = sim["steps"]
    x = np.maximum(steps, 1)
    s = th["s"]
    for a, color in enumerate(mode_colors(len(s))):
        band(ax, x, sim["modes_total"][:, :, a], color, label=f"s = {s[a]:.3g}")
        if show_closed and np.all(np.isfinite(th["closed"])):
            ax.plot(x, th["closed"][:, :, a].mean(axis=0), color=color, ls="--", lw=1)
        ax.plot(x, th["exact"][:, :, a].mean(axis=0), color=color, ls=":", lw=1.5)
        if show_closed and np.all(np.isfinite(th["finite_n"])):
            ax.plot(x, th["finite_n"][:, :, a].mean(axis=0), color=color, ls="-.", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"mode strength $a_a$ = $(U^\top (p_2 q_1 + p_1 q_2) U)_{aa}$")
    ax.set_title(title)


def fig1(runs, figs) -> plt.Figure:
    """Fixed point (claim C3): learned p2 q1 against s_inf(S)^{-1} (Eq. 11) and the exact fixed point."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), layout="constrained", gridspec_kw={"width_ratios": [1.3, 0.8, 0.8, 1.1]})
    ax = axes[0]
    sweep = figs["fig1_n_sweep"]
    Ns = np.array([runs[n]["comparison"]["N"] for n in sweep])
    s = runs[sweep[0]]["theory"]["s"]
    grid = np.geomspace(Ns.min() * 0.8, Ns.max() * 1.25, 100)
    closed_curve = np.stack([fixed_point(s, N) for N in grid])
    exact_curve = np.stack([finite_n.fixed_point(s, N) for N in grid])  # the exact flow's, in closed form
    for a, color in enumerate(mode_colors(len(s))):
        ax.plot(grid, closed_curve[:, a], color=color, ls="--", lw=1)
        ax.plot(grid, exact_curve[:, a], color=color, ls=":", lw=1.5)
        finals = np.stack([runs[n]["sim"]["modes_total"][:, -1, a] for n in sweep])  # (len(sweep), seeds)
        ax.errorbar(Ns, finals.mean(axis=1), yerr=[finals.mean(1) - finals.min(1), finals.max(1) - finals.mean(1)],
                    fmt="o", color=color, ms=4, capsize=2, label=f"s = {s[a]:.3g}")
        ax.plot(Ns, [runs[n]["comparison"]["fp_exact"][a] for n in sweep], color=color, ls="none", marker="x", ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel("context length N")
    ax.set_ylabel(r"learned $a_a$ at the end of training")
    ax.set_title(r"A. fixed point vs N (markers: SGD, seed range)")
    handles = ax.get_legend_handles_labels()[0] + [
        Line2D([], [], color="k", ls="--", label=r"$1/s_{\infty,a}$ (Eq. 11)"),
        Line2D([], [], color="k", ls=":", label="exact fixed point, closed form (m = 1)"),
        Line2D([], [], color="k", ls="none", marker="x", label="exact flow integrated (pool moments)")]
    ax.legend(handles=handles, frameon=False, fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.18))

    rot = runs[figs["fig1_rotated"]]
    learned = rot["sim"]["p2q1"][:, -1].mean(axis=0)
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
    for axis in (ax.xaxis, ax.yaxis):
        _plain_log_ticks(axis, *line)
    ax.set_xlabel("predicted fixed point")
    ax.set_ylabel("learned $a_a$ (seed mean)")
    ax.set_title("D. all settings and modes")
    ax.legend(frameon=False)
    return fig


def fig2(runs, figs) -> plt.Figure:
    """Staged learning (claims C1, C2, C4): per-mode sigmoids, loss cliffs, conservation, null blocks."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), layout="constrained")
    main = runs[figs["fig2_main"]]
    comp = main["comparison"]
    _modes_panel(axes[0, 0], main, f"A. {figs['fig2_main']}: modes learned in order of $s_a$")
    _modes_legend(axes[0, 0], main, f"N = {comp['N']}")

    ax = axes[0, 1]
    x = np.maximum(main["sim"]["steps"], 1)
    band(ax, x, main["sim"]["loss"], "k", label=SIM)
    ax.plot(x, main["theory"]["loss_closed"].mean(axis=0), "C0--", lw=1, label="Eq. 14 with closed-form $a_a$")
    ax.plot(x, main["theory"]["loss_exact"].mean(axis=0), "C3:", lw=1.5, label=r"$L_{\rm exact}$ on exact flow")
    ax.plot(x, main["theory"]["loss_finite_n"].mean(axis=0), "C2-.", lw=1, label=r"$L_{\rm exact}$ on the finite-N form")
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
    band(ax, x, sim["conserved"] - sim["conserved"][:, :1], "C2", label=r"$\Delta(\|W_P\|^2 - \|W_Q\|^2)$")
    band(ax, x, sim["p2_norm"] ** 2 + sim["q1_norm"] ** 2, "C1", label=r"$\|p_2\|^2 + \|q_1\|^2$ (scale)")
    ax.set_xscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("squared Frobenius norm")
    ax.set_title(f"C. conservation law: relative drift {comp['conserved_drift_rel']:.3f}")
    ax.legend(frameon=False)

    ax = axes[1, 0]
    rnd = runs[figs["fig2_random_init"]]
    _modes_panel(ax, rnd, f"D. {figs['fig2_random_init']}: random small init", show_closed=False)
    ax.set_ylim(bottom=min(0, rnd["sim"]["modes_total"].min()))
    _modes_legend(ax, rnd, f"N = {rnd['comparison']['N']}", show_closed=False)

    ax = axes[1, 1]
    for name, color in ((figs["fig2_main"], "C0"), (figs["fig2_random_init"], "C3")):
        s = runs[name]["sim"]
        xx = np.maximum(s["steps"], 1)
        band(ax, xx, s["p1_norm"], color, label=f"$\\|p_1\\|$ {name}")
        band(ax, xx, s["q2_norm"], color, ls="--", label=f"$\\|q_2\\|$ {name}")
        band(ax, xx, s["p2_norm"], color, ls=":", lw=1, label=f"$\\|p_2\\|$ {name}")
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
    _modes_legend(ax, cf_run, "closed-form R$^2$ per mode: " + ", ".join(f"{v:.4f}" for v in r2))
    return fig


def fig3(runs, figs) -> plt.Figure:
    """Sweeps: loss curves over spectra, theory error vs N, drift vs learning rate, escape times."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="constrained")
    ax = axes[0]
    for name, color in zip(figs["fig3_spectra"], mode_colors(len(figs["fig3_spectra"]))):
        run = runs[name]
        comp = run["comparison"]
        x = np.maximum(run["sim"]["steps"], 1)
        loss = run["sim"]["loss"]
        band(ax, x, loss / loss[:, :1], color,
             label=f"{name}: {comp['cliffs']['sim']} cliffs / {comp['distinct_eigenvalues']} distinct $s_a$")
        for step in comp["cliff_steps"]["sim"]:
            ax.plot(step, np.interp(np.log(step), np.log(x), (loss / loss[:, :1]).mean(axis=0)), "v", color=color, ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("held-out loss / initial loss")
    ax.set_title("A. staged loss curves (triangles: detected cliffs)")
    ax.legend(frameon=False, fontsize=6)

    ax = axes[1]
    sweep = figs["fig1_n_sweep"]
    Ns = [runs[n]["comparison"]["N"] for n in sweep]
    lrs = [runs[n]["comparison"]["lr"] for n in sweep]
    ax.plot(Ns, [1 - min(runs[n]["comparison"]["r2_closed"]) for n in sweep], "o--", color="C0", label=CLOSED)
    ax.plot(Ns, [1 - min(runs[n]["comparison"]["r2_exact"]) for n in sweep], "x:", color="C3", label=EXACT)
    ax.plot(Ns, [1 - min(runs[n]["comparison"]["r2_finite_n"]) for n in sweep], "+-.", color="C2", label=FINITE)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length N")
    ax.set_ylabel("1 - worst per-mode R$^2$ vs simulation")
    by_lr = {lr: [N for N, other in zip(Ns, lrs) if other == lr] for lr in sorted(set(lrs))}
    ax.set_title("B. where the closed form holds\n(" + "; ".join(
        f"lr {lr:g} at N = {', '.join(str(N) for N in group)}" for lr, group in by_lr.items()) + ")")
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
        if "finite_n" in comp["half_time"]:
            ax.scatter(comp["half_time"]["finite_n"], sim_t, marker="+", color="C2", s=18)
        hi = max(hi, np.nanmax(sim_t))
    ax.plot([1, hi * 1.5], [1, hi * 1.5], color="grey", lw=0.8)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="C0", label=CLOSED)
    ax.scatter([], [], marker="x", color="C3", label=EXACT)
    ax.scatter([], [], marker="+", color="C2", label=FINITE)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted half-rise step")
    ax.set_ylabel("measured half-rise step (SGD)")
    ax.set_title("D. escape times, all settings and modes")
    ax.legend(frameon=False)
    return fig


FIGURES = {"fig1_fixed_point": fig1, "fig2_staged_learning": fig2, "fig3_sweeps": fig3}
"""Figures of the rule linear_figure, by file stem; each takes (runs, linear.figures) and returns a Figure."""
