"""Exact, distribution-free quantile intervals (order statistics and the binomial law, never
bootstrapped: percentile bootstraps under-cover extreme quantiles), with censored runs as
``+inf``; quantile ratios, the two-sample tail test and a tail summary built on them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..lazy import LazyModule
from ._core import Interval, _Result, censored_1d, check_level, sample_quantile

sps = LazyModule("scipy.stats")  # imported at first use

Alternative = Literal["two-sided", "less", "greater"]


@dataclass(frozen=True)
class QuantileCI(_Result):
    """Exact order-statistic CI ``[X_(lower_rank), X_(upper_rank)]`` for a quantile.

    Ranks are 1-based; an unbounded side has bound ``-inf``/``+inf``, rank
    ``None`` and its ``*_bounded`` flag False. ``coverage`` is the exact
    distribution-free coverage probability for continuous data (>= level).
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("lower", "upper")}

    q: float
    level: float
    alternative: str
    n: int
    estimate: float
    ci: Interval
    lower_rank: int | None
    upper_rank: int | None
    lower_bounded: bool
    upper_bounded: bool
    coverage: float


def _lower_rank(n: int, q: float, tail: float) -> int:
    """Largest r with P(Binom(n, q) <= r - 1) <= tail (0: no finite bound).

    Then ``P(X_(r) <= xi_q) = P(B >= r) >= 1 - tail`` for continuous data.
    """
    cdf = sps.binom.cdf(np.arange(n + 1), n, q)
    ok = np.nonzero(cdf <= tail)[0]
    return int(ok[-1] + 1) if ok.size else 0


def _upper_rank(n: int, q: float, tail: float) -> int:
    """Smallest s with P(Binom(n, q) <= s - 1) >= 1 - tail (n + 1: no bound)."""
    sf = sps.binom.sf(np.arange(n + 1), n, q)  # P(B > j): accurate far in the tail
    ok = np.nonzero(sf <= tail)[0]
    return int(ok[0] + 1) if ok.size and ok[0] < n else n + 1


def _ranks(n: int, q: float, level: float, alternative: Alternative) -> tuple[int, int]:
    """1-based order-statistic ranks (0 / n+1 meaning unbounded) of the CI."""
    a = 1.0 - level
    if alternative == "two-sided":
        return _lower_rank(n, q, a / 2), _upper_rank(n, q, a / 2)
    if alternative == "less":
        return 0, _upper_rank(n, q, a)
    if alternative == "greater":
        return _lower_rank(n, q, a), n + 1
    raise ValueError(f"unknown alternative {alternative!r}")


def quantile_ci(
    x: ArrayLike, q: float, level: float = 0.95, alternative: Alternative = "two-sided"
) -> QuantileCI:
    """Exact distribution-free CI for the ``q``-quantile from order statistics.

    With ``B ~ Binom(n, q)`` the number of points below the true quantile,
    ``X_(r) <= xi_q <= X_(s)`` has probability ``P(r <= B <= s - 1)``. The
    two-sided interval is equal-tailed (each tail at most ``(1 - level) / 2``),
    matching ``scipy.stats.quantile_test(...).confidence_interval``; ``"less"``
    gives a one-sided upper bound (lower = -inf; e.g. the maximum of R runs),
    ``"greater"`` a lower bound. Too few samples leave a side unbounded (inf,
    flagged). The estimate is ``numpy.quantile`` (linear interpolation). Runs censored at
    a budget enter as ``+inf``; a bound at a censored rank is then ``+inf``.
    """
    check_level(level)
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    xs = np.sort(censored_1d(x, "x"))
    n = xs.size
    if n == 0:
        raise ValueError("x is empty")
    r, s = _ranks(n, q, level, alternative)
    lo_ok, hi_ok = r >= 1, s <= n
    b = sps.binom(n, q)
    cover = (1.0 - (b.cdf(r - 1) if lo_ok else 0.0)) - (b.sf(s - 1) if hi_ok else 0.0)
    return QuantileCI(
        q=q, level=level, alternative=alternative, n=n, estimate=sample_quantile(xs, q),
        ci=Interval(float(xs[r - 1]) if lo_ok else -math.inf,
                    float(xs[s - 1]) if hi_ok else math.inf),
        lower_rank=r if lo_ok else None, upper_rank=s if hi_ok else None,
        lower_bounded=bool(lo_ok), upper_bounded=bool(hi_ok), coverage=float(cover))


def quantile_box(x: ArrayLike, q: float, level: float, floor: float) -> QuantileCI:
    """Exact two-sided CI of the ``q``-quantile of a sample with ``+inf`` (censored) runs:
    an upper bound at a censored rank is ``inf``; a lower bound there is ``floor`` (the
    horizon: a censored run's true value exceeds it)."""
    ci = quantile_ci(x, q, level)
    low = ci.ci.low
    return replace(ci, ci=Interval(floor, ci.ci.high)) if math.isinf(low) and low > 0 else ci


def runs_for_two_sided_quantile_ci(q: float, level: float = 0.95) -> int:
    """Smallest R for which the equal-tailed exact ``q``-quantile CI is bounded.

    Needs ``max(q, 1 - q)^R <= (1 - level) / 2`` (the extreme order statistic
    must suffice for the far tail): 368 for the 0.99-quantile at 95%.
    """
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    check_level(level)
    p = max(q, 1.0 - q)
    r = int(math.ceil(math.log((1.0 - level) / 2.0) / math.log(p) - 1e-9))
    while _ranks(r, q, level, "two-sided")[1] > r or _ranks(r, q, level, "two-sided")[0] < 1:
        r += 1  # guard against rounding in the closed form
    return r


@dataclass(frozen=True)
class QuantileRatio(_Result):
    """``r = Q_a / Q_b`` of two samples' ``q``-quantiles with a joint ``1 - 2 alpha``
    interval from exact CIs at level ``1 - alpha`` each (Bonferroni). ``reading`` is
    ``"win"`` (``ci.low > margin``: a's quantile above b's), ``"lose"`` (``ci.high < 1 /
    margin``) or ``"tie"``."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("lower", "upper")}

    q: float
    level: float
    estimate: float
    ci: Interval
    quantile_a: QuantileCI
    quantile_b: QuantileCI
    margin: float
    reading: str


def quantile_ratio(a: ArrayLike, b: ArrayLike, q: float, alpha: float = 0.05,
                   margin: float = 1.0) -> QuantileRatio:
    """:class:`QuantileRatio` of positive samples ``a`` and ``b`` (``+inf`` = censored)."""
    if margin < 1:
        raise ValueError("margin must be >= 1")
    ca, cb = quantile_ci(a, q, 1 - alpha), quantile_ci(b, q, 1 - alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = ca.estimate / cb.estimate
        lo = ca.ci.low / cb.ci.high if cb.ci.high > 0 else math.nan
        hi = ca.ci.high / cb.ci.low if cb.ci.low > 0 else math.inf
    reading = "win" if lo > margin else "lose" if hi < 1 / margin else "tie"
    return QuantileRatio(q=q, level=1 - 2 * alpha, estimate=float(est),
                         ci=Interval(float(lo), float(hi)), quantile_a=ca, quantile_b=cb,
                         margin=margin, reading=reading)


@dataclass(frozen=True)
class TailComparison(_Result):
    """Is the upper tail of sample a heavier than that of sample b?

    ``threshold`` is the pooled ``q``-quantile; ``exceed_*`` count points
    strictly above it; ``statistic`` is Fisher's sample odds ratio and
    ``pvalue`` its one-sided exact p-value. ``ci_separated`` says the exact
    ``q``-quantile CIs do not overlap (a's above b's). ``heavier`` is the
    decision: ``pvalue < alpha`` AND ``ci_separated``.
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci_a": ("ci_a_low", "ci_a_high"),
                                                   "ci_b": ("ci_b_low", "ci_b_high")}

    q: float
    alpha: float
    n_a: int
    n_b: int
    threshold: float
    exceed_a: int
    exceed_b: int
    rate_a: float
    rate_b: float
    statistic: float
    pvalue: float
    quantile_a: float
    quantile_b: float
    ci_a: Interval
    ci_b: Interval
    ci_separated: bool
    heavier: bool


def two_sample_tail_test(
    a: ArrayLike, b: ArrayLike, q: float = 0.9, alpha: float = 0.05
) -> TailComparison:
    """Pre-specified test that sample ``a`` has a heavier upper tail than ``b``.

    Rule (fixed before looking): (1) exceedance test: count points of each
    sample strictly above the pooled ``q``-quantile and apply Fisher's exact
    test, one-sided (a exceeds more often). Under H0 (a, b from one
    distribution) the labels are exchangeable given the pooled sample, so the
    counts are hypergeometric and the test is exact even though the threshold
    is data-derived. (2) quantile separation: the exact ``1 - alpha`` two-sided
    order-statistic CIs of the two ``q``-quantiles do not overlap, a above b.
    Declare "heavier" only if both hold; (2) makes the decision conservative
    and guards against a difference that is only in the bulk near the threshold.
    """
    xa, xb = censored_1d(a, "a"), censored_1d(b, "b")
    if xa.size == 0 or xb.size == 0:
        raise ValueError("both samples must be non-empty")
    thr = sample_quantile(np.sort(np.concatenate([xa, xb])), q)
    ka, kb = int(np.sum(xa > thr)), int(np.sum(xb > thr))
    table = [[ka, xa.size - ka], [kb, xb.size - kb]]
    odds, p = sps.fisher_exact(table, alternative="greater")
    ca, cb = quantile_ci(xa, q, 1.0 - alpha), quantile_ci(xb, q, 1.0 - alpha)
    separated = bool(ca.ci.low > cb.ci.high)
    return TailComparison(
        q=q, alpha=alpha, n_a=int(xa.size), n_b=int(xb.size), threshold=thr, exceed_a=ka,
        exceed_b=kb, rate_a=ka / xa.size, rate_b=kb / xb.size, statistic=float(odds),
        pvalue=float(p), quantile_a=ca.estimate, quantile_b=cb.estimate, ci_a=ca.ci,
        ci_b=cb.ci, ci_separated=separated, heavier=bool(p < alpha and separated))


def tail_summary(x: ArrayLike, seed: int = 0) -> dict:
    """Tail parameter of a per-run metric on its excess over the median.

    Girard's theta_hat (``k`` = 5% of the excesses) with its asymptotic CI, Hill's index,
    and :func:`clipasgd.tails.theta_drift` (theta_hat at a fixed ``k`` on nested subsamples):
    an upward drift with the number of runs is the mark of a power-law tail. Censored runs
    are left out (``n_censored`` says how many; that biases theta_hat down).
    """
    from ..tails import MIN_POINTS, hill, theta_drift, weibull_tail  # scipy.stats: on use

    x = censored_1d(x, "x")
    fin = x[np.isfinite(x)]
    excess = fin - np.median(fin)
    excess = excess[excess > 0]
    out: dict = {"n_excess": int(excess.size), "n_censored": int(np.isinf(x).sum())}
    if excess.size < 2 * MIN_POINTS:
        return out | {"reason": "too few runs above the median"}
    fit = weibull_tail(excess)
    h = hill(excess)
    out |= {"girard_theta": fit.theta, "girard_ci": (fit.ci_low, fit.ci_high), "k": fit.k,
            "hill_alpha": h.alpha, "hill_ci": (h.ci_low, h.ci_high)}
    n = excess.size
    sizes = [m for m in (n // 16, n // 8, n // 4, n // 2, n) if m >= 2 * MIN_POINTS]
    if len(sizes) >= 2:
        dr = theta_drift(excess, sizes=sizes, rng=seed)
        out |= {"drift": {"sizes": dr.sizes.tolist(), "theta": dr.theta.tolist(), "k": dr.k,
                          "slope": dr.slope, "se": dr.se, "p_upward": dr.p_value}}
    return out
