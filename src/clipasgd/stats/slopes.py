"""Straight-line fits with a slope interval: OLS with HC3 errors, and Tobit for censored runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..lazy import LazyModule
from ._core import Interval, _Result, as_1d, check_level, ref_quantile, with_constant

sps = LazyModule("scipy.stats")  # imported at first use
optimize = LazyModule("scipy.optimize")  # likewise

_NO_INTERVAL = Interval(math.nan, math.nan)


@dataclass(frozen=True)
class SlopeFit(_Result):
    """A straight-line fit ``y = intercept + slope * x`` with a CI for the slope.

    ``df`` is the t reference's degrees of freedom (``inf``: normal). The
    Theil-Sen fields are a robustness check (``nan`` where not computed).
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {
        "ci": ("ci_low", "ci_high"), "theil_sen_ci": ("theil_sen_low", "theil_sen_high")}

    slope: float
    intercept: float
    se: float
    ci: Interval
    level: float
    n: int
    df: float
    method: str
    n_censored: int = 0
    theil_sen_slope: float = math.nan
    theil_sen_ci: Interval = _NO_INTERVAL


def _theil_sen(x: NDArray, y: NDArray, level: float) -> tuple[float, Interval]:
    """Theil-Sen slope and its (Sen) CI; nan when x has a single value."""
    if np.ptp(x) == 0:
        return math.nan, _NO_INTERVAL
    res = sps.theilslopes(y, x, alpha=level)
    return float(res.slope), Interval(float(res.low_slope), float(res.high_slope))


def slope_fit(x: ArrayLike, y: ArrayLike, level: float = 0.90) -> SlopeFit:
    """OLS of ``y`` on ``x`` with HC3 standard errors and a t(n-2) CI.

    HC3 (MacKinnon & White 1985) is the heteroskedasticity-robust covariance
    that behaves best in small samples; the t(n-2) reference is a further
    small-sample guard. Theil-Sen is attached as an outlier-robust check.
    Needs at least 3 points and two distinct x values.
    """
    check_level(level)
    xa, ya = as_1d(x, "x"), as_1d(y, "y")
    if xa.size != ya.size or xa.size < 3 or np.ptp(xa) == 0:
        raise ValueError("need >= 3 paired points with at least two distinct x")
    counts = np.unique(xa, return_counts=True)[1]
    if counts.size == 2 and counts.min() == 1:
        raise ValueError("a point has leverage 1 (all other x are equal): HC3 undefined")
    from statsmodels.regression.linear_model import OLS  # 1 s to import: only where used

    res = OLS(ya, with_constant(xa)).fit(cov_type="HC3", use_t=True)
    lo, hi = res.conf_int(alpha=1.0 - level)[1]
    ts, ts_ci = _theil_sen(xa, ya, level)
    return SlopeFit(slope=float(res.params[1]), intercept=float(res.params[0]),
                    se=float(res.bse[1]), ci=Interval(float(lo), float(hi)), level=level,
                    n=int(xa.size), df=float(xa.size - 2), method="ols-hc3",
                    theil_sen_slope=ts, theil_sen_ci=ts_ci)


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
    check_level(level)
    xa, ya = as_1d(x, "x"), as_1d(y, "y")
    cens = np.asarray(censored, dtype=bool).ravel()
    if not xa.size == ya.size == cens.size:
        raise ValueError("x, y, censored must have the same length")
    n_obs = int(np.sum(~cens))
    if n_obs < 3 or np.ptp(xa[~cens]) == 0:
        raise ValueError("need >= 3 uncensored points with at least two distinct x")
    X = with_constant(xa)
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
    half = ref_quantile(0.5 + level / 2, df) * se
    slope = float(opt.x[1])
    ts, ts_ci = _theil_sen(xa, ya, level) if not cens.any() else (math.nan, _NO_INTERVAL)
    return SlopeFit(slope=slope, intercept=float(opt.x[0]), se=se,
                    ci=Interval(slope - half, slope + half), level=level, n=int(n), df=df,
                    method="tobit-right-censored", n_censored=int(cens.sum()),
                    theil_sen_slope=ts, theil_sen_ci=ts_ci)
