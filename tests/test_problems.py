"""Tests for the test problems: gradients, constants, heterogeneity, splits, registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipasgd.problems import (
    PROBLEMS,
    HeterogeneousQuadratic,
    Logistic,
    NonConvex,
    Quadratic,
    make_problem,
)
from clipasgd.problems.logistic import split_indices
from clipasgd.problems.nonconvex import coordinate_minimiser


@pytest.fixture(scope="module")
def quad() -> Quadratic:
    return HeterogeneousQuadratic(dim=12, condition=1e3, L=2.0, n_parts=5, spread=0.7, seed=3)


@pytest.fixture(scope="module")
def ncvx() -> NonConvex:
    return NonConvex(dim=8, alpha=3.0, seed=1)


@pytest.fixture(scope="module")
def logi() -> Logistic:
    return Logistic(lam=0.1, solve_f_star=True)


@pytest.fixture(scope="module")
def fed() -> Logistic:
    return Logistic(dataset="digits", lam=0.05, n_parts=6, split="dirichlet", alpha=0.3,
                    seed=4)


@pytest.fixture(scope="module")
def tiny() -> Logistic:
    """Shards of 5-6 samples: any sampling bias inside a shard is large."""
    return Logistic(n_parts=100, split="contiguous")


@pytest.fixture(params=["quad", "ncvx", "logi", "fed"])
def problem(request):
    return request.getfixturevalue(request.param)


def central_diff(fun, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite-difference gradient of a batched ``fun`` at each row of ``x``."""
    R, d = x.shape
    E = np.eye(d) * h
    xp = (x[:, None, :] + E).reshape(R * d, d)
    xm = (x[:, None, :] - E).reshape(R * d, d)
    return ((fun(xp) - fun(xm)) / (2 * h)).reshape(R, d)


def points(p, rng: np.random.Generator, R: int = 4, scale: float = 1.0) -> np.ndarray:
    return p.x0() + scale * rng.standard_normal((R, p.dim))


def test_shapes_and_batch_consistency(problem) -> None:
    x = points(problem, np.random.default_rng(0), R=5)
    v, g = problem.value(x), problem.grad(x)
    assert v.shape == (5,) and g.shape == (5, problem.dim)
    assert problem.x0().shape == (problem.dim,)
    for r in range(5):
        np.testing.assert_allclose(problem.value(x[r:r + 1])[0], v[r], rtol=1e-12)
        np.testing.assert_allclose(problem.grad(x[r:r + 1])[0], g[r], rtol=1e-12, atol=1e-14)


def test_grad_matches_finite_differences(problem) -> None:
    x = points(problem, np.random.default_rng(1))
    fd = central_diff(problem.value, x)
    np.testing.assert_allclose(problem.grad(x), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["quad", "fed"])
def test_local_grad_matches_finite_differences(name, request) -> None:
    p = request.getfixturevalue(name)
    x = points(p, np.random.default_rng(2), R=3)
    for i in range(p.n_parts):
        fd = central_diff(lambda z, i=i: p.local_value(z, i), x)
        np.testing.assert_allclose(p.local_grad(x, i), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["quad", "fed"])
def test_parts_average_to_f(name, request) -> None:
    p = request.getfixturevalue(name)
    x = points(p, np.random.default_rng(3))
    grads = np.mean([p.local_grad(x, i) for i in range(p.n_parts)], axis=0)
    vals = np.mean([p.local_value(x, i) for i in range(p.n_parts)], axis=0)
    np.testing.assert_allclose(grads, p.grad(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vals, p.value(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["quad", "fed"])
def test_local_grad_part_array_matches_ints(name, request) -> None:
    p = request.getfixturevalue(name)
    x = points(p, np.random.default_rng(4), R=7)
    parts = np.arange(7) % p.n_parts
    expect = np.stack([p.local_grad(x[r:r + 1], int(parts[r]))[0] for r in range(7)])
    np.testing.assert_allclose(p.local_grad(x, parts), expect, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.local_grad(x, parts, grad_f=p.grad(x)), expect,
                               rtol=1e-12, atol=1e-14)
    with pytest.raises(IndexError):
        p.local_grad(x, p.n_parts)
    with pytest.raises(ValueError):
        p.local_grad(x, parts[:3])


def test_homogeneous_local_grad_is_grad(ncvx, logi) -> None:
    for p in (ncvx, logi):
        x = points(p, np.random.default_rng(5))
        np.testing.assert_allclose(p.local_grad(x, 0), p.grad(x), rtol=1e-12, atol=1e-14)
        assert p.zeta == 0.0


@pytest.mark.parametrize("name,part", [("logi", None), ("fed", None), ("fed", 2),
                                       ("fed", "array"), ("tiny", 7), ("tiny", None)])
def test_minibatch_grad_unbiased(name, part, request) -> None:
    p = request.getfixturevalue(name)
    rng = np.random.default_rng(6)
    R = 4000
    x = np.tile(points(p, rng, R=1, scale=0.3), (R, 1))
    if part == "array":
        part = np.full(R, 4)
    g = p.minibatch_grad(x, rng, batch_size=4, part=part)
    assert g.shape == (R, p.dim)
    target = p.grad(x[:1])[0] if part is None else p.local_grad(x[:1], np.ravel(part)[0])[0]
    se = g.std(axis=0, ddof=1) / np.sqrt(R)
    # 5 standard errors per coordinate: a false failure has probability ~1e-4 overall.
    assert np.all(np.abs(g.mean(axis=0) - target) <= 5 * se + 1e-12)
    assert g.std(axis=0).max() > 0  # rows draw independent batches


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3.0, 1.5),
       which=st.sampled_from(["quad", "ncvx", "logi", "fed"]))
def test_smoothness_inequality(request, seed: int, log_scale: float, which: str) -> None:
    p = request.getfixturevalue(which)
    rng = np.random.default_rng(seed)
    x = points(p, rng, R=8, scale=3.0)
    y = x + 10.0**log_scale * rng.standard_normal(x.shape)
    lhs = np.linalg.norm(p.grad(x) - p.grad(y), axis=1)
    assert np.all(lhs <= p.L * np.linalg.norm(x - y, axis=1) * (1 + 1e-9) + 1e-12)
    if which == "fed":
        for i in range(p.n_parts):
            lhs = np.linalg.norm(p.local_grad(x, i) - p.local_grad(y, i), axis=1)
            assert np.all(lhs <= p.L_parts[i] * np.linalg.norm(x - y, axis=1) * (1 + 1e-9))


def test_smoothness_constant_is_tight(quad, ncvx) -> None:
    e = np.zeros((1, quad.dim))
    e[0, 0] = 1.0
    np.testing.assert_allclose(np.linalg.norm(quad.grad(e) - quad.grad(0 * e)), quad.L)
    # nonconvex: curvature 1 + alpha along a coordinate of y at y = pi.
    y0 = np.full(ncvx.dim, np.pi)
    h = 1e-4
    v = ncvx.Q[0]  # x-direction that moves y_0 only
    x = (y0 @ ncvx.Q)[None]
    ratio = np.linalg.norm(ncvx.grad(x + h * v) - ncvx.grad(x)) / h
    np.testing.assert_allclose(ratio, ncvx.L, rtol=1e-6)


def test_values_above_f_star(problem) -> None:
    rng = np.random.default_rng(7)
    x = np.vstack([points(problem, rng, R=50, scale=s) for s in (0.1, 1.0, 10.0)])
    assert np.all(problem.value(x) >= problem.f_star - 1e-9)


def test_f_star_at_solution(quad, ncvx, logi) -> None:
    assert quad.value(quad.x_star[None])[0] == 0.0 == quad.f_star
    np.testing.assert_allclose(ncvx.value(ncvx.x_star[None])[0], ncvx.f_star, rtol=1e-13)
    np.testing.assert_allclose(ncvx.grad(ncvx.x_star[None]), 0.0, atol=1e-12)
    x_sol = logi.solve()
    f_sol = logi.value(x_sol[None])[0]
    assert logi.f_star <= f_sol <= logi.f_star + 1e-8
    assert not logi.f_star_exact
    assert np.linalg.norm(logi.grad(x_sol[None])) < 1e-6


def test_quadratic_known_answers() -> None:
    q = Quadratic(dim=5, condition=16.0, L=4.0, delta0=2.5)
    np.testing.assert_allclose(q.a, [4.0, 2.0, 1.0, 0.5, 0.25])
    assert q.a.max() == q.L == 4.0 and q.a.min() == 0.25 and q.zeta == 0.0
    x = np.array([[1.0, 0, 0, 0, 0], [0, 0, 2.0, 0, -2.0]])
    np.testing.assert_allclose(q.value(x), [2.0, 2.0 + 0.5])
    np.testing.assert_allclose(q.grad(x), [[4.0, 0, 0, 0, 0], [0, 0, 2.0, 0, -0.5]])
    np.testing.assert_allclose(q.value(q.x0()[None]), [2.5])
    assert Quadratic(dim=1, condition=10.0).a.tolist() == [1.0]


def test_heterogeneous_quadratic_zeta(quad) -> None:
    assert quad.zeta == pytest.approx(quad.spread, rel=1e-12)
    np.testing.assert_allclose(quad.b.mean(axis=0), quad.x_star, atol=1e-12)
    x = points(quad, np.random.default_rng(8), R=6, scale=5.0)
    g = quad.grad(x)
    diffs = [np.linalg.norm(quad.local_grad(x, i) - g, axis=1) for i in range(quad.n_parts)]
    np.testing.assert_allclose(np.max(diffs, axis=0), quad.zeta, rtol=1e-12)
    assert Quadratic(n_parts=4, spread=0.0).zeta == 0.0


def test_nonconvex_known_answers() -> None:
    t = coordinate_minimiser(2.0)
    assert t == pytest.approx(1.895494267034, abs=1e-11)
    assert abs(t - 2.0 * np.sin(t)) < 1e-14
    # Independent check of the global minimum of h on a fine grid.
    for alpha in (0.5, 1.0, 1.01, 2.0, 7.0, 20.0):
        grid = np.linspace(-40.0, 40.0, 800_001)
        h = 0.5 * grid**2 + alpha * np.cos(grid)
        ts = coordinate_minimiser(alpha)
        h_star = 0.5 * ts**2 + alpha * np.cos(ts)
        assert h_star <= h.min() + 1e-12
        assert h.min() - h_star < 1e-7
    p = NonConvex(dim=3, alpha=0.5, rotate=False)
    assert p.f_star == 1.5 and p.L == 1.5
    q = NonConvex(dim=4, alpha=2.0, seed=9)
    np.testing.assert_allclose(q.Q @ q.Q.T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(q.f_star, 4 * (0.5 * t * t + 2.0 * np.cos(t)), rtol=1e-14)
    # non-convex at the start: negative curvature along a y-coordinate.
    x0, v, h = q.x0()[None], q.Q[0], 1e-4
    assert (q.grad(x0 + h * v) - q.grad(x0 - h * v))[0] @ v / (2 * h) < 0


def test_logistic_constants(logi, fed) -> None:
    assert logi.dim == 31 and logi.N == 569 and fed.dim == 62 and fed.N == 1797
    A = logi.A
    expected_L = np.linalg.eigvalsh(A.T @ A)[-1] / (4 * logi.N) + 2 * logi.lam
    assert logi.L == pytest.approx(expected_L, rel=1e-12)
    np.testing.assert_allclose(logi.value(logi.x0()[None]), [np.log(2.0)])
    np.testing.assert_allclose(A[:, :-1].mean(axis=0), 0.0, atol=1e-12)
    assert np.all(A[:, -1] == 1.0)
    # regulariser curvature 2(1-3t^2)/(1+t^2)^3 stays in [-1/2, 2]
    t = np.linspace(-50, 50, 200_001)
    r2 = 2 * (1 - 3 * t**2) / (1 + t**2) ** 3
    assert r2.max() == pytest.approx(2.0) and r2.min() == pytest.approx(-0.5, abs=1e-8)
    # huge margins stay finite (logaddexp)
    assert np.isfinite(logi.value(np.full((1, logi.dim), 1e6))).all()


def test_logistic_measured_zeta(fed) -> None:
    pts = fed.probe_points()
    assert fed.zeta == fed.measured_zeta(pts) > 0
    assert fed.zeta <= fed.zeta_bound
    x = pts[5:7]
    g = fed.grad(x)
    manual = max(np.linalg.norm(fed.local_grad(x, i) - g, axis=1).max()
                 for i in range(fed.n_parts))
    assert fed.measured_zeta(x) == pytest.approx(manual, rel=1e-12)


@pytest.mark.parametrize("split", ["iid", "contiguous", "dirichlet"])
def test_split_is_partition_and_reproducible(split) -> None:
    strata = np.repeat(np.arange(10), 30)
    a = split_indices(strata, 40, split, 0.05, np.random.default_rng(11))
    b = split_indices(strata, 40, split, 0.05, np.random.default_rng(11))
    assert len(a) == 40 and all(len(s) > 0 for s in a)
    np.testing.assert_array_equal(np.sort(np.concatenate(a)), np.arange(len(strata)))
    assert all(np.array_equal(s, t) for s, t in zip(a, b, strict=True))
    if split != "contiguous":
        c = split_indices(strata, 40, split, 0.05, np.random.default_rng(12))
        assert not all(np.array_equal(s, t) for s, t in zip(a, c, strict=True))


def test_dirichlet_split_is_label_skewed(fed) -> None:
    counts = np.array([np.bincount(fed.strata[s], minlength=10) for s in fed.shards])
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(fed.strata))
    assert fed.shard_sizes.sum() == fed.N
    iid = np.array([np.bincount(fed.strata[s], minlength=10) / len(s)
                    for s in Logistic(dataset="digits", n_parts=6).shards])
    skew = counts / counts.sum(axis=1, keepdims=True)
    assert skew.std(axis=0).mean() > 3 * iid.std(axis=0).mean()
    np.testing.assert_allclose(fed.weights.sum(), 1.0)


def test_registry() -> None:
    assert set(PROBLEMS) == {"quadratic", "nonconvex", "logistic", "fashion_mlp",
                             "shakespeare_mlp"}
    p = make_problem("quadratic", dim=3, n_parts=2, spread=0.5)
    assert isinstance(p, Quadratic) and p.n_parts == 2 and p.zeta == pytest.approx(0.5)
    assert isinstance(make_problem("nonconvex", dim=2), NonConvex)
    assert make_problem("logistic").describe()["name"] == "logistic"


@pytest.mark.parametrize("name,params,match", [
    ("nope", {}, "unknown problem 'nope'.*quadratic"),
    ("quadratic", {"dimension": 3}, "dimension"),
    ("quadratic", {"dim": 0}, "dim"),
    ("quadratic", {"dim": 2.5}, "dim"),
    ("quadratic", {"condition": 0.5}, "condition"),
    ("quadratic", {"L": -1.0}, "L"),
    ("quadratic", {"spread": -1.0}, "spread"),
    ("quadratic", {"n_parts": 0}, "n_parts"),
    ("nonconvex", {"alpha": -1.0}, "alpha"),
    ("nonconvex", {"dim": "3"}, "dim"),
    ("nonconvex", {"rotate": "yes"}, "rotate"),
    ("logistic", {"lam": -0.1}, "lam"),
    ("logistic", {"n_parts": 0}, "n_parts"),
    ("logistic", {"n_parts": 10_000}, "n_parts"),
    ("logistic", {"alpha": 0.0}, "alpha"),
    ("logistic", {"split": "random"}, "split"),
    ("logistic", {"dataset": "mnist"}, "dataset"),
    ("logistic", {"seed": -1}, "seed"),
])
def test_bad_params(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_problem(name, **params)
