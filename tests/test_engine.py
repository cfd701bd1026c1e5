"""Engine tests: hand-written reference loops, invariants, determinism, edge cases.

The references below never use job slots: they keep every iterate ``x_m`` and compute
the update of event ``e`` from ``x_{model[e]}`` directly, drawing noise in the order
the engine does (``simulate`` computes the jobs of model index ``m`` as soon as
``x_m`` exists, in the order of the events that apply them; the initial jobs first).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clipasgd.algorithms import make_algorithm
from clipasgd.compute_times import ComputeTimes, stragglers
from clipasgd.engine import EngineOptions, log_checkpoints, simulate
from clipasgd.experiment import run_experiment
from clipasgd.noise import Gaussian, NoNoise, Pareto, SubWeibull
from clipasgd.problems import HeterogeneousQuadratic, Quadratic
from clipasgd.schedules import Schedule, algorithm1, algorithm2, from_delays, synchronous
from clipasgd.updates import (
    chain,
    clip,
    delay_adaptive,
    drop_stale,
    momentum,
    row_norms,
    scale,
)

ETA = 0.2


@pytest.fixture(scope="module")
def quad() -> Quadratic:
    return Quadratic(dim=6, condition=20.0, L=1.0, delta0=1.0)


def every(T: int) -> EngineOptions:
    return EngineOptions(checkpoints=np.arange(1, T + 1))


def fixed_times(n: int, t: float = 1.0) -> ComputeTimes:
    return ComputeTimes(np.zeros(n), np.full(n, t))


def trajectory_metrics(problem, xs: list[np.ndarray], T: int) -> dict[str, np.ndarray]:
    """``gn`` and ``subopt`` at ``x_1 .. x_T``, shape ``(T, R)``."""
    return {"gn": np.stack([row_norms(problem.grad(xs[t])) for t in range(1, T + 1)]),
            "subopt": np.stack([problem.value(xs[t]) - problem.f_star
                                for t in range(1, T + 1)])}


def reference(problem, noise, rule, s: Schedule, T: int, R: int, seed: int,
              x0: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Asynchronous SGD on one shared schedule, written from the definition.

    ``x_{t+1} = x_t - u_t`` with ``u_t, state = rule.update(g, state, t - model[t])``,
    ``g = g_w(x_{model[t]}) + xi``, ``w = worker[t]``; the state threads through the jobs in
    the order the engine computes them.
    Also returns ``vdist[t] = ||sum of updates sent but not yet applied at x_t||``.
    """
    rng = np.random.default_rng(seed)
    x = np.tile(problem.x0() if x0 is None else x0, (R, 1))
    xs = [x]
    by_model: dict[int, list[int]] = {}
    for e, m in enumerate(s.model.tolist()):
        by_model.setdefault(m, []).append(e)
    u: dict[int, np.ndarray] = {}
    state = rule.init(xs[0])
    for m in range(T + 1):
        grad = problem.grad(xs[m])
        for e in by_model.get(m, []):
            g = noise.sample(rng, xs[m].shape)
            g += problem.local_grad(xs[m], int(s.worker[e]), grad) if problem.n_parts > 1 \
                else grad
            u[e], state = rule.update(g, state, e - m)
        if m < T:
            xs.append(xs[m] - u[m])
    out = trajectory_metrics(problem, xs, T)
    vd = []
    for t in range(1, T + 1):
        parked = [u[e] for e in u if e >= t and s.model[e] <= t]
        vd.append(row_norms(np.sum(parked, axis=0)) if parked else np.zeros(R))
    out["vdist"] = np.stack(vd)
    return out


def assert_matches(res, expected: dict[str, np.ndarray], rtol: float = 1e-12,
                   atol: float = 1e-13) -> None:
    for key, want in expected.items():
        np.testing.assert_allclose(res.metrics[key], want, rtol=rtol, atol=atol, err_msg=key)


# --------------------------------------------------------------------------- one worker = SGD

ONE_WORKER_RULES = {
    "asgd": make_algorithm("asgd", eta=ETA).rule,
    "clipped_huge_c": make_algorithm("clipped_asgd", eta=ETA, c=1e12).rule,
    "delay_adaptive": make_algorithm("delay_adaptive_asgd", eta=ETA, tau_c=1).rule,
    "ringmaster": make_algorithm("ringmaster_asgd", eta=ETA, max_delay=1).rule,
    "sgd": make_algorithm("sgd", eta=ETA).rule,
}


@pytest.mark.parametrize("name", list(ONE_WORKER_RULES))
def test_one_worker_is_sgd(quad: Quadratic, name: str) -> None:
    T, R, seed = 150, 3, 42
    noise = SubWeibull(sigma=0.5, theta=1.5)
    s = algorithm1(fixed_times(1), T + 5)
    res = simulate(quad, noise, ONE_WORKER_RULES[name], s, R=R, rng=seed, horizon=T,
                   options=every(T))
    # hand-written SGD: x <- x - eta (grad f(x) + xi), xi drawn from the same stream
    rng = np.random.default_rng(seed)
    x = np.tile(quad.x0(), (R, 1))
    xs = [x]
    for _ in range(T + 1):  # the engine also computes the job started at x_T
        x = x - ETA * (quad.grad(x) + noise.sample(rng, x.shape))
        xs.append(x)
    assert_matches(res, trajectory_metrics(quad, xs, T), rtol=1e-11, atol=1e-14)
    # one job in flight: x_t - x~_t is the update computed at x_t, i.e. x_t - x_{t+1}
    vd = np.stack([row_norms(xs[t] - xs[t + 1]) for t in range(1, T + 1)])
    np.testing.assert_allclose(res.metrics["vdist"], vd, rtol=1e-9, atol=1e-13)
    assert np.all(res.clip_fraction == 0) and np.all(res.diverged_at == -1)


def test_one_worker_clipped_sgd(quad: Quadratic) -> None:
    T, R, seed, c = 120, 4, 3, 0.4
    noise = Pareto(sigma=0.3, alpha=1.5)
    s = algorithm1(fixed_times(1), T + 1)
    res = simulate(quad, noise, chain(clip(c), scale(ETA)), s, R=R, rng=seed, horizon=T,
                   options=every(T))
    rng = np.random.default_rng(seed)
    x = np.tile(quad.x0(), (R, 1))
    xs, n_clipped = [x], np.zeros(R)
    for _ in range(T + 1):  # the engine also computes the job that x_T starts
        g = quad.grad(x) + noise.sample(rng, x.shape)
        nrm = row_norms(g)
        n_clipped += nrm > c
        x = x - ETA * g * np.minimum(1.0, c / nrm)[:, None]
        xs.append(x)
    assert_matches(res, trajectory_metrics(quad, xs, T), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.clip_fraction, n_clipped / (T + 1))
    assert 0 < res.clip_fraction.mean() < 1


def test_noiseless_single_worker_is_gradient_descent(quad: Quadratic) -> None:
    T = 500
    s = algorithm1(fixed_times(1), T)
    res = simulate(quad, NoNoise(), scale(ETA), s, R=2, rng=0)
    # closed form on the diagonal quadratic: x_t = (1 - eta a)^t x_0
    k = res.iters[:, None]
    x0 = quad.x0()
    f = 0.5 * np.sum(quad.a * x0**2 * (1 - ETA * quad.a) ** (2 * k), axis=1)
    np.testing.assert_allclose(res.metrics["subopt"][:, 0], f, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(res.metrics["subopt"][:, 1], f, rtol=1e-9, atol=1e-300)
    assert res.iters[0] == 1 and res.iters[-1] == T
    # the clip never binds when c exceeds every gradient norm: still exactly GD
    big = simulate(quad, NoNoise(), chain(clip(1e6), scale(ETA)), s, R=1, rng=0)
    np.testing.assert_allclose(big.metrics["subopt"][:, 0], res.metrics["subopt"][:, 0],
                               rtol=1e-13)


# --------------------------------------------------------------------------- delays and slots


@pytest.mark.parametrize("n", [2, 5, 9])
def test_equal_times_delayed_gradient_loop(quad: Quadratic, n: int) -> None:
    T = 300
    s = algorithm1(fixed_times(n), T + 3 * n)
    res = simulate(quad, NoNoise(), scale(ETA / n), s, R=1, rng=0, horizon=T, options=every(T))
    eta = ETA / n
    xs = [quad.x0()[None, :]]
    for t in range(T):
        tau = min(t, n - 1)  # all n start at x_0; then a fixed cycle of delay n - 1
        xs.append(xs[t] - eta * quad.grad(xs[t - tau]))
    assert_matches(res, trajectory_metrics(quad, xs, T), rtol=1e-11, atol=1e-14)
    # after warm-up, the n - 1 parked jobs (plus the new one) are at x_{t-n+1} .. x_t
    for t in (n + 5, T):
        parked = sum(eta * quad.grad(xs[m]) for m in range(t - n + 1, t + 1))
        np.testing.assert_allclose(res.metrics["vdist"][t - 1], row_norms(parked), rtol=1e-9)


RULES = {
    "asgd": scale(ETA / 4),
    "clipped": chain(clip(0.3), scale(ETA / 4)),
    "delay_adaptive": delay_adaptive(ETA, 4),
    "ringmaster": chain(drop_stale(6), scale(ETA / 4)),
}


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("kind", ["algorithm1", "algorithm2"])
def test_engine_matches_definition_on_random_schedules(quad: Quadratic, name: str,
                                                       kind: str) -> None:
    T, R, seed = 250, 3, 7
    times = stragglers(4, 1, 12.0, "exponential")
    rng = np.random.default_rng(1)
    s = algorithm1(times, T + 100, rng) if kind == "algorithm1" else \
        algorithm2(times, T + 100, rng, concurrency=6)
    noise = Gaussian(sigma=0.3)
    res = simulate(quad, noise, RULES[name], s, R=R, rng=seed, horizon=T, options=every(T))
    want = reference(quad, noise, RULES[name], s, T, R, seed)
    assert_matches(res, want, rtol=1e-10, atol=1e-12)
    assert res.schedule == s.truncate(T).summary()


def test_heterogeneous_oracle_uses_the_finishing_worker() -> None:
    n, T, R, seed = 4, 200, 2, 5
    prob = HeterogeneousQuadratic(dim=5, n_parts=n, spread=2.0, seed=1)
    s = algorithm2(stragglers(n, 1, 5.0, "exponential"), T + 60, np.random.default_rng(2))
    rule = chain(clip(1.0), scale(0.05))
    res = simulate(prob, SubWeibull(0.2, 1.0), rule, s, R=R, rng=seed, horizon=T,
                   options=every(T))
    assert_matches(res, reference(prob, SubWeibull(0.2, 1.0), rule, s, T, R, seed),
                   rtol=1e-10, atol=1e-12)
    # a reference that forgot the worker's part differs
    wrong = reference(HeterogeneousQuadratic(dim=5, n_parts=n, spread=0.0), SubWeibull(0.2, 1.0),
                      rule, s, T, R, seed)
    assert not np.allclose(res.metrics["gn"], wrong["gn"])


def test_from_delays_trace_runs_like_the_definition(quad: Quadratic) -> None:
    # a hand-made trace with C = 3: one job is held for 40 events
    delays = np.array([0, 1, 1, 1, 1] + [1] * 35 + [40] + [2] * 30)
    s = from_delays(delays, 3)
    T = len(s)
    rule = chain(clip(0.5), scale(0.1))
    res = simulate(quad, Gaussian(0.5), rule, s, R=2, rng=9, options=every(T))
    assert_matches(res, reference(quad, Gaussian(0.5), rule, s, T, 2, 9), rtol=1e-10,
                   atol=1e-12)
    assert res.schedule["tau_max"] == 40


def test_minibatch_sgd_is_gradient_descent_at_round_boundaries(quad: Quadratic) -> None:
    n, rounds, eta = 5, 60, 0.5
    algo = make_algorithm("minibatch_sgd", n_workers=n, eta=eta)
    assert algo.scheduler == "synchronous"
    s = synchronous(stragglers(n, 2, 9.0, "exponential"), rounds, np.random.default_rng(0))
    cps = np.arange(1, rounds) * n
    res = simulate(quad, NoNoise(), algo.rule, s, R=1, rng=0,
                   options=EngineOptions(checkpoints=cps))
    r = (cps // n)[:, None]
    x0 = quad.x0()
    f = 0.5 * np.sum(quad.a * x0**2 * (1 - eta * quad.a) ** (2 * r), axis=1)
    np.testing.assert_allclose(res.metrics["subopt"][:, 0], f, rtol=1e-9)
    assert res.tau_c == n


def test_minibatch_round_mean_with_noise(quad: Quadratic) -> None:
    """x_{r+1} = x_r - eta * mean of the round's n gradients (same stream, finish order)."""
    n, rounds, eta, seed = 3, 20, 0.3, 4
    s = synchronous(stragglers(n, 1, 3.0, "exponential"), rounds + 1, np.random.default_rng(1))
    rule = make_algorithm("minibatch_sgd", n_workers=n, eta=eta).rule
    noise = Gaussian(0.4)
    res = simulate(quad, noise, rule, s, R=2, rng=seed, horizon=rounds * n,
                   options=EngineOptions(checkpoints=np.arange(1, rounds + 1) * n))
    rng = np.random.default_rng(seed)
    x = np.tile(quad.x0(), (2, 1))
    xs = [x]
    for _ in range(rounds):
        gs = [quad.grad(x) + noise.sample(rng, x.shape) for _ in range(n)]
        x = x - eta * np.mean(gs, axis=0)
        xs.append(x)
    want = trajectory_metrics(quad, xs, rounds)
    np.testing.assert_allclose(res.metrics["subopt"], want["subopt"], rtol=1e-10)


# --------------------------------------------------------------------------- per-replication


@pytest.mark.parametrize("kind", ["algorithm1", "algorithm2"])
@pytest.mark.parametrize("hetero", [False, True])
def test_per_replication_schedules_follow_their_own_delays(kind: str, hetero: bool) -> None:
    T, R = 200, 4
    prob = HeterogeneousQuadratic(dim=4, n_parts=5, spread=1.0 if hetero else 0.0)
    times = stragglers(5, 1, 20.0, "exponential")
    make = algorithm1 if kind == "algorithm1" else algorithm2
    scheds = [make(times, T + 80, np.random.default_rng(100 + r)) for r in range(R)]
    rule = chain(clip(0.3), scale(0.1))
    res = simulate(prob, NoNoise(), rule, scheds, R=R, rng=0, horizon=T, options=every(T))
    for r, s in enumerate(scheds):
        want = reference(prob, NoNoise(), rule, s, T, 1, 0)
        for key in ("gn", "subopt"):
            np.testing.assert_allclose(res.metrics[key][:, r], want[key][:, 0], rtol=1e-10,
                                       atol=1e-14, err_msg=f"{key} rep {r}")
    assert res.times.shape == (T, R)
    assert not np.array_equal(res.times[:, 0], res.times[:, 1])


def test_identical_per_replication_schedules_equal_shared(quad: Quadratic) -> None:
    T, R = 300, 3
    s = algorithm2(stragglers(6, 2, 30.0, "exponential"), T + 100, np.random.default_rng(3),
                   concurrency=8)
    rule = delay_adaptive(0.1, 8)
    shared = simulate(quad, NoNoise(), rule, s, R=R, rng=0, horizon=T, options=every(T))
    batched = simulate(quad, NoNoise(), rule, [s] * R, R=R, rng=0, horizon=T, options=every(T))
    for key in ("gn", "subopt", "avg"):
        np.testing.assert_allclose(batched.metrics[key], shared.metrics[key], rtol=1e-12)


# --------------------------------------------------------------------------- virtual iterate


@st.composite
def async_setups(draw):
    n = draw(st.integers(1, 8))
    exps = draw(st.lists(st.floats(0.0, 4.0), min_size=n, max_size=n))
    times = ComputeTimes(np.zeros(n), 10.0 ** np.array(exps),
                         draw(st.sampled_from(["fixed", "exponential", "pareto"])))
    kind = draw(st.sampled_from(["algorithm1", "algorithm2"]))
    C = draw(st.integers(1, 12)) if kind == "algorithm2" else n
    return times, kind, C


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(setup=async_setups(), per_rep=st.booleans(), T=st.integers(1, 250),
       eta=st.floats(1e-3, 2.0), c=st.floats(1e-2, 10.0), seed=st.integers(0, 2**31),
       adaptive=st.booleans())
def test_virtual_distance_bound(setup, per_rep: bool, T: int, eta: float, c: float,
                                seed: int, adaptive: bool) -> None:
    times, kind, C = setup
    prob = Quadratic(dim=3, condition=10.0)
    make = algorithm1 if kind == "algorithm1" else \
        (lambda t, k, r: algorithm2(t, k, r, concurrency=C))
    ss = np.random.SeedSequence(seed)
    R = 3
    if per_rep:
        sched = [make(times, T + 20, np.random.default_rng(x)) for x in ss.spawn(R)]
    else:
        sched = make(times, T + 20, np.random.default_rng(ss))
    step = delay_adaptive(eta, C) if adaptive else scale(eta)
    res = simulate(prob, Pareto(sigma=5.0, alpha=1.2), chain(clip(c), step), sched, R=R,
                   rng=seed, horizon=T)
    bound = eta * c * C * (1 + 1e-9)
    assert np.all(res.virtual_max <= bound)
    assert np.all(np.nan_to_num(res.metrics["vdist"]) <= bound)
    assert res.tau_c == C


def test_virtual_distance_bound_is_not_vacuous(quad: Quadratic) -> None:
    """Without clipping, heavy noise makes ||x - x~|| exceed eta * c * tau_C."""
    s = algorithm1(stragglers(4, 1, 50.0, "fixed"), 400)
    eta, c = 0.01, 1.0
    noise = Pareto(sigma=5.0, alpha=1.2)
    clipped = simulate(quad, noise, chain(clip(c), scale(eta)), s, R=4, rng=1, horizon=300)
    plain = simulate(quad, noise, scale(eta), s, R=4, rng=1, horizon=300)
    assert np.all(clipped.virtual_max <= eta * c * 4)
    assert np.all(clipped.virtual_max > eta * c)  # several clipped updates parked
    assert np.any(plain.virtual_max > eta * c * 4)


# --------------------------------------------------------------------------- randomness


def test_same_seed_same_output_different_seed_differs(quad: Quadratic) -> None:
    s = algorithm2(stragglers(4, 1, 10.0, "exponential"), 300, np.random.default_rng(0))
    rule = chain(clip(0.5), scale(0.1))
    opts = EngineOptions(eps=(0.5, 0.1))
    a = simulate(quad, SubWeibull(1.0, 1.0), rule, s, R=5, rng=123, horizon=250, options=opts)
    b = simulate(quad, SubWeibull(1.0, 1.0), rule, s, R=5, rng=np.random.default_rng(123),
                 horizon=250, options=opts)
    c = simulate(quad, SubWeibull(1.0, 1.0), rule, s, R=5, rng=124, horizon=250, options=opts)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    np.testing.assert_array_equal(a.hit, b.hit)
    assert not np.array_equal(a.metrics["gn"], c.metrics["gn"])
    pd_a, pd_b = a.checkpoints_frame(), b.checkpoints_frame()
    assert pd_a.equals(pd_b)


def test_replications_are_independent(quad: Quadratic) -> None:
    R = 400
    s = algorithm1(stragglers(4, 1, 5.0, "exponential"), 120, np.random.default_rng(0))
    res = simulate(quad, Gaussian(1.0), scale(0.05), s, R=R, rng=2, horizon=100)
    final = res.metrics["gn"][-1]
    assert np.unique(final).size == R
    bound = 4 / np.sqrt(R // 2)
    for a, b in [(final[: R // 2], final[R // 2:]), (final[0::2], final[1::2])]:
        assert abs(np.corrcoef(a, b)[0, 1]) < bound
    # and the spread across replications is real noise, not a shared path
    assert final.std() > 0.1 * final.mean()


def test_per_replication_schedules_differ_in_experiment() -> None:
    spec = {"name": "perrep", "seed": 3, "replications": 4, "horizon": 60,
            "problem": {"name": "quadratic", "dim": 3},
            "noise": {"name": "gaussian", "sigma": 0.1},
            "workers": {"n": 3, "stragglers": 1, "D": 4.0, "law": "exponential"},
            "scheduler": "algorithm2", "per_replication_schedules": True,
            "algorithms": [{"name": "asgd", "eta": 0.05}]}
    run = run_experiment(spec, progress=lambda m: None).runs["asgd"]
    assert run.times.shape == (60, 4)
    cols = {tuple(run.times[:, r]) for r in range(4)}
    assert len(cols) == 4
    shared = run_experiment(spec | {"per_replication_schedules": False},
                            progress=lambda m: None).runs["asgd"]
    assert shared.times.shape == (60, 1)


# --------------------------------------------------------------------------- divergence


def test_divergence_is_recorded_not_raised(quad: Quadratic) -> None:
    eta, T = 5.0, 60  # |1 - eta L| = 4: GD blows up geometrically
    s = algorithm1(fixed_times(1), T)
    opts = EngineOptions(eps=(1e-3,), diverge_at=1e10, checkpoints=np.arange(1, T + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = simulate(quad, NoNoise(), scale(eta), s, R=3, rng=0, options=opts)
    # closed form: ||grad f(x_t)|| = ||a (1 - eta a)^t x0||; first t past the threshold
    t = np.arange(T + 1)[:, None]
    gn = np.linalg.norm(quad.a * (1 - eta * quad.a) ** t * quad.x0(), axis=1)
    first = int(np.argmax(gn > 1e10))
    assert first > 5
    np.testing.assert_array_equal(res.diverged_at, first)
    before, after = res.iters < first, res.iters >= first
    for k, v in res.metrics.items():
        assert np.all(np.isnan(v[after])), k
        assert np.all(np.isfinite(v[before])), k
    assert np.all(res.hit == 0)
    hits = res.hits_frame()
    assert hits["censored"].all() and hits["diverged"].all()
    assert (hits["T"] == T).all() and hits["wall_clock"].isna().all()
    assert (res.reps_frame()["diverged_at"] == first).all()


class _PoisonedNoise(NoNoise):
    """No noise, except a NaN in replication ``row`` at draw number ``at``."""

    def __init__(self, row: int, at: int):
        object.__setattr__(self, "calls", 0)
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "at", at)

    def sample(self, rng, shape):
        z = np.zeros(shape)
        if self.calls == self.at:
            z[self.row, 0] = np.nan
        object.__setattr__(self, "calls", self.calls + 1)
        return z


@pytest.mark.parametrize("rule", [scale(0.1), chain(clip(0.5), scale(0.1))])
def test_nonfinite_gradient_marks_only_that_replication(quad: Quadratic, rule) -> None:
    T = 40
    s = algorithm1(fixed_times(1), T + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = simulate(quad, _PoisonedNoise(row=1, at=9), rule, s, R=3, rng=0,
                       options=every(T))
    # draw 9 is the job started at x_9 and applied at event 9: x_10 is NaN
    np.testing.assert_array_equal(res.diverged_at, [-1, 10, -1])
    assert np.all(np.isnan(res.metrics["gn"][9:, 1]))
    assert np.all(np.isfinite(res.metrics["gn"][:9, 1]))
    clean = simulate(quad, NoNoise(), rule, s, R=1, rng=0, options=every(T))
    for r in (0, 2):
        np.testing.assert_allclose(res.metrics["gn"][:, r], clean.metrics["gn"][:, 0],
                                   rtol=1e-13)


# --------------------------------------------------------------------------- hitting times


@pytest.mark.parametrize("kind", ["shared", "per_rep"])
def test_hitting_times_match_running_average(quad: Quadratic, kind: str) -> None:
    T, R = 400, 6
    times = stragglers(3, 1, 8.0, "exponential")
    if kind == "shared":
        sched = algorithm2(times, T + 50, np.random.default_rng(0))
    else:
        sched = [algorithm2(times, T + 50, np.random.default_rng(r)) for r in range(R)]
    eps = (0.5, 0.3, 0.1, 0.05, 1e-6)
    res = simulate(quad, Gaussian(0.2), chain(clip(1.0), scale(0.1)), sched, R=R, rng=1,
                   horizon=T, options=EngineOptions(eps=eps, checkpoints=np.arange(1, T + 1)))
    np.testing.assert_array_equal(res.eps, sorted(eps, reverse=True))
    avg = res.metrics["avg"]
    # the running average S_k = (1/k) sum_{t<k} ||grad f(x_t)||
    gn0 = row_norms(quad.grad(quad.x0()[None, :]))[0]
    gsum = gn0 + np.cumsum(res.metrics["gn"], axis=0)[:-1]
    np.testing.assert_allclose(avg[1:], gsum / np.arange(2, T + 1)[:, None], rtol=1e-10)
    np.testing.assert_allclose(avg[0], gn0)
    for e, target in enumerate(res.eps):
        below = avg <= target
        want = np.where(below.any(axis=0), below.argmax(axis=0) + 1, 0)
        np.testing.assert_array_equal(res.hit[e], want)
    assert np.all(res.hit[0] > 0) and np.all(res.hit[-1] == 0)  # reached / censored
    hits = res.hits_frame()
    censored = hits[hits["eps"] == 1e-6]
    assert censored["censored"].all() and (censored["T"] == T).all()


def test_min_and_running_metrics(quad: Quadratic) -> None:
    T = 100
    s = algorithm1(fixed_times(3), T + 10)
    res = simulate(quad, Gaussian(0.5), scale(0.1), s, R=2, rng=0, options=every(T), horizon=T)
    gn0 = row_norms(quad.grad(quad.x0()[None, :]))[0]
    want = np.minimum.accumulate(np.vstack([np.full((1, 2), gn0), res.metrics["gn"]]))[1:]
    np.testing.assert_allclose(res.metrics["gmin"], want)
    # vmax also saw x_0 (before the first checkpoint)
    running = np.maximum(res.metrics["vmax"][0], np.maximum.accumulate(res.metrics["vdist"]))
    np.testing.assert_allclose(res.metrics["vmax"], running)
    assert np.all(res.metrics["vmax"][0] >= res.metrics["vdist"][0])
    assert np.all(res.metrics["vmax"][-1] <= res.virtual_max)


# --------------------------------------------------------------------------- scale and memory


def test_huge_tau_max_small_dimension(quad: Quadratic) -> None:
    # one straggler 1e5 times slower: its first gradient is ~1e5 steps stale
    s = algorithm1(ComputeTimes(np.zeros(2), np.array([1.0, 1e5])), 100_010)
    res = simulate(Quadratic(dim=2), Gaussian(0.1), chain(clip(1.0), scale(0.01)), s, R=1,
                   rng=0)
    assert res.schedule["tau_max"] >= 100_000
    assert np.all(res.virtual_max <= 0.01 * 1.0 * 2 + 1e-12)
    assert np.isfinite(res.metrics["gn"][-1]).all()


def _peak_bytes(D: float, T: int, R: int, d: int) -> tuple[int, int]:
    s = algorithm1(ComputeTimes(np.zeros(2), np.array([1.0, D])), T + 10)
    prob = Quadratic(dim=d)
    tracemalloc.start()
    try:
        res = simulate(prob, NoNoise(), scale(1e-3), s, R=R, rng=0, horizon=T)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, res.schedule["tau_max"]


def test_memory_does_not_grow_with_tau_max() -> None:
    T, R, d = 4000, 8, 100
    small_peak, small_tau = _peak_bytes(40.0, T, R, d)
    big_peak, big_tau = _peak_bytes(3900.0, T, R, d)
    assert small_tau < 50 and big_tau > 3800
    per_delay_buffer = big_tau * R * d * 8  # what storing every stale iterate would cost
    assert big_peak < 0.2 * per_delay_buffer
    assert big_peak < small_peak + 2 * R * d * 8 + 256 * 1024


# --------------------------------------------------------------------------- API and errors


def test_log_checkpoints() -> None:
    cps = log_checkpoints(10_000, per_decade=10)
    assert cps[0] == 1 and cps[-1] == 10_000
    assert np.all(np.diff(cps) > 0)
    assert 30 <= cps.size <= 41
    np.testing.assert_array_equal(log_checkpoints(1), [1])
    np.testing.assert_array_equal(log_checkpoints(7, per_decade=100), np.arange(1, 8))
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        log_checkpoints(0)


def test_custom_checkpoints_are_clipped_and_sorted(quad: Quadratic) -> None:
    s = algorithm1(fixed_times(2), 50)
    res = simulate(quad, NoNoise(), scale(0.1), s, R=1, rng=0,
                   options=EngineOptions(checkpoints=np.array([70, 5, 0, 5, 20])))
    np.testing.assert_array_equal(res.iters, [1, 5, 20, 50])
    assert res.horizon == 50


@pytest.mark.parametrize("kwargs, match", [
    ({"horizon": 101}, "horizon 101 must be in"),
    ({"horizon": 0}, "horizon 0 must be in"),
    ({"R": 0}, "R must be >= 1"),
    ({"x0": np.zeros(4)}, r"x0 must have shape \(6,\)"),
])
def test_simulate_errors(quad: Quadratic, kwargs: dict, match: str) -> None:
    s = algorithm1(fixed_times(2), 100)
    args = {"R": 2, "rng": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        simulate(quad, NoNoise(), scale(0.1), s, **args)


def test_simulate_schedule_list_errors(quad: Quadratic) -> None:
    a = algorithm1(fixed_times(2), 100)
    b = algorithm2(fixed_times(2), 100, np.random.default_rng(0), concurrency=3)
    with pytest.raises(ValueError, match="got 2 schedules for R=3"):
        simulate(quad, NoNoise(), scale(0.1), [a, a], R=3, rng=0)
    with pytest.raises(ValueError, match="equal concurrency"):
        simulate(quad, NoNoise(), scale(0.1), [a, b], R=2, rng=0)
    sync = synchronous(fixed_times(2), 50)
    with pytest.raises(ValueError, match="asynchronous"):
        simulate(quad, NoNoise(), scale(0.1), [sync, sync], R=2, rng=0)


def test_heterogeneous_parts_must_match_workers() -> None:
    prob = HeterogeneousQuadratic(dim=3, n_parts=4)
    s = algorithm1(fixed_times(3), 20)
    with pytest.raises(ValueError, match="4 parts but the schedule has 3 workers"):
        simulate(prob, NoNoise(), scale(0.1), s, R=1, rng=0)


def test_data_problem_with_minibatch_noise_end_to_end() -> None:
    """Logistic regression on real data, minibatch gradients, clipped ASGD: the loss falls,
    and the same seed reproduces the run."""
    from clipasgd.noise import Minibatch
    from clipasgd.problems import make_problem
    from clipasgd.schedules import algorithm1
    from clipasgd.updates import chain, clip, scale

    prob = make_problem("logistic", dataset="breast_cancer", lam=0.01)
    sched = algorithm1(stragglers(4, 1, 10.0), 400)
    rule = chain(clip(5.0), scale(0.1))
    runs = [simulate(prob, Minibatch(8), rule, sched, R=3, rng=11) for _ in range(2)]
    first = runs[0].metrics["subopt"]
    np.testing.assert_array_equal(first, runs[1].metrics["subopt"])
    assert np.all(first[-1] < 0.5 * first[0])


def test_federated_oracle_uses_each_workers_part() -> None:
    """Heterogeneous logistic (Dirichlet split) under Algorithm 2: runs with one part per
    worker, and a part/worker mismatch is refused before any work."""
    from clipasgd.noise import NoNoise
    from clipasgd.problems import make_problem
    from clipasgd.schedules import algorithm2
    from clipasgd.updates import scale

    prob = make_problem("logistic", dataset="breast_cancer", n_parts=4, split="dirichlet",
                        alpha=0.5, seed=1)
    sched = algorithm2(stragglers(4, 1, 5.0, "exponential"), 300, np.random.default_rng(2))
    res = simulate(prob, NoNoise(), scale(0.2), sched, R=2, rng=0)
    assert np.all(np.isfinite(res.metrics["gn"][-1]))
    with pytest.raises(ValueError, match="parts"):
        simulate(prob, NoNoise(), scale(0.2), algorithm2(stragglers(3), 50), R=1, rng=0)


# --------------------------------------------------------------------------- state, options


def test_stateful_momentum_matches_definition(quad: Quadratic) -> None:
    """A stateful rule on a random Algorithm 2 schedule, against the slot-free reference."""
    T, R, seed = 250, 3, 7
    s = algorithm2(stragglers(4, 1, 12.0, "exponential"), T + 100, np.random.default_rng(1),
                   concurrency=6)
    rule = chain(clip(0.3), momentum(0.6), scale(ETA / 8))
    res = simulate(quad, Gaussian(0.3), rule, s, R=R, rng=seed, horizon=T, options=every(T))
    assert_matches(res, reference(quad, Gaussian(0.3), rule, s, T, R, seed), rtol=1e-10,
                   atol=1e-12)
    plain = simulate(quad, Gaussian(0.3), chain(clip(0.3), scale(ETA / 8)), s, R=R, rng=seed,
                     horizon=T, options=every(T))
    assert not np.allclose(plain.metrics["gn"], res.metrics["gn"])


class _NoFullGradient:
    """A problem wrapper whose full gradient and value must not be called."""

    def __init__(self, problem):
        self._p = problem

    def __getattr__(self, name):
        if name in ("grad", "value"):
            raise AssertionError(f"engine called problem.{name}")
        return getattr(self._p, name)


def test_full_gradient_off_and_evaluate() -> None:
    from clipasgd.noise import Minibatch
    from clipasgd.problems import make_problem

    prob = make_problem("logistic", dataset="breast_cancer", lam=0.01)
    sched = algorithm1(stragglers(4, 1, 10.0), 300)
    rule, T = chain(clip(5.0), scale(0.1)), 250
    norm = lambda x: {"x_norm": row_norms(x)}  # noqa: E731
    on = simulate(prob, Minibatch(8), rule, sched, R=3, rng=5, horizon=T,
                  options=EngineOptions(evaluate=norm))
    off = simulate(_NoFullGradient(prob), Minibatch(8), rule, sched, R=3, rng=5, horizon=T,
                   options=EngineOptions(evaluate=norm, full_gradient=False))
    # same iterates either way; evaluate sees x of shape (R, d) at each checkpoint
    np.testing.assert_array_equal(on.metrics["x_norm"], off.metrics["x_norm"])
    for k in ("vdist", "clip"):
        np.testing.assert_array_equal(on.metrics[k], off.metrics[k])
    assert np.all(on.metrics["x_norm"] > 0) and off.hit.size == 0
    for k in ("gn", "avg", "gmin", "subopt"):
        assert np.isnan(off.metrics[k]).all() and np.isfinite(on.metrics[k]).all(), k
    frame = off.checkpoints_frame()
    assert "x_norm" in frame and frame["x_norm"].notna().all()
    with pytest.raises(ValueError, match="needs a minibatch oracle"):
        simulate(prob, Gaussian(0.1), rule, sched, R=1, rng=0,
                 options=EngineOptions(full_gradient=False))
    with pytest.raises(ValueError, match="hitting times"):
        simulate(prob, Minibatch(8), rule, sched, R=1, rng=0,
                 options=EngineOptions(full_gradient=False, eps=(0.1,)))
    with pytest.raises(ValueError, match="'gn' is taken"):
        simulate(prob, Minibatch(8), rule, sched, R=1, rng=0,
                 options=EngineOptions(evaluate=lambda x: {"gn": row_norms(x)}))


def test_schedule_summary_is_the_runs_schedule() -> None:
    from clipasgd.experiment import schedule_summary, spec_schedule

    spec = {"name": "sumry", "seed": 4, "replications": 2, "horizon": 80,
            "problem": {"name": "quadratic", "dim": 3},
            "noise": {"name": "gaussian", "sigma": 0.1},
            "workers": {"n": 4, "stragglers": 1, "D": 30.0, "law": "exponential"},
            "scheduler": "algorithm1", "algorithms": [{"name": "asgd", "eta": 0.05}]}
    summary = schedule_summary(spec)
    assert summary == spec_schedule(spec).truncate(80).summary()
    assert summary == run_experiment(spec, progress=lambda m: None).runs["asgd"].schedule
    assert summary["events"] == 80 and summary["tau_C"] == 4 and summary["tau_max"] >= 3


def _same_but_virtual(on, off) -> None:
    """Every output of ``off`` (``virtual=False``) equals ``on``'s except the virtual
    iterate's, which are NaN."""
    for k, v in on.metrics.items():
        if k in ("vdist", "vmax"):
            assert np.isnan(off.metrics[k]).all(), k
        else:
            np.testing.assert_array_equal(v, off.metrics[k], err_msg=k)
    for k in ("hit", "diverged_at", "clip_fraction"):
        np.testing.assert_array_equal(getattr(on, k), getattr(off, k), err_msg=k)
    assert np.isnan(off.virtual_max).all()


@pytest.mark.parametrize("big", [0.0, 1e308])  # the second overflows: every row diverges
def test_virtual_off_keeps_what_is_read_network(big: float) -> None:
    """The time-to-target runs' path (full_gradient=False, evaluate, numpy engine): skipping
    the virtual iterate leaves evaluations, clip fractions and divergences identical."""
    from clipasgd.noise import Minibatch
    from clipasgd.problems import make_problem

    prob = make_problem("fashion_mlp", source="synthetic", hidden=5, n_eval=40)
    sched = algorithm1(stragglers(4, 2, 4.0), 260)
    runs = [simulate(prob, Minibatch(8), chain(clip(1.0), scale(0.05)), sched, R=3, rng=9,
                     horizon=200, x0=prob.x0() + big,
                     options=EngineOptions(full_gradient=False, evaluate=prob.evaluate,
                                           virtual=v)) for v in (True, False)]
    _same_but_virtual(*runs)
    assert (runs[1].diverged_at >= 0).all() == (big > 0)
    assert big or (runs[0].virtual_max > 0).all()


def test_virtual_off_keeps_what_is_read_batched() -> None:
    """Per-replication schedules and the full gradient (hitting times, norms): the same."""
    prob = Quadratic(dim=6, condition=10.0)
    times = stragglers(4, 1, 6.0)
    scheds = [algorithm1(times, 400, np.random.default_rng(k)) for k in range(3)]
    runs = [simulate(prob, SubWeibull(theta=1.0, sigma=0.3), chain(clip(0.5), scale(0.1)),
                     scheds, R=3, rng=2, horizon=300, engine="numpy",
                     options=EngineOptions(eps=(1.0, 0.1), virtual=v)) for v in (True, False)]
    _same_but_virtual(*runs)


def test_finite_rows_is_exact() -> None:
    from clipasgd.engine import _finite_rows

    x = np.array([[1.0, 2.0], [1e308, 1e308], [np.inf, -np.inf], [np.nan, 0.0], [0.0, 0.0]])
    assert _finite_rows(x).tolist() == [True, True, False, False, True]
