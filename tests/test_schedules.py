"""Tests for compute-time models and schedules: known answers, invariants, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clipasgd.compute_times import (
    ComputeTimes,
    TraceTimes,
    make_compute_times,
    ringmaster_peer,
    stragglers,
)
from clipasgd.schedules import (
    Schedule,
    algorithm1,
    algorithm1_reference,
    algorithm2,
    algorithm2_reference,
    from_delays,
    make_schedule,
    mva_time_per_call,
    synchronous,
)


def fixed(times) -> ComputeTimes:
    t = np.asarray(times, dtype=float)
    return ComputeTimes(np.zeros(t.size), t, "fixed")


def paper_population(D: float, law: str) -> ComputeTimes:
    """The paper's Algorithm-2 setting: 16 workers, 8 with mean 1 and 8 with mean D."""
    return stragglers(16, 8, D, law)


def outstanding_jobs(s: Schedule) -> np.ndarray:
    """Jobs in flight just before each event ``t``, from the slot/model arrays alone.

    A job computed at model ``m`` exists from event ``m`` on (it was sent right after
    event ``m - 1``) and is in flight until the event that applies it. Jobs the schedule
    never applies stay in flight to the end.
    """
    T = len(s)
    diff = np.zeros(T + 1, dtype=np.int64)
    np.add.at(diff, s.model, 1)
    np.add.at(diff, np.arange(T) + 1, -1)
    used = np.bincount(s.model, minlength=T)
    diff[0] += s.concurrency - used[0]  # initial jobs never applied
    never = np.flatnonzero(used[1:] == 0) + 1  # jobs sent but never applied
    np.add.at(diff, never, 1)
    return np.cumsum(diff)[:T]


def check_slots(s: Schedule) -> None:
    """Each slot holds one job at a time: the job after event ``e`` reuses ``slot[e]``."""
    T = len(s)
    assert np.all((s.slot >= 0) & (s.slot < s.concurrency))
    late = np.flatnonzero(s.model > 0)
    np.testing.assert_array_equal(s.slot[late], s.slot[s.model[late] - 1])
    first = s.slot[s.model == 0]
    assert first.size == np.unique(first).size <= s.concurrency
    assert T == s.worker.size


# --------------------------------------------------------------------------- Algorithm 1


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_algorithm1_equal_fixed_times_is_periodic(n: int) -> None:
    t0 = 2.0
    T = 40 * n
    s = algorithm1(fixed(np.full(n, t0)), T)
    delay = s.delay
    np.testing.assert_array_equal(delay[:n], np.arange(n))  # warm-up: all start at x_0
    np.testing.assert_array_equal(delay[n:], np.full(T - n, n - 1))
    np.testing.assert_array_equal(s.worker, np.tile(np.arange(n), T // n))  # ties: low index
    np.testing.assert_allclose(s.time, t0 * (np.arange(T) // n + 1))
    summary = s.summary()
    assert summary["tau_C"] == n and summary["tau_max"] == n - 1
    assert summary["time_per_call"] == pytest.approx(t0 / n, rel=1e-12)  # 1 / sum(1/t_i)
    check_slots(s)


@pytest.mark.parametrize("times", [[1.0, 2.0, 3.0, 7.0], [0.5, 0.5, 13.0], [1.0, np.pi, 10.0]])
def test_algorithm1_unequal_fixed_times_throughput(times: list[float]) -> None:
    t = np.asarray(times)
    T = 50_000
    s = algorithm1(fixed(t), T)
    X = np.sum(1.0 / t)  # completions per unit time
    # By wall-clock tau worker i finished floor(tau / t_i) jobs, so tau X - n <= T <= tau X.
    n = t.size
    assert T / X - 1e-9 <= s.time[-1] <= (T + n) / X + 1e-9
    assert s.summary()["time_per_call"] == pytest.approx(1 / X, abs=n / (X * T) + 1e-12)
    # each worker's share of events is its throughput share
    share = np.bincount(s.worker, minlength=n) / T
    np.testing.assert_allclose(share, (1 / t) / X, atol=n / T + 1e-12)
    assert np.all(np.diff(s.time) >= 0)


def test_algorithm1_straggler_delay_matches_its_time() -> None:
    # one straggler 100x slower than 3 unit workers: its gradient is ~300 events old
    s = algorithm1(fixed([1.0, 1.0, 1.0, 100.0]), 5000)
    d = s.delay[s.worker == 3]
    assert np.all(d == 300)  # 3 fast events per time unit, 100 time units
    assert s.summary()["tau_max"] == 300


# --------------------------------------------------------------------------- Algorithm 2


@pytest.mark.parametrize("D, expected", [(4, 0.372), (8, 0.730)])
def test_mva_known_answers(D: float, expected: float) -> None:
    means = paper_population(D, "exponential").means
    assert round(mva_time_per_call(means, 16), 3) == expected


def test_mva_simple_cases() -> None:
    # one customer: it visits a uniform station each time, so time per call = mean of means
    means = np.array([1.0, 3.0, 8.0])
    assert mva_time_per_call(means, 1) == pytest.approx(means.mean())
    # one station, any concurrency: the station is never idle
    assert mva_time_per_call(np.array([2.5]), 7) == pytest.approx(2.5)
    # many customers: the bottleneck saturates, throughput -> n / max(means)... bounded by it
    assert mva_time_per_call(means, 500) == pytest.approx(means.max() / means.size, rel=1e-3)


def batch_means_se(s: Schedule, batches: int = 50) -> float:
    """Standard error of the time per call from batch means of inter-event times."""
    L = len(s) // batches
    ends = s.time[L - 1::L][:batches]
    per_call = np.diff(np.concatenate([[0.0], ends])) / L
    return float(per_call.std(ddof=1) / np.sqrt(batches))


@pytest.mark.parametrize("D", [4, 8])
def test_algorithm2_exponential_agrees_with_mva(D: float) -> None:
    times = paper_population(D, "exponential")
    s = algorithm2(times, 300_000, np.random.default_rng(2024))
    exact = mva_time_per_call(times.means, 16)
    se = batch_means_se(s)
    assert se < 0.01 * exact  # the run is long enough to say something
    assert abs(s.summary()["time_per_call"] - exact) <= 4 * se


@pytest.mark.parametrize("D, expected", [(4, 0.326), (8, 0.644)])
def test_algorithm2_fixed_times_reference(D: float, expected: float) -> None:
    s = algorithm2(paper_population(D, "fixed"), 300_000, np.random.default_rng(11))
    tol = 4 * batch_means_se(s) + 0.0015  # + rounding of the three-decimal reference
    assert abs(s.summary()["time_per_call"] - expected) <= tol


def test_mva_differs_from_wrong_population() -> None:
    # the known answers above must be able to fail: the model with all means 1 is far off
    assert abs(mva_time_per_call(np.ones(16), 16) - 0.372) > 0.05


@pytest.mark.parametrize("law", ["fixed", "exponential", "pareto"])
@pytest.mark.parametrize("C", [1, 5, 16, 40])
def test_algorithm2_concurrency_is_exact(law: str, C: int) -> None:
    s = algorithm2(stragglers(16, 4, 50.0, law), 5000, np.random.default_rng(C), concurrency=C)
    assert s.concurrency == C
    np.testing.assert_array_equal(outstanding_jobs(s), np.full(len(s), C))
    check_slots(s)
    assert s.summary()["tau_C"] == C


def test_algorithm1_concurrency_is_n() -> None:
    s = algorithm1(stragglers(7, 2, 30.0, "exponential"), 3000, np.random.default_rng(3))
    np.testing.assert_array_equal(outstanding_jobs(s), np.full(len(s), 7))
    check_slots(s)


def test_outstanding_jobs_detects_a_broken_schedule() -> None:
    s = algorithm1(fixed([1.0, 1.0, 1.0]), 30)
    broken = Schedule(s.worker, s.slot, np.where(np.arange(30) == 20, 5, s.model), s.time,
                      3, 3, "algorithm1")
    assert np.any(outstanding_jobs(broken) != 3)


def test_algorithm2_is_reproducible_and_seed_dependent() -> None:
    times = stragglers(8, 2, 10.0, "exponential")
    a = algorithm2(times, 2000, np.random.default_rng(5))
    b = algorithm2(times, 2000, np.random.default_rng(5))
    c = algorithm2(times, 2000, np.random.default_rng(6))
    np.testing.assert_array_equal(a.model, b.model)
    np.testing.assert_array_equal(a.time, b.time)
    assert not np.array_equal(a.model, c.model)


# --------------------------------------------------------------------------- from_delays


@pytest.mark.parametrize("kind", ["algorithm1", "algorithm2"])
def test_from_delays_round_trip(kind: str) -> None:
    times = stragglers(6, 2, 20.0, "exponential")
    opts = {"concurrency": 9} if kind == "algorithm2" else {}
    s = make_schedule(kind, times, 4000, np.random.default_rng(1), **opts)
    r = from_delays(s.delay, s.concurrency, times=s.time, workers=s.worker)
    np.testing.assert_array_equal(r.model, s.model)
    np.testing.assert_array_equal(r.delay, s.delay)
    np.testing.assert_array_equal(r.time, s.time)
    np.testing.assert_array_equal(r.worker, s.worker)
    # slots agree up to renaming: the initial jobs are numbered in the order they finish
    rename = dict(zip(s.slot[s.model == 0].tolist(), r.slot[s.model == 0].tolist(),
                      strict=True))
    np.testing.assert_array_equal(np.vectorize(rename.get)(s.slot), r.slot)
    assert r.summary() | {"kind": kind} == s.summary()


def test_from_delays_equal_times_slots_identical() -> None:
    s = algorithm1(fixed(np.ones(4)), 100)
    r = from_delays(s.delay, 4)
    np.testing.assert_array_equal(r.slot, s.slot)
    np.testing.assert_array_equal(r.model, s.model)
    np.testing.assert_array_equal(r.time, np.arange(1.0, 101))  # default times t + 1


@pytest.mark.parametrize("delays, C, match", [
    ([0, 0, 1], 2, "infeasible"),  # model 1 used twice
    ([0, 1, 2], 2, "infeasible"),  # model 0 three times but concurrency 2
    ([0, 2], 3, "delay"),  # delay 2 at t=1 reaches before x_0
    ([0, -1], 3, "delay"),
    ([], 1, "non-empty"),
    ([[0, 1]], 2, "1-D"),
    ([0.0, 1.0], 2, "integer"),
])
def test_from_delays_rejects_infeasible(delays, C: int, match: str) -> None:
    arr = np.asarray(delays) if len(delays) else np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match=match):
        from_delays(arr, C)


def test_from_delays_accepts_feasible_edge() -> None:
    r = from_delays(np.array([0, 1, 2, 1, 1]), 3)  # models 0,0,0,2,3
    np.testing.assert_array_equal(r.model, [0, 0, 0, 2, 3])
    np.testing.assert_array_equal(r.slot, [0, 1, 2, 1, 2])


# --------------------------------------------------------------------------- synchronous


def test_synchronous_structure() -> None:
    n, rounds = 5, 30
    s = synchronous(stragglers(n, 1, 4.0, "exponential"), rounds, np.random.default_rng(0))
    assert len(s) == n * rounds and s.concurrency == n and not s.is_async
    np.testing.assert_array_equal(s.model, np.repeat(np.arange(rounds) * n, n))
    w = s.worker.reshape(rounds, n)
    assert all(sorted(row) == list(range(n)) for row in w.tolist())
    t = s.time.reshape(rounds, n)
    assert np.all(np.diff(t, axis=1) >= 0)  # finish order within a round
    assert np.all(t[1:, 0] > t[:-1, -1])  # a round starts after the slowest of the last
    np.testing.assert_array_equal(s.delay.reshape(rounds, n), np.tile(np.arange(n), (rounds, 1)))


def test_synchronous_fixed_times_known_answer() -> None:
    s = synchronous(fixed([1.0, 3.0, 2.0]), 4)
    np.testing.assert_allclose(s.time, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    np.testing.assert_array_equal(s.worker, [0, 2, 1] * 4)


def test_make_schedule_synchronous_truncates() -> None:
    s = make_schedule("synchronous", fixed(np.ones(4)), 10, np.random.default_rng(0))
    assert len(s) == 10 and s.kind == "synchronous"
    np.testing.assert_array_equal(s.model, [0, 0, 0, 0, 4, 4, 4, 4, 8, 8])


# --------------------------------------------------------------------------- traces


def test_trace_times_replay() -> None:
    trace = TraceTimes(([1.0, 1.0, 1.0, 1.0], [1.5, 2.0]))
    s = algorithm1(trace, 4)
    # finish times: w0 at 1,2,3,4; w1 at 1.5 and 3.5
    np.testing.assert_array_equal(s.worker, [0, 1, 0, 0])
    np.testing.assert_allclose(s.time, [1.0, 1.5, 2.0, 3.0])
    np.testing.assert_array_equal(s.model, [0, 0, 1, 3])
    np.testing.assert_allclose(trace.means, [1.0, 1.75])
    assert trace.describe() == {"kind": "trace", "n": 2, "jobs": [4, 2]}


def test_trace_times_exhaustion() -> None:
    trace = make_compute_times({"trace": [[1.0, 2.0, 3.0], [10.0]]})
    s = algorithm1(trace, 2)
    np.testing.assert_allclose(s.time, [1.0, 3.0])
    with pytest.raises(ValueError, match="trace exhausted: worker 0"):
        algorithm1(trace, 3)


# --------------------------------------------------------------------------- compute times


def test_compute_time_laws_have_mean_one_base() -> None:
    rng = np.random.default_rng(0)
    for spec in [{"law": "exponential"}, {"law": "uniform", "spread": 0.9},
                 {"law": "halfnormal"}, {"law": "pareto", "alpha": 4.0}, {"law": "fixed"}]:
        ct = make_compute_times({"n": 1, "stragglers": 1, "D": 3.0, **spec})
        draw = ct.sampler(rng)
        x = np.array([draw(0) for _ in range(40_000)])
        assert x.mean() == pytest.approx(3.0, abs=5 * x.std() / np.sqrt(x.size) + 1e-12), spec
        assert np.all(x > 0)


def test_make_compute_times_forms() -> None:
    ct = make_compute_times({"n": 10, "stragglers": 3, "D": 7.0, "law": "exponential"})
    np.testing.assert_array_equal(ct.means, [1.0] * 7 + [7.0] * 3)
    m = make_compute_times({"means": [1.0, 2.0, 4.0], "shift": [0.5, 0.5, 0.5],
                            "law": "uniform", "spread": 0.2})
    np.testing.assert_allclose(m.means, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(m.shift, 0.5)
    peer = make_compute_times({"peer": "ringmaster", "n": 5})
    i = np.arange(5)
    np.testing.assert_allclose(peer.means, 1 + np.sqrt(i) + np.sqrt(i + 1) * np.sqrt(2 / np.pi))
    assert peer.means == pytest.approx(ringmaster_peer(5).means)


@pytest.mark.parametrize("spec, match", [
    ({}, "missing key 'n'"),
    ({"n": 0}, "n must be a positive integer"),
    ({"n": 2.5}, "n must be a positive integer"),
    ({"n": 4, "stragglers": 5}, "stragglers m"),
    ({"n": 4, "stragglers": -1}, "stragglers m"),
    ({"n": 4, "stragglers": 1, "D": 0.0}, "D must be positive"),
    ({"n": 4, "stragglers": 1, "D": float("inf")}, "D must be positive"),
    ({"n": 4, "law": "lognormal"}, "unknown compute-time law"),
    ({"n": 4, "law": "exponential", "spread": 0.3}, r"unknown key\(s\) \['spread'\]"),
    ({"n": 4, "bogus": 1}, r"unknown key\(s\) \['bogus'\]"),
    ({"n": 4, "law": "uniform", "spread": 1.5}, "spread in"),
    ({"n": 4, "law": "pareto", "alpha": 1.0}, "alpha > 1"),
    ({"means": [1.0, -1.0]}, "positive mean"),
    ({"means": [1.0, np.nan]}, "finite"),
    ({"means": []}, "non-empty"),
    ({"means": [1.0, 2.0], "shift": [2.0, 0.0]}, "scale >= 0"),
    ({"means": [1.0], "law": "fixed", "alpha": 3.0}, r"unknown key\(s\) \['alpha'\]"),
    ({"trace": []}, "at least one recorded time"),
    ({"trace": [[1.0], []]}, "at least one recorded time"),
    ({"trace": [[1.0, 0.0]]}, "finite and positive"),
    ({"trace": [[1.0]], "n": 1}, r"unknown key\(s\) \['n'\]"),
    ({"peer": "ringmaster", "n": 3, "D": 2}, r"unknown key\(s\) \['D'\]"),
])
def test_make_compute_times_errors(spec: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_compute_times(spec)


def test_unknown_key_error_lists_every_key_the_form_takes() -> None:
    """A misspelt key's error lists what the form accepts, ``law`` and each law's own
    parameter included (they were read or popped before the check and went unlisted)."""
    with pytest.raises(ValueError) as err:
        make_compute_times({"n": 16, "lw": "pareto"})
    assert "allowed: ['D', 'law', 'n', 'shift', 'stragglers']" in str(err.value)
    assert "spread (law=uniform), alpha (law=pareto)" in str(err.value)
    with pytest.raises(ValueError, match=r"allowed: \['law', 'means', 'shift'\]"):
        make_compute_times({"means": [1.0], "lw": 1})


def test_compute_times_direct_errors() -> None:
    with pytest.raises(ValueError, match="equally long"):
        ComputeTimes(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="takes no parameter"):
        ComputeTimes(np.zeros(1), np.ones(1), "exponential", {"alpha": 2.0})


@pytest.mark.parametrize("kind, T, opts, match", [
    ("algorithm3", 10, {}, "unknown scheduler 'algorithm3'"),
    ("algorithm1", 0, {}, "number of events must be a positive integer"),
    ("algorithm1", 2.5, {}, "number of events must be a positive integer"),
    ("algorithm2", -3, {}, "number of events must be a positive integer"),
    ("algorithm2", 10, {"concurrency": 0}, "concurrency must be >= 1"),
    ("algorithm1", 10, {"concurrency": 3}, "concurrency applies to algorithm2 only"),
    ("synchronous", 10, {"concurrency": 3}, "concurrency applies to algorithm2 only"),
    ("algorithm2", 10, {"slots": 3}, r"takes no option\(s\) \['slots'\]"),
    ("synchronous", 0, {}, "positive integer"),
])
def test_make_schedule_errors(kind: str, T, opts: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_schedule(kind, fixed(np.ones(3)), T, np.random.default_rng(0), **opts)


def test_schedule_rejects_bad_arrays() -> None:
    z = np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError, match="equally long"):
        Schedule(z, z[:2], z, np.zeros(3), 1, 1, "trace")
    with pytest.raises(ValueError, match="model"):
        Schedule(z, z, np.array([0, 2, 0]), np.zeros(3), 1, 1, "trace")


# --------------------------------------------------------------------------- scale


@pytest.mark.parametrize("kind", ["algorithm1", "algorithm2"])
def test_ten_thousand_workers(kind: str) -> None:
    times = stragglers(10_000, 100, 1000.0, "exponential")
    s = make_schedule(kind, times, 30_000, np.random.default_rng(0))
    assert len(s) == 30_000 and s.concurrency == 10_000
    assert s.worker.max() < 10_000
    assert np.all(s.model <= np.arange(30_000))


# --------------------------------------------------------------------------- properties

LAWS = ["fixed", "exponential", "uniform", "halfnormal", "pareto"]


@st.composite
def populations(draw) -> ComputeTimes:
    n = draw(st.integers(1, 12))
    means = np.array(draw(st.lists(st.floats(0.0, 4.0), min_size=n, max_size=n)))
    means = 10.0 ** means  # per-worker means in [1, 1e4]: extreme stragglers included
    law = draw(st.sampled_from(LAWS))
    return ComputeTimes(np.zeros(n), means, law)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(times=populations(), kind=st.sampled_from(["algorithm1", "algorithm2"]),
       T=st.integers(1, 1500), C=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_schedule_properties(times: ComputeTimes, kind: str, T: int, C: int, seed: int) -> None:
    opts = {"concurrency": C} if kind == "algorithm2" else {}
    s = make_schedule(kind, times, T, np.random.default_rng(seed), **opts)
    t = np.arange(T)
    assert len(s) == T
    assert np.all((s.model >= 0) & (s.model <= t))
    used = np.bincount(s.model, minlength=T)
    assert np.all(used[1:] <= 1)
    assert used[0] <= s.concurrency
    assert np.all(np.diff(s.time) >= 0)
    assert np.all((s.worker >= 0) & (s.worker < times.n))
    summary = s.summary()
    assert summary["tau_avg"] == pytest.approx(float(np.mean(t - s.model)))
    assert summary["tau_max"] == int(np.max(t - s.model))
    assert summary["events"] == T
    assert summary["time_per_call"] == pytest.approx(s.time[-1] / T)
    assert summary["tau_C"] == s.concurrency == (C if kind == "algorithm2" else times.n)
    np.testing.assert_array_equal(outstanding_jobs(s), np.full(T, s.concurrency))
    check_slots(s)


# --------------------------------------------------------------------------- compiled twins

_ARRAYS = ("worker", "slot", "model", "time")


def assert_same(fast, slow, times, T: int, seed: int, **opts) -> None:
    """Same arrays, kind and sizes, and the generator left in the same state."""
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    s, r = fast(times, T, a, **opts), slow(times, T, b, **opts)
    for k in _ARRAYS:
        np.testing.assert_array_equal(getattr(s, k), getattr(r, k), err_msg=k)
    assert (s.kind, s.n_workers, s.concurrency) == (r.kind, r.n_workers, r.concurrency)
    assert a.bit_generator.state == b.bit_generator.state


LAWS_WITH_PARAMS = [("fixed", {}), ("exponential", {}), ("uniform", {"spread": 0.9}),
                    ("halfnormal", {}), ("pareto", {"alpha": 1.5})]


@pytest.mark.parametrize("law,params", LAWS_WITH_PARAMS)
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_compiled_algorithm1_equals_reference(law: str, params: dict, n: int) -> None:
    for seed in range(4):
        # T past one block of draws (2**14) so refills happen mid-run
        assert_same(algorithm1, algorithm1_reference, stragglers(n, n // 3, 4.0, law, **params),
                    17_000 + 311 * seed, seed)


@pytest.mark.parametrize("law,params", LAWS_WITH_PARAMS)
@pytest.mark.parametrize("n,C", [(1, None), (1, 3), (2, 1), (7, None), (7, 3), (7, 20),
                                 (40, 100)])
def test_compiled_algorithm2_equals_reference(law: str, params: dict, n: int, C) -> None:
    for seed in range(4):
        assert_same(algorithm2, algorithm2_reference, stragglers(n, n // 2, 3.0, law, **params),
                    12_000 + 977 * seed, seed, concurrency=C)


def test_compiled_schedules_equal_reference_on_heterogeneous_workers() -> None:
    times = ringmaster_peer(25)  # per-worker shift and scale
    for seed in range(4):
        assert_same(algorithm1, algorithm1_reference, times, 40_000, seed)
        assert_same(algorithm2, algorithm2_reference, times, 40_000, seed, concurrency=9)


@pytest.mark.parametrize("seed", range(6))
def test_compiled_schedules_equal_reference_on_traces(seed: int) -> None:
    """Trace replay, with whole-number times so finish-time ties are frequent."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    trace = TraceTimes(tuple(rng.integers(1, 4, size=3000).astype(float) for _ in range(n)))
    assert_same(algorithm1, algorithm1_reference, trace, 2000, seed)
    assert_same(algorithm2, algorithm2_reference, trace, 1500, seed, concurrency=n + 2)


@pytest.mark.parametrize("fast,slow,opts", [(algorithm1, algorithm1_reference, {}),
                                            (algorithm2, algorithm2_reference, {}),
                                            (algorithm2, algorithm2_reference,
                                             {"concurrency": 5})])
def test_compiled_schedules_run_out_of_a_trace_like_reference(fast, slow, opts) -> None:
    trace = TraceTimes(([1.0, 2.0, 1.0, 3.0], [2.5, 1.0], [1.0] * 6))
    messages = []
    for fn in (fast, slow):
        with pytest.raises(ValueError, match="trace exhausted") as err:
            fn(trace, 50, np.random.default_rng(3), **opts)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
