"""The benchmark's minimal limit (``benchmarks/hit_limit.py``) runs the engine's trajectories.

The limit builds Algorithm 1's schedule online from its own heap and the compute-time
generator, and draws the noise itself; the engine takes the project's precomputed
schedule. Same seeds must give the same final ``||grad f||``, running mean, hitting times,
divergence steps and maximal virtual distance (to rounding), or the benchmark's ratio
compares different work. Correctness only: speed is measured in the benchmark.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from clipasgd.compute_times import ComputeTimes, ringmaster_peer, stragglers
from clipasgd.engine import EngineOptions, simulate
from clipasgd.noise import SubWeibull
from clipasgd.problems import make_problem
from clipasgd.schedules import algorithm1
from clipasgd.updates import chain, clip, scale

_SPEC = importlib.util.spec_from_file_location(
    "hit_limit", Path(__file__).resolve().parents[1] / "benchmarks" / "hit_limit.py")
hit_limit = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
sys.modules["hit_limit"] = hit_limit  # numba's cache finds the module on a later load
_SPEC.loader.exec_module(hit_limit)  # type: ignore[union-attr]

SIGMA, THETA = 0.1, 1.0
EPS = (1.0, 0.3, 0.1)
T = 3000

CASES = {  # name: (d, R, compute times, clip radius, step)
    "R1": (10, 1, stragglers(8, 7, 4.0), 0.05, 0.18),
    "R5": (10, 5, stragglers(8, 7, 4.0), 0.05, 0.18),
    "R5 exponential": (10, 5, stragglers(8, 2, 6.0, "exponential"), 0.05, 0.18),
    "R3 peer": (4, 3, ringmaster_peer(6), 0.2, 0.3),
    "R4 diverges": (3, 4, stragglers(8, 7, 4.0), 1e9, 1.9),
}


def engine(d: int, R: int, times: ComputeTimes, c: float, eta: float, seed: int,
           diverge_at: float = 1e10):
    problem = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    sched = algorithm1(times, T + 20 * times.n, np.random.default_rng(seed + 100))
    res = simulate(problem, SubWeibull(theta=THETA, sigma=SIGMA), chain(clip(c), scale(eta)),
                   sched, R=R, rng=seed, horizon=T,
                   options=EngineOptions(eps=EPS, diverge_at=diverge_at), engine="compiled")
    assert res.meta["engine"] == "compiled"
    return problem, res


def limit(problem, R: int, times: ComputeTimes, c: float, eta: float, seed: int,
          virtual: bool, diverge_at: float = 1e10, sched_seed: int | None = None):
    sched_seed = seed + 100 if sched_seed is None else sched_seed
    return hit_limit.hit_loop(
        np.random.default_rng(seed), np.random.default_rng(sched_seed),
        hit_limit.LAWS[times.law], times.shift, times.scale, problem.a, problem.x0(), R, T,
        SIGMA, THETA, c, eta, np.array(sorted(EPS, reverse=True)), diverge_at, virtual)


@pytest.mark.parametrize("name", list(CASES))
def test_limit_runs_the_engines_trajectories(name: str) -> None:
    d, R, times, c, eta = CASES[name]
    seed = 3
    diverge_at = 1e3 if name.endswith("diverges") else 1e10
    problem, res = engine(d, R, times, c, eta, seed, diverge_at)
    for virtual in (False, True):
        gn, mean, hit, diverged, vmax = limit(problem, R, times, c, eta, seed, virtual,
                                              diverge_at)
        np.testing.assert_array_equal(diverged, res.diverged_at)
        if name.endswith("diverges"):  # every row diverged: only the step and NaN agree
            assert np.isnan(gn).all() and np.isnan(res.metrics["gn"][-1]).all()
            continue
        np.testing.assert_allclose(gn, res.metrics["gn"][-1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(mean, res.metrics["avg"][-1], rtol=1e-12, atol=0)
        np.testing.assert_array_equal(hit, res.hit)
        if virtual:
            live = diverged < 0
            np.testing.assert_allclose(vmax[live], res.virtual_max[live], rtol=1e-12)
    if name.endswith("diverges"):
        assert np.all(res.diverged_at >= 0), "the diverging case must diverge"
    else:
        assert np.all(res.diverged_at < 0) and np.all(res.hit[0] > 0), "a trajectory that hits"


def test_a_different_schedule_gives_a_different_trajectory() -> None:
    """Control: the agreement above needs the same schedule (compute-time draws)."""
    d, R, times, c, eta = CASES["R5 exponential"]
    problem, res = engine(d, R, times, c, eta, 3)
    gn, mean, *_ = limit(problem, R, times, c, eta, 3, False, sched_seed=104)
    assert not np.allclose(mean, res.metrics["avg"][-1], rtol=1e-6)
