"""Figure of the ``rate_shape`` claim: measured exponents of ``T`` beside the bound's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ..claims.rate_shape import implied_bound
from ..report import load_table, load_verdict
from .style import COLORS, LABELS, Drawn, interval, new_figure, num, title

__all__ = ["rate_shape"]

AXES = {"eps": r"$1/\varepsilon$ (target accuracy)", "tau_c": r"concurrency $\tau_C$ (workers)",
        "sigma": r"noise level $\sigma$"}


def rate_shape(root: str | Path, scale: str) -> Drawn:
    """One panel per sweep: median ``T`` with its range, the planted control, the bound."""
    rec = load_verdict(root, scale, "rate_shape")
    cfg, det = rec["config_section"], rec["details"]
    hits = load_table(root, scale, "rate_shape", "hits")
    if "algorithm" not in hits:
        hits = hits.assign(algorithm="clipped")
    fig, axes = new_figure(14, 4.6, ncols=3)
    for ax, sweep in zip(axes, AXES, strict=True):
        hs = hits[hits["sweep"] == sweep]
        hs = hs.assign(xx=1 / hs["x"] if sweep == "eps" else hs["x"])
        sns.lineplot(data=hs, x="xx", y="T", hue="algorithm", palette=COLORS,
                     hue_order=[a for a in ("clipped", "planted") if a in set(hs["algorithm"])],
                     estimator="median", errorbar=("pi", 100), err_style="bars",
                     err_kws={"capsize": 3}, marker="o", ax=ax, legend=False)
        med = hs[hs["algorithm"] == "clipped"].groupby("xx")["T"].median()
        xs = np.array(sorted(med.index), float)
        d = det[sweep]
        pred = d["predicted_max_exponent"]
        if sweep == "sigma":
            ref = np.array([implied_bound(cfg, "sigma", s) for s in xs])
            ax.plot(xs, med.iloc[-1] * ref / ref[-1], "k--", lw=1)
        else:
            ax.plot(xs, med.iloc[0] * (xs / xs[0]) ** pred, "k--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel=AXES[sweep], ylabel="",
               title=f"exponent {num(d['slope'], 2)} {interval(d['ci'], 2)}, bound "
                     f"{num(pred, 2)} + {rec['margin']:g}\n{d['verdict']}")
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel(r"oracle calls $T(\varepsilon)$")
    handles = [axes[0].plot([], [], "o-", color=COLORS[a], label=lab)[0] for a, lab in
               (("clipped", f"{LABELS['clipped']}, theory step (median, range)"),
                ("planted", LABELS["planted"] + " (control)"))]
    handles.append(axes[0].plot([], [], "k--", lw=1,
                                label=r"implied bound $1/(\eta\,\varepsilon^2)$, scaled")[0])
    fig.legend(handles=handles, loc="outside lower center", ncols=3)
    title(fig, rec, r"$T(\varepsilon)$ grows no faster than the bound in $1/\varepsilon$, "
                    r"$\tau_C$ and $\sigma$")
    cap = (f"Clipped ASGD with the step and clipping radius of the reconstructed theory rule "
           f"(constant K = {cfg['K']}) on problem {cfg['problem'].get('name', 'see config')}, "
           f"{cfg['replications']} runs per point, Algorithm 1 with equally fast workers. "
           f"Sub-Weibull noise (theta = {cfg['theta']}) in every sweep. Left: sigma = "
           f"{cfg['eps']['sigma']}, tau_C = {cfg['n']}. Middle: eps = {cfg['tau_c']['eps']}, "
           f"sigma = {cfg['tau_c']['sigma']}. Right: eps = {cfg['sigma']['eps']}. The sigma = 0 "
           "sweeps are sanity checks in the verdict file, not shown. "
           f"Exponents are censored (Tobit) slopes of log T with 90% "
           f"intervals; the bound's exponent is the steepest local slope of 1/(eta eps^2) over "
           f"the grid (dashed). Test: the interval's upper end at most the bound + "
           f"{rec['margin']:g}. Controls, both of which the same test must refute: 'T does not "
           "grow' on the measured runs, and the planted run (grey), whose step shrinks like 1/x "
           "so T grows one power faster than the bound.")
    return Drawn("rate_shape", fig, cap)
