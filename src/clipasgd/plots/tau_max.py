"""Figures of the claims built on the ``tau_max`` runs: ``tau_max`` and ``virtual``."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ..report import load_table, load_verdict
from .style import COLORS, LABELS, Drawn, interval, new_figure, num, title

__all__ = ["tau_max", "virtual"]

TAU_MAX = r"maximum delay $\tau_{\max}$"


def tau_max(root: str | Path, scale: str) -> Drawn:
    """Median and IQR of ``T(eps)`` against ``tau_max``, one panel per ``theta``."""
    rec = load_verdict(root, scale, "tau_max")
    cfg = rec["config_section"]
    hits = load_table(root, scale, "tau_max", "hits")
    thetas = sorted(hits["theta"].unique())
    fig, axes = new_figure(3.9 * len(thetas) + 2.6, 4.2, ncols=len(thetas), sharey=True,
                           squeeze=False)
    order = [a for a in LABELS if a in set(hits["algorithm"])]
    for ax, theta in zip(axes[0], thetas, strict=True):
        h = hits[hits["theta"] == theta]
        sns.lineplot(data=h, x="tau_max", y="T", hue="algorithm", hue_order=order,
                     palette=COLORS, estimator="median", errorbar=("pi", 50),
                     err_style="bars", err_kws={"capsize": 3}, marker="o", ax=ax, legend=False)
        cens = h.groupby(["algorithm", "tau_max"])["censored"].mean()
        med = h.groupby(["algorithm", "tau_max"])["T"].median()
        full = cens[cens >= 0.5].index
        ax.scatter([t for _, t in full], med.loc[full], s=90, facecolors="none",
                   edgecolors="k", zorder=5)
        x = np.array(sorted(h["tau_max"].unique()), float)
        base = med.loc["clipped"].iloc[0]
        ax.plot(x, base * (x / x[0]) ** 0, "k--", lw=1)
        ax.plot(x, base * x / x[0], "k:", lw=1)
        ax.axhline(cfg["horizon"], color="0.5", lw=0.8)
        t = rec["details"][f"theta={theta}"]
        clip = t["tests"]["clipped"]
        ax.set(xscale="log", yscale="log", xlabel=TAU_MAX,
               title=rf"$\theta$ = {theta:g}: {t['verdict']}" "\n"
                     f"clipped slope {num(clip['slope'], 2)} {interval(clip['ci'], 2)}")
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0][0].set_ylabel(rf"oracle calls $T(\varepsilon = {cfg['eps']:g})$")
    a0 = axes[0][0]
    handles = [a0.plot([], [], "o-", color=COLORS[a], label=LABELS[a])[0] for a in order]
    handles += [a0.plot([], [], "k--", lw=1, label="slope 0 (Theorem 4.2)")[0],
                a0.plot([], [], "k:", lw=1, label=r"slope 1 (step $\propto 1/\tau_{\max}$)")[0],
                a0.scatter([], [], s=90, facecolors="none", edgecolors="k",
                           label="half the runs or more censored"),
                a0.plot([], [], color="0.5", lw=0.8, label="budget (censoring)")[0]]
    fig.legend(handles=handles, loc="outside right center")
    title(fig, rec, r"$T(\varepsilon)$ does not grow with $\tau_{\max}$ at fixed $\tau_C$")
    w = cfg["workers"]
    cap = (f"Median (points) and interquartile range (bars) of the oracle calls T(eps = "
           f"{cfg['eps']}) over {cfg['replications']} runs per point. Algorithm 1 with "
           f"{w['n']} workers (tau_C = {w['n']}), {w['stragglers']} of them stragglers slowed by a "
           f"factor D from {min(cfg['D'])} to {max(cfg['D'])}, which moves tau_max; "
           f"sub-Weibull gradient noise with E||xi||^2 = {cfg['noise_rms']}^2; step eta = "
           f"{cfg['eta']}, clipping radius c = {cfg['c']}. Runs that never reach eps within the "
           f"budget of {cfg['horizon']} calls are censored there (Tobit fit). Test: the 90% "
           f"interval of the clipped slope of log T on log tau_max inside ±{cfg['margin']} "
           "(TOST) for every theta; the same test on vanilla ASGD with the same step is the "
           "negative control. The classical step 1/(L tau_max) and delay-adaptive ASGD are "
           "shown for reference, untested.")
    return Drawn("tau_max", fig, cap)


def virtual(root: str | Path, scale: str) -> Drawn:
    """Largest ``||x_t - x~_t|| / (eta c tau_C)`` per ``tau_max``: clipped must stay <= 1."""
    rec = load_verdict(root, scale, "virtual")
    cfg = rec["config_section"]
    reps = load_table(root, scale, "tau_max", "reps")
    reps["ratio"] = reps["virtual_max"] / (reps["eta"] * cfg["c"] * reps["tau_C"])
    fig, ax = new_figure(7.5, 4.6)
    for alg in ("clipped", "vanilla", "delay_adaptive"):
        g = reps[reps["algorithm"] == alg].groupby("tau_max")["ratio"]
        if not len(g):
            continue
        ax.plot(g.max().index, g.max(), "o-", color=COLORS[alg], label=f"{LABELS[alg]}: largest")
        ax.plot(g.median().index, g.median(), ":", color=COLORS[alg],
                label="dotted: median over runs" if alg == "clipped" else None)
    ax.axhline(1.0, color="k", ls="--", label=r"the lemma's bound $\eta c \tau_C$")
    ax.set(xscale="log", yscale="log", xlabel=TAU_MAX,
           ylabel=r"$\max_t \|x_t - \tilde x_t\| \,/\, (\eta c \tau_C)$")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    title(fig, rec, "real and virtual iterates stay within the bound")
    n = int((reps["algorithm"] == "clipped").sum())
    cap = (f"Distance between the real iterate and the virtual one (all in-flight updates "
           f"applied), maximised over every step of each run, divided by eta c tau_C "
           f"(eta = {cfg['eta']}, c = {cfg['c']}, tau_C = {int(reps['tau_C'].iloc[0])}). "
           f"Solid: the largest ratio over the {n} clipped runs of the tau_max experiment "
           f"(all theta) at each tau_max; dotted: the median. Largest clipped ratio "
           f"{num(rec['statistic'], 4)} (must be at most 1); unclipped ASGD with the same eta "
           f"and c in the bound reaches {num(rec['control']['statistic'])}.")
    return Drawn("virtual", fig, cap)


def tau_max_curves(root: str | Path, scale: str) -> Drawn:
    """Median running average of ``||grad f||`` over server iterations, per delay factor."""
    rec = load_verdict(root, scale, "tau_max")
    cfg = rec["config_section"]
    curves = load_table(root, scale, "tau_max", "curves")
    theta = curves["theta"].max()
    c = curves[(curves["theta"] == theta) & curves["algorithm"].isin(["clipped", "vanilla"])]
    fig, axes = new_figure(12, 4.4, ncols=2, sharey=True)
    for ax, (alg, g) in zip(axes, c.groupby("algorithm", sort=False), strict=False):
        sns.lineplot(data=g, x="iter", y="avg_grad_norm", hue="tau_max", palette="viridis",
                     hue_norm=mpl.colors.LogNorm(), ax=ax, legend="full")
        ax.axhline(cfg["eps"], color="k", ls="--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="server iterations",
               ylabel=r"median running average of $\|\nabla f\|$", title=LABELS[alg])
        ax.legend(title=r"$\tau_{\max}$", fontsize=8, ncols=2)
    title(fig, rec, rf"convergence at each delay ($\theta$ = {theta:g})")
    cap = (f"Median over runs of the running average S_t of the true gradient norm, for the "
           f"heaviest noise (theta = {theta}); the dashed line is the target eps = {cfg['eps']}, "
           f"and T(eps) is where a curve first crosses it. Reported, not tested.")
    return Drawn("tau_max_curves", fig, cap)
