"""Benchmark: the engines' oracle calls/s against the compiled limit, per ``(d, R, n)``.

Run ``python benchmarks/bench_engine.py [--quick] [--repeats K] [--json FILE]`` (or
``make bench``, ``clipasgd bench``). Each row times the numpy engine, the compiled engine
(``engine="compiled"``) and the compiled limit (``limit_kernel.py``: the same work, same
generator and draw order, written apart from the engine) on one Algorithm-1 schedule,
interleaved ``K`` times; it reports medians, ``numpy/lim`` and ``comp/lim`` (engine time /
limit time; the target is ``comp/lim <= 2`` at every row). ``agree`` is the largest
relative difference of the final running mean of ``||grad f||`` between either engine and
the limit: about 1e-12 when they did the same work on the same draws. Rows include
``R = 1``, the pipeline's own settings (tau_max: d=10, R=10, n=8; rate_shape: R=20;
federated: d=1, R=10, n=16), the same calls stacked along ``R`` (what batching would buy) and a
peer-like single long trajectory (d=1000, n=100, the Ringmaster compute times; target at
least 2.3e4 calls/s). Schedules: events/s at n = 10,000 workers, compiled against the
Python reference. The neural-network gradient's rows (gradients/s against a minimal numpy
gradient and torch) come from ``bench_network.py``. Speed lives here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_network import print_network, run_network_bench  # noqa: E402
from limit_kernel import limit_loop  # noqa: E402

from clipasgd.compute_times import ComputeTimes, ringmaster_peer, stragglers  # noqa: E402
from clipasgd.engine import EngineOptions, simulate  # noqa: E402
from clipasgd.noise import SubWeibull  # noqa: E402
from clipasgd.problems import make_problem  # noqa: E402
from clipasgd.schedules import (  # noqa: E402
    Schedule,
    algorithm1,
    algorithm1_reference,
    algorithm2,
    algorithm2_reference,
)
from clipasgd.updates import chain, clip, scale  # noqa: E402

SIGMA, THETA, C_CLIP, ETA, EPS = 0.1, 1.0, 0.05, 0.18, (1.0, 0.1)

# (label, d, R, n, events in the full run); quick runs a tenth of the events
# "x3 rows" / "x4 rows": what stacking a claim's calls along R (issue 13, item 2) would run,
# the same events over three (rate_shape's algorithms) or four (federated's grid points)
# times the rows; their calls/s against the row above bound what stacking can gain.
GRID = [("R=1", 10, 1, 8, 20_000), ("rate_shape", 10, 20, 8, 10_000),
        ("x3 rows", 10, 60, 8, 10_000), ("federated", 1, 10, 16, 20_000),
        ("x4 rows", 1, 40, 16, 20_000),
        ("tau_max", 10, 10, 8, 20_000), ("", 10, 100, 16, 10_000), ("", 10, 1000, 16, 2_000),
        ("", 100, 1000, 16, 1_000), ("", 1000, 100, 16, 1_000), ("", 10, 10_000, 16, 300),
        ("peer", 1000, 1, 100, 20_000)]
QUICK_SKIP = {(10, 10_000)}


def workload(d: int, n: int, T: int, peer: bool) -> tuple:
    """Problem, compute times and an Algorithm-1 schedule with slack past ``T``."""
    problem = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    times: ComputeTimes = ringmaster_peer(n) if peer else stragglers(n, n - 1, 4.0)
    return problem, algorithm1(times, T + 20 * n, np.random.default_rng(1))


def engine_run(problem, sched: Schedule, R: int, T: int, seed: int, engine: str
               ) -> tuple[float, np.ndarray]:
    """Seconds and final running mean of ``||grad f||`` per row, one engine."""
    start = time.perf_counter()
    res = simulate(problem, SubWeibull(theta=THETA, sigma=SIGMA), chain(clip(C_CLIP),
                   scale(ETA)), sched, R=R, rng=seed, horizon=T,
                   options=EngineOptions(eps=EPS), engine=engine)
    assert res.meta["engine"] == engine, res.meta
    return time.perf_counter() - start, res.metrics["avg"][-1]


def limit_run(problem, sched: Schedule, R: int, T: int, seed: int) -> tuple[float, np.ndarray]:
    """Seconds and final running mean of ``||grad f||`` per row, compiled limit."""
    cps = np.unique(np.round(np.logspace(0, np.log10(T), 41)).astype(np.int64))
    start = time.perf_counter()
    rec, _, _, _ = limit_loop(np.random.default_rng(seed), problem.a, problem.x0(), R, T,
                              sched.slot, sched.model, sched.concurrency, SIGMA, THETA,
                              C_CLIP, ETA, np.array(sorted(EPS, reverse=True)), cps, 1e10)
    return time.perf_counter() - start, rec[1, -1]


def bench_row(label: str, d: int, R: int, n: int, T: int, repeats: int) -> dict:
    problem, sched = workload(d, n, T, label == "peer")
    limit_run(problem, sched, R, min(T, 50), 0)  # compile or load the caches outside timing
    engine_run(problem, sched, R, min(T, 50), 0, "compiled")
    secs: dict[str, list[float]] = {"numpy": [], "compiled": [], "limit": []}
    agree = 0.0
    for k in range(repeats):
        tl, al = limit_run(problem, sched, R, T, k)
        secs["limit"].append(tl)
        for engine in ("numpy", "compiled"):
            te, ae = engine_run(problem, sched, R, T, k, engine)
            secs[engine].append(te)
            agree = max(agree, float(np.max(np.abs(ae - al) / np.abs(al))))
    med = {kind: statistics.median(s) for kind, s in secs.items()}
    return {"label": label, "d": d, "R": R, "n": n, "events": T,
            **{f"{kind}_calls_per_s": R * T / t for kind, t in med.items()},
            "numpy_ratio": med["numpy"] / med["limit"],
            "compiled_ratio": med["compiled"] / med["limit"], "agree": agree}


def schedule_rates(events: int, repeats: int) -> dict:
    """Events/s of Algorithms 1 and 2 at n = 10,000 exponential workers (medians)."""
    times = stragglers(10_000, 100, 10.0, "exponential")
    pairs = {"algorithm1": (algorithm1, algorithm1_reference),
             "algorithm2": (algorithm2, algorithm2_reference)}
    algorithm1(times, 10)
    algorithm2(times, 10)  # compile or load the cache outside timing
    out = {}
    for name, (fast, slow) in pairs.items():
        secs: dict[str, list[float]] = {"compiled": [], "python": []}
        for k in range(repeats):
            for kind, fn in (("compiled", fast), ("python", slow)):
                start = time.perf_counter()
                fn(times, events, np.random.default_rng(k))
                secs[kind].append(time.perf_counter() - start)
        rates = {kind: events / statistics.median(s) for kind, s in secs.items()}
        out[name] = rates | {"speedup": rates["compiled"] / rates["python"]}
    return out


def run_bench(quick: bool = False, repeats: int | None = None) -> dict:
    """The standard grid (``quick``: a tenth of the events, one repeat, no R = 1e4 row)."""
    reps = repeats or (1 if quick else 3)
    rows = [bench_row(label, d, R, n, T // 10 if quick else T, reps)
            for label, d, R, n, T in GRID if not (quick and (d, R) in QUICK_SKIP)]
    sched = schedule_rates(100_000 if quick else 1_000_000, reps)
    return {"engine": rows, "schedule_events_per_s_n10000": sched,
            "network": run_network_bench(quick, reps), "repeats": reps}


def print_table(result: dict) -> None:
    print(f"{'':>10} {'d':>5} {'R':>6} {'n':>4} {'events':>7} {'numpy/s':>9} "
          f"{'compiled/s':>10} {'limit/s':>9} {'numpy/lim':>9} {'comp/lim':>8} {'agree':>8}")
    for r in result["engine"]:
        print(f"{r['label']:>10} {r['d']:>5} {r['R']:>6} {r['n']:>4} {r['events']:>7} "
              f"{r['numpy_calls_per_s']:>9.3g} {r['compiled_calls_per_s']:>10.3g} "
              f"{r['limit_calls_per_s']:>9.3g} {r['numpy_ratio']:>9.1f} "
              f"{r['compiled_ratio']:>8.2f} {r['agree']:>8.1e}")
    for name, s in result["schedule_events_per_s_n10000"].items():
        print(f"{name} at n=10000: compiled {s['compiled']:.3g} events/s, python "
              f"{s['python']:.3g} events/s, speed-up {s['speedup']:.1f}x")
    print_network(result["network"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small grid (well under a minute)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved runs per row")
    ap.add_argument("--json", help="also write the result as JSON here")
    args = ap.parse_args()
    result = run_bench(quick=args.quick, repeats=args.repeats)
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
