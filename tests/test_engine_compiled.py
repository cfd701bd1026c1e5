"""The compiled engine against the numpy engine (the reference) on the same seeds.

Both engines draw the same numbers in the same order (per job one ``(R, d)`` block of
normals, then ``R`` radii), so every run below must agree to rounding: metrics to
``1e-12`` relative (sums run in a different order), hitting times, divergence steps and
clip fractions exactly, and the generator must end in the same state. No case needs a
different draw order, so no test falls back to comparing laws.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clipasgd import algorithms
from clipasgd.compute_times import stragglers
from clipasgd.engine import DEFAULT_ENGINE, EngineOptions, engines, simulate
from clipasgd.experiment import run_experiment
from clipasgd.lowering import lower
from clipasgd.noise import Gaussian, Minibatch, NoNoise, Pareto, StudentT, SubWeibull
from clipasgd.problems import HeterogeneousQuadratic, Logistic, NonConvex, Quadratic
from clipasgd.schedules import algorithm1, algorithm2
from clipasgd.spec import load_spec
from clipasgd.updates import Transform, chain, clip, delay_adaptive, drop_stale, momentum, scale

T = 150
QUAD = Quadratic(dim=6, condition=20.0, delta0=2.0)
OPTS = EngineOptions(eps=(1.0, 0.3, 0.05), checkpoints=np.arange(1, T + 1))


def times(n: int = 4):
    return stragglers(n, 1, 5.0)


def both(problem, noise, rule, sched, R: int = 3, seed: int = 7, options=OPTS, **kw):
    """Run both engines on the same seed; check the compiled one ran, and the generators
    end in the same state."""
    out = []
    for engine in ("numpy", "compiled"):
        rng = np.random.default_rng(seed)
        res = simulate(problem, noise, rule, sched, R=R, rng=rng, horizon=kw.get("horizon", T),
                       options=options, engine=engine)
        assert res.meta["engine"] == engine
        out.append((res, rng.random()))
    (ref, u_ref), (fast, u_fast) = out
    assert u_ref == u_fast, "the engines drew a different amount of randomness"
    return ref, fast


def assert_same(ref, fast, rtol: float = 1e-12) -> None:
    assert ref.metrics.keys() == fast.metrics.keys()
    for k, want in ref.metrics.items():
        got = fast.metrics[k]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=k)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14, err_msg=k)
    np.testing.assert_array_equal(fast.hit, ref.hit)
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    np.testing.assert_array_equal(fast.clip_fraction, ref.clip_fraction)
    np.testing.assert_allclose(fast.virtual_max, ref.virtual_max, rtol=rtol, atol=1e-14)
    np.testing.assert_array_equal(fast.times, ref.times)
    np.testing.assert_array_equal(fast.iters, ref.iters)
    assert (fast.c, fast.tau_c, fast.schedule) == (ref.c, ref.tau_c, ref.schedule)


RULES = {
    "clip_scale": chain(clip(0.3), scale(0.2)),
    "scale": scale(0.2),
    "clip_only": clip(0.05),
    "delay_adaptive": delay_adaptive(0.3, 4),
    "drop_stale": chain(drop_stale(3), scale(0.2)),
    "two_clips": chain(clip(0.5), scale(0.3), clip(0.08)),  # the count follows the smaller
    "nested": chain(chain(drop_stale(6), clip(0.2)), delay_adaptive(0.25, 2)),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_agree(name: str) -> None:
    sched = algorithm1(times(), T + 50, np.random.default_rng(1))
    assert_same(*both(QUAD, SubWeibull(sigma=0.5, theta=1.5), RULES[name], sched))


NOISES = {"none": NoNoise(), "gaussian": Gaussian(0.7), "subweibull": SubWeibull(0.4, 2.0),
          "student_t": StudentT(0.3, 2.5), "pareto": Pareto(0.3, 1.5)}


@pytest.mark.parametrize("name", sorted(NOISES))
def test_noises_agree(name: str) -> None:
    sched = algorithm2(times(5), T + 50, np.random.default_rng(2), concurrency=7)
    assert_same(*both(QUAD, NOISES[name], chain(clip(0.4), scale(0.2)), sched))


@pytest.mark.parametrize("problem", [
    NonConvex(dim=5, alpha=2.0), NonConvex(dim=4, alpha=1.5, rotate=False),
    HeterogeneousQuadratic(dim=5, n_parts=4, spread=2.0),
    Logistic(lam=0.1), Logistic(n_parts=4, split="dirichlet", alpha=0.3, lam=0.05),
], ids=["nonconvex", "nonconvex_axis", "hetero_quadratic", "logistic", "hetero_logistic"])
def test_problems_agree(problem) -> None:
    sched = algorithm1(times(4), T + 50, np.random.default_rng(3))
    assert_same(*both(problem, Gaussian(0.5), chain(clip(0.5), scale(0.1)), sched))


@pytest.mark.parametrize("kind", ["algorithm1", "algorithm2"])
def test_per_replication_schedules_agree(kind: str) -> None:
    problem = HeterogeneousQuadratic(dim=5, n_parts=4, spread=1.0)
    make = algorithm1 if kind == "algorithm1" else algorithm2
    scheds = [make(times(4), T + 60, np.random.default_rng(10 + r)) for r in range(3)]
    assert_same(*both(problem, StudentT(0.5, 3.0), chain(drop_stale(5), clip(0.3), scale(0.2)),
                      scheds))


def test_divergence_resets_rows_alike() -> None:
    """Huge steps blow some rows up at different events; both engines reset them alike."""
    sched = algorithm1(times(4), T + 50, np.random.default_rng(4))
    opts = EngineOptions(eps=(2.0,), diverge_at=1e4, checkpoints=np.arange(1, T + 1))
    ref, fast = both(QUAD, Pareto(2.0, 1.1), scale(2.2), sched, R=6, options=opts)
    assert (ref.diverged_at >= 0).sum() >= 2  # the test exercises the reset
    assert_same(ref, fast, rtol=1e-10)


def test_stop_when_hit_stops_alike() -> None:
    sched = algorithm1(times(4), 2000, np.random.default_rng(5))
    opts = EngineOptions(eps=(1.0, 0.5), stop_when_hit=True)
    ref, fast = both(QUAD, Gaussian(0.05), scale(0.3), sched, R=4, options=opts, horizon=1500)
    assert np.all(ref.hit > 0) and np.isnan(ref.metrics["gn"][-1]).all()  # it did stop
    assert_same(ref, fast)


class _Halve(Transform):
    def update(self, g, state, delay):
        return g * 0.5, state


@pytest.mark.parametrize("noise, rule, why", [
    (Gaussian(0.1), chain(momentum(0.5), scale(0.1)), "momentum"),
    (Gaussian(0.1), _Halve(), "_Halve"),
])
def test_fallback_runs_numpy_and_says_why(noise, rule, why: str) -> None:
    sched = algorithm1(times(), 80, np.random.default_rng(0))
    res = simulate(QUAD, noise, rule, sched, R=2, rng=0, horizon=50)
    assert res.meta["engine"] == "numpy" and why in res.meta["engine_note"]


@pytest.mark.parametrize("name", algorithms.names())
def test_every_registered_algorithm_agrees_or_says_why(name: str) -> None:
    """Each registered rule (example parameters by type) either lowers, and then both
    loops agree, or runs the numpy loop with the lowering's reason."""
    params = {p.name: 0.2 if p.schema["type"] == "number" else 3
              for p in algorithms.entry(name).params.values()}
    rule = algorithms.make_algorithm(name, n_workers=4, **params).rule
    sched = algorithm1(times(), T + 50, np.random.default_rng(1))
    noise = SubWeibull(sigma=0.5, theta=1.5)
    why = lower(QUAD, noise, rule)
    if isinstance(why, str):
        res = simulate(QUAD, noise, rule, sched, R=2, rng=0, horizon=50)
        assert res.meta == {"engine": "numpy", "engine_note": why}
    else:
        assert_same(*both(QUAD, noise, rule, sched))


def test_engine_names_match_the_config_schema() -> None:
    """The config schema is static JSON: its engine list must be the built-in backends."""
    schema = json.loads((Path(__file__).parents[1] / "config" / "config.schema.json")
                        .read_text())
    assert schema["properties"]["engine"]["enum"] == list(engines())
    assert DEFAULT_ENGINE == engines()[0] == load_spec(
        {"problem": {"name": "quadratic"}, "noise": {"name": "none"}, "workers": {"n": 2},
         "horizon": 5, "algorithms": [{"name": "asgd", "eta": 0.1}]})["engine"]


def test_minibatch_falls_back() -> None:
    problem = Logistic()
    sched = algorithm1(times(), 80, np.random.default_rng(0))
    res = simulate(problem, Minibatch(4), scale(0.1), sched, R=2, rng=0, horizon=50)
    assert res.meta["engine"] == "numpy" and "minibatch" in res.meta["engine_note"]


def test_bad_engine_is_refused() -> None:
    sched = algorithm1(times(), 80, np.random.default_rng(0))
    with pytest.raises(ValueError, match="engine"):
        simulate(QUAD, NoNoise(), scale(0.1), sched, R=1, rng=0, horizon=10, engine="jax")


def test_a_registered_backend_runs_the_lowered_description(monkeypatch) -> None:
    """The GPU seam: a backend is one function on the lowered description and the plan;
    ``simulate`` runs it where the kernel would, names it in ``meta``, and falls back to
    numpy (saying why) where nothing lowers."""
    from clipasgd import engine, lowering

    calls = []

    def backend(lowered, plan, rng, *args):
        calls.append((lowered.problem.kind, plan.starts.size))  # plan is CSR arrays
        return lowering.run(lowered, plan, rng, *args)

    monkeypatch.setitem(engine.BACKENDS, "toy", engine.lowered_backend(backend))
    assert engine.engines() == ("compiled", "numpy", "toy")
    sched = algorithm1(times(), T + 40, np.random.default_rng(0))
    rule = chain(clip(0.5), scale(0.2))
    ref = simulate(QUAD, SubWeibull(theta=1.0, sigma=0.3), rule, sched, R=3, rng=5,
                   horizon=T, options=OPTS, engine="compiled")
    got = simulate(QUAD, SubWeibull(theta=1.0, sigma=0.3), rule, sched, R=3, rng=5,
                   horizon=T, options=OPTS, engine="toy")
    assert got.meta["engine"] == "toy" and calls == [(0, calls[0][1])]
    assert_same(ref, got, rtol=0.0)
    fallback = simulate(QUAD, Gaussian(0.1), _Halve(), sched, R=2, rng=0, horizon=50,
                        engine="toy")
    assert fallback.meta["engine"] == "numpy" and "_Halve" in fallback.meta["engine_note"]
    assert len(calls) == 1


@pytest.mark.parametrize("name, backend, error", [
    ("numpy", lambda *a: None, ValueError), ("my gpu", lambda *a: None, ValueError),
    ("gpu", "not a function", TypeError)])
def test_register_backend_refuses_bad_input(name, backend, error) -> None:
    from clipasgd.engine import register_backend

    with pytest.raises(error, match="backend"):
        register_backend(name, backend)


def test_experiment_engine_key_and_override() -> None:
    spec = {"name": "eq", "seed": 3, "replications": 4, "chunk": 3, "horizon": 120,
            "problem": {"name": "quadratic", "dim": 5},
            "noise": {"name": "subweibull", "sigma": 0.5, "theta": 1.0},
            "workers": {"n": 4, "stragglers": 1, "D": 5}, "eps": [0.5, 0.1],
            "per_replication_schedules": True,
            "algorithms": [{"name": "clipped_asgd", "eta": 0.2, "c": 0.3},
                           {"name": "delay_adaptive_asgd", "eta": 0.1, "tau_c": 4}]}
    fast = run_experiment(spec, progress=lambda m: None)
    ref = run_experiment({**spec, "engine": "numpy"}, progress=lambda m: None)
    assert fast.summary()["algorithms"]["clipped_asgd"]["engine"] == "compiled"
    assert fast.summary()["algorithms"]["delay_adaptive_asgd"]["engine"] == "compiled"
    assert ref.summary()["algorithms"]["clipped_asgd"]["engine"] == "numpy"
    for label in ("clipped_asgd", "delay_adaptive_asgd"):
        assert_same(ref.runs[label], fast.runs[label])
    again = run_experiment(spec, progress=lambda m: None, engine="numpy")
    assert again.summary()["algorithms"]["clipped_asgd"]["engine"] == "numpy"
