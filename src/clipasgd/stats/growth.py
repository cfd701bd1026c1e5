"""Does a quantile grow along a grid? ``rho``, the largest rise between any two grid
points (``max_{i<j} Q_j / Q_i``), with a joint interval, and the one-sided test that reads
it together with a run-level slope."""

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
    """``rho = max_{i<j} Q_j / Q_i``: the largest rise of the ``q``-quantile of a metric
    from any grid point to any later one, for an upper bound free of that axis.

    Not anchored at the first point: a dip-and-return (``1, 1/3, 1``) reads 3, a swing
    whose largest value comes first (``3, 1, 3``) reads 3, a rise late in the grid reads
    its size; only a curve that never rises reads ``<= 1``. ``anchored`` keeps the older
    reading ``max_k Q_k / Q_0`` for the record. Interval: every quantile's exact two-sided
    CI at ``box_level = 1 - 2 alpha / k`` (Bonferroni: all ``2k`` ends hold at once with
    probability ``>= 1 - 2 alpha``, and then every pair's ratio lies between its ends'
    ratios), ``ci.low = max_{i<j} L_j / U_i``, ``ci.high = max_{i<j} U_j / L_i``. Censored
    runs are ``+inf``; a lower end at a censored rank is the horizon (:func:`quantile_box`).
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("lower", "upper")}

    q: float
    level: float
    box_level: float
    estimate: float
    ci: Interval
    argmax: float
    points: list[dict]
    anchored: float
    rise_from: float


def _pairwise_max(top: np.ndarray, bottom: np.ndarray) -> tuple[float, int, int]:
    """``max_{i<j} top_j / bottom_i`` (``inf`` over ``0``, ``nan`` for ``inf/inf``) and
    its ``(i, j)``."""
    best, where = -math.inf, (0, 1)
    for j in range(1, len(top)):
        for i in range(j):
            with np.errstate(divide="ignore", invalid="ignore"):
                r = float(np.divide(top[j], bottom[i]))
            if math.isnan(r):
                r = math.inf if math.isinf(top[j]) else math.nan
            if not math.isnan(r) and r > best:
                best, where = r, (i, j)
    return (best if best > -math.inf else math.nan), *where


def growth_ratio(samples: Sequence[ArrayLike], grid: Sequence[float], q: float = 0.5,
                 alpha: float = 0.05, floors: Sequence[float] | None = None) -> GrowthRatio:
    """:class:`GrowthRatio` of per-point samples, in grid order (easiest point first)."""
    k = len(samples)
    if k < 2 or len(grid) != k:
        raise ValueError("need >= 2 samples, one per grid value")
    floors = [math.inf] * k if floors is None else list(floors)
    box_level = 1 - 2 * alpha / k
    boxes = [quantile_box(x, q, box_level, f) for x, f in zip(samples, floors, strict=True)]
    est = np.array([b.estimate for b in boxes])
    # a lower end unbounded below (too few runs for the box) is 0, not -inf: the metric is
    # positive, and -inf / inf would read as an infinite rise (a refutation from no data)
    lo = np.maximum([b.ci.low for b in boxes], 0.0)
    hi = np.array([b.ci.high for b in boxes])
    rho, i, j = _pairwise_max(est, est)
    lower = _pairwise_max(lo, hi)[0]
    upper = _pairwise_max(hi, lo)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        anchored = float(np.nanmax(est / est[0])) if np.isfinite(est[0]) and est[0] > 0 \
            else math.nan
    return GrowthRatio(q=q, level=1 - 2 * alpha, box_level=box_level, estimate=rho,
                       ci=Interval(lower, upper), argmax=float(grid[j]),
                       points=[{"x": float(g), **b.to_dict()} for g, b in zip(grid, boxes,
                                                                              strict=True)],
                       anchored=anchored, rise_from=float(grid[i]))


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
