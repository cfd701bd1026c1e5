"""The suite's figures: one function per figure, one shared style, one call per figure.

``plots.show("tau_max", root, scale)`` draws the figure from the pipeline's files, saves it
to ``figures/<scale>/tau_max.{pdf,png}`` and shows it inline with its caption;
:func:`draw` does the same without showing (landing page, tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..claims import REGISTRY
from ..report import save_figure, show_figure
from .delay_sweep import delay_sweep
from .federated import federated, federated_high_prob, scheduler_caption
from .high_prob import high_prob, high_prob_tau_max
from .high_prob_tail import high_prob_tail, high_prob_tail_drift
from .rate_shape import rate_shape
from .speedup import SPEEDUP_FIGURES
from .style import Drawn, style
from .tails import tails_calibration, tails_real
from .tau_max import tau_max, tau_max_curves, virtual

__all__ = ["FIGURES", "CLAIM_FIGURES", "draw", "show", "Drawn"]

FIGURES: dict[str, Callable[[str | Path, str], Drawn]] = {
    "tau_max": tau_max, "tau_max_curves": tau_max_curves, "virtual": virtual,
    "rate_shape": rate_shape, "tails_calibration": tails_calibration, "tails": tails_real,
    "high_prob": high_prob, "high_prob_tail": high_prob_tail,
    "high_prob_tail_drift": high_prob_tail_drift, "high_prob_tau_max": high_prob_tau_max,
    "federated": federated, "federated_high_prob": federated_high_prob,
    "scheduler_caption": scheduler_caption, "delay_sweep": delay_sweep,
    **SPEEDUP_FIGURES}
# The figures of each claim, main one first (its name is the claim's: figures/<scale>/<claim>),
# as the claim declares them (Claim.figures).
CLAIM_FIGURES = {cid: c.figure_names for cid, c in REGISTRY.items()}


def _figure(name: str) -> Callable[[str | Path, str], Drawn]:
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return FIGURES[name]


def draw(name: str, root: str | Path, scale: str) -> tuple[Drawn, tuple[Path, Path]]:
    """Draw figure ``name`` and save it as PDF and PNG; returns it and the two paths."""
    fn = _figure(name)
    with style():
        drawn = fn(root, scale)
        return drawn, save_figure(drawn.fig, root, scale, name)


def show(name: str, root: str | Path, scale: str) -> None:
    """Draw, save and show figure ``name`` inline with its caption (notebooks; returns
    nothing so that a notebook cell shows only the figure)."""
    fn = _figure(name)
    with style():
        drawn = fn(root, scale)
        show_figure(drawn.fig, drawn.caption, root, scale, name)
