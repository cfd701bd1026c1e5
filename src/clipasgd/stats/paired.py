"""Paired speedup: the Hodges-Lehmann ratio of times to target over seeds that share their
initialisation, with the exact Wilcoxon signed-rank interval, censoring handled as bounds.

Seed ``i`` of arm ``a`` and seed ``i`` of arm ``b`` start from the same point, so the
per-seed log ratio ``d_i = log T_b,i - log T_a,i`` carries no between-seed spread. A run
that missed the target (``inf``/``nan`` or ``>= cap``) has ``T >= cap``: its ``d_i`` is
only a bound (``b`` missed: ``d_i >= log cap - log T_a,i``; ``a`` missed: ``d_i <= log
T_b,i - log cap``). Rule: a pair where **both** missed says nothing about the ratio and is
dropped (a tie, as the signed-rank test drops zero differences); every other pair enters
as the interval ``[d_low_i, d_high_i]`` of values it allows. The interval's lower end is
the Walsh-average order statistic of the ``d_low`` and its upper end that of the ``d_high``:
order statistics are monotone, so each end is a conservative bound of the exact-rank end
the uncensored data would give (valid under no difference: the pair's arms exchangeable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ._core import Interval, _Result, check_level

__all__ = ["PairedSpeedup", "paired_speedup", "signed_rank_rank"]


@dataclass(frozen=True)
class PairedSpeedup(_Result):
    """``ratio = exp(HL median of log(T_b / T_a))`` over seed pairs (> 1: ``a`` faster),
    ``ci`` its exact signed-rank interval (infinite ends when too few pairs or censored).

    ``n_pairs``: pairs used; ``dropped_both_censored``: pairs where both missed the target;
    ``censored_a``/``censored_b``: misses among all pairs; ``bound``: ``"exact"``, or
    ``"lower"``/``"upper"`` when censored pairs make the point estimate itself a bound."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("ci_low", "ci_high")}

    ratio: float
    ci: Interval
    level: float
    n_pairs: int
    dropped_both_censored: int
    censored_a: int
    censored_b: int
    cap: float
    bound: str
    method: str = "Hodges-Lehmann / exact Wilcoxon signed-rank, paired by seed"


def _signed_rank_cdf(n: int) -> np.ndarray:
    """``P(W+ <= w)`` for ``w = 0..n(n+1)/2`` under no difference (exact, by counting)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return np.cumsum(counts) / 2.0**n


def signed_rank_rank(n: int, level: float) -> int:
    """``k``: the interval is the ``k``-th smallest to ``k``-th largest Walsh average
    (largest ``k`` with ``P(W+ <= k - 1) <= (1 - level) / 2``); 0 means no finite end."""
    if n < 1:
        return 0
    cdf = _signed_rank_cdf(n)
    return int(np.searchsorted(cdf, (1.0 - level) / 2.0, side="right"))


def _walsh(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    with np.errstate(invalid="ignore"):
        return np.sort((d[i] + d[j]) / 2.0)


def paired_speedup(times_a: ArrayLike, times_b: ArrayLike, cap: float,
                   level: float = 0.95) -> PairedSpeedup:
    """Speedup of ``a`` over ``b`` from per-seed times to target, ``times_a[i]`` and
    ``times_b[i]`` from the same seed (same initialisation)."""
    check_level(level)
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"cap must be finite and > 0, got {cap}")
    ta, tb = (np.asarray(t, dtype=float).ravel() for t in (times_a, times_b))
    if ta.size != tb.size or ta.size == 0:
        raise ValueError(f"need one time per seed in each arm, paired: got {ta.size} and "
                         f"{tb.size}")
    if np.any(ta <= 0) or np.any(tb <= 0):
        raise ValueError("times to target must be > 0")
    ma, mb = (np.isnan(t) | (t >= cap) for t in (ta, tb))
    keep = ~(ma & mb)
    la, lb = (np.log(np.where(m, cap, t))[keep] for t, m in ((ta, ma), (tb, mb)))
    ma, mb = ma[keep], mb[keep]
    d = lb - la  # at the cap: a bound
    d_low, d_high = np.where(ma, -np.inf, d), np.where(mb, np.inf, d)
    n = int(d.size)
    k = signed_rank_rank(n, level)
    if n == 0:
        est, lo, hi = 0.0, -math.inf, math.inf
    else:
        est = float(np.median(_walsh(d)))
        lo = float(_walsh(d_low)[k - 1]) if k >= 1 else -math.inf
        hi = float(_walsh(d_high)[::-1][k - 1]) if k >= 1 else math.inf
    bound = ("exact" if not (ma.any() or mb.any()) else
             "lower" if mb.sum() > ma.sum() else "upper" if ma.sum() > mb.sum() else "mixed")
    return PairedSpeedup(ratio=math.exp(est), ci=Interval(math.exp(lo), math.exp(hi)),
                         level=level, n_pairs=n, dropped_both_censored=int((~keep).sum()),
                         censored_a=int(ma.sum() + (~keep).sum()),
                         censored_b=int(mb.sum() + (~keep).sum()), cap=float(cap),
                         bound=bound)
