"""Figure of the ``delay_sweep`` claim: median oracle calls to target against the measured
``tau_max`` per problem (exact median intervals), the no-straggler reference beside, and the
table per ``D``. Draws only what the verdict file holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..report import load_verdict
from .style import COLORS, LABELS, Drawn, interval, new_figure, num, title

__all__ = ["delay_sweep", "delay_sweep_table"]

NAMES = {**LABELS, "vanilla": "Vanilla ASGD (its own tuned step)"}
PROBLEMS = {"fig2": "Figure 2's problem (Fashion-MNIST MLP)",
            "fig3": "Figure 3's problem (Shakespeare character MLP)"}


def delay_sweep_table(record: dict) -> pd.DataFrame:
    """One row per problem and ``D``: tau_max, each algorithm's median calls to target and
    time to target with their exact intervals (``misses``: censored runs)."""
    rows = []
    for name, p in record["details"]["problems"].items():
        by_D: dict[float, dict] = {}
        for r in p["table"]:
            row = by_D.setdefault(r["D"], {"problem": name, "D": r["D"],
                                           "tau_max": r["tau_max"]})
            a = r["algorithm"]
            row[f"{a} calls"] = f"{num(r['calls']['median'], 4)} {interval(r['calls']['ci'], 4)}"
            row[f"{a} time"] = f"{num(r['T']['median'], 3)} {interval(r['T']['ci'], 3)}"
            row[f"{a} misses"] = f"{r['calls']['censored']}/{r['calls']['n']}"
        rows += list(by_D.values())
    return pd.DataFrame(rows)


def _panel(ax, name: str, p: dict, reference: list) -> None:
    for alg in sorted({r["algorithm"] for r in p["table"]}):
        rows = [r for r in p["table"] if r["algorithm"] == alg]
        t = p["tests"].get(alg, {})
        label = (f"{NAMES.get(alg, alg)}: rho {num(t.get('rho'), 3)} "
                 f"{interval(t.get('rho_ci'), 3)}, {t.get('verdict', 'not read')}")
        read = [r for r in rows if r["D"] not in reference]
        x = np.array([r["tau_max"] for r in read])
        y = np.array([r["calls"]["median"] if r["calls"]["median"] is not None else np.nan
                      for r in read], float)
        lo = np.array([r["calls"]["ci"][0] or np.nan for r in read], float)
        hi = np.array([r["calls"]["ci"][1] or np.nan for r in read], float)
        err = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
        ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="o-", color=COLORS.get(alg),
                    capsize=3, label=label)
        open_top = ~np.isfinite(hi) & np.isfinite(y)  # a censored rank: no upper end
        ax.plot(x[open_top], y[open_top] * 1.08, "^", mfc="none", mec=COLORS.get(alg), ms=8)
        for r in rows:
            if r["D"] in reference and r["calls"]["median"] is not None:
                ax.plot(r["tau_max"], r["calls"]["median"], "s", mfc="none",
                        mec=COLORS.get(alg), ms=8, mew=1.5)
    if reference:
        ax.plot([], [], "s", mfc="none", mec="0.3", ms=8,
                label=f"D = {', '.join(f'{d:g}' for d in reference)} (no stragglers): "
                      "reference, not read")
    ax.set_xscale("log")  # ticks at the measured tau_max (log minor labels overlapped)
    taus = sorted({r["tau_max"] for r in p["table"] if r["tau_max"] is not None})
    ax.set_xticks(taus, [f"{t:g}" for t in taus])
    ax.minorticks_off()
    ax.set(xlabel=r"measured maximum delay $\tau_{\max}$",
           ylabel="median oracle calls to target",
           title=f"{PROBLEMS.get(name, name)}\npower control (planted rise): "
                 f"{p['power_control']['verdict']}")
    # below the axes: at the top left it hid the D = 1 reference markers (the largest calls)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16))


def delay_sweep(root: str | Path, scale: str) -> Drawn:
    record = load_verdict(root, scale, "delay_sweep")
    cfg = record["config_section"]
    probs = record["details"]["problems"]
    reference = [float(d) for d in cfg.get("reference_D", [])]
    fig, axes = new_figure(5.6 * len(probs), 5.6, ncols=len(probs), squeeze=False)
    for ax, (name, p) in zip(axes[0], probs.items(), strict=True):
        _panel(ax, name, p, reference)
    title(fig, record, f"oracle calls to target as the delay grows ({scale} scale)")
    caption = (f"{record['statement']} Points: median over {cfg['fresh_seeds']} fresh seeds "
               f"per D of calls to target, bars = exact {cfg['level']:.0%} median interval "
               "(an open triangle: no upper end, runs missed the target); "
               f"one configuration per algorithm chosen at D = {cfg['select_D']:g}. "
               + (f"Reduced at this scale: {cfg['reduced']}. " if cfg.get("reduced") else "")
               + f"Verdict: {record['verdict']} (margin {cfg['ratio_margin']:g}).")
    return Drawn("delay_sweep", fig, caption)
