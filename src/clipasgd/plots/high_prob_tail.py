"""Figures of the ``high_prob_tail`` claim: tails of the metric across runs, scale-free."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from ..report import load_table, load_verdict
from .high_prob import survival
from .style import COLORS, LABELS, Drawn, legend_below, new_figure, num, title

__all__ = ["high_prob_tail", "high_prob_tail_drift"]


def _values(runs: pd.DataFrame, hits: pd.DataFrame, point: str, alg: str, what) -> np.ndarray:
    """``S_T`` per run (diverged: ``inf``), or ``T(eps = what)`` (censored: ``inf``)."""
    if what == "S_T":
        r = runs[(runs["point"] == point) & (runs["algorithm"] == alg)]
        return np.where(r["diverged"], np.inf, r["S_T"].to_numpy(float))
    h = hits[(hits["point"] == point) & (hits["algorithm"] == alg) & np.isclose(hits["eps"], what)]
    return np.where(h["censored"], np.inf, h["T"].to_numpy(float))


def _fisher(t: dict) -> str:
    if t.get("pvalue") is None:
        return "test not run"
    return (f"vanilla heavier? {t['exceed_a']} vs {t['exceed_b']} runs above the line, "
            "one-sided p " + (f"= {num(t['pvalue'], 2)}" if t["pvalue"] > 0 else "< 1e-300"))


def high_prob_tail(root: str | Path, scale: str) -> Drawn:
    """Survival of ``metric / median`` for vanilla and clipped, Pareto and sub-Weibull noise."""
    rec = load_verdict(root, scale, "high_prob_tail")
    cfg, det = rec["config_section"], rec["details"]
    runs = load_table(root, scale, "high_prob", "runs")
    hits = load_table(root, scale, "high_prob", "hits")
    fig, axes = new_figure(15, 6.4, ncols=3)
    alpha = cfg["heavy"]["alpha"]
    specs = [("S_T", det["primary"], r"$S_T$ (average gradient norm), the test"),
             (cfg["eps_heavy"], det["secondary"],
              rf"$T(\varepsilon = {cfg['eps_heavy']:g})$, reported")]
    for ax, (what, test, name) in zip(axes, specs, strict=False):
        survival(ax, _values(runs, hits, "heavy", "vanilla", what), True,
                 color=COLORS["vanilla"], label=LABELS["vanilla"])
        survival(ax, _values(runs, hits, "heavy", "clipped", what), True,
                 color=COLORS["clipped"], label=f"{LABELS['clipped']} (seed A)")
        survival(ax, _values(runs, hits, "heavy-repeat", "clipped", what), True,
                 color=COLORS["repeat"], ls="--", label="Clipped ASGD, seed B (control)")
        thr = test.get("a_heavier", {}).get("threshold")
        if thr is not None:
            ax.axvline(thr, color="0.4", lw=0.8, label=f"pooled {cfg['tail_q']}-quantile")
        ax.set(xscale="log", yscale="log", xlabel=f"{name.split(',')[0]} / its median",
               ylabel="fraction of runs above",
               title=f"Pareto({alpha:g}) noise: {name}\n{test['verdict']}")
        ax.text(0.02, 0.03, _fisher(test.get("a_heavier", {})), transform=ax.transAxes,
                fontsize=9)
        legend_below(ax)
    ax = axes[2]
    for t in cfg["thetas"]:
        for alg, ls in (("vanilla", "-"), ("clipped", "--")):
            survival(ax, _values(runs, hits, f"theta{t}", alg, "S_T"), True, color=COLORS[alg],
                     ls=ls, alpha=min(1.0, 0.4 + 0.2 * t),
                     label=rf"{LABELS[alg]}, $\theta$ = {t:g}")
    ax.set(xscale="log", yscale="log", xlabel=r"$S_T$ / its median",
           title="Sub-Weibull noise (inside the theorem)\nreported, not tested")
    for a in axes:
        a.xaxis.set_minor_formatter(NullFormatter())
    legend_below(ax, ncols=2)
    title(fig, rec, f"under Pareto({alpha:g}) noise, vanilla ASGD's tail is heavier than "
                    "Clipped ASGD's")
    heavier = [k for k, x in det["sub_weibull"].items() if x["S_T"] == "supported"]
    w, hv = cfg["workers"], cfg["heavy"]
    cap = (f"Empirical survival functions over R = {cfg['replications']} runs per algorithm, "
           f"each metric divided by its median so only the shape of the tail counts. "
           f"Algorithm 1, {w['n']} workers ({w['stragglers']} stragglers, D = {cfg['D']}); "
           f"Clipped ASGD (eta = {hv['eta']}, c = {hv['c']}) and vanilla ASGD (same eta) on "
           f"the same noise draws; horizon {hv['horizon']}. Test (pre-registered): one-sided "
           f"Fisher exact test on the runs above the pooled {cfg['tail_q']}-quantile of "
           f"metric/median, level {cfg['alpha']}. Negative control: two clipped runs that differ "
           f"only in the seed (A and B) must not be reported as different. Right: sub-Weibull "
           f"noise, where vanilla is heavier by the same test at: "
           f"{', '.join(heavier) or 'no theta'}.")
    return Drawn("high_prob_tail", fig, cap)


def high_prob_tail_drift(root: str | Path, scale: str) -> Drawn:
    """Girard's tail parameter of ``S_T`` against the number of runs it is estimated from."""
    rec = load_verdict(root, scale, "high_prob_tail")
    fig, ax = new_figure(7.5, 4.4)
    for alg, t in rec["details"]["tails_S_T"].items():
        if "drift" in t:
            dr = t["drift"]
            ax.plot(dr["sizes"], dr["theta"], "o-", color=COLORS[alg],
                    label=f"{LABELS[alg]}: slope {num(dr['slope'], 2)} "
                          f"(p = {num(dr['p_upward'], 2)})")
    ax.set(xscale="log", xlabel="runs in the subsample",
           ylabel=r"Girard $\hat\theta$ (fixed k)", title=r"Drift of the tail parameter of $S_T$")
    ax.legend(loc="best")
    title(fig, rec, "tail parameter against sample size")
    cap = ("Girard's Weibull-tail estimate of S_T's excess over its median under Pareto noise, "
           "on growing subsamples of the runs. A tail parameter that keeps rising with the "
           "number of runs marks a power-law (not sub-Weibull) tail. Reported, not tested.")
    return Drawn("high_prob_tail_drift", fig, cap)
