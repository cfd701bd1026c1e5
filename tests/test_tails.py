"""Tests for the sub-Weibull tail estimators (clipasgd.tails).

Exact sub-Weibull samples are ``X = sigma * E^theta`` with ``E ~ Exp(1)``, so that
``P(X > t) = exp(-(t/sigma)^(1/theta))`` (a Weibull of shape ``1/theta``).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from clipasgd import tails

N_FIT = 10_000  # METHODS.md known-theta cases: n = 1e4, k = 5% of n
N_CONTROL = 100_000  # METHODS.md drift controls reach n = 1e5


def weibull_sample(theta: float, n: int, seed: int, sigma: float = 1.0) -> np.ndarray:
    return sigma * np.random.default_rng(seed).exponential(size=n) ** theta


# --------------------------------------------------------------- Girard estimator


@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0, 2.71, 4.0])
def test_recovers_known_theta(theta: float) -> None:
    fits = [tails.weibull_tail(weibull_sample(theta, N_FIT, seed=100 + r, sigma=3.0))
            for r in range(10)]
    assert all(f.k == 500 and f.n == N_FIT and f.method == "girard" for f in fits)
    estimates = np.array([f.theta for f in fits])
    assert np.all(np.abs(estimates / theta - 1) < 0.10)  # METHODS: within +-10%
    # the mean of 10 has relative sd ~ 1/sqrt(10 k) = 1.4%: 4% is ~3 sd
    assert abs(estimates.mean() / theta - 1) < 0.04


def test_exponential_reads_one() -> None:
    fit = tails.weibull_tail(np.random.default_rng(1).exponential(size=N_FIT))
    assert fit.theta == pytest.approx(1.0, rel=0.10)
    assert fit.ci_low < 1.0 < fit.ci_high


def test_power_and_scale_equivariance() -> None:
    """log X = log sigma + theta log E, so theta_hat(sigma E^theta) = theta * theta_hat(E)."""
    e = np.random.default_rng(2).exponential(size=5000)
    base = tails.weibull_tail(e).theta
    for theta, sigma in [(0.5, 7.0), (2.71, 0.01)]:
        assert tails.weibull_tail(sigma * e ** theta).theta == pytest.approx(theta * base, 1e-10)


def test_half_normal_documented_bias() -> None:
    """|N(0,1)| has theta = 1/2 but reads ~0.64 at n=1e4: the bias shrinks like 1/log n.

    Calibration: the same estimator on the exact quantiles ``F^-1(1 - i/(n+1))`` gives the
    value the sample should scatter around (0.635); sampling sd ~ theta/sqrt(k) = 0.028.
    """
    n = N_FIT
    reference = tails.weibull_tail(stats.halfnorm.isf(np.arange(1, n + 1) / (n + 1))).theta
    assert 0.60 < reference < 0.67
    fit = tails.weibull_tail(np.abs(np.random.default_rng(3).standard_normal(n)))
    assert abs(fit.theta - reference) < 3 * reference / np.sqrt(fit.k)
    assert fit.ci_low > 0.5  # the bias is not covered by the CI: it is not sampling error


def test_asymptotic_ci_coverage() -> None:
    """200 replications at n=2000 (k=100): the 95% CI covers the truth at 90%..99.5%.

    Binomial sd of the observed rate is sqrt(.95*.05/200) = 1.5%, so 0.90 is > 3 sd below
    nominal. The asymptotic sd theta/sqrt(k) slightly overstates the finite-k sd (coverage
    ~0.97 in simulation), so the band is asymmetric; its upper edge (at most one miss)
    still fails a CI that is, e.g., twice too wide.
    """
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(200):
        fit = tails.weibull_tail(rng.exponential(size=2000) ** 2.0)
        covered += fit.ci_low <= 2.0 <= fit.ci_high
    assert 0.90 <= covered / 200 <= 0.995


def test_bootstrap_ci() -> None:
    x = weibull_sample(1.0, 2000, seed=5)
    pct = tails.weibull_tail_bootstrap_ci(x, n_boot=300, rng=7)
    basic = tails.weibull_tail_bootstrap_ci(x, n_boot=300, rng=7, kind="basic")
    asym = tails.weibull_tail(x)
    assert pct.theta == basic.theta == asym.theta
    assert pct.ci_low < 1.0 < pct.ci_high and basic.ci_low < 1.0 < basic.ci_high
    width_ratio = (pct.ci_high - pct.ci_low) / (asym.ci_high - asym.ci_low)
    assert 0.5 < width_ratio < 2.0
    assert tails.weibull_tail_bootstrap_ci(x, n_boot=300, rng=7) == pct  # deterministic
    seq = np.random.SeedSequence(7)
    assert tails.weibull_tail_bootstrap_ci(x, n_boot=300, rng=seq) == pct  # int == its seq
    assert tails.weibull_tail_bootstrap_ci(x, n_boot=300, rng=8) != pct
    with pytest.raises(ValueError, match="kind"):
        tails.weibull_tail_bootstrap_ci(x, kind="bca")


def test_theta_vs_k_matches_and_is_flat_for_weibull() -> None:
    x = weibull_sample(2.0, N_FIT, seed=6)
    ks = np.array([50, 100, 200, 500, 1000])
    curve = tails.theta_vs_k(x, ks)
    for k, value in zip(ks, curve, strict=True):
        assert value == pytest.approx(tails.weibull_tail(x, k=int(k)).theta, rel=1e-12)
    assert np.all(np.abs(curve / 2.0 - 1) < 3 / np.sqrt(ks))  # within 3 asymptotic sd
    with pytest.raises(ValueError):
        tails.theta_vs_k(x, [2, 10])


def test_weibull_qq_slope() -> None:
    qq = tails.weibull_qq(weibull_sample(2.0, N_FIT, seed=7))
    assert qq.theta == pytest.approx(2.0, rel=0.10)
    assert qq.quantiles.shape == qq.log_x.shape == (qq.k,)
    assert np.all(np.diff(qq.quantiles) < 0) and np.all(np.diff(qq.log_x) <= 0)


def test_input_validation() -> None:
    x = weibull_sample(1.0, 100, seed=8)
    with pytest.raises(ValueError, match="negative"):
        tails.weibull_tail(np.append(x, -1.0))
    with pytest.raises(ValueError, match="positive finite"):
        tails.weibull_tail(np.r_[x[:15], np.zeros(100), np.full(5, np.nan)])
    with pytest.raises(ValueError, match="k must be"):
        tails.weibull_tail(x, k=100)
    padded = np.r_[x, np.zeros(10), np.inf]  # zeros and non-finite values are dropped
    assert tails.weibull_tail(padded) == tails.weibull_tail(x)


# ------------------------------------------------------------ scale: envelope, Orlicz


@pytest.mark.parametrize(("theta", "sigma"), [(0.5, 1.0), (1.0, 2.0), (2.71, 0.3)])
def test_orlicz_norm_converges_to_known_value(theta: float, sigma: float) -> None:
    """X = sigma E^theta: E exp((X/K)^(1/theta)) = 1/(1 - (sigma/K)^(1/theta)); K = sigma 2^theta.

    At K the summands exp(E/2) have infinite variance (tail t^-2): the mean errs by
    ~sqrt(log n / n) = 1.1% at n=1e5, and log K by theta/2 times that.
    """
    truth = sigma * 2.0 ** theta
    rng = np.random.default_rng(9)
    err = {n: np.median([abs(tails.orlicz_norm(sigma * rng.exponential(size=n) ** theta, theta)
                             / truth - 1) for _ in range(20)]) for n in (1000, 100_000)}
    assert err[100_000] < 0.01 * max(theta, 1.0)
    assert err[100_000] < err[1000]


def test_orlicz_norm_exact_and_heavy() -> None:
    assert tails.orlicz_norm(np.ones(100), 1.0) == pytest.approx(1 / np.log(2), rel=1e-9)
    heavy = 1 + np.random.default_rng(10).pareto(0.5, 100_000)  # max ~1e10
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings
        k_small, k_large = tails.orlicz_norm(heavy, 0.1), tails.orlicz_norm(heavy, 0.5)
    assert np.isfinite(k_small) and np.isfinite(k_large)
    with_zeros = np.r_[np.ones(50), np.zeros(50)]  # mean exp((1/K)) over half = 2 - 1
    assert tails.orlicz_norm(with_zeros, 1.0) == pytest.approx(1 / np.log(3), rel=1e-9)


def test_envelope_scale() -> None:
    theta, sigma = 1.0, 2.0
    x = weibull_sample(theta, N_FIT, seed=11, sigma=sigma)
    k_hat = tails.envelope_scale(x, theta)
    assert 0.7 < k_hat / sigma < 1.4  # the population tail obeys the bound at K = sigma
    assert tails.envelope_scale(5 * x, theta) == pytest.approx(5 * k_hat, rel=1e-12)
    # definition: the smallest K with i/n <= 2 exp(-(X_(n-i+1)/K)^(1/theta)) for all i
    desc, i = np.sort(x)[::-1], np.arange(1, x.size + 1)
    for scale, holds in [(1.0 + 1e-9, True), (0.99, False)]:
        bound = 2 * np.exp(-(desc / (scale * k_hat)) ** (1 / theta))
        assert np.all(i / x.size <= bound) == holds


@pytest.mark.parametrize("seed", range(4))
def test_envelope_below_orlicz(seed: int) -> None:
    """Markov: P_n(X >= t) <= 2 exp(-(t/K)^(1/theta)) at the empirical Orlicz norm K."""
    rng = np.random.default_rng(seed)
    x = [rng.lognormal(size=3000), np.abs(rng.standard_t(3, 3000)), rng.exponential(size=3000)]
    for sample in x:
        for theta in (0.5, 1.0, 2.0):
            assert tails.envelope_scale(sample, theta) <= tails.orlicz_norm(sample, theta) * (
                1 + 1e-9)


# ------------------------------------------------------------ power-law diagnostics


def test_hill_on_pareto() -> None:
    fit = tails.hill(1 + np.random.default_rng(12).pareto(2.0, N_CONTROL))
    assert fit.alpha == pytest.approx(2.0, rel=0.05)
    assert fit.ci_low < 2.0 < fit.ci_high and fit.k == 5000


def test_compare_tails_prefers_the_true_family() -> None:
    pareto = tails.compare_tails(1 + np.random.default_rng(13).pareto(2.0, N_CONTROL))
    assert pareto.z > 0 and pareto.p_value < 0.01
    assert pareto.alpha == pytest.approx(2.0, rel=0.05) and pareto.at_bound
    weib = tails.compare_tails(weibull_sample(2.0, N_CONTROL, seed=14))
    assert weib.z < 0 and weib.p_value < 0.01
    assert weib.theta_se == pytest.approx(2.0, rel=0.10) and not weib.at_bound
    assert weib.loglik_se > weib.loglik_pareto


def test_theta_drift() -> None:
    pareto = tails.theta_drift(1 + np.random.default_rng(15).pareto(2.0, N_CONTROL), rng=1)
    assert list(pareto.sizes) == [N_CONTROL // 2 ** j for j in (4, 3, 2, 1, 0)]
    assert list(pareto.n_blocks) == [16, 8, 4, 2, 1]
    assert np.all(np.diff(pareto.theta) > 0) and pareto.p_value < 1e-3
    # fixed k: a Pareto tail reads log(n/k)/alpha, so theta grows like log(n/k)
    weib = tails.theta_drift(weibull_sample(1.0, N_CONTROL, seed=16), rng=1)
    assert abs(weib.z) < 3 and abs(weib.slope) < 0.05
    with pytest.raises(ValueError, match="sizes"):
        tails.theta_drift(np.ones(100) + np.arange(100), sizes=[5, 100])


def _controls() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(17)
    n = N_CONTROL
    return {"student_t3": np.abs(rng.standard_t(3, n)), "pareto2": 1 + rng.pareto(2.0, n),
            "lognormal": rng.lognormal(0.0, 1.0, n)}


@pytest.mark.parametrize("name", ["student_t3", "pareto2", "lognormal"])
def test_negative_controls_not_sub_weibull(name: str) -> None:
    check = tails.is_sub_weibull(_controls()[name])
    assert not check.plausible
    assert check.reason.startswith("not sub-Weibull")


@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0])
def test_weibull_samples_plausible(theta: float) -> None:
    check = tails.is_sub_weibull(weibull_sample(theta, N_CONTROL, seed=18))
    assert check.plausible, check.reason
    assert check.theta == pytest.approx(theta, rel=0.10)
    assert check.lr_z < 0


# ------------------------------------------------------------------------- vectors


def test_norms_and_projections() -> None:
    v = np.random.default_rng(19).standard_normal((20_000, 10))
    norms = tails.noise_norms(v)
    assert norms.shape == (20_000,)
    proj = tails.projections(v, n_dirs=4, rng=1)
    assert proj.shape == (80_000,) and np.all(proj >= 0)
    assert np.all(proj.reshape(20_000, 4) <= norms[:, None] + 1e-12)  # Cauchy-Schwarz
    assert np.array_equal(proj, tails.projections(v, n_dirs=4, rng=1))
    # METHODS trap: norms concentrate (theta_hat ~0.28 at d=10); projections read ~0.63
    assert tails.weibull_tail(norms).theta < 0.35
    assert 0.55 < tails.weibull_tail(proj).theta < 0.72
    with pytest.raises(ValueError, match="2-D"):
        tails.noise_norms(np.ones(5))


# --------------------------------------------------------------------------- fit_tail

KEYS = {"theta", "ci_low", "ci_high", "k", "n", "method", "sub_weibull_plausible", "reason"}


def test_fit_tail_1d() -> None:
    x = weibull_sample(1.0, 5000, seed=20) * np.random.default_rng(0).choice([-1, 1], 5000)
    out = tails.fit_tail(x)  # signed 1-D sample: absolute values are fitted
    assert KEYS <= out.keys() and out["input"] == "sample"
    assert out["theta"] == pytest.approx(tails.weibull_tail(np.abs(x)).theta)
    assert out["n"] == 5000 and out["k"] == 250 and out["sub_weibull_plausible"] is True
    json.dumps(out, allow_nan=False)
    assert out == tails.fit_tail(x, seed=0)


def test_fit_tail_2d() -> None:
    v = np.random.default_rng(21).standard_normal((3000, 5))
    out = tails.fit_tail(v, k=100, seed=3)
    assert KEYS <= out.keys() and out["input"] == "vectors" and out["d"] == 5
    assert out["k"] == 100 and out["n"] == 3000
    assert out["theta"] == pytest.approx(tails.weibull_tail(np.linalg.norm(v, axis=1), k=100).theta)
    assert out["projection_n"] == 3000 * 8 and out["projection_theta"] > out["theta"]
    json.dumps(out, allow_nan=False)
    assert out == tails.fit_tail(v, k=100, seed=3)


@pytest.mark.parametrize(
    ("data", "match"),
    [(np.ones((3, 4, 5)), "1-D sample or 2-D"), (np.array([]), "non-empty"),
     (np.r_[np.arange(1.0, 100), np.nan], "NaN"), (np.arange(1.0, 40), "at least 50"),
     (np.r_[np.arange(1.0, 30), np.zeros(60)], "at least 50"),
     (np.array(["a"] * 60), "real numbers")],
)
def test_fit_tail_errors(data: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tails.fit_tail(data)


def test_fit_tail_reports_the_checks_power() -> None:
    from clipasgd.tails import CHECK_POWER_TABLE, fit_tail, power_at

    x = np.abs(np.random.default_rng(3).standard_t(3, 5000))
    out = fit_tail(x)
    power = out["check_power"]
    assert power["n"] == 5000 and "interpolated in log n" in power["method"]
    assert power["student_t3"] == CHECK_POWER_TABLE[5000]["student_t3"] < 0.5
    mid = power_at(3000)["pareto2"]  # between the 2000 and 5000 rows
    lo, hi = sorted([CHECK_POWER_TABLE[2000]["pareto2"], CHECK_POWER_TABLE[5000]["pareto2"]])
    assert lo <= mid <= hi
    assert "clamped" in power_at(10**7)["method"] and power_at(10**7)["lognormal"] == 1.0


def test_check_power_table_reproduces() -> None:
    from clipasgd.tails import CHECK_POWER_REPLICATES, CHECK_POWER_TABLE, check_power

    assert check_power(2000, CHECK_POWER_REPLICATES, seed=0) == CHECK_POWER_TABLE[2000]


def test_resampled_top_ranks_match_a_full_resample_in_law() -> None:
    """The top-k shortcut draws each resample's k largest values with the law of drawing all
    n indices: the rank of the largest, of the k-th largest, and the bootstrap's theta_hat,
    against full resamples of the same sample (two-sample KS, 4000 resamples each)."""
    from scipy.stats import ks_2samp

    x = weibull_sample(1.5, 1000, seed=11)
    n, k, m = x.size, 50, 4000
    order = np.argsort(-x)
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = np.arange(1, n + 1)
    full = np.sort(rank_of[np.random.default_rng(1).integers(0, n, size=(m, n))], axis=1)[:, :k]
    short = tails.resampled_top_ranks(n, k, m, np.random.default_rng(2))
    assert np.all(np.diff(short, axis=1) >= 0) and short.min() >= 1 and short.max() <= n
    assert abs(np.mean(short[:, 0] == 1) - (1 - (1 - 1 / n) ** n)) < 0.025  # P(max kept)
    for col in (0, 9, k - 1):
        assert ks_2samp(full[:, col], short[:, col]).pvalue > 1e-3
    top = x[order]
    theta_full = tails._girard(top[full - 1], n, k)
    theta_short = tails._girard(top[short - 1], n, k)
    assert ks_2samp(theta_full, theta_short).pvalue > 1e-3
    # power: the same test sees ranks shifted by one (the maximum never drawn: a wrong law)
    shifted = np.minimum(short + 1, n)
    assert ks_2samp(tails._girard(top[full - 1], n, k),
                    tails._girard(top[shifted - 1], n, k)).pvalue < 1e-6


def test_resampled_top_ranks_exact_law_at_small_n() -> None:
    """At n = 5, k = 3 the law of the top-3 ranks of a resample is enumerated over all 5^5
    index tuples; 20000 draws agree with it (chi-square), and a sampler whose gamma shape is
    off by one (n - k, not n + 1 - k) is rejected by the same test."""
    from itertools import product

    from scipy.stats import chisquare

    n, k, m = 5, 3, 20000
    exact: dict[tuple, int] = {}
    for t in product(range(1, n + 1), repeat=n):
        key = tuple(sorted(t)[:k])
        exact[key] = exact.get(key, 0) + 1
    keys = sorted(exact)
    expected = np.array([exact[c] for c in keys], dtype=float) / n ** n * m

    def chi2_p(ranks: np.ndarray) -> float:
        got: dict[tuple, int] = {}
        for row in map(tuple, ranks):
            got[row] = got.get(row, 0) + 1
        assert set(got) <= set(keys)
        return chisquare([got.get(c, 0) for c in keys], expected).pvalue

    assert chi2_p(tails.resampled_top_ranks(n, k, m, np.random.default_rng(3))) > 1e-3
    gen = np.random.default_rng(3)
    g = np.cumsum(gen.standard_exponential((m, k)), axis=1)
    wrong = np.clip(np.ceil(g / (g[:, -1] + gen.standard_gamma(n - k, size=m))[:, None] * n),
                    1, n).astype(np.int64)
    assert chi2_p(wrong) < 1e-6
