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
    VERDICT_COLORS,
    Drawn,
    finite,
    interval,
    new_figure,
    num,
    title,
)

__all__ = ["high_prob", "high_prob_tau_max", "quantile_panel", "survival"]

LOG_DELTA = r"$\log(1/\delta)$"


def quantile_panel(ax: Axes, fit: dict, color: tuple, level: float) -> None:
    """``(1 - delta)``-quantiles with exact CIs against ``log(1/delta)`` and the fitted curve
    ``a + b log(1/delta)^gamma``, all in oracle calls (nothing subtracted)."""
    curve = fit["curve"]
    L = np.log(1 / np.array([c["delta"] for c in curve]))
    Q, lo, hi = (np.array([finite(c[k]) for c in curve]) for k in ("estimate", "lower", "upper"))
    ok = np.isfinite(Q)
    band = ok & np.isfinite(hi)
    ax.fill_between(L[band], lo[band], hi[band], color=color, alpha=0.2,
                    label=f"exact {level:.0%} interval")
    ax.plot(L[ok], Q[ok], "o", color=color, ms=4, label=r"$(1-\delta)$-quantile")
    if fit.get("gamma") is not None:
        Lg = np.geomspace(L.min(), L.max(), 60)
        ax.plot(Lg, fit["a"] + fit["b"] * Lg ** fit["gamma"], "-", color=color, lw=1.5,
                label=rf"fit $a + b\,\log(1/\delta)^\gamma$, $\gamma$ = {num(fit['gamma'], 2)}")
    ax.set(xscale="log", xlabel=LOG_DELTA)
    ticks = [t for t in (0.7, 1, 1.5, 2, 3, 5, 7) if L.min() * 0.95 <= t <= L.max() * 1.05]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _test_panel(ax: Axes, rec: dict) -> None:
    """The decision itself: each bootstrap interval of gamma beside the bound it is held to."""
    cfg, det, m = rec["config_section"], rec["details"], rec["margin"]
    ctrl = det["control"]
    for i, theta in enumerate(cfg["thetas"]):
        e = det["thetas"][f"theta={theta}"]
        bound = e["prediction"]["eps^-4 term"] + m
        ax.hlines(bound, i - 0.4, i + 0.4, color="k", lw=2)
        for dx, fit, alg, v in ((-0.15, e["T"], "clipped", e["verdict"]),
                                (0.15, ctrl["T"], "vanilla", e["control_verdict"])):
            if fit.get("ci") is None:
                continue
            lo, hi = fit["ci"]
            ax.plot([i + dx] * 2, [lo, hi], color=COLORS[alg], lw=4, solid_capstyle="butt")
            ax.plot(i + dx, fit["gamma"], "o", color="w", mec=COLORS[alg], ms=6)
            text, good = (v, v) if alg == "clipped" else \
                (("refuted", "supported") if v == "refuted" else ("NOT refuted", "refuted"))
            ax.annotate(text, (i + dx, hi), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=8, color=VERDICT_COLORS[good])
    ax.set_xticks(range(len(cfg["thetas"])), [rf"$\theta$ = {t:g}" for t in cfg["thetas"]])
    ax.set_xlim(-0.6, len(cfg["thetas"]) - 0.4)
    ax.set(ylabel=r"growth exponent $\gamma$", title="The test: interval vs bound")
    ax.plot([], [], color=COLORS["clipped"], lw=4, label="Clipped ASGD (must be below)")
    ax.plot([], [], color=COLORS["vanilla"], lw=4, label="control (must be above)")
    ax.plot([], [], "k", lw=2, label=rf"bound $2\theta$ + {m:g}")
    ax.margins(y=0.15)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8)


def high_prob(root: str | Path, scale: str) -> Drawn:
    """Quantile curves per ``theta`` and for the control, then the interval-vs-bound test."""
    rec = load_verdict(root, scale, "high_prob")
    cfg, det = rec["config_section"], rec["details"]
    k = len(cfg["thetas"])
    fig, axes = new_figure(3.3 * (k + 2), 4.4, ncols=k + 2)
    level = cfg["quantile_level"]
    for ax, theta in zip(axes[:k], cfg["thetas"], strict=True):
        e = det["thetas"][f"theta={theta}"]
        quantile_panel(ax, e["T"], COLORS["clipped"], level)
        ax.set_title(rf"Clipped, sub-Weibull $\theta$ = {theta:g}" "\n"
                     rf"$\gamma$ {interval(e['T'].get('ci'), 2)}: {e['verdict']}")
    ct = det["control"]
    quantile_panel(axes[k], ct["T"], COLORS["vanilla"], level)
    axes[k].set_title(f"Control: vanilla, Pareto({cfg['heavy']['alpha']:g}) noise\n"
                      rf"$\gamma$ {interval(ct['T'].get('ci'), 2)}")
    axes[0].set_ylabel(r"quantile of $T(\varepsilon)$ (oracle calls)")
    axes[0].legend(loc="upper left", fontsize=8)
    _test_panel(axes[k + 1], rec)
    title(fig, rec, r"quantiles of $T(\varepsilon)$ grow at most like "
                    r"$\log(1/\delta)^{2\theta}$")
    w = cfg["workers"]
    cap = (f"(1 - delta)-quantiles of the oracle calls T(eps = {cfg['eps']}) over "
           f"R = {cfg['replications']} independent runs of Clipped ASGD (eta = {cfg['eta']}, "
           f"c = {cfg['c']}), delta from {max(cfg['deltas'])} down to {min(cfg['deltas'])}; "
           f"bands: exact order-statistic intervals; line: the weighted least-squares fit "
           f"a + b log(1/delta)^gamma. Algorithm 1, {w['n']} workers of which "
           f"{w['stragglers']} stragglers with delay factor D = {cfg['D']}; sub-Weibull noise "
           f"with E||xi||^2 = {cfg['noise_rms']}^2. Right panel, the pre-registered test: the "
           f"run-level bootstrap interval of gamma ({cfg['bootstrap']} resamples, level "
           f"{1 - 2 * cfg['alpha']:.0%}) must lie below 2 theta + {rec['margin']:g} (Theorem "
           f"4.3's eps^-4 term). The negative control, unclipped ASGD under "
           f"Pareto({cfg['heavy']['alpha']}) noise at eps = {cfg['eps_heavy']}, is held to the "
           "same bound at every theta and must lie above it; a theta where it does not cannot "
           "support the claim.")
    return Drawn("high_prob", fig, cap)


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
    """The 0.99-quantile against ``tau_max`` with its boxes, and the survival curves."""
    rec = load_verdict(root, scale, "high_prob_tau_max")
    cfg, det = rec["config_section"], rec["details"]
    tm, H = cfg["tau_max"], cfg["tau_max"]["horizon"]
    hits = load_table(root, scale, "high_prob", "hits")
    fig, (ax, ax2) = new_figure(13, 4.8, ncols=2)
    for alg, part in (("clipped", det["clipped"]), ("vanilla_theory", det["control"])):
        t = np.array([p["tau_max"] for p in part["points"]], float)
        est, lo, hi = (np.array([finite(p[k]) for p in part["points"]])
                       for k in ("estimate", "lower", "upper"))
        cens = ~np.isfinite(est)
        shown = np.where(cens, lo, est)
        up = np.where(np.isfinite(hi), hi, 2 * H)
        name = LABELS[alg].replace(r"1/(L\,\tau_{\max})", r"1/(K L\,\tau_{\max})")
        ax.errorbar(t, shown, yerr=[shown - lo, up - shown], fmt="o", color=COLORS[alg],
                    capsize=3, label=f"{name}: slope {num(part['slope'], 2)} "
                                     f"{interval(part['ci'], 2)}, {part['verdict']}")
        ax.plot(t[cens], shown[cens], "^", color=COLORS[alg], ms=9, mfc="none")
    t = np.array([p["tau_max"] for p in det["clipped"]["points"]], float)
    q0 = finite(det["clipped"]["points"][0]["estimate"])
    ax.plot(t, q0 * (t / t[0]) ** 0, "k--", lw=0.9, label="slope 0 (Theorem 4.3)")
    for s in (tm["margin"], -tm["margin"]):
        ax.plot(t, q0 * (t / t[0]) ** s, "k:", lw=0.9,
                label=f"slope ±{tm['margin']:g} (margin)" if s > 0 else None)
    ax.axhline(H, color="0.5", lw=0.8, label=f"budget {H} (triangles: quantile beyond it)")
    ax.set(xscale="log", yscale="log", xlabel=r"maximum delay $\tau_{\max}$",
           ylabel=rf"{tm['q']}-quantile of $T(\varepsilon = {cfg['eps']:g})$",
           title=rf"{tm['q']}-quantile against $\tau_{{\max}}$")
    ax.legend(loc="upper left", fontsize=8)
    pts = sorted({(p, D) for p, D in zip(hits["point"], hits["D"], strict=True)
                  if str(p).startswith("delay")}, key=lambda x: x[1])
    colors = _ramp(len(pts))
    for (point, D), col in zip(pts, colors, strict=True):
        h = hits[(hits["point"] == point) & (hits["algorithm"] == "clipped")
                 & np.isclose(hits["eps"], cfg["eps"])]
        survival(ax2, np.where(h["censored"], np.inf, h["T"].to_numpy(float)), color=col,
                 label=rf"D = {D:g}, $\tau_{{\max}}$ = {int(h['tau_max'].iloc[0])}")
    ax2.axhline(1 - tm["q"], color="0.5", lw=0.8, ls="--", label=f"1 - q = {1 - tm['q']:.2f}")
    ax2.set(yscale="log", xlabel=rf"$T(\varepsilon = {cfg['eps']:g})$",
            ylabel="fraction of runs above", title=r"Clipped ASGD: survival of $T(\varepsilon)$")
    ax2.legend(fontsize=8)
    title(fig, rec, r"the 0.99-quantile of $T(\varepsilon)$ does not grow with $\tau_{\max}$")
    w = cfg["workers"]
    cap = (f"{tm['replications']} runs per setting. Algorithm 1 with {w['n']} workers "
           f"(tau_C = {w['n']}), {w['stragglers']} stragglers slowed by D in {tm['D']}; "
           f"sub-Weibull noise (theta = {tm['theta']}, E||xi||^2 = {cfg['noise_rms']}^2); "
           f"Clipped ASGD with eta = {cfg['eta']}, c = {cfg['c']} fixed. Bars: exact "
           f"order-statistic intervals at level {det['clipped']['box_level']:.4f} (Bonferroni, "
           f"jointly at least {det['clipped']['level']:.2f}); the slope interval is the range of "
           f"least-squares slopes of log Q on log tau_max through the bars; TOST margin "
           f"{tm['margin']}. Negative control (orange): vanilla ASGD with the classical step "
           "1/(K L tau_max), K chosen so it equals Clipped ASGD's step at the smallest tau_max; "
           "where its quantile lies beyond the budget (triangles) only the lower end is known.")
    return Drawn("high_prob_tau_max", fig, cap)


def _ramp(n: int) -> list:
    return sns.color_palette("viridis", n)
