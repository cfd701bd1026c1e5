"""Issue 24 item 2: where the compiled engine's time goes at the benchmark's rows, against
the minimal limit (benchmarks/hit_limit.py). Per piece: building the Algorithm-1 schedule,
the engine's plan (_plan_shared), the numba kernel call alone, the rest of simulate
(Python set-up, lowering, result), and the limit with and without the virtual iterate.
Minimum and median over interleaved repeats (noise seed 0, schedule seed 1).

Run: PYTHONPATH=src python pilots/issue24_limit_breakdown.py [T_R1]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from hit_limit import LAWS, hit_loop  # noqa: E402

import clipasgd.kernel as kernel  # noqa: E402
from clipasgd import engine as eng  # noqa: E402
from clipasgd.compute_times import ringmaster_peer, stragglers  # noqa: E402
from clipasgd.engine import EngineOptions, simulate  # noqa: E402
from clipasgd.noise import SubWeibull  # noqa: E402
from clipasgd.problems import make_problem  # noqa: E402
from clipasgd.schedules import algorithm1  # noqa: E402
from clipasgd.updates import chain, clip, scale  # noqa: E402

SIGMA, THETA, C, ETA, EPS = 0.1, 1.0, 0.05, 0.18, (1.0, 0.1)
timers: dict[str, list[float]] = {}


def timed(name, fn):
    def run(*a, **k):
        start = time.perf_counter()
        out = fn(*a, **k)
        timers.setdefault(name, []).append(time.perf_counter() - start)
        return out
    return run


kernel.run_loop = timed("kernel", kernel.run_loop)
eng._plan_shared = timed("plan", eng._plan_shared)


def row(d: int, R: int, n: int, T: int, peer: bool, reps: int) -> None:
    timers.clear()
    problem = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    times = ringmaster_peer(n) if peer else stragglers(n, n - 1, 4.0)
    eps = np.array(sorted(EPS, reverse=True))
    for k in range(reps + 1):
        start = time.perf_counter()
        sched = algorithm1(times, T + 20 * n, np.random.default_rng(1))
        built = time.perf_counter()
        simulate(problem, SubWeibull(theta=THETA, sigma=SIGMA), chain(clip(C), scale(ETA)),
                 sched, R=R, rng=0, horizon=T, options=EngineOptions(eps=EPS))
        done = time.perf_counter()
        for virtual in (False, True):
            t0 = time.perf_counter()
            hit_loop(np.random.default_rng(0), np.random.default_rng(1), LAWS[times.law],
                     times.shift, times.scale, problem.a, problem.x0(), R, T, SIGMA, THETA, C,
                     ETA, eps, 1e10, virtual)
            timers.setdefault("limit+v" if virtual else "limit", []).append(
                time.perf_counter() - t0)
        timers.setdefault("schedule", []).append(built - start)
        timers.setdefault("simulate", []).append(done - built)
        if k == 0:  # warm-up (compilation, caches)
            timers.clear()
    s = {k: (min(v), statistics.median(v)) for k, v in timers.items()}
    rest = [a - b - c for a, b, c in zip(timers["simulate"], timers["kernel"], timers["plan"],
                                         strict=True)]
    s["rest"] = (min(rest), statistics.median(rest))
    lim = s["limit"][1]
    total = s["schedule"][1] + s["simulate"][1]
    print(f"d={d} R={R} n={n} T={T}: engine/limit {total / lim:.2f} (medians; mins "
          f"{(s['schedule'][0] + s['simulate'][0]) / s['limit'][0]:.2f}), kernel/limit "
          f"{s['kernel'][1] / lim:.2f}, kernel/limit+v {s['kernel'][1] / s['limit+v'][1]:.2f}")
    for k in ("schedule", "plan", "kernel", "rest", "limit", "limit+v"):
        print(f"    {k:>9}: median {1e3 * s[k][1]:8.3f} ms  min {1e3 * s[k][0]:8.3f} ms  "
              f"({100 * s[k][1] / total:.0f}% of the engine)" if k not in ("limit", "limit+v")
              else f"    {k:>9}: median {1e3 * s[k][1]:8.3f} ms  min {1e3 * s[k][0]:8.3f} ms")


if __name__ == "__main__":
    T1 = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    row(10, 1, 8, T1, False, 15)
    row(10, 20, 8, 10_000, False, 7)
    row(1, 10, 16, 20_000, False, 7)
    row(1000, 1, 100, 20_000, True, 5)
