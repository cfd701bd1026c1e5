"""Throughput benchmarks: engine oracle calls per second against a bare numpy loop.

The bare loop draws the same random numbers (a Gaussian direction and an
exponential radius per row) and does the same vector work (gradient of a diagonal
quadratic, clip, step) with no schedule, buffers or recording: the practical
limit of a numpy simulation on this machine. ``ratio`` = engine time / bare time.
"""

from __future__ import annotations

import time

import numpy as np

from .compute_times import stragglers
from .engine import simulate
from .noise import SubWeibull
from .problems import make_problem
from .schedules import algorithm1, algorithm2
from .updates import chain, clip, row_norms, scale

__all__ = ["bare_loop", "engine_rate", "schedule_rate", "run_bench"]


def bare_loop(d: int, R: int, T: int, seed: int = 0) -> float:
    """Seconds for ``T`` steps of clipped SGD on ``R x d`` with sub-Weibull noise."""
    rng = np.random.default_rng(seed)
    a = np.logspace(-2, 0, d)
    x = np.ones((R, d))
    start = time.perf_counter()
    for _ in range(T):
        g = x * a
        z = rng.standard_normal((R, d))
        z *= (rng.standard_exponential(R) / row_norms(z))[:, None]
        g += z
        g *= (0.01 * np.minimum(1.0, 1.0 / row_norms(g)))[:, None]
        x -= g
    return time.perf_counter() - start


def engine_rate(d: int, R: int, n: int, T: int, seed: int = 0) -> float:
    """Seconds for the engine: clipped ASGD, Algorithm 1, one straggler, same noise."""
    problem = make_problem("quadratic", dim=d)
    sched = algorithm1(stragglers(n, 1, 10.0), T + 10 * n)
    start = time.perf_counter()
    simulate(problem, SubWeibull(theta=1.0, sigma=1.0), chain(clip(1.0), scale(0.01)), sched,
             R=R, rng=seed, horizon=T)
    return time.perf_counter() - start


def schedule_rate(n: int, events: int, scheduler: str = "algorithm1", seed: int = 0) -> float:
    """Events per second of a schedule with ``n`` exponential workers."""
    times = stragglers(n, max(1, n // 100), 10.0, "exponential")
    fn = algorithm1 if scheduler == "algorithm1" else algorithm2
    start = time.perf_counter()
    fn(times, events, np.random.default_rng(seed))
    return events / (time.perf_counter() - start)


def run_bench(quick: bool = False) -> dict:
    """The standard grid; ``quick`` shrinks it to a few seconds."""
    grid = [(10, 100, 16), (100, 1000, 16), (1000, 100, 16), (100, 1000, 256)]
    if not quick:
        grid += [(10, 10000, 16), (1000, 1000, 16), (10000, 10, 16), (100, 100, 1024)]
    rows = []
    for d, R, n in grid:
        T = max(20 * n, min(2000, int(2e7 // (R * d))))
        eng, bare = engine_rate(d, R, n, T), bare_loop(d, R, T)
        rows.append({"d": d, "R": R, "n": n, "steps": T, "calls_per_s": R * T / eng,
                     "bare_calls_per_s": R * T / bare, "ratio": eng / bare})
    events = 100_000 if quick else 1_000_000
    sched = {s: schedule_rate(10_000, events, s) for s in ("algorithm1", "algorithm2")}
    return {"engine": rows, "schedule_events_per_s_n10000": sched}
