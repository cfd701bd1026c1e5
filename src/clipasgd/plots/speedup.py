"""Figures of the time-to-target claims (``fig2_speedup``, ``fig3_speedup``,
``fig4_federated``): the metric against simulated time per algorithm on the fresh seeds,
the target line, and the speedups beside the paper's numbers. Draws only what the pipeline
wrote."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..report import load_table, load_verdict
from ..time_to_target import edge_words
from .style import COLORS, LABELS, Drawn, new_figure, plain_log_ticks, title

__all__ = ["speedup_figure", "speedup_table", "SPEEDUP_FIGURES"]

NAMES = {**LABELS, "vanilla": "Vanilla ASGD"}  # each algorithm with its own tuned step


def per_D(record: dict) -> dict[str, dict]:
    """The verdict's per-``D`` details (keys ``D=<value>``)."""
    return {k: v for k, v in record["details"].items() if k.startswith("D=")}


def speedup_table(record: dict) -> pd.DataFrame:
    """One row per (D, baseline): our paired speedup, its interval, the seed pairs used and
    the misses, the paper's value; then the controls (self-control, D = 1 mechanism)."""
    rows = []
    for dkey, d in per_D(record).items():
        named = {**d.get("speedups", {}),
                 **({"clipped (self-control)": d["control"]} if "control" in d else {}),
                 **({"vanilla (no stragglers: control)": d["mechanism_control"]}
                    if "mechanism_control" in d else {})}
        for alg, s in named.items():
            rows.append({"D": dkey.split("=")[1], "over": alg, "ours": s["ratio"],
                         "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                         "pairs": s["n_pairs"],
                         "missed": f"{s['censored_a']} vs {s['censored_b']}",
                         "paper": s.get("paper"), "reading": s.get("reading")})
    return pd.DataFrame(rows)


TEXT_LINE_IN = 0.165  # inches per 9 pt line of the table beside the panels
BLOWUP = 10.0  # a run whose metric climbs past BLOWUP x the worst start has diverged (goal min)


def diverged_seeds(curves: pd.DataFrame, metric: str, goal: str) -> pd.Series:
    """Per (algorithm, seed): the simulated time a run diverged at, NaN if it did not.

    Diverged: flagged by the engine, a non-finite metric, or (goal ``min``) a metric above
    ``BLOWUP`` times the largest first evaluation of any run (a loss that blew up, even if
    it came back: a spike of one of a few seeds would set the band and the axis). Such
    runs are marked, not drawn, and the legend says "blew up", not "diverged"."""
    first = curves.sort_values("time").groupby(["algorithm", "seed"])[metric].first()
    values = curves[metric].to_numpy(float)
    bad = ~np.isfinite(values)
    if "diverged" in curves:
        bad |= curves["diverged"].astype(bool).to_numpy()
    if goal == "min":
        bad |= values > BLOWUP * np.nanmax(first.to_numpy(float))
    when = curves[bad].groupby(["algorithm", "seed"])["time"].min()
    return when.reindex(first.index)


def _curves(ax, curves: pd.DataFrame, metric: str, every: float, goal: str) -> None:
    """Median over the non-diverged seeds, band = their interquartile range; a diverged
    seed is an 'x' on the top edge at the time it diverged, counted in the legend. Y-limits
    therefore come from the drawn runs (and the target) only."""
    # seeds with their own schedules (Algorithm 2) evaluate at slightly different event
    # times: align them on the evaluation grid they belong to
    grid = np.ceil(curves["time"] / every - 1e-9) * every
    gone = diverged_seeds(curves, metric, goal)
    for alg, g in curves.assign(grid=grid).groupby("algorithm", sort=False):
        when = gone.loc[alg]
        wide = g.pivot_table(index="grid", columns="seed", values=metric)
        wide = wide.loc[:, [s for s in wide.columns if np.isnan(when.get(s, np.nan))]]
        n_gone = int(when.notna().sum())
        label = NAMES.get(alg, alg) + (f" ({n_gone} of {when.size} seeds blew up: x)"
                                       if n_gone else "")
        color = COLORS.get(alg)
        if wide.shape[1]:
            t = wide.index.to_numpy()
            ax.plot(t, wide.median(axis=1), color=color, label=label, lw=1.4)
            ax.fill_between(t, wide.quantile(0.25, axis=1), wide.quantile(0.75, axis=1),
                            color=color, alpha=0.2, lw=0)
        if n_gone:
            ax.plot(when.dropna().to_numpy(), np.ones(n_gone), "x", color=color, ms=9, mew=2,
                    transform=ax.get_xaxis_transform(), clip_on=False,
                    label=None if wide.shape[1] else label)


def _fmt(x: float | None) -> str:
    return "inf" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _speedup_text(record: dict, level: float) -> str:
    tab = speedup_table(record)
    lines = [f"D={r.D} over {r.over}: {r.ours:.2f}x [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
             + (f"  paper {r.paper:.1f}x" if r.paper is not None and np.isfinite(r.paper)
                else "")
             + "\n" + textwrap.fill(f"{r.reading}; {r.pairs} seed pairs, missed target "
                                    f"{r.missed}", 56, initial_indent="    ",
                                    subsequent_indent="    ")
             for r in tab.itertuples()]
    which = record["details"].get("deciding_comparison")
    lo, hi = record.get("ci") or (None, None)
    outcome = record.get("verdict_of_the_test", record["verdict"])
    decides = (textwrap.fill(f"Deciding comparison: clipped over {which}, "
                             f"{record['statistic']:.2f}x [{_fmt(lo)}, {_fmt(hi)}]: "
                             f"{outcome}.", 56) + "\n\n" if which else "")
    for key, entry in record["details"].items():
        e = entry.get("straggler_effect") if isinstance(entry, dict) else None
        if e and e.get("ratio") is not None:
            anchor = e.get("anchor_D")  # older records divided by the no-straggler point
            over = f"at D={anchor:g}" if anchor is not None else "without stragglers"
            lines.append(textwrap.fill(
                f"{key}, slower stragglers' effect (speedup over vanilla at {key} / {over}"
                f"): {e['ratio']:.2f}x [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]"
                f": {e['reading']}" + (f" ({e['status']})" if e.get("status") else ""), 56,
                subsequent_indent="    "))
    edges = [f"D={key.split('=')[1]}: " + "; ".join(map(edge_words, d["at_grid_edge"]))
             for key, d in per_D(record).items() if d.get("at_grid_edge")]
    if edges:  # the best value may lie beyond the grid
        lines.append(textwrap.fill("Tuned at an end of its grid: " + "; ".join(edges), 56,
                                   subsequent_indent="    "))
    if isinstance(record["details"].get("straggler_effect"), str):
        lines.append(textwrap.fill("Stragglers' effect: " + record["details"]
                                   ["straggler_effect"], 56, subsequent_indent="    "))
    return (decides + f"Speedup of clipped: paired by seed (same\ninitialisation), median "
            f"per-seed ratio of\ntimes to target, exact {level:.0%} interval\n\n"
            + "\n".join(lines))


def speedup_figure(root: str | Path, scale: str, claim: str) -> Drawn:
    """Curves per D (median over fresh seeds, band = interquartile range) and the speedup
    table with the deciding comparison in words."""
    record = load_verdict(root, scale, claim)
    cfg = record["config_section"]
    curves = load_table(root, scale, claim, "curves")
    fresh = curves[curves["phase"] == "fresh"]
    Ds = sorted(fresh["D"].unique())
    text = _speedup_text(record, cfg["level"])
    # tall enough for the table beside (9 pt lines and the title above): a table
    # longer than the panels would otherwise spill below them and `bbox_inches="tight"`
    # would squash the curves into a strip
    height = max(4.8, TEXT_LINE_IN * (text.count("\n") + 1) + 1.4)
    fig, axes = new_figure(4.8 * len(Ds) + 5.2, height, ncols=len(Ds) + 1, squeeze=False,
                           gridspec_kw={"width_ratios": [1.0] * len(Ds) + [1.1]})
    for ax, D in zip(axes[0], Ds, strict=False):
        if cfg["goal"] == "min":
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
        _curves(ax, fresh[fresh["D"] == D], cfg["metric"], cfg["eval_every"], cfg["goal"])
        ax.axhline(cfg["target"], color="k", ls="--", lw=0.8,
                   label=f"target {cfg['target']:g}")
        ax.set(xlabel="simulated time (units)", ylabel=cfg["metric"].replace("_", " "),
               title=(f"slow workers D = {D:g} times slower"
                      if D not in cfg.get("control_D", []) else
                      f"D = {D:g}: no stragglers (mechanism control)"), xlim=(0, cfg["cap"]))
        ax.legend()
    ax = axes[0][-1]
    ax.axis("off")
    ax.text(0, 1, text, va="top", ha="left", fontsize=9,
            family="monospace", transform=ax.transAxes)
    title(fig, record, f"clipped ASGD reaches the target sooner ({scale} scale analogue)")
    chosen = [c for d in per_D(record).values() for c in d.get("chosen", [])]
    tuned = any(c.get("select_median_T") is not None for c in chosen)
    how = (f"the configuration each algorithm chose on {cfg['selection_seeds']} selection "
           "seed(s)" if tuned else "one configuration per algorithm (no tuning at this scale)")
    caption = (f"{record['paper_ref']} analogue ({scale} scale): an analogue, not a "
               f"replication. {record['statement']} Curves: median over "
               f"{cfg['fresh_seeds']} fresh seeds of {how}; band = interquartile range "
               "over seeds; a seed whose loss blew up (diverged, or past "
               f"{BLOWUP:g}x the worst start even if it came back) is an x at that time, not "
               "part of the curve or band. "
               f"Target {cfg['target']} ({cfg['target_source']}). "
               + (f"Reduced at this scale: {cfg['reduced']}. " if cfg.get("reduced") else "")
               + f"Verdict: {record['verdict']}.")
    return Drawn(claim, fig, caption)


SPEEDUP_FIGURES: dict[str, Callable[[str | Path, str], Drawn]] = {
    claim: partial(speedup_figure, claim=claim)
    for claim in ("fig2_speedup", "fig3_speedup", "fig4_federated")}
