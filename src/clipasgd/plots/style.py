"""One look for every figure: seaborn theme, readable names, the verdict in the title.

Figures are built as bare :class:`matplotlib.figure.Figure` objects (no pyplot state), so
they work under any backend and are shown exactly once, by :func:`clipasgd.report.show`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..report import control_reading

__all__ = ["Drawn", "COLORS", "LABELS", "VERDICT_COLORS", "OUTCOME_COLORS", "outcome", "style",
           "blank_figure", "new_figure", "title", "control_words", "num", "interval", "finite",
           "quantile_boxes", "plain_log_ticks", "legend_below"]

_PALETTE = sns.color_palette("colorblind")
COLORS = {"clipped": _PALETTE[0], "vanilla": _PALETTE[3], "vanilla_theory": _PALETTE[1],
          "delay_adaptive": _PALETTE[2], "ringmaster": _PALETTE[4], "minibatch": _PALETTE[5],
          "planted": _PALETTE[7], "repeat": _PALETTE[9], "vanilla_tuned": _PALETTE[8]}
LABELS = {"clipped": "Clipped ASGD",
          "vanilla": "Vanilla ASGD, same step",
          "vanilla_theory": r"Vanilla ASGD, step $1/(L\,\tau_{\max})$",
          "delay_adaptive": "Delay-adaptive ASGD",
          "ringmaster": "Ringmaster ASGD",
          "minibatch": "Minibatch SGD",
          "vanilla_tuned": "Vanilla ASGD, tuned step",
          "planted": r"Planted control, step $\propto 1/x$"}
VERDICT_COLORS = {"supported": _PALETTE[2], "inconclusive": _PALETTE[1],
                  "refuted": _PALETTE[3]}
# A badge's colour says whether the outcome is the one a sound test should give: a claim
# "supported" and a negative control "refuted" are good news (green); a claim refuted or a
# control that is not refuted is bad news (red); an undecided claim is amber.
OUTCOME_COLORS = {"expected": "#1a8a4a", "unexpected": "#c62828", "undecided": "#b8860b"}


def outcome(verdict: str, control: bool = False) -> str:
    """``expected``, ``unexpected`` or ``undecided``: how a reader should take ``verdict``
    (a negative control must be refuted, a claim should be supported)."""
    if control:
        return "expected" if verdict == "refuted" else "unexpected"
    return {"supported": "expected", "refuted": "unexpected"}.get(verdict, "undecided")


@dataclass
class Drawn:
    """A figure and the caption that goes under it in the notebook and on the landing page."""

    name: str
    fig: Figure
    caption: str


@contextmanager
def style() -> Iterator[None]:
    """The shared theme: seaborn's white grid at a paper-like scale, fonts >= 9 pt."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85),
          "axes.prop_cycle": mpl.cycler(color=_PALETTE), "legend.fontsize": 9,
          "legend.title_fontsize": 9, "figure.titlesize": 13, "axes.titlesize": 11,
          "savefig.dpi": 150, "figure.dpi": 100}
    with mpl.rc_context(rc):
        yield


def blank_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (inches) without axes, for a custom grid."""
    return Figure(figsize=(width, height), layout="constrained")


def new_figure(width: float, height: float, **subplots) -> tuple[Figure, object]:
    """A constrained-layout figure (inches) and its axes (``Figure.subplots`` arguments)."""
    fig = blank_figure(width, height)
    return fig, fig.subplots(**subplots)


def control_words(record: dict) -> str:
    """The negative control's reading for a title (:func:`clipasgd.report.control_reading`)."""
    v = record["control"]["verdict"]
    return (f"negative control refuted, {control_reading(record)}" if v == "refuted"
            else f"negative control {v.upper()} ({control_reading(record)})")


def title(fig: Figure, record: dict, what: str) -> None:
    """Suptitle: what the figure shows, then the claim's verdict and its control's."""
    v = record["verdict"]
    color = OUTCOME_COLORS[outcome(v)]
    fig.suptitle(f"{record['paper_ref']}: {what}\nVerdict: {v.upper()}; "
                 f"{control_words(record)}",
                 bbox={"boxstyle": "round,pad=0.3", "facecolor": mpl.colors.to_rgba(color, 0.15),
                       "edgecolor": color})


def finite(x: object) -> float:
    """A JSON number as float: ``None`` -> nan, the strings ``"inf"``/``"nan"`` parsed."""
    return math.nan if x is None else float(x)


def num(x: object, digits: int = 3) -> str:
    """A number for a label or caption: ``digits`` significant figures, ``n/a`` if missing."""
    f = finite(x) if not isinstance(x, str) or x in ("inf", "-inf", "nan") else None
    if f is None:
        return str(x)
    if math.isnan(f):
        return "n/a"
    if math.isinf(f):
        return "∞" if f > 0 else "-∞"
    return f"{f:.{digits}g}"


def interval(ci: object, digits: int = 3) -> str:
    """``[lo, hi]`` or ``n/a``."""
    if not ci:
        return "n/a"
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


def legend_below(ax, ncols: int = 1, **kwargs) -> None:
    """The axes' legend under its x label, outside the data (a long legend inside covered
    curves and error bars); constrained layout makes room for it."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=ncols, **kwargs)


def plain_log_ticks(axis) -> None:
    """Plain-number labels on a log axis (``0.3``, not ``3 x 10^-1``) at 1, 2 and 5 times
    each power of ten (the minor ones only on a range under two decades), so that tick
    labels never overlap."""
    def minor(v: float, _: object) -> str:
        lo, hi = sorted(axis.get_view_interval())
        short = lo > 0 and hi / lo < 100  # over two decades the majors suffice
        return f"{v:g}" if short and f"{v:.0e}"[0] in "25" else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def quantile_boxes(ax, points: list[dict], color: object, label: str,
                   x: Callable[[float], float] = float, top: float | None = None) -> None:
    """A quantile per grid point with its interval, joined by a line (``points``: a
    :class:`clipasgd.stats.GrowthRatio`'s ``x``, ``estimate``, ``lower``, ``upper``). A
    quantile beyond the budget (censored) is drawn at its lower end, the budget, as an open
    triangle; an open upper end reaches ``top`` (default: twice the drawn value)."""
    xs = np.array([x(p["x"]) for p in points], float)
    est, lo, hi = (np.array([finite(p[k]) for p in points]) for k in
                   ("estimate", "lower", "upper"))
    cens = ~np.isfinite(est)
    shown = np.where(cens, lo, est)
    up = np.where(np.isfinite(hi), hi, 2 * shown if top is None else top)
    order = np.argsort(xs)
    xs, shown, lo, up, cens = xs[order], shown[order], lo[order], up[order], cens[order]
    ax.errorbar(xs, shown, yerr=[np.maximum(shown - lo, 0), up - shown], fmt="o-",
                color=color, capsize=3, label=label)
    ax.plot(xs[cens], shown[cens], "^", color=color, ms=10, mfc="none")
