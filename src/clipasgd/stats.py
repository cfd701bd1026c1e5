"""Statistics behind every claim verdict (see PAPER.md section 5, METHODS.md).

Plain functions over arrays in the style of :mod:`scipy.stats`. Each returns a
small frozen dataclass whose ``to_dict()`` is JSON-ready: numpy scalars become
Python numbers and non-finite floats (``inf``/``nan``) become ``None``, so
``json.dumps(..., allow_nan=False)`` never fails; flags such as
``QuantileCI.upper_bounded`` keep the information an infinite bound carried.

Conventions
-----------
* Slopes (``slope_fit``, ``censored_slope_fit``) carry ``df``: the degrees of
  freedom of the t reference distribution (``inf`` means normal). Every test
  built on a fit (``tost_slope``) uses the same reference, so a CI and its
  p-values always agree.
* Quantile intervals are exact and distribution-free (order statistics and the
  binomial law), never bootstrapped: percentile bootstraps under-cover extreme
  quantiles.
* Verdict strings are ``"supported"``, ``"refuted"``, ``"inconclusive"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy import stats as sps

from .provenance import to_jsonable
from .tails import MIN_POINTS, hill, theta_drift, weibull_tail

Alternative = Literal["two-sided", "less", "greater"]
Verdict = Literal["supported", "refuted", "inconclusive"]

__all__ = [
    "MeanCI",
    "mean_ci",
    "ProportionDifference",
    "proportion_difference",
    "KMeanInterval",
    "k_mean_interval",
    "BinomialResult",
    "CurvePoint",
    "Equivalence",
    "GrowthFit",
    "GrowthRatio",
    "GrowthTest",
    "growth_test",
    "QuantileCI",
    "QuantileGrowth",
    "QuantileRatio",
    "SlopeFit",
    "Speedup",
    "TailComparison",
    "censored_slope_fit",
    "equivalence_verdict",
    "exceedance_check",
    "exceedance_test",
    "fit_gamma",
    "growth_fit",
    "growth_ratio",
    "growth_reading",
    "polylog_growth_fit",
    "quantile_box",
    "quantile_ci",
    "quantile_curve",
    "quantile_ratio",
    "runs_for_exceedance_power",
    "runs_for_two_sided_quantile_ci",
    "speedup",
    "tail_summary",
    "slope_fit",
    "tost_slope",
    "two_sample_tail_test",
]


# --------------------------------------------------------------------------- helpers


class _Result:
    """Mixin giving frozen result dataclasses a JSON-ready ``to_dict`` and read-only
    mapping access (``r["gamma"]``, ``r.get("ci")``) for verdict code and details."""

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain JSON values; ``inf``/``nan`` become ``None``."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _with_constant(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The design matrix ``[1, x]`` of a straight-line fit."""
    return np.column_stack([np.ones_like(x), x])


def _as_1d(a: ArrayLike, name: str) -> NDArray[np.float64]:
    """Finite 1-D float array or ValueError."""
    arr = np.asarray(a, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _censored_1d(a: ArrayLike, name: str) -> NDArray[np.float64]:
    """1-D float array whose entries are finite or ``+inf`` (a run censored at its budget,
    or diverged: its value lies beyond everything observed); NaN and ``-inf`` are errors."""
    arr = np.asarray(a, dtype=float).ravel()
    if np.any(np.isnan(arr)) or np.any(arr == -np.inf):
        raise ValueError(f"{name} must be finite or +inf (censored), got NaN or -inf")
    return arr


def _sample_quantile(xs: NDArray[np.float64], q: float) -> float:
    """``numpy.quantile`` (linear) of sorted ``xs`` that may end in ``+inf``: ``inf`` when
    the interpolation touches a censored value, else exactly numpy's number."""
    n = xs.size
    if np.isfinite(xs[-1]):
        return float(np.quantile(xs, q))
    h = (n - 1) * q
    j = int(math.floor(h))
    if not np.isfinite(xs[j]) or (h > j and not np.isfinite(xs[min(j + 1, n - 1)])):
        return math.inf
    fin = xs[np.isfinite(xs)]
    return float(np.quantile(np.where(np.isfinite(xs), xs, fin.max()), q))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _ref_quantile(p: float, df: float) -> float:
    """Quantile of the t(df) reference, normal when df is infinite."""
    return float(sps.norm.ppf(p) if math.isinf(df) else sps.t.ppf(p, df))


def _ref_sf(z: float, df: float) -> float:
    """Survival function of the t(df) reference (normal when df is infinite)."""
    return float(sps.norm.sf(z) if math.isinf(df) else sps.t.sf(z, df))


# --------------------------------------------------------------------------- slopes


@dataclass(frozen=True)
class SlopeFit(_Result):
    """A straight-line fit ``y = intercept + slope * x`` with a CI for the slope.

    ``df`` is the t reference's degrees of freedom (``inf``: normal). The
    Theil-Sen fields are a robustness check (``nan`` where not computed).
    """

    slope: float
    intercept: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    n: int
    df: float
    method: str
    n_censored: int = 0
    theil_sen_slope: float = math.nan
    theil_sen_low: float = math.nan
    theil_sen_high: float = math.nan


def _theil_sen(x: NDArray, y: NDArray, level: float) -> tuple[float, float, float]:
    """Theil-Sen slope and its (Sen) CI; nan when x has a single value."""
    if np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    res = sps.theilslopes(y, x, alpha=level)
    return float(res.slope), float(res.low_slope), float(res.high_slope)


def slope_fit(x: ArrayLike, y: ArrayLike, level: float = 0.90) -> SlopeFit:
    """OLS of ``y`` on ``x`` with HC3 standard errors and a t(n-2) CI.

    HC3 (MacKinnon & White 1985) is the heteroskedasticity-robust covariance
    that behaves best in small samples; the t(n-2) reference is a further
    small-sample guard. Theil-Sen is attached as an outlier-robust check.
    Needs at least 3 points and two distinct x values.
    """
    _check_level(level)
    xa, ya = _as_1d(x, "x"), _as_1d(y, "y")
    if xa.size != ya.size or xa.size < 3 or np.ptp(xa) == 0:
        raise ValueError("need >= 3 paired points with at least two distinct x")
    counts = np.unique(xa, return_counts=True)[1]
    if counts.size == 2 and counts.min() == 1:
        raise ValueError("a point has leverage 1 (all other x are equal): HC3 undefined")
    from statsmodels.regression.linear_model import OLS  # 1 s to import: only where used

    res = OLS(ya, _with_constant(xa)).fit(cov_type="HC3", use_t=True)
    lo, hi = res.conf_int(alpha=1.0 - level)[1]
    ts, ts_lo, ts_hi = _theil_sen(xa, ya, level)
    return SlopeFit(
        slope=float(res.params[1]),
        intercept=float(res.params[0]),
        se=float(res.bse[1]),
        ci_low=float(lo),
        ci_high=float(hi),
        level=level,
        n=int(xa.size),
        df=float(xa.size - 2),
        method="ols-hc3",
        theil_sen_slope=ts,
        theil_sen_low=ts_lo,
        theil_sen_high=ts_hi,
    )


def _tobit_negloglik(
    params: NDArray, X: NDArray, y: NDArray, cens: NDArray
) -> tuple[float, NDArray]:
    """Right-censored Gaussian negative log-likelihood and its gradient.

    ``params = (beta..., log sigma)``. Uncensored points contribute the normal
    density of their residual, censored ones the log survival ``log P(Y > y)``.
    """
    beta, eta = params[:-1], params[-1]
    s = math.exp(eta)
    z = (y - X @ beta) / s
    zo, zc = z[~cens], z[cens]
    ll = -0.5 * np.sum(zo**2) - eta * zo.size + np.sum(sps.norm.logsf(zc))
    mills = np.exp(sps.norm.logpdf(zc) - sps.norm.logsf(zc))  # phi / (1 - Phi)
    g_beta = (X[~cens].T @ zo + X[cens].T @ mills) / s
    g_eta = np.sum(zo**2) - zo.size + np.sum(mills * zc)
    grad = np.append(g_beta, g_eta)
    return -(float(ll) - 0.5 * math.log(2 * math.pi) * zo.size), -grad


def _numeric_hessian(fun: Any, p: NDArray) -> NDArray:
    """Central-difference Hessian from an analytic gradient, symmetrised."""
    k = p.size
    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(p[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (fun(p + e)[1] - fun(p - e)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def censored_slope_fit(
    x: ArrayLike, y: ArrayLike, censored: ArrayLike, level: float = 0.90
) -> SlopeFit:
    """Tobit (right-censored Gaussian) ML regression of ``y`` on ``x``.

    For runs that hit the iteration budget, ``y`` holds the budget (log scale)
    and ``censored`` is True: the true value is only known to exceed ``y``.
    Dropping such runs or using their budget as the value biases the slope
    towards 0; the Tobit likelihood uses the censored points as ``P(Y > y)``.

    Method: maximise the likelihood over (intercept, slope, log sigma) with
    BFGS and an analytic gradient, starting from OLS. The slope's standard error
    comes from the observed information (numerical Hessian of the analytic
    gradient) times ``n / (n - 2)``, with a t(n-2) CI. With nothing censored the
    ML coefficients are the OLS coefficients and this SE equals the classical
    (non-robust) OLS SE exactly. Unlike ``slope_fit`` the SE is not robust to
    heteroskedasticity (a heteroskedastic Tobit model is itself misspecified).
    """
    _check_level(level)
    xa, ya = _as_1d(x, "x"), _as_1d(y, "y")
    cens = np.asarray(censored, dtype=bool).ravel()
    if not xa.size == ya.size == cens.size:
        raise ValueError("x, y, censored must have the same length")
    n_obs = int(np.sum(~cens))
    if n_obs < 3 or np.ptp(xa[~cens]) == 0:
        raise ValueError("need >= 3 uncensored points with at least two distinct x")
    X = _with_constant(xa)
    beta0, *_ = np.linalg.lstsq(X, ya, rcond=None)
    s0 = max(float(np.std(ya - X @ beta0)), 1e-8 * (1.0 + float(np.std(ya))))
    start = np.append(beta0, math.log(s0))

    def fun(p: NDArray) -> tuple[float, NDArray]:
        return _tobit_negloglik(p, X, ya, cens)

    opt = optimize.minimize(fun, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    # gtol is deliberately tight, so BFGS often stops on "precision loss" at the
    # optimum; judge convergence by the gradient itself instead of opt.success.
    if not np.all(np.isfinite(opt.x)) or np.max(np.abs(opt.jac)) > 1e-5 * xa.size:
        raise RuntimeError(f"Tobit fit did not converge: {opt.message}")
    n = xa.size
    cov = np.linalg.inv(_numeric_hessian(fun, opt.x)) * n / (n - 2)
    se = math.sqrt(max(cov[1, 1], 0.0))
    df = float(n - 2)
    half = _ref_quantile(0.5 + level / 2, df) * se
    slope = float(opt.x[1])
    ts = _theil_sen(xa, ya, level) if not cens.any() else (math.nan,) * 3
    return SlopeFit(
        slope=slope,
        intercept=float(opt.x[0]),
        se=se,
        ci_low=slope - half,
        ci_high=slope + half,
        level=level,
        n=int(n),
        df=df,
        method="tobit-right-censored",
        n_censored=int(cens.sum()),
        theil_sen_slope=ts[0],
        theil_sen_low=ts[1],
        theil_sen_high=ts[2],
    )


# --------------------------------------------------------------------------- equivalence


@dataclass(frozen=True)
class Equivalence(_Result):
    """TOST of ``|slope| < margin``: CI at ``level = 1 - 2 alpha`` and p-values.

    ``p_lower`` tests H0 slope <= -margin, ``p_upper`` H0 slope >= +margin;
    ``pvalue`` is their maximum and ``equivalent`` is ``pvalue < alpha``
    (equivalently, the CI lies strictly inside the margin).
    """

    slope: float
    se: float
    df: float
    margin: float
    alpha: float
    level: float
    ci_low: float
    ci_high: float
    p_lower: float
    p_upper: float
    pvalue: float
    equivalent: bool
    verdict: str


def equivalence_verdict(ci_low: float, ci_high: float, margin: float) -> Verdict:
    """Three-way verdict from a CI and an equivalence margin.

    ``"supported"`` if the CI lies strictly inside ``(-margin, margin)``;
    ``"refuted"`` if it lies strictly beyond one side (the effect is
    significantly larger than the margin); ``"inconclusive"`` otherwise,
    including CIs that merely touch a margin.
    """
    if margin <= 0:
        raise ValueError("margin must be positive")
    if ci_low > ci_high:
        raise ValueError("ci_low must not exceed ci_high")
    if -margin < ci_low and ci_high < margin:
        return "supported"
    if ci_low > margin or ci_high < -margin:
        return "refuted"
    return "inconclusive"


def _one_sided_p(stat_num: float, se: float, df: float) -> float:
    """P(T >= stat_num / se) under the reference; a point mass when se == 0."""
    if se == 0.0:
        return 0.0 if stat_num > 0 else 1.0
    return _ref_sf(stat_num / se, df)


def tost_slope(fit: SlopeFit, margin: float, alpha: float = 0.05) -> Equivalence:
    """Two one-sided tests that ``|slope| < margin`` at level ``alpha``.

    Uses the fit's slope, SE and reference distribution (t with ``fit.df``, or
    normal), so the decision equals "the (1 - 2 alpha) CI lies inside
    (-margin, margin)". The three-way ``verdict`` applies
    :func:`equivalence_verdict` to that CI (refuted = the slope is significantly
    beyond the margin at one-sided level ``alpha``). The margin must be fixed in
    the configuration before looking at data.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError("alpha must lie in (0, 0.5)")
    half = _ref_quantile(1.0 - alpha, fit.df) * fit.se
    lo, hi = fit.slope - half, fit.slope + half
    p_lower = _one_sided_p(fit.slope + margin, fit.se, fit.df)
    p_upper = _one_sided_p(margin - fit.slope, fit.se, fit.df)
    pvalue = max(p_lower, p_upper)
    return Equivalence(
        slope=fit.slope,
        se=fit.se,
        df=fit.df,
        margin=margin,
        alpha=alpha,
        level=1.0 - 2.0 * alpha,
        ci_low=lo,
        ci_high=hi,
        p_lower=p_lower,
        p_upper=p_upper,
        pvalue=pvalue,
        equivalent=bool(pvalue < alpha),
        verdict=equivalence_verdict(lo, hi, margin),
    )


# --------------------------------------------------------------------------- quantiles


@dataclass(frozen=True)
class QuantileCI(_Result):
    """Exact order-statistic CI ``[X_(lower_rank), X_(upper_rank)]`` for a quantile.

    Ranks are 1-based; an unbounded side has bound ``-inf``/``+inf``, rank
    ``None`` and its ``*_bounded`` flag False. ``coverage`` is the exact
    distribution-free coverage probability for continuous data (>= level).
    """

    q: float
    level: float
    alternative: str
    n: int
    estimate: float
    lower: float
    upper: float
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
    _check_level(level)
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    xs = np.sort(_censored_1d(x, "x"))
    n = xs.size
    if n == 0:
        raise ValueError("x is empty")
    r, s = _ranks(n, q, level, alternative)
    lo_ok, hi_ok = r >= 1, s <= n
    b = sps.binom(n, q)
    cover = (1.0 - (b.cdf(r - 1) if lo_ok else 0.0)) - (b.sf(s - 1) if hi_ok else 0.0)
    return QuantileCI(
        q=q,
        level=level,
        alternative=alternative,
        n=n,
        estimate=_sample_quantile(xs, q),
        lower=float(xs[r - 1]) if lo_ok else -math.inf,
        upper=float(xs[s - 1]) if hi_ok else math.inf,
        lower_rank=r if lo_ok else None,
        upper_rank=s if hi_ok else None,
        lower_bounded=bool(lo_ok),
        upper_bounded=bool(hi_ok),
        coverage=float(cover),
    )


# --------------------------------------------------------------------------- run counts


def runs_for_two_sided_quantile_ci(q: float, level: float = 0.95) -> int:
    """Smallest R for which the equal-tailed exact ``q``-quantile CI is bounded.

    Needs ``max(q, 1 - q)^R <= (1 - level) / 2`` (the extreme order statistic
    must suffice for the far tail): 368 for the 0.99-quantile at 95%.
    """
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    _check_level(level)
    p = max(q, 1.0 - q)
    r = int(math.ceil(math.log((1.0 - level) / 2.0) / math.log(p) - 1e-9))
    while _ranks(r, q, level, "two-sided")[1] > r or _ranks(r, q, level, "two-sided")[0] < 1:
        r += 1  # guard against rounding in the closed form
    return r


def _exceedance_power(R: NDArray, delta: float, ratio: float, alpha: float) -> NDArray:
    """Power of the exact one-sided binomial test of rate delta at rate ratio*delta.

    Rejects when the failure count ``k >= c`` with ``c`` the smallest count whose
    null tail ``P(B >= c) <= alpha``.
    """
    crit = sps.binom.isf(alpha, R, delta) + 1
    return sps.binom.sf(crit - 1, R, min(ratio * delta, 1.0))


def runs_for_exceedance_power(
    delta: float,
    ratio: float = 2.0,
    power: float = 0.8,
    alpha: float = 0.05,
    stable: bool = False,
) -> int:
    """Smallest R at which the exact binomial test of rate ``delta`` has ``power``
    against the rate ``ratio * delta``.

    Exact power saw-tooths in R (the critical count is an integer), so with
    ``stable=True`` the answer is the smallest R beyond which power never drops
    below the target again (checked up to 4x the first such R). For
    delta = 0.01, ratio 2, 80% power, alpha 0.05: 905 (first), 1015 (stable);
    METHODS.md quotes ~910.
    """
    if not (0.0 < delta < 1.0 and ratio > 1.0 and 0.0 < power < 1.0):
        raise ValueError("need 0 < delta < 1, ratio > 1, 0 < power < 1")
    hi = 64
    while True:
        R = np.arange(1, hi + 1)
        ok = _exceedance_power(R, delta, ratio, alpha) >= power
        if ok.any():
            first = int(R[np.argmax(ok)])
            if not stable:
                return first
            R = np.arange(1, 4 * first + 1)
            bad = np.nonzero(_exceedance_power(R, delta, ratio, alpha) < power)[0]
            return int(R[bad[-1]] + 1)
        if hi > 10**8:
            raise RuntimeError("no run count up to 1e8 reaches the requested power")
        hi *= 4


# --------------------------------------------------------------------------- binomial


@dataclass(frozen=True)
class BinomialResult(_Result):
    """Exact binomial test of a failure rate against ``delta``.

    The Clopper-Pearson CI has the same sidedness as the test (for
    ``"greater"``: ``[ci_low, 1]``), so ``reject`` iff delta lies outside it.
    """

    n_fail: int
    n: int
    delta: float
    rate: float
    alternative: str
    pvalue: float
    alpha: float
    reject: bool
    ci_low: float
    ci_high: float
    level: float


def exceedance_test(
    n_fail: int,
    n: int,
    delta: float,
    alternative: Alternative = "greater",
    alpha: float = 0.05,
) -> BinomialResult:
    """Exact binomial test that the failure probability exceeds ``delta``.

    ``n_fail`` of ``n`` runs missed their target; H0 is rate ``delta`` (for
    ``"greater"``: rate <= delta). Returns the exact p-value and Clopper-Pearson
    CI at ``1 - alpha``. The test is conservative (size <= alpha).
    """
    if not 0 <= n_fail <= n or n < 1:
        raise ValueError("need 0 <= n_fail <= n and n >= 1")
    res = sps.binomtest(int(n_fail), int(n), delta, alternative=alternative)
    ci = res.proportion_ci(confidence_level=1.0 - alpha, method="exact")
    return BinomialResult(
        n_fail=int(n_fail),
        n=int(n),
        delta=delta,
        rate=n_fail / n,
        alternative=alternative,
        pvalue=float(res.pvalue),
        alpha=alpha,
        reject=bool(res.pvalue < alpha),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        level=1.0 - alpha,
    )


# --------------------------------------------------------------------------- growth laws


@dataclass(frozen=True)
class GrowthFit(_Result):
    """Fit of ``Q(delta) = a + b * log(1/delta)^gamma`` plus a power-law rival.

    ``gamma_ci`` is a profile interval (see :func:`polylog_growth_fit`);
    ``gamma_ci_at_bound`` flags an interval cut by the ``gamma_bounds``.
    The rival is ``Q = power_a * (1/delta)^power_beta``. ``rss`` values are
    (weighted) residual sums of squares on the same scale; ``aic`` values use
    ``n log(rss / n) + 2 k`` (k = 3 and 2), lower is better.
    """

    a: float
    b: float
    gamma: float
    gamma_ci_low: float
    gamma_ci_high: float
    gamma_ci_at_bound: bool
    level: float
    n: int
    rss: float
    aic: float
    power_a: float
    power_beta: float
    power_rss: float
    power_aic: float


def _linear_in_ab(L: NDArray, Q: NDArray, w: NDArray, gamma: float) -> tuple[NDArray, float]:
    """Weighted LS of Q on (1, L^gamma): coefficients (a, b) and the RSS."""
    sw = np.sqrt(w)
    A = np.column_stack([np.ones_like(L), L**gamma]) * sw[:, None]
    coef, *_ = np.linalg.lstsq(A, Q * sw, rcond=None)
    return coef, float(np.sum((A @ coef - Q * sw) ** 2))


def _aic(rss: float, n: int, k: int) -> float:
    """Gaussian AIC up to a constant; rss floored so exact fits stay finite."""
    return n * math.log(max(rss, 1e-300) / n) + 2 * k


def _power_law_fit(inv: NDArray, Q: NDArray, w: NDArray) -> tuple[float, float, float]:
    """Weighted NLS of ``Q = a * inv^beta`` started from the log-log OLS fit."""
    pos = Q > 0
    if pos.sum() >= 2:
        beta0, loga0 = np.polyfit(np.log(inv[pos]), np.log(Q[pos]), 1)
    else:
        beta0, loga0 = 0.0, math.log(max(float(np.mean(np.abs(Q))), 1e-12))
    sw = np.sqrt(w)

    def resid(p: NDArray) -> NDArray:
        return (p[0] * inv ** p[1] - Q) * sw

    sol = optimize.least_squares(resid, [math.exp(loga0), beta0], method="lm")
    return float(sol.x[0]), float(sol.x[1]), float(np.sum(sol.fun**2))


def polylog_growth_fit(
    deltas: ArrayLike,
    quantiles: ArrayLike,
    sigma: ArrayLike | None = None,
    level: float = 0.90,
    gamma_bounds: tuple[float, float] = (0.05, 10.0),
    grid_size: int = 400,
) -> GrowthFit:
    """Fit how a (1 - delta)-quantile grows as delta shrinks (T4.3's log(1/delta)^gamma).

    Nonlinear least squares by variable projection: for fixed gamma the model is
    linear in (a, b), so the profile RSS(gamma) is scanned on a log-spaced grid
    over ``gamma_bounds`` and refined with a bounded scalar minimiser. ``sigma``
    (e.g. half-widths of the quantile CIs) gives weights ``1 / sigma^2``.

    Interval for gamma: profile F interval
    ``{gamma : RSS(gamma) <= RSS_min * (1 + F_{1, n-3}(level) / (n - 3))}``, the
    standard likelihood-ratio-type interval for one nonlinear parameter; it is
    reported as the grid points inside that set (so its resolution is the grid
    spacing). It assumes independent errors across deltas; quantiles of one sample
    at neighbouring deltas are correlated, so it under-covers there (measured 44-65%
    at nominal 90%): for one sample's quantile curve prefer a run-level bootstrap, as
    the high-probability claim does. Needs at least 4 deltas. A power law
    ``a (1/delta)^beta`` is fitted for comparison: METHODS.md warns the two shapes are
    hard to tell apart.
    """
    _check_level(level)
    d, Q = _as_1d(deltas, "deltas"), _as_1d(quantiles, "quantiles")
    if d.size != Q.size or d.size < 4:
        raise ValueError("need >= 4 (delta, quantile) pairs")
    if np.any((d <= 0) | (d >= 1)):
        raise ValueError("deltas must lie in (0, 1)")
    w = np.ones_like(Q) if sigma is None else 1.0 / _as_1d(sigma, "sigma") ** 2
    L = np.log(1.0 / d)
    lo_g, hi_g = gamma_bounds
    grid = np.geomspace(lo_g, hi_g, grid_size)
    prof = np.array([_linear_in_ab(L, Q, w, g)[1] for g in grid])
    i = int(np.argmin(prof))
    br = (grid[max(i - 1, 0)], grid[min(i + 1, grid_size - 1)])
    opt = optimize.minimize_scalar(
        lambda g: _linear_in_ab(L, Q, w, g)[1],
        bounds=br,
        method="bounded",
        options={"xatol": 1e-10},
    )
    gamma = float(opt.x) if opt.fun <= prof[i] else float(grid[i])
    (a, b), rss = _linear_in_ab(L, Q, w, gamma)
    n = d.size
    cut = rss * (1.0 + sps.f.ppf(level, 1, n - 3) / (n - 3))
    inside = grid[prof <= cut]
    g_lo = min(float(inside.min()), gamma) if inside.size else gamma
    g_hi = max(float(inside.max()), gamma) if inside.size else gamma
    pa, pb, prss = _power_law_fit(1.0 / d, Q, w)
    return GrowthFit(
        a=float(a),
        b=float(b),
        gamma=gamma,
        gamma_ci_low=g_lo,
        gamma_ci_high=g_hi,
        gamma_ci_at_bound=bool(prof[0] <= cut or prof[-1] <= cut),
        level=level,
        n=int(n),
        rss=rss,
        aic=_aic(rss, n, 3),
        power_a=pa,
        power_beta=pb,
        power_rss=prss,
        power_aic=_aic(prss, n, 2),
    )


# --------------------------------------------------------------------------- multiplicity


# --------------------------------------------------------------------------- tails


@dataclass(frozen=True)
class TailComparison(_Result):
    """Is the upper tail of sample a heavier than that of sample b?

    ``threshold`` is the pooled ``q``-quantile; ``exceed_*`` count points
    strictly above it; ``statistic`` is Fisher's sample odds ratio and
    ``pvalue`` its one-sided exact p-value. ``ci_separated`` says the exact
    ``q``-quantile CIs do not overlap (a's above b's). ``heavier`` is the
    decision: ``pvalue < alpha`` AND ``ci_separated``.
    """

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
    ci_a_low: float
    ci_a_high: float
    ci_b_low: float
    ci_b_high: float
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
    xa, xb = _censored_1d(a, "a"), _censored_1d(b, "b")
    if xa.size == 0 or xb.size == 0:
        raise ValueError("both samples must be non-empty")
    thr = _sample_quantile(np.sort(np.concatenate([xa, xb])), q)
    ka, kb = int(np.sum(xa > thr)), int(np.sum(xb > thr))
    table = [[ka, xa.size - ka], [kb, xb.size - kb]]
    odds, p = sps.fisher_exact(table, alternative="greater")
    ca, cb = quantile_ci(xa, q, 1.0 - alpha), quantile_ci(xb, q, 1.0 - alpha)
    separated = bool(ca.lower > cb.upper)
    return TailComparison(
        q=q,
        alpha=alpha,
        n_a=int(xa.size),
        n_b=int(xb.size),
        threshold=thr,
        exceed_a=ka,
        exceed_b=kb,
        rate_a=ka / xa.size,
        rate_b=kb / xb.size,
        statistic=float(odds),
        pvalue=float(p),
        quantile_a=ca.estimate,
        quantile_b=cb.estimate,
        ci_a_low=ca.lower,
        ci_a_high=ca.upper,
        ci_b_low=cb.lower,
        ci_b_high=cb.upper,
        ci_separated=separated,
        heavier=bool(p < alpha and separated),
    )


# --------------------------------------------------------------------------- quantile curves
# Statistics of high-probability claims: (1 - delta)-quantiles of a per-run metric over
# independent runs, censored runs entering as +inf (never dropped).

GAMMA_GRID = np.geomspace(0.05, 10.0, 600)
BOOT_BLOCK = 4_000_000  # bootstrap resamples x runs per block: bounds memory


@dataclass(frozen=True)
class CurvePoint(QuantileCI):
    """A :class:`QuantileCI` of the ``(1 - delta)``-quantile, labelled by ``delta``."""

    delta: float


def quantile_box(x: ArrayLike, q: float, level: float, floor: float) -> QuantileCI:
    """Exact two-sided CI of the ``q``-quantile of a sample with ``+inf`` (censored) runs:
    an upper bound at a censored rank is ``inf``; a lower bound there is ``floor`` (the
    horizon: a censored run's true value exceeds it)."""
    ci = quantile_ci(x, q, level)
    return replace(ci, lower=floor) if math.isinf(ci.lower) and ci.lower > 0 else ci


def quantile_curve(x: ArrayLike, deltas: Sequence[float], level: float, floor: float
                   ) -> list[CurvePoint]:
    """``(1 - delta)``-quantile and its exact CI for every ``delta``."""
    return [CurvePoint(**{f.name: getattr(b, f.name) for f in fields(b)}, delta=d)
            for d in deltas for b in [quantile_box(x, 1 - d, level, floor)]]


def fit_gamma(deltas: ArrayLike, Q: ArrayLike, w: ArrayLike
              ) -> tuple[NDArray, NDArray, NDArray]:
    """Weighted least squares of ``Q = a + b L^gamma`` (``L = log(1/delta)``) for every row
    of ``Q`` (shape ``(B, n)``): ``gamma`` minimises the RSS over :data:`GAMMA_GRID`
    (resolution 0.9%), ``(a, b)`` are linear given ``gamma``. Returns ``(gamma, a, b)``."""
    Q = np.atleast_2d(np.asarray(Q, float))
    w = np.asarray(w, float)
    X = np.log(1.0 / np.asarray(deltas, float))[None, :] ** GAMMA_GRID[:, None]  # (G, n)
    sw, swx, swxx = w.sum(), X @ w, (X * X) @ w
    swq, swqq, swxq = Q @ w, (Q * Q) @ w, Q @ (X * w).T  # (B,), (B,), (B, G)
    b = (sw * swxq - swx[None, :] * swq[:, None]) / (sw * swxx - swx**2)[None, :]
    a = (swq[:, None] - b * swx[None, :]) / sw
    rss = swqq[:, None] - a * swq[:, None] - b * swxq
    i = np.argmin(rss, axis=1)
    rows = np.arange(Q.shape[0])
    return GAMMA_GRID[i], a[rows, i], b[rows, i]


def _fit_weights(curve: list[CurvePoint], level: float) -> tuple[NDArray, NDArray, NDArray]:
    """The deltas with a finite estimate and CI, their estimates and LS weights."""
    z = sps.norm.ppf(0.5 + level / 2)
    ok = [c for c in curve if math.isfinite(c.estimate) and math.isfinite(c.upper)]
    d = np.array([c.delta for c in ok])
    Q = np.array([c.estimate for c in ok])
    sd = np.array([(c.upper - c.lower) / (2 * z) for c in ok])
    pos = sd[sd > 0]
    sd = np.maximum(sd, 0.05 * (np.median(pos) if pos.size else 1.0))  # ties: no zero width
    return d, Q, 1.0 / sd**2


@dataclass(frozen=True)
class QuantileGrowth(_Result):
    """Growth exponent ``gamma`` of a quantile curve ``Q(delta) = a + b log(1/delta)^gamma``
    with a run-level bootstrap interval; ``gamma``/``ci`` are ``None`` (with ``reason``)
    when fewer than 4 quantiles are finite."""

    curve: list[CurvePoint]
    n_runs: int
    n_censored: int
    deltas_fitted: list[float]
    level: float
    gamma: float | None = None
    ci: tuple[float, float] | None = None
    a: float | None = None
    b: float | None = None
    at_bound: bool | None = None
    n_boot: int | None = None
    aic_polylog: float | None = None
    aic_power: float | None = None
    power_beta: float | None = None
    power_a: float | None = None
    reason: str | None = None


def growth_fit(x: ArrayLike, deltas: Sequence[float], level: float, n_boot: int, alpha: float,
               rng: np.random.Generator, floor: float) -> QuantileGrowth:
    """Growth exponent ``gamma`` of the quantile curve with a bootstrap interval.

    Point estimate: :func:`fit_gamma` on the deltas whose quantile and CI are finite (at
    least 4). Interval: resample the runs with replacement ``n_boot`` times, recompute the
    quantiles at those deltas (censored runs enter the fit at twice the horizon ``floor``:
    a conservative stand-in that can only raise ``gamma``), refit with the same weights;
    the ``alpha`` and ``1 - alpha`` percentiles. The profile interval of
    :func:`polylog_growth_fit` treats neighbouring quantiles as independent and
    under-covers; the bootstrap of the whole curve keeps their dependence. ``at_bound``
    flags an estimate or interval end on the edge of :data:`GAMMA_GRID`.
    """
    x = _censored_1d(x, "x")
    curve = quantile_curve(x, deltas, level, floor)
    d, Q, w = _fit_weights(curve, level)
    base = {"curve": curve, "n_runs": int(x.size), "n_censored": int(np.isinf(x).sum()),
            "deltas_fitted": d.tolist(), "level": 1 - 2 * alpha}
    if d.size < 4:
        return QuantileGrowth(**base, reason=f"only {d.size} finite quantiles")
    g, a, b = fit_gamma(d, Q, w)
    xs = np.where(np.isfinite(x), x, 2 * floor)
    boots = []
    block = max(1, BOOT_BLOCK // x.size)
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        Qb = np.quantile(xs[rng.integers(0, x.size, (m, x.size))], 1 - d, axis=1).T
        boots.append(fit_gamma(d, Qb, w)[0])
    gb = np.concatenate(boots)
    lo, hi = (float(v) for v in np.quantile(gb, [alpha, 1 - alpha]))
    edge = (GAMMA_GRID[0] * 1.001, GAMMA_GRID[-1] / 1.001)
    rival = polylog_growth_fit(d, Q, sigma=1 / np.sqrt(w))
    return QuantileGrowth(**base, gamma=float(g[0]), a=float(a[0]), b=float(b[0]),
                          ci=(lo, hi), at_bound=bool(lo <= edge[0] or hi >= edge[1]),
                          n_boot=int(n_boot), aic_polylog=rival.aic, aic_power=rival.power_aic,
                          power_beta=rival.power_beta, power_a=rival.power_a)


def exceedance_check(x: ArrayLike, deltas: Sequence[float], exc_deltas: Sequence[float],
                     level: float, alpha: float, floor: float) -> list[dict]:
    """Horizon from the curve fitted on the even-numbered runs, failures among the odd ones.

    The calibration fit uses the deltas ``>= 10 / n_cal``; for each ``delta`` in
    ``exc_deltas`` the horizon is ``T* = a + b log(1/delta)^gamma`` and a hold-out run fails
    when its metric exceeds ``T*`` (censored runs always fail). Exact one-sided binomial test
    of ``rate <= delta`` (conditional on the fitted horizon, so it over-rejects a little).
    """
    x = _censored_1d(x, "x")
    cal, hold = x[0::2], x[1::2]
    usable = [d for d in deltas if d >= 10 / cal.size * (1 - 1e-9)]
    d, Q, w = _fit_weights(quantile_curve(cal, usable, level, floor), level)
    if d.size < 4:
        return [{"delta": e, "reason": f"only {d.size} finite calibration quantiles"}
                for e in exc_deltas]
    g, a, b = (float(v[0]) for v in fit_gamma(d, Q, w))
    out = []
    for e in exc_deltas:
        t_star = a + b * math.log(1 / e) ** g
        fails = int(np.sum(hold > t_star))
        test = exceedance_test(fails, hold.size, e, alternative="greater", alpha=alpha)
        out.append({"delta": e, "horizon": t_star, "n_calibration": int(cal.size),
                    "fit": {"a": a, "b": b, "gamma": g}, **test.to_dict()})
    return out


def tail_summary(x: ArrayLike, seed: int = 0) -> dict:
    """Tail parameter of a per-run metric on its excess over the median.

    Girard's theta_hat (``k`` = 5% of the excesses) with its asymptotic CI, Hill's index,
    and :func:`clipasgd.tails.theta_drift` (theta_hat at a fixed ``k`` on nested subsamples):
    an upward drift with the number of runs is the mark of a power-law tail. Censored runs
    are left out (``n_censored`` says how many; that biases theta_hat down).
    """
    x = _censored_1d(x, "x")
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


# --------------------------------------------------------------------------- one-sided growth


@dataclass(frozen=True)
class GrowthRatio(_Result):
    """``rho = max_k Q_k / Q_0``: how far the ``q``-quantile of a metric rises above its value
    at the first grid point (the smallest ``tau_max``), for an upper bound free of that axis.

    The maximum includes ``k = 0``, so ``rho >= 1``: a falling curve reads 1 and a bump
    anywhere on the grid counts, whatever the curve's shape. Interval: every quantile's
    exact two-sided CI at ``box_level = 1 - 2 alpha / k`` (Bonferroni: all ``2k`` ends hold
    at once with probability ``>= 1 - 2 alpha``), ``lower = max_k L_k / U_0`` and
    ``upper = max_k U_k / L_0``. Censored runs are ``+inf``; a lower end at a censored rank
    is the horizon (:func:`quantile_box`).
    """

    q: float
    level: float
    box_level: float
    estimate: float
    lower: float
    upper: float
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
    lo = np.array([b.lower for b in boxes])
    hi = np.array([b.upper for b in boxes])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = est / est[0] if np.isfinite(est[0]) else np.full(k, np.nan)
        lower = float(np.max(lo) / hi[0]) if 0 < hi[0] < math.inf else math.nan
        upper = float(np.max(hi) / lo[0]) if lo[0] > 0 else math.inf
    ratio = np.where(np.isnan(ratio) & np.isinf(est), np.inf, ratio)
    j = int(np.nanargmax(ratio)) if not np.all(np.isnan(ratio)) else 0
    return GrowthRatio(q=q, level=1 - 2 * alpha, box_level=box_level,
                       estimate=float(np.nanmax(ratio)) if not np.all(np.isnan(ratio))
                       else math.nan, lower=lower, upper=upper, argmax=float(grid[j]),
                       points=[{"x": float(g), **b.to_dict()} for g, b in zip(grid, boxes,
                                                                              strict=True)])


@dataclass(frozen=True)
class GrowthTest(_Result):
    """:func:`growth_test`: the verdict of :func:`growth_reading`, the :class:`GrowthRatio`
    and the slope it read (``slope_ci`` ``None`` and ``slope_note`` saying why when no slope
    could be fitted: the ratio alone then cannot make the reading supported)."""

    verdict: Verdict
    ratio: GrowthRatio
    slope: float | None
    slope_ci: tuple[float, float] | None
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

    Reads :func:`growth_ratio` (monotonicity-free) and a slope with :func:`growth_reading`.
    The slope is the run-level Tobit fit of ``log metric`` (censored runs at their floor) on
    ``regressor`` (one value per point; default ``log grid``) at level ``1 - 2 alpha``,
    unless ``slope = (estimate, ci, method)`` supplies another (e.g. for a quantile other
    than the median)."""
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
                slope = (fit.slope, (fit.ci_low, fit.ci_high), fit.method)
            except (RuntimeError, ArithmeticError, ValueError) as err:  # e.g. identical runs
                note = str(err)
    est, ci, method = slope
    verdict = growth_reading((ratio.lower, ratio.upper), ci, ratio_margin, slope_margin)
    return GrowthTest(verdict=verdict, ratio=ratio, slope=est,
                      slope_ci=None if ci is None else (float(ci[0]), float(ci[1])),
                      slope_method=method, slope_note=note)


def growth_reading(ratio: tuple[float, float] | None, slope: tuple[float, float] | None,
                   ratio_margin: float, slope_margin: float) -> Verdict:
    """One-sided reading of "the metric does not grow along the grid" (an upper bound).

    ``ratio``: the interval of :class:`GrowthRatio` (monotonicity-free); ``slope``: a slope
    interval of log metric on log grid (``None`` when it could not be fitted). Supported iff
    ``ratio_hi <= ratio_margin`` and ``slope_hi <= slope_margin``; refuted iff
    ``ratio_lo > ratio_margin`` or ``slope_lo > slope_margin``; else inconclusive. A falling
    curve can never be refuted (``rho >= 1``, slope < 0), a non-monotone bump is caught by
    ``rho``, and a control that only gets faster reads supported (not refuted).
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


@dataclass(frozen=True)
class QuantileRatio(_Result):
    """``r = Q_a / Q_b`` of two samples' ``q``-quantiles with a joint ``1 - 2 alpha``
    interval from exact CIs at level ``1 - alpha`` each (Bonferroni). ``reading`` is
    ``"win"`` (``lower > margin``: a's quantile above b's), ``"lose"`` (``upper < 1 /
    margin``) or ``"tie"``."""

    q: float
    level: float
    estimate: float
    lower: float
    upper: float
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
        lo = ca.lower / cb.upper if cb.upper > 0 else math.nan
        hi = ca.upper / cb.lower if cb.lower > 0 else math.inf
    reading = "win" if lo > margin else "lose" if hi < 1 / margin else "tie"
    return QuantileRatio(q=q, level=1 - 2 * alpha, estimate=float(est), lower=float(lo),
                         upper=float(hi), quantile_a=ca, quantile_b=cb, margin=margin,
                         reading=reading)


# --------------------------------------------------------------------------- speedup


@dataclass(frozen=True)
class Speedup(_Result):
    """Ratio of median times to target, ``median(T_b) / median(T_a)`` (> 1: ``a`` faster).

    Runs that missed the target enter at the ``cap`` (censored, never dropped), so
    a median that is itself censored makes the ratio a bound: ``bound`` says which
    (``"lower"`` when only ``b``'s median sits at the cap, ``"upper"`` when only
    ``a``'s does, ``"undefined"`` when both do, else ``"exact"``). The interval is a
    percentile bootstrap over seeds, resampling each algorithm's runs independently.
    """

    ratio: float
    ci_low: float
    ci_high: float
    level: float
    median_a: float
    median_b: float
    n_a: int
    n_b: int
    censored_a: int
    censored_b: int
    cap: float
    bound: str
    n_boot: int


def speedup(
    times_a: ArrayLike,
    times_b: ArrayLike,
    cap: float,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
) -> Speedup:
    """Speedup of algorithm ``a`` over ``b`` from per-seed times to target.

    ``times_*`` hold one time per seed; ``inf``/``nan`` or anything ``>= cap``
    means the run missed the target and is censored at ``cap``.
    """
    _check_level(level)
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"cap must be finite and > 0, got {cap}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    ta, tb = (np.asarray(t, dtype=float).ravel() for t in (times_a, times_b))
    if ta.size == 0 or tb.size == 0:
        raise ValueError("times_a and times_b need at least one run each")
    if np.any(ta <= 0) or np.any(tb <= 0):
        raise ValueError("times to target must be > 0")
    ta, tb = (np.where(np.isnan(t) | (t >= cap), cap, t) for t in (ta, tb))
    med_a, med_b = float(np.median(ta)), float(np.median(tb))
    rng = np.random.default_rng(seed)
    boot_a = np.median(rng.choice(ta, size=(n_boot, ta.size)), axis=1)
    boot_b = np.median(rng.choice(tb, size=(n_boot, tb.size)), axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot_b / boot_a, [tail, 1.0 - tail])
    at_cap_a, at_cap_b = med_a >= cap, med_b >= cap
    bound = ("undefined" if at_cap_a and at_cap_b else "upper" if at_cap_a
             else "lower" if at_cap_b else "exact")
    return Speedup(ratio=med_b / med_a, ci_low=float(lo), ci_high=float(hi), level=level,
                   median_a=med_a, median_b=med_b, n_a=int(ta.size), n_b=int(tb.size),
                   censored_a=int(np.sum(ta >= cap)), censored_b=int(np.sum(tb >= cap)),
                   cap=float(cap), bound=bound, n_boot=int(n_boot))


# --------------------------------------------------------------------------- federated claims


@dataclass(frozen=True)
class MeanCI(_Result):
    """A mean with its t interval at two-sided ``level`` (each end one-sided ``(1+level)/2``)."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    n: int


def mean_ci(x: ArrayLike, level: float = 0.90) -> MeanCI:
    """Student-t interval of the mean of independent values (at least 2)."""
    _check_level(level)
    xa = _as_1d(x, "x")
    if xa.size < 2:
        raise ValueError("need at least 2 values for a mean interval")
    m, se = float(xa.mean()), float(xa.std(ddof=1) / math.sqrt(xa.size))
    h = float(sps.t.ppf(0.5 + level / 2, xa.size - 1)) * se
    return MeanCI(mean=m, se=se, ci_low=m - h, ci_high=m + h, level=level, n=int(xa.size))


@dataclass(frozen=True)
class ProportionDifference(_Result):
    """``p_a - p_b`` of two binomial samples with Newcombe's hybrid score interval."""

    k_a: int
    n_a: int
    k_b: int
    n_b: int
    p_a: float
    p_b: float
    difference: float
    ci_low: float
    ci_high: float
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
    _check_level(level)
    for k, n, name in ((k_a, n_a, "a"), (k_b, n_b, "b")):
        if not (int(n) >= 1 and 0 <= int(k) <= int(n)):
            raise ValueError(f"sample {name}: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    pa, pb = k_a / n_a, k_b / n_b
    la, ua = _wilson(k_a, n_a, level)
    lb, ub = _wilson(k_b, n_b, level)
    d = pa - pb
    return ProportionDifference(
        k_a=int(k_a), n_a=int(n_a), k_b=int(k_b), n_b=int(n_b), p_a=pa, p_b=pb, difference=d,
        ci_low=d - math.hypot(pa - la, ub - pb), ci_high=d + math.hypot(ua - pa, pb - lb),
        level=level)


@dataclass(frozen=True)
class KMeanInterval(_Result):
    """Where the mean of ``k`` fresh runs falls, from ``n`` single runs: ``mean +- q sqrt(
    sd^2/k + sd^2/n) + slack`` (the spread of a ``k``-run mean plus the error of our mean;
    ``slack`` covers rounding of the compared value)."""

    mean: float
    sd: float
    k: int
    n: int
    low: float
    high: float
    level: float


def k_mean_interval(x: ArrayLike, k: int, level: float, slack: float = 0.0) -> KMeanInterval:
    """Prediction interval for a ``k``-run mean (t quantile, ``n - 1`` df): a reported
    ``k``-seed average outside it is incompatible with the runs' model at ``level``."""
    _check_level(level)
    xa = _as_1d(x, "x")
    if xa.size < 2 or int(k) < 1:
        raise ValueError("need at least 2 runs and k >= 1")
    m, sd = float(xa.mean()), float(xa.std(ddof=1))
    h = float(sps.t.ppf(0.5 + level / 2, xa.size - 1)) * sd * math.sqrt(1 / k + 1 / xa.size)
    return KMeanInterval(mean=m, sd=sd, k=int(k), n=int(xa.size), low=m - h - slack,
                         high=m + h + slack, level=level)
