"""Figures of the high-probability claims (Theorem 4.3), all built on the ``high_prob`` runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter

from ..report import load_table, load_verdict
from .style import (
    COLORS,
    LABELS,
    Drawn,
    interval,
    new_figure,
    num,
    title,
)

__all__ = ["high_prob", "high_prob_tau_max", "survival", "event_region"]

LOG_DELTA = r"$\log(1/\delta)$"


def high_prob(root: str | Path, scale: str) -> Drawn:
    """Per ``theta``: survival of ``S_H`` for clipped, vanilla and the null repeat, with the
    ``1 - delta*`` level, ``eps`` and the ratio's reading in the title."""
    rec = load_verdict(root, scale, "high_prob")
    cfg, det = rec["config_section"], rec["details"]
    runs = load_table(root, scale, "high_prob", "runs")
    k = len(cfg["thetas"])
    fig, axes = new_figure(4.4 * k + 1, 5.6, ncols=k, squeeze=False, sharey=True)
    for ax, theta in zip(axes[0], cfg["thetas"], strict=True):
        e = det["thetas"][f"theta={theta}"]
        for point, alg, color, lab in ((f"theta{theta}", "clipped", COLORS["clipped"],
                                        LABELS["clipped"] + ", theorem's (eta, c)"),
                                       (f"theta{theta}", "vanilla", COLORS["vanilla"],
                                        LABELS["vanilla"]),
                                       (f"theta{theta}-repeat", "vanilla", COLORS["repeat"],
                                        "Vanilla, independent seed (null control)")):
            r = runs[(runs["point"] == point) & (runs["algorithm"] == alg)]
            survival(ax, r["S_T"].to_numpy(float), color=color, label=lab)
        ax.axhline(cfg["delta_star"], color="0.5", ls="--", lw=0.8,
                   label=rf"$\delta^*$ = {cfg['delta_star']:g}")
        ax.axvline(cfg["eps"], color="k", ls=":", lw=0.8, label=rf"$\varepsilon$ = {cfg['eps']:g}")
        event_region(ax, cfg["eps"], cfg["delta_star"])
        r = e["ratio"]
        ax.set(xscale="log", yscale="log", xlabel=r"$S_H$ (average gradient norm at the horizon)",
               title=rf"$\theta$ = {theta:g}: r = {num(r['estimate'])} "
                     f"{interval((r['lower'], r['upper']))}, {e['reading']}\n"
                     f"null {num(e['null_ratio']['estimate'])}: {e['null_ratio']['reading']}")
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0][0].set_ylabel("fraction of runs above")
    handles, labels = axes[0][0].get_legend_handles_labels()  # the same in every panel:
    fig.legend(handles, labels, loc="outside lower center", ncols=3)  # below, off the tails
    title(fig, rec, r"clipping shrinks the $(1-\delta^*)$-quantile of $S_H$ under heavy noise")
    w = cfg["workers"]
    cap = (f"Survival of S_H, the average gradient norm at the fixed horizon H = "
           f"{cfg['horizon_factor']:g} Delta/(eta eps^2), over R = {cfg['replications']} runs per "
           f"algorithm; Clipped ASGD at the theorem's (eta, c) (K = {cfg['K']}), vanilla ASGD at "
           f"the same eta on the same schedule and noise draws. Algorithm 1, {w['n']} workers of "
           f"which {w['stragglers']} stragglers (D = {cfg['D']}); sub-Weibull noise with "
           f"E||xi||^2 = {cfg['noise_rms']}^2. Statistic: r = vanilla's over clipped's "
           f"(1 - {cfg['delta_star']})-quantile of S_H (where a curve crosses the dashed line), "
           f"exact joint {1 - 2 * cfg['alpha']:.0%} interval; clipping must win at theta in "
           f"{cfg['must_win']} and lose nowhere. Null control: vanilla against vanilla with an "
           "independent seed must not read 'win'.")
    return Drawn("high_prob", fig, cap)


def event_region(ax: Axes, eps: float, delta: float) -> None:
    """Shade where Thm 4.3's event fails: more than ``delta`` of runs end with ``S_H > eps``
    (the theorem's bound says Clipped ASGD's survival curve passes below this corner)."""
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    ax.fill_between([eps, max(xlim[1], 10 * eps)], delta, 1.0, color="0.5", alpha=0.15, lw=0,
                    label=r"Thm 4.3 excludes: $P(S_H > \varepsilon) > \delta^*$")
    ax.set(xlim=xlim, ylim=ylim)


def survival(ax: Axes, x: np.ndarray, scale_free: bool = False, **kw) -> None:
    """Empirical survival function (fraction of runs above); censored runs (``inf``) count
    as above every finite value."""
    x = np.sort(np.asarray(x, float))
    if scale_free:
        x = x / np.median(x)
    s = 1 - np.arange(1, x.size + 1) / x.size
    fin = np.isfinite(x)
    ax.step(x[fin][:-1], s[fin][:-1], where="post", **kw)


def high_prob_tau_max(root: str | Path, scale: str) -> Drawn:
    """Failure rate ``P(S_H > eps)`` per ``D`` with exact intervals, clipped and vanilla,
    against ``delta``; the no-straggler reference drawn hollow."""
    rec = load_verdict(root, scale, "high_prob_tau_max")
    cfg, det = rec["config_section"], rec["details"]
    fig, ax = new_figure(7.5, 5.0)
    labelled: set[str] = set()
    for part, hollow in (("straggler_D", False), ("references", True)):
        for key, point in det[part].items():
            D = float(key.split("=")[1])
            for shift, alg in ((0.94, "clipped"), (1.06, "vanilla")):
                f = point[alg]["failures"]
                rate, lo, hi = f["rate"], f["ci_low"], f["ci_high"]
                ax.errorbar([D * shift], [rate], yerr=[[rate - lo], [hi - rate]], fmt="o",
                            color=COLORS[alg], mfc="white" if hollow else COLORS[alg],
                            capsize=3, label=None if alg in labelled else LABELS[alg])
                labelled.add(alg)
    ax.axhline(det["delta"], color="0.5", ls="--", lw=0.8, label=rf"$\delta$ = {det['delta']:g}")
    ax.set(xscale="log", xlabel="mean straggler time D (hollow: no stragglers, reference)",
           ylabel=rf"failure rate $P(S_H > \varepsilon = {det['eps']:g})$")
    ax.legend(loc="upper left")
    title(fig, rec, r"the event $S_H \leq \varepsilon$ holds w.p. $\geq 1 - \delta$ "
                    r"whatever the delays")
    w = cfg["workers"]
    cap = (f"{cfg['replications']} runs per D of Algorithm 1 with {w['n']} workers of which "
           f"{w['stragglers']} stragglers ({w['law']} times of mean D), {cfg['noise']['name']} "
           f"noise (theta {cfg['noise']['theta']:g}, sigma {cfg['noise']['sigma']:g}), eta = "
           f"{cfg['eta']}, c = {cfg['c']}, H = {det['horizon']}. Bars: exact Clopper-Pearson "
           f"intervals at level {det['level']:g}. Test: clipped's upper end <= delta at every "
           "straggler D; vanilla at the same eta must fail (lower end > delta) at some D.")
    return Drawn("high_prob_tau_max", fig, cap)


def _ramp(n: int) -> list:
    return sns.color_palette("viridis", n)
