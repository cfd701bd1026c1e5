"""Intervals for means and proportions of independent runs (federated claims, captions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from numpy.typing import ArrayLike

from ..lazy import LazyModule
from ._core import Interval, _Result, as_1d, check_level

sps = LazyModule("scipy.stats")  # imported at first use


@dataclass(frozen=True)
class MeanCI(_Result):
    """A mean with its t interval at two-sided ``level`` (each end one-sided ``(1+level)/2``)."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("ci_low", "ci_high")}

    mean: float
    se: float
    ci: Interval
    level: float
    n: int


def mean_ci(x: ArrayLike, level: float = 0.90) -> MeanCI:
    """Student-t interval of the mean of independent values (at least 2)."""
    check_level(level)
    xa = as_1d(x, "x")
    if xa.size < 2:
        raise ValueError("need at least 2 values for a mean interval")
    m, se = float(xa.mean()), float(xa.std(ddof=1) / math.sqrt(xa.size))
    h = float(sps.t.ppf(0.5 + level / 2, xa.size - 1)) * se
    return MeanCI(mean=m, se=se, ci=Interval(m - h, m + h), level=level, n=int(xa.size))


@dataclass(frozen=True)
class Proportion(_Result):
    """``k / n`` with its exact Clopper-Pearson interval at two-sided ``level`` (each end
    one-sided ``(1 + level) / 2``; coverage ``>= level`` at every ``p``)."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("ci_low", "ci_high")}

    k: int
    n: int
    rate: float
    ci: Interval
    level: float


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Proportion:
    """Exact binomial interval of a rate from ``k`` events in ``n`` independent trials."""
    check_level(level)
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k = {k}, n = {n}")
    a = (1 - level) / 2
    lo = float(sps.beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(sps.beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return Proportion(k=int(k), n=int(n), rate=k / n, ci=Interval(lo, hi), level=level)


@dataclass(frozen=True)
class ProportionDifference(_Result):
    """``p_a - p_b`` of two binomial samples with Newcombe's hybrid score interval."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("ci_low", "ci_high")}

    k_a: int
    n_a: int
    k_b: int
    n_b: int
    p_a: float
    p_b: float
    difference: float
    ci: Interval
    level: float


def _wilson(k: int, n: int, level: float) -> tuple[float, float]:
    z = float(sps.norm.ppf(0.5 + level / 2))
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, mid - half), min(1.0, mid + half)


def proportion_difference(k_a: int, n_a: int, k_b: int, n_b: int, level: float = 0.90
                          ) -> ProportionDifference:
    """Newcombe (1998, method 10) interval for ``p_a - p_b``: Wilson intervals combined, good
    coverage even near 0 and 1 (where failure probabilities live), unlike Wald's."""
    check_level(level)
    for k, n, name in ((k_a, n_a, "a"), (k_b, n_b, "b")):
        if not (int(n) >= 1 and 0 <= int(k) <= int(n)):
            raise ValueError(f"sample {name}: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    pa, pb = k_a / n_a, k_b / n_b
    la, ua = _wilson(k_a, n_a, level)
    lb, ub = _wilson(k_b, n_b, level)
    d = pa - pb
    return ProportionDifference(
        k_a=int(k_a), n_a=int(n_a), k_b=int(k_b), n_b=int(n_b), p_a=pa, p_b=pb, difference=d,
        ci=Interval(d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb)),
        level=level)


@dataclass(frozen=True)
class KMeanInterval(_Result):
    """Where the mean of ``k`` fresh runs falls, from ``n`` single runs: ``mean +- q sqrt(
    sd^2/k + sd^2/n) + slack`` (the spread of a ``k``-run mean plus the error of our mean;
    ``slack`` covers rounding of the compared value). ``ci`` is a prediction interval."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("low", "high")}

    mean: float
    sd: float
    k: int
    n: int
    ci: Interval
    level: float


def k_mean_interval(x: ArrayLike, k: int, level: float, slack: float = 0.0) -> KMeanInterval:
    """Prediction interval for a ``k``-run mean (t quantile, ``n - 1`` df): a reported
    ``k``-seed average outside it is incompatible with the runs' model at ``level``."""
    check_level(level)
    xa = as_1d(x, "x")
    if xa.size < 2 or int(k) < 1:
        raise ValueError("need at least 2 runs and k >= 1")
    m, sd = float(xa.mean()), float(xa.std(ddof=1))
    h = float(sps.t.ppf(0.5 + level / 2, xa.size - 1)) * sd * math.sqrt(1 / k + 1 / xa.size)
    return KMeanInterval(mean=m, sd=sd, k=int(k), n=int(xa.size),
                         ci=Interval(m - h - slack, m + h + slack), level=level)
