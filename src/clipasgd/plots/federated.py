"""Figures of the federated claims (Thm 5.1, Thm 5.2) and of Fig. 4's caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from ..claims._federated import algorithm1_floor
from ..claims.federated import implied_bound
from ..report import load_table, load_verdict
from .style import COLORS, Drawn, new_figure, num, plain_log_ticks, title

__all__ = ["federated", "federated_high_prob", "scheduler_caption"]

SCHED = {"algorithm2": COLORS["clipped"], "algorithm1": COLORS["vanilla"]}


def federated(root: str | Path, scale: str) -> Drawn:
    """Floors vs eta (Algorithm 1 vs 2), T vs zeta against the bound, S_T vs c."""
    rec = load_verdict(root, scale, "federated")
    cfg, det = rec["config_section"], rec["details"]
    t = {n: load_table(root, scale, "federated", n)
         for n in ("bias", "like_sigma", "zeta_rate", "clip_radius")}
    fig, ax = new_figure(16, 4.4, ncols=4)
    for (D, sched), g in t["bias"].groupby(["D", "scheduler"]):
        m = g.groupby("eta")["floor"].mean()
        ax[0].plot(m.index, m.values, "o-" if D == min(t["bias"]["D"]) else "s--",
                   color=SCHED[sched], label=f"{sched}, D = {D:g}")
        if sched == "algorithm1":
            ax[0].axhline(algorithm1_floor(cfg["bias"]["zeta"], D), color="k", lw=0.8, ls=":")
    ax[0].set(xscale="log", yscale="log", xlabel=r"step $\eta$",
              ylabel=r"late floor of $\|\nabla f\|$",
              title=f"bias: {det['verdicts']['bias']} (dotted: zeta(D-1)/(D+1))")
    ax[0].legend()
    med = t["like_sigma"].groupby(["s", "member"])["T"].median().unstack()
    for member, mk in (("sigma", "o-"), ("zeta", "s-"), ("sigma2", "^:")):
        ax[1].plot(med.index, med[member], mk, label={"sigma": "noise s", "zeta": "zeta = s",
                                                      "sigma2": "noise 2s (control)"}[member])
    ax[1].set(yscale="log", xlabel="s", ylabel=r"median $T(\varepsilon)$",
              title=f"zeta like sigma: {det['verdicts']['like_sigma']}")
    ax[1].legend()
    zr = t["zeta_rate"]
    mz = zr.groupby("zeta")["T"].median()
    bound = np.array([implied_bound(cfg, z) for z in mz.index])
    ax[2].plot(mz.index, mz.values, "o-", color=COLORS["clipped"],
               label="median T, rule's (eta, c)")
    ax[2].plot(mz.index, bound * mz.values[-1] / bound[-1], "k--", lw=1,
               label="implied bound, scaled")
    ax[2].set(xscale="log", yscale="log", xlabel=r"heterogeneity $\zeta$",
              title=f"exponent {num(det['zeta_rate']['slope'], 2)}: {det['verdicts']['zeta_rate']}")
    ax[2].legend()
    cr = t["clip_radius"].groupby("c", as_index=False)[["S_T", "floor", "predicted"]].mean()
    ax[3].plot(cr["c"], cr["S_T"], "o-", color=COLORS["clipped"], label=r"$S_T$ at the horizon")
    ax[3].plot(cr["c"], cr["predicted"], "kx", ms=8, label="clipped fixed point")
    ax[3].axhline(cfg["clip_radius"]["eps"], color="k", ls=":", lw=1, label=r"$\varepsilon$")
    ax[3].axvline(max(abs(x) for x in [cfg["clip_radius"]["offsets"]["outlier"]]), color="grey",
                  lw=0.8, label=r"$\zeta$")
    ax[3].set(xscale="log", xlabel="clipping radius c",
              title=f"radius: {det['verdicts']['clip_radius']}")
    ax[3].legend()
    for a in ax:
        for axis in (a.xaxis, a.yaxis):
            if axis.get_scale() == "log":
                plain_log_ticks(axis)
    title(fig, rec, "Algorithm 2 removes the heterogeneity bias; zeta acts like sigma")
    cap = ("1-D quadratics with explicit worker optima; 8 fast and 8 slow workers. Panels: late "
           "floor vs eta (Algorithm 2 vanishes, Algorithm 1 sits at its known answer); median "
           "T(eps) for matched noise / heterogeneity; T vs zeta with the rule's parameters "
           "against the implied bound; S_T vs clipping radius with the clipped fixed point.")
    return Drawn("federated", fig, cap)


def federated_high_prob(root: str | Path, scale: str) -> Drawn:
    """Empirical survival of ``S_T`` per case and algorithm, with ``eps``."""
    rec = load_verdict(root, scale, "federated_high_prob")
    f = load_table(root, scale, "federated_high_prob", "final")
    fig, ax = new_figure(10, 4.6)
    for (case, alg, sched), g in f.groupby(["case", "algorithm", "scheduler"]):
        x = np.sort(g["S_T"].to_numpy(float))
        ax.step(x, 1 - np.arange(1, x.size + 1) / x.size, where="post",
                ls="-" if case != "homog" else "--",
                color=COLORS["vanilla" if alg == "vanilla" else "clipped"] if sched ==
                "algorithm2" else "k", label=f"{case}, {alg}, {sched}")
    ax.axvline(rec["config_section"]["eps"], color="grey", ls=":", label=r"$\varepsilon$")
    ax.set(yscale="log", xlabel=r"$S_T$", ylabel=r"$P(S_T > x)$")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="case, algorithm, scheduler")
    title(fig, rec, "heterogeneity fails no more often than matched noise")
    cap = ("Survival of S_T over independent runs: heterogeneous (sigma, zeta) vs homogeneous "
           "at the same sigma + zeta, Clipped and vanilla ASGD under Algorithm 2, and Algorithm "
           "1 (control). Dotted: eps.")
    return Drawn("federated_high_prob", fig, cap)


def scheduler_caption(root: str | Path, scale: str) -> Drawn:
    """Per model and D: 3-seed-mean interval of time per call against the caption."""
    rec = load_verdict(root, scale, "scheduler_caption")
    models = rec["details"]["models"]
    keys = [k for k in next(iter(models.values())) if k.startswith("D=")]
    fig, axes = new_figure(6 * len(keys), 4.8, ncols=len(keys), squeeze=False)
    for ax, k in zip(axes[0], keys, strict=True):
        for i, v in enumerate(models.values()):
            lo, hi = v[k]["interval"]
            col = COLORS["clipped"] if v["verdict"] == "compatible" else COLORS["vanilla"]
            ax.errorbar(v[k]["mean"], i, xerr=[[v[k]["mean"] - lo], [hi - v[k]["mean"]]],
                        fmt="o", color=col, capsize=3)
            if v[k]["exact_mva"] is not None:
                ax.plot(v[k]["exact_mva"], i, "k*", ms=9)
        ax.axvline(v[k]["caption"], color="k", ls="--", lw=1)
        ax.set(yticks=range(len(models)), yticklabels=list(models), xlabel="time per oracle call",
               title=f"{k}: caption {v[k]['caption']}")
    handles = [Line2D([], [], marker="o", ls="", color=COLORS["clipped"],
                      label="model compatible: caption inside its interval at every D"),
               Line2D([], [], marker="o", ls="", color=COLORS["vanilla"],
                      label="model refuted: caption outside at some D"),
               Line2D([], [], marker="*", ls="", color="k", ms=9,
                      label="exact mean-value analysis"),
               Line2D([], [], ls="--", color="k", label="the caption's value")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    title(fig, rec, "which compute-time models reproduce Fig. 4's caption")
    cap = ("Prediction interval of a 3-seed mean of cap / N(cap) per model (Bonferroni); blue: "
           "compatible, red: refuted; star: exact mean-value analysis; dashed: the caption.")
    return Drawn("scheduler_caption", fig, cap)
