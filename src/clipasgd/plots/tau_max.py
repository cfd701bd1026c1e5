"""Figures of the claims built on the ``tau_max`` runs: ``tau_max`` and ``virtual``."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns

from ..report import load_table, load_verdict
from .style import (
    COLORS,
    LABELS,
    Drawn,
    finite,
    interval,
    legend_below,
    new_figure,
    num,
    plain_log_ticks,
    quantile_boxes,
    title,
)

__all__ = ["tau_max", "virtual", "tau_max_curves", "growth_panel", "delay_guides"]

TAU_MAX = r"maximum delay $\tau_{\max}$"


GROWTH_ALGOS = ("clipped", "vanilla", "planted", "vanilla_tuned", "delay_adaptive")
GROWTH_LABELS = {"vanilla": "Vanilla ASGD, same step (mechanism control)",
                 "vanilla_tuned": "Vanilla ASGD, its tuned step (reference)",
                 "planted": r"Vanilla, planted step $\eta\,\tau_0/\tau_{\max}$ (power control)",
                 "delay_adaptive": "Delay-adaptive ASGD (reference)"}


def reference_points(ax, references: dict) -> None:
    """The no-straggler grid points, drawn beside the curves as open squares: references,
    never read by the test."""
    for i, (name, ref) in enumerate(sorted(references.items())):
        for alg in GROWTH_ALGOS:
            y = ref["median_T"].get(alg)
            if y is not None and np.isfinite(y):
                ax.plot(ref["tau_max"], y, "s", mfc="none", mec=COLORS[alg], ms=8, mew=1.5)
        ax.plot([], [], "s", mfc="none", mec="0.3", ms=8,
                label=f"{name} (no stragglers): reference, not read" if i == 0 else None)


def growth_panel(ax, tests: dict, horizon: float, margin: float) -> None:
    """Per algorithm: the quantile of ``T`` per ``tau_max`` with its exact Bonferroni box
    (from the verdict's ``ratio.points``); a quantile beyond the budget is drawn at its lower
    end as an open triangle. Legend entries carry each algorithm's rho and reading. The
    theory's reference lines are anchored at clipped's value at the smallest ``tau_max``."""
    for alg in GROWTH_ALGOS:
        t = tests.get(alg)
        if t is None:
            continue
        quantile_boxes(ax, t["ratio"]["points"], COLORS[alg],
                       f"{GROWTH_LABELS.get(alg, LABELS[alg])}: rho {num(t['rho'], 3)} "
                       f"{interval(t['rho_ci'], 3)}, {t['verdict']}", top=2 * horizon)
    ax.axhline(horizon, color="0.5", lw=0.8, label="budget (triangles: beyond it)")
    if "clipped" in tests:
        delay_guides(ax, tests["clipped"]["ratio"]["points"], margin)
    ax.set(xscale="log", yscale="log", xlabel=TAU_MAX)
    plain_log_ticks(ax.xaxis)  # labels at 200, 500, 1000, ... (one "10^3" was all it had)


def delay_guides(ax, points: list[dict], margin: float) -> None:
    """Thm 4.2's shape in ``tau_max`` (flat: the test's ceiling, ``margin`` x the value at
    the smallest ``tau_max``) and, for contrast, slope 1: the ``tau_max/eps^2`` term of
    vanilla ASGD's bound with step ``1/(L tau_max)``."""
    x = sorted(float(p["x"]) for p in points)
    first = min(points, key=lambda p: float(p["x"]))
    y0 = finite(first["estimate"])
    if not np.isfinite(y0):
        return
    ax.plot([x[0], x[-1]], [y0 * margin] * 2, "k--", lw=1.2,
            label=rf"Thm 4.2: flat in $\tau_{{\max}}$ (ceiling: {margin:g} x clipped at the "
                  r"smallest $\tau_{\max}$)")
    ax.plot([x[0], x[-1]], [y0, y0 * x[-1] / x[0]], ":", color="0.35", lw=1.5,
            label=r"slope 1: $T \propto \tau_{\max}$ (vanilla's bound, step "
                  r"$1/(L\tau_{\max})$)")


def tau_max(root: str | Path, scale: str) -> Drawn:
    """Median ``T(eps)`` against ``tau_max`` for clipped, both controls and delay-adaptive."""
    rec = load_verdict(root, scale, "tau_max")
    cfg = rec["config_section"]
    thetas = sorted(rec["details"]["thetas"])
    fig, axes = new_figure(7.5 * len(thetas) + 1, 7.2, ncols=len(thetas), squeeze=False)
    for ax, key in zip(axes[0], thetas, strict=True):
        t = rec["details"]["thetas"][key]
        growth_panel(ax, t["tests"], cfg["horizon"], cfg["ratio_margin"])
        reference_points(ax, rec["details"].get("references", {}))
        comp = t["competitiveness"]
        ax.set(ylabel=rf"median oracle calls $T(\varepsilon = {cfg['eps']:g})$",
               title=rf"$\theta$ = {key.split('=')[1]}: {t['verdict']}; clipped/vanilla at "
                     rf"the smallest $\tau_{{\max}}$ {num(comp['ratio'], 3)} "
                     f"{interval(comp['ci'], 3)} (<= {comp['factor']:g}: {comp['outcome']})")
        legend_below(ax)
    title(fig, rec, r"$T(\varepsilon)$ does not grow with $\tau_{\max}$ at fixed $\tau_C$")
    w = cfg["workers"]
    th = rec["details"]["thetas"][thetas[0]]["theorem_params"]
    cap = (f"Median oracle calls T(eps = {cfg['eps']}) over {cfg['replications']} runs per "
           f"point, bars: exact median intervals at the Bonferroni level (joint "
           f"{1 - 2 * cfg['alpha']:.0%}). Algorithm 1 with {w['n']} workers (tau_C = {w['n']}), "
           f"{w['stragglers']} stragglers D times slower, D in {cfg['D']} "
           f"({w.get('law', 'fixed')} compute times); quadratic "
           f"(condition {cfg['problem'].get('condition')}, delta0 {cfg['problem'].get('delta0')})"
           f"; eta = {cfg['eta']}, c = {cfg['c']}. Test: rho = max median / median at the "
           f"smallest tau_max, interval upper end <= {cfg['ratio_margin']} and Tobit slope "
           f"upper end <= {cfg['slope_margin']}; vanilla at the same eta (its stale burst lands "
           f"after convergence) and the planted 1/tau_max step must read 'grows'. Clipped at the "
           f"theorem's own (eta, c) = ({num(th['eta'])}, {num(th['c'])}) (K = {th['K']}): "
           f"{th['reading']} (not shown: beyond the budget; reported, not deciding).")
    return Drawn("tau_max", fig, cap)


def virtual(root: str | Path, scale: str) -> Drawn:
    """Left: largest ``||x_t - x~_t|| / (eta c tau_C)`` per ``tau_max``; right: the late mean
    distance (the control's growth statistic)."""
    rec = load_verdict(root, scale, "virtual")
    cfg = rec["config_section"]
    reps = load_table(root, scale, "tau_max", "reps")
    reps["ratio"] = reps["virtual_max"] / (reps["eta"] * cfg["c"] * reps["tau_C"])
    fig, (ax, ax2) = new_figure(13, 4.6, ncols=2)
    for alg in ("clipped", "vanilla", "delay_adaptive"):
        r = reps[reps["algorithm"] == alg]
        if not len(r):
            continue
        g = r.groupby("tau_max")
        ax.plot(g["ratio"].max().index, g["ratio"].max(), "o-", color=COLORS[alg],
                label=LABELS[alg])
        ax2.plot(g["virtual_late"].median().index, g["virtual_late"].median(), "o-",
                 color=COLORS[alg], label=LABELS[alg])
    ax.axhline(1.0, color="k", ls="--", label=r"the lemma's bound $\eta c \tau_C$")
    ax.set(xscale="log", yscale="log", xlabel=TAU_MAX, title="largest over runs and steps",
           ylabel=r"$\max_t \|x_t - \tilde x_t\| \,/\, (\eta c \tau_C)$")
    ax.legend(fontsize=9)
    plain_log_ticks(ax.xaxis)  # 3x10^2 and 4x10^2 labels overlapped
    bound = rec["details"]["bound_eta_c_tau_C"]
    ax2.axhline(bound, color="k", ls="--", lw=0.8,
                label=rf"the lemma's bound $\eta c \tau_C$ = {num(bound)}")
    ax2.legend(fontsize=9)
    ax2.set(xscale="log", yscale="log", xlabel=TAU_MAX,
            ylabel=rf"mean $\|x_t - \tilde x_t\|$ from step {cfg['virtual_from']} (median)",
            title=f"control: vanilla's late distance, rho {num(rec['control']['statistic'])} "
                  f"{interval(rec['control']['ci'])}")
    plain_log_ticks(ax2.xaxis)  # after the scale is set: setting it resets the formatters
    title(fig, rec, "real and virtual iterates stay within the bound")
    n = int((reps["algorithm"] == "clipped").sum())
    cap = (f"Mechanism check of the simulator. Left: distance between the real iterate and the "
           f"virtual one, maximised over every step of each run, over eta c tau_C (eta = "
           f"{cfg['eta']}, c = {cfg['c']}); largest clipped ratio {num(rec['statistic'], 4)} over "
           f"{n} runs (must be at most 1). Right: the same distance averaged over checkpoints "
           f"from step {cfg['virtual_from']} on (median over runs): vanilla's stale burst stays "
           "in flight for ~D steps, so it grows with tau_max (the control must show it).")
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
        ax.axhline(cfg["eps"], color="k", ls="--", lw=0.8, label=rf"$\varepsilon$ = {cfg['eps']:g}")
        ax.set(xscale="log", yscale="log", xlabel="server iterations",
               ylabel=r"median running average of $\|\nabla f\|$", title=LABELS[alg])
        ax.legend(title=r"$\tau_{\max}$", ncols=2)
    title(fig, rec, rf"convergence at each delay ($\theta$ = {theta:g})")
    cap = (f"Median over runs of the running average S_t of the true gradient norm, for the "
           f"heaviest noise (theta = {theta}); the dashed line is the target eps = {cfg['eps']}, "
           f"and T(eps) is where a curve first crosses it. Reported, not tested.")
    return Drawn("tau_max_curves", fig, cap)
