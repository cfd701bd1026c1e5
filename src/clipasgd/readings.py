"""Readings: the rules that turn statistics into ``supported`` / ``refuted`` /
``inconclusive``, in one place.

Every rule here takes intervals (``(low, high)`` pairs such as
:class:`clipasgd.stats.Interval`) and margins fixed in the config before anything runs, and
returns a :data:`Reading`. The statistics themselves live in :mod:`clipasgd.stats`; a
claim's verdict (:class:`clipasgd.claims.base.Verdict`) records the reading with its
evidence.
"""

from __future__ import annotations

import math
from typing import Literal

Reading = Literal["supported", "refuted", "inconclusive"]
READINGS: tuple[Reading, ...] = ("supported", "refuted", "inconclusive")
Pair = tuple[float, float]

__all__ = ["READINGS", "Reading", "above_one", "combine", "control_outcome", "growth_reading",
           "upper_bound_verdict"]


def combine(readings: list[str]) -> Reading:
    """A claim made of several settings: refuted if any is, supported if all are."""
    if any(v == "refuted" for v in readings):
        return "refuted"
    if readings and all(v == "supported" for v in readings):
        return "supported"
    return "inconclusive"


def control_outcome(readings: list[str]) -> Reading:
    """A control run in several settings is refuted only if refuted in every one; if the
    false variant is supported anywhere, the check is broken there."""
    if readings and all(v == "refuted" for v in readings):
        return "refuted"
    return "supported" if any(v == "supported" for v in readings) else "inconclusive"


def upper_bound_verdict(ci: Pair | None, bound: float, margin: float) -> Reading:
    """One-sided reading of an O-bound on an exponent: supported if the CI's upper end is
    at most ``bound + margin``, refuted if its lower end is above, else inconclusive."""
    if ci is None:
        return "inconclusive"
    lo, hi = ci
    if hi <= bound + margin:
        return "supported"
    return "refuted" if lo > bound + margin else "inconclusive"


def above_one(ci: Pair) -> Reading:
    """A ratio claimed above 1 (e.g. the paper's speedup direction): ``supported`` if the
    interval lies above 1, ``refuted`` if below 1, else ``inconclusive`` (a tie is no
    speedup)."""
    lo, hi = ci
    return "supported" if lo > 1 else "refuted" if hi < 1 else "inconclusive"


def growth_reading(ratio: Pair | None, slope: Pair | None, ratio_margin: float,
                   slope_margin: float) -> Reading:
    """One-sided reading of "the metric does not grow along the grid" (an upper bound).

    ``ratio``: the interval of :class:`clipasgd.stats.GrowthRatio` (monotonicity-free);
    ``slope``: a slope interval of log metric on log grid (``None`` when it could not be
    fitted). Supported iff ``ratio_hi <= ratio_margin`` and ``slope_hi <= slope_margin``;
    refuted iff ``ratio_lo > ratio_margin`` or ``slope_lo > slope_margin``; else
    inconclusive. A falling curve can never be refuted (``rho >= 1``, slope < 0), a
    non-monotone bump is caught by ``rho``, and a control that only gets faster reads
    supported (not refuted).
    """
    if ratio_margin < 1 or slope_margin < 0:
        raise ValueError("need ratio_margin >= 1 and slope_margin >= 0")
    r_lo, r_hi = ratio if ratio is not None else (math.nan, math.nan)
    s_lo, s_hi = slope if slope is not None else (math.nan, math.nan)
    if r_lo > ratio_margin or s_lo > slope_margin:
        return "refuted"
    if r_hi <= ratio_margin and s_hi <= slope_margin:
        return "supported"
    return "inconclusive"
