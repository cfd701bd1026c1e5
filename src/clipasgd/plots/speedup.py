"""Figure of a time-to-target claim (``fig2_speedup``, ``fig3_speedup``, ``fig4_federated``):
the metric against simulated time per algorithm on the fresh seeds, the target line, and
the speedups beside the paper's numbers. Draws only what the pipeline wrote."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..report import load_table
from .style import COLORS

__all__ = ["speedup_figure", "speedup_table"]


def speedup_table(record: dict) -> pd.DataFrame:
    """One row per (D, baseline): our speedup, interval, censoring and the paper's value."""
    rows = []
    for dkey, d in record["details"].items():
        for alg, s in {**d["speedups"], "clipped (control)": d["control"]}.items():
            rows.append({"D": dkey.split("=")[1], "over": alg, "ours": s["ratio"],
                         "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                         "censored": f"{s['censored_a']}/{s['n_a']} vs "
                                     f"{s['censored_b']}/{s['n_b']}",
                         "paper": s.get("paper"), "reading": s.get("reading")})
    return pd.DataFrame(rows)


def _curves(ax: plt.Axes, curves: pd.DataFrame, metric: str, every: float) -> None:
    # seeds with their own schedules (Algorithm 2) evaluate at slightly different event
    # times: align them on the evaluation grid they belong to
    grid = np.ceil(curves["time"] / every - 1e-9) * every
    for alg, g in curves.assign(grid=grid).groupby("algorithm", sort=False):
        wide = g.pivot_table(index="grid", columns="seed", values=metric)
        t = wide.index.to_numpy()
        ax.plot(t, wide.median(axis=1), color=COLORS.get(alg), label=alg, lw=1.4)
        ax.fill_between(t, wide.min(axis=1), wide.max(axis=1), color=COLORS.get(alg),
                        alpha=0.15, lw=0)


def speedup_figure(root: str | Path, scale: str, claim: str, record: dict) -> plt.Figure:
    """Curves per D (median over fresh seeds, band = min-max) and the speedup table."""
    cfg = record["config_section"]
    curves = load_table(root, scale, claim, "curves")
    fresh = curves[curves["phase"] == "fresh"]
    Ds = sorted(fresh["D"].unique())
    fig, axes = plt.subplots(1, len(Ds) + 1, figsize=(4.6 * (len(Ds) + 1), 3.8),
                             squeeze=False)
    for ax, D in zip(axes[0], Ds, strict=False):
        _curves(ax, fresh[fresh["D"] == D], cfg["metric"], cfg["eval_every"])
        ax.axhline(cfg["target"], color="k", ls="--", lw=0.8, label="target")
        ax.set(xlabel="simulated time (units)", ylabel=cfg["metric"], title=f"D = {D:g}",
               xlim=(0, cfg["cap"]))
        if cfg["goal"] == "min":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    tab = speedup_table(record)
    text = [f"D={r.D} over {r.over}: {r.ours:.2f}x [{r.ci_low:.2f}, {r.ci_high:.2f}]"
            + (f"  paper {r.paper:.1f}x" if r.paper is not None and np.isfinite(r.paper) else "")
            + f"\n    {r.reading}; censored {r.censored}" for r in tab.itertuples()]
    ax = axes[0][-1]
    ax.axis("off")
    ax.text(0, 1, f"Speedup of clipped (ratio of median times to target, "
                  f"{cfg['level']:.0%} bootstrap)\n\n" + "\n".join(text),
            va="top", ha="left", fontsize=7.5, family="monospace", transform=ax.transAxes)
    chosen = [c for d in record["details"].values() for c in d["chosen"]]
    tuned = any(c.get("select_median_T") is not None for c in chosen)
    how = (f"the configuration each algorithm chose on {cfg['selection_seeds']} selection "
           "seed(s)" if tuned else "one configuration per algorithm (no tuning at this scale)")
    _caption(fig, f"{record['paper_ref']} analogue ({scale} scale): an analogue, not a "
                 f"replication. {record['statement']} Curves: median over "
                 f"{cfg['fresh_seeds']} fresh seeds of {how}; band = min-max. "
                 f"Target {cfg['target']} ({cfg['target_source']}) "
                 + (f"Reduced at this scale: {cfg['reduced']}. " if cfg.get("reduced") else "")
                 + f"Verdict: {record['verdict']}.")
    fig.tight_layout()
    return fig


def _caption(fig, text: str, width: int = 150) -> None:
    """The setup under the axes, so the saved figure explains itself."""
    import textwrap

    fig.text(0.01, -0.02, textwrap.fill(text, width), ha="left", va="top", fontsize=8)
