"""Tests for the gradient-noise models: exact norm laws, zero mean, scale, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clipasgd.noise import (
    Gaussian,
    Minibatch,
    NoNoise,
    Pareto,
    StudentT,
    SubWeibull,
    make_noise,
)
from clipasgd.updates import row_norms

N, D = 20_000, 5

# (model, a planted wrong model whose norm law must be rejected)
RADIAL = [
    (SubWeibull(sigma=1.0, theta=0.5), SubWeibull(sigma=1.0, theta=0.6)),
    (SubWeibull(sigma=2.0, theta=1.0), SubWeibull(sigma=2.0, theta=1.2)),
    (SubWeibull(sigma=0.3, theta=2.7), SubWeibull(sigma=0.3, theta=2.2)),
    (Pareto(sigma=1.5, alpha=2.5), Pareto(sigma=1.5, alpha=2.0)),
    (StudentT(sigma=1.0, df=3.0), StudentT(sigma=1.0, df=5.0)),
    (StudentT(sigma=2.0, df=1.0), StudentT(sigma=2.0, df=2.0)),
]
IDS = [f"{m.name}-{i}" for i, (m, _) in enumerate(RADIAL)]


def norms_of(noise, seed: int = 0, n: int = N, d: int = D) -> np.ndarray:
    xi = noise.sample(np.random.default_rng(seed), (n, d))
    assert xi.shape == (n, d)
    return row_norms(xi)


@pytest.mark.parametrize("model, wrong", RADIAL, ids=IDS)
def test_norm_law_ks(model, wrong) -> None:
    r = norms_of(model, seed=1)
    assert stats.kstest(r, model.norm_dist().cdf).pvalue > 1e-3
    assert stats.kstest(r, wrong.norm_dist().cdf).pvalue < 1e-6


def test_subweibull_tail_formula() -> None:
    # P(||xi|| > t) = exp(-(t/sigma)^(1/theta)) (PAPER.md section 2)
    m = SubWeibull(sigma=1.7, theta=1.5)
    t = np.array([0.5, 1.0, 3.0, 10.0])
    np.testing.assert_allclose(m.norm_dist().sf(t), np.exp(-(t / 1.7) ** (1 / 1.5)), rtol=1e-12)


@pytest.mark.parametrize("model", [m for m, _ in RADIAL] + [Gaussian(sigma=2.0)], ids=IDS + ["g"])
def test_mean_zero(model) -> None:
    xi = model.sample(np.random.default_rng(2), (N, 3))
    if isinstance(model, StudentT) and model.df <= 2:
        # infinite variance: use the sign symmetry of the direction instead of a CLT bound
        signs = np.sign(xi)
        se = 1 / np.sqrt(N)
        assert np.all(np.abs(signs.mean(axis=0)) < 4 * se)
        return
    se = xi.std(axis=0, ddof=1) / np.sqrt(N)
    assert np.all(np.abs(xi.mean(axis=0)) < 4 * se)


def test_mean_zero_would_detect_a_bias() -> None:
    xi = SubWeibull(sigma=1.0, theta=1.0).sample(np.random.default_rng(2), (N, 3)) + 0.05
    se = xi.std(axis=0, ddof=1) / np.sqrt(N)
    assert np.any(np.abs(xi.mean(axis=0)) >= 4 * se)


@pytest.mark.parametrize("d", [1, 4, 50])
def test_gaussian_second_moment(d: int) -> None:
    sigma = 1.7
    sq = row_norms(Gaussian(sigma=sigma).sample(np.random.default_rng(d), (N, d))) ** 2
    se = sq.std(ddof=1) / np.sqrt(N)
    assert abs(sq.mean() - sigma**2) < 4 * se
    # coordinates are i.i.d. N(0, sigma^2/d)
    g = Gaussian(sigma=sigma).sample(np.random.default_rng(d + 1), (N, d))
    assert stats.kstest(g.ravel()[:N], stats.norm(scale=sigma / np.sqrt(d)).cdf).pvalue > 1e-3


def test_gaussian_norm_law() -> None:
    g = Gaussian(sigma=1.3)
    r = norms_of(g, seed=4, d=7)
    assert stats.kstest(r, g.norm_dist(7).cdf).pvalue > 1e-3
    assert stats.kstest(r, g.norm_dist(8).cdf).pvalue < 1e-6


def test_directions_uniform_and_independent_of_radius() -> None:
    xi = Pareto(sigma=1.0, alpha=3.0).sample(np.random.default_rng(5), (N, 3))
    r = row_norms(xi)
    u = xi / r[:, None]
    np.testing.assert_allclose(row_norms(u), 1.0, rtol=1e-12)
    # for a uniform direction on S^2 each coordinate is uniform on [-1, 1] (Archimedes)
    assert stats.kstest(u[:, 0], stats.uniform(-1, 2).cdf).pvalue > 1e-3
    assert abs(stats.spearmanr(r, np.abs(xi[:, 0] / r)).statistic) < 4 / np.sqrt(N)


def test_sigma_zero_and_no_noise() -> None:
    assert np.all(SubWeibull(sigma=0.0).sample(np.random.default_rng(0), (3, 4)) == 0)
    assert np.all(NoNoise().sample(np.random.default_rng(0), (3, 4)) == 0)
    assert NoNoise().sample(np.random.default_rng(0), (3, 4)).shape == (3, 4)


def test_sampling_is_reproducible() -> None:
    m = SubWeibull(sigma=1.0, theta=2.0)
    a = m.sample(np.random.default_rng(9), (5, 3))
    b = m.sample(np.random.default_rng(9), (5, 3))
    c = m.sample(np.random.default_rng(10), (5, 3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_make_noise_builds_models() -> None:
    assert make_noise("subweibull", sigma=2.0, theta=1.5) == SubWeibull(sigma=2.0, theta=1.5)
    assert make_noise("gaussian", sigma=0.5) == Gaussian(sigma=0.5)
    assert make_noise("pareto", alpha=3.0) == Pareto(alpha=3.0)
    assert make_noise("student_t", df=4.0) == StudentT(df=4.0)
    assert make_noise("none") == NoNoise()
    assert make_noise("minibatch", batch_size=8) == Minibatch(batch_size=8)
    assert make_noise("subweibull", sigma=2.0, theta=1.5).describe() == {
        "name": "subweibull", "sigma": 2.0, "theta": 1.5}


@pytest.mark.parametrize("name, params, match", [
    ("cauchy", {}, "unknown noise 'cauchy'"),
    ("subweibull", {"alpha": 2.0}, "noise 'subweibull': bad parameters"),
    ("gaussian", {"theta": 1.0}, "noise 'gaussian': bad parameters"),
    ("none", {"sigma": 1.0}, "noise 'none': bad parameters"),
    ("subweibull", {"theta": 0.0}, "theta must be > 0"),
    ("subweibull", {"theta": float("nan")}, "theta must be > 0"),
    ("subweibull", {"sigma": -1.0}, "sigma must be finite and >= 0"),
    ("pareto", {"sigma": float("inf")}, "sigma must be finite and >= 0"),
    ("gaussian", {"sigma": -0.1}, "sigma must be finite and >= 0"),
    ("pareto", {"alpha": 0.0}, "alpha must be > 0"),
    ("student_t", {"df": -1.0}, "df must be > 0"),
    ("minibatch", {"batch_size": 0}, "batch_size must be a positive integer"),
    ("minibatch", {"batch_size": 2.5}, "batch_size must be a positive integer"),
])
def test_make_noise_errors(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_noise(name, **params)


def test_minibatch_noise_is_not_sampled_directly() -> None:
    with pytest.raises(TypeError, match="Oracle"):
        Minibatch(batch_size=2).sample(np.random.default_rng(0), (2, 2))
