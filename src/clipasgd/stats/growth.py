"""Does a quantile grow along a grid? ``rho = max_k Q_k / Q_0`` with a joint interval, and
the one-sided test that reads it together with a run-level slope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ..readings import Reading, growth_reading
from ._core import Interval, _Result
from .quantiles import quantile_box
from .slopes import censored_slope_fit


@dataclass(frozen=True)
class GrowthRatio(_Result):
    """``rho = max_k Q_k / Q_0``: how far the ``q``-quantile of a metric rises above its value
    at the first grid point (the smallest ``tau_max``), for an upper bound free of that axis.

    The maximum includes ``k = 0``, so ``rho >= 1``: a falling curve reads 1 and a bump
    anywhere on the grid counts, whatever the curve's shape. Interval: every quantile's
    exact two-sided CI at ``box_level = 1 - 2 alpha / k`` (Bonferroni: all ``2k`` ends hold
    at once with probability ``>= 1 - 2 alpha``), ``ci.low = max_k L_k / U_0`` and
    ``ci.high = max_k U_k / L_0``. Censored runs are ``+inf``; a lower end at a censored
    rank is the horizon (:func:`quantile_box`).
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("lower", "upper")}

    q: float
    level: float
    box_level: float
    estimate: float
    ci: Interval
    argmax: float
    points: list[dict]


def growth_ratio(samples: Sequence[ArrayLike], grid: Sequence[float], q: float = 0.5,
                 alpha: float = 0.05, floors: Sequence[float] | None = None) -> GrowthRatio:
    """:class:`GrowthRatio` of per-point samples (first entry = reference point)."""
    k = len(samples)
    if k < 2 or len(grid) != k:
        raise ValueError("need >= 2 samples, one per grid value")
    floors = [math.inf] * k if floors is None else list(floors)
    box_level = 1 - 2 * alpha / k
    boxes = [quantile_box(x, q, box_level, f) for x, f in zip(samples, floors, strict=True)]
    est = np.array([b.estimate for b in boxes])
    lo = np.array([b.ci.low for b in boxes])
    hi = np.array([b.ci.high for b in boxes])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = est / est[0] if np.isfinite(est[0]) else np.full(k, np.nan)
        lower = float(np.max(lo) / hi[0]) if 0 < hi[0] < math.inf else math.nan
        upper = float(np.max(hi) / lo[0]) if lo[0] > 0 else math.inf
    ratio = np.where(np.isnan(ratio) & np.isinf(est), np.inf, ratio)
    j = int(np.nanargmax(ratio)) if not np.all(np.isnan(ratio)) else 0
    return GrowthRatio(q=q, level=1 - 2 * alpha, box_level=box_level,
                       estimate=float(np.nanmax(ratio)) if not np.all(np.isnan(ratio))
                       else math.nan, ci=Interval(lower, upper), argmax=float(grid[j]),
                       points=[{"x": float(g), **b.to_dict()} for g, b in zip(grid, boxes,
                                                                              strict=True)])


@dataclass(frozen=True)
class GrowthTest(_Result):
    """:func:`growth_test`: the reading of :func:`clipasgd.readings.growth_reading`, the
    :class:`GrowthRatio` and the slope it read (``slope_ci`` ``None`` and ``slope_note``
    saying why when no slope could be fitted: the ratio alone then cannot make the reading
    supported)."""

    verdict: Reading
    ratio: GrowthRatio
    slope: float | None
    slope_ci: Interval | None
    slope_method: str
    slope_note: str | None


def growth_test(samples: Sequence[ArrayLike], grid: Sequence[float], ratio_margin: float,
                slope_margin: float, q: float = 0.5, alpha: float = 0.05,
                floors: Sequence[float] | None = None, regressor: Sequence[float] | None = None,
                slope: tuple[float | None, tuple[float, float] | None, str] | None = None
                ) -> GrowthTest:
    """One-sided test of "the ``q``-quantile of a metric does not grow along the grid" (an
    upper bound free of the grid's axis) from per-point samples, reference point first;
    censored runs are ``+inf``, known only to exceed their point's ``floors`` entry.

    Reads :func:`growth_ratio` (monotonicity-free) and a slope with
    :func:`clipasgd.readings.growth_reading`. The slope is the run-level Tobit fit of
    ``log metric`` (censored runs at their floor) on ``regressor`` (one value per point;
    default ``log grid``) at level ``1 - 2 alpha``, unless ``slope = (estimate, ci, method)``
    supplies another (e.g. for a quantile other than the median)."""
    k = len(samples)
    floors = [math.inf] * k if floors is None else list(floors)
    ratio = growth_ratio(samples, grid, q, alpha, floors)
    note = None
    if slope is None:
        xs = np.log(np.asarray(grid, float)) if regressor is None else np.asarray(regressor, float)
        vals = [np.asarray(v, float).ravel() for v in samples]
        cens = np.concatenate([np.isinf(v) for v in vals])
        y = np.concatenate([np.where(np.isinf(v), f, v) for v, f in zip(vals, floors,
                                                                         strict=True)])
        x = np.concatenate([np.full(v.size, xv) for v, xv in zip(vals, xs, strict=True)])
        slope = (None, None, "tobit-right-censored")
        if np.unique(x[~cens]).size < 2:
            note = "fewer than two grid points with an uncensored run"
        else:
            try:
                fit = censored_slope_fit(x, np.log(y), cens, level=1 - 2 * alpha)
                slope = (fit.slope, fit.ci, fit.method)
            except (RuntimeError, ArithmeticError, ValueError) as err:  # e.g. identical runs
                note = str(err)
    est, ci, method = slope
    verdict = growth_reading(ratio.ci, ci, ratio_margin, slope_margin)
    return GrowthTest(verdict=verdict, ratio=ratio, slope=est,
                      slope_ci=None if ci is None else Interval(float(ci[0]), float(ci[1])),
                      slope_method=method, slope_note=note)
