"""Benchmark: the engines' oracle calls/s against a minimal compiled limit, per ``(d, R, n)``.

Run ``python benchmarks/bench_engine.py [--quick] [--repeats K] [--json FILE]`` (or
``make bench``, ``clipasgd bench``). Each row times, interleaved ``K`` times, each timing
repeating the call until the limit's side lasts ``MIN_SECONDS``; it reports the fastest of
the ``K`` (the least disturbed by other load; ``seconds`` in the JSON holds them all):

* the engines as a run uses them: build the Algorithm-1 schedule (``T + 20 n`` events, the
  slack the virtual iterate needs) then ``simulate`` on it, numpy or compiled; ``sched%``
  is the schedule's share of the compiled engine's time;
* the limit (``hit_limit.py``, numba, written apart from the engine): only what a hitting
  time needs, in one loop: Algorithm 1's heap of finish times with the same compute-time
  draws, the same noise draws in the same order fused with clip and step, ``||grad f||``,
  its running sum, the hitting times and the divergence check. No virtual iterate, no
  checkpoints, no plan, no Python set-up. ``lim+v/s`` is the same loop with the virtual
  iterate (``||x - x~||`` and its maximum), which the engine always computes.

``eng/lim`` (compiled engine time / limit time; target ``<= 1.5`` at every row),
``eng/lim+v`` and ``numpy/lim`` (the numpy engine timed on at most ``NUMPY_EVENTS``
events, once). ``R=1 long`` repeats ``R=1`` with ten times the events: the engine's fixed cost per
call (schedule arrays, plan, checks, result) against its cost per event. ``agree`` is the
largest relative difference of the final running mean of ``||grad f||`` between either
engine and the limit, ``hits`` says whether every hitting time was equal: the sides ran
the same trajectories. Rows include ``R = 1``, the pipeline's own settings (tau_max: d=10,
R=10, n=8; rate_shape: R=20; federated: d=1, R=10, n=16), the same calls stacked along
``R`` (what batching would buy) and a peer-like single long trajectory (d=1000, n=100, the
Ringmaster compute times; target at least 2.3e4 calls/s, schedule included). Schedules:
events/s at n = 10,000 workers, compiled against the Python reference. The neural-network
gradient's rows (gradients/s against a minimal numpy gradient and torch) come from
``bench_network.py``. Speed lives here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_network import print_network, run_network_bench  # noqa: E402
from hit_limit import LAWS, hit_loop  # noqa: E402

from clipasgd.cli import BLAS_THREAD_VARS, one_blas_thread  # noqa: E402
from clipasgd.compute_times import ComputeTimes, ringmaster_peer, stragglers  # noqa: E402
from clipasgd.engine import EngineOptions, simulate  # noqa: E402
from clipasgd.noise import SubWeibull  # noqa: E402
from clipasgd.problems import make_problem  # noqa: E402
from clipasgd.schedules import (  # noqa: E402
    algorithm1,
    algorithm1_reference,
    algorithm2,
    algorithm2_reference,
)
from clipasgd.updates import chain, clip, scale  # noqa: E402

SIGMA, THETA, C_CLIP, ETA, EPS = 0.1, 1.0, 0.05, 0.18, (1.0, 0.1)
SCHED_SEED = 1  # the compute-time generator's seed (noise seeds: the repeat index)

# (label, d, R, n, events in the full run); quick runs a tenth of the events
# "x3 rows" / "x4 rows": what stacking a claim's calls along R (issue 13, item 2) would run,
# the same events over three (rate_shape's algorithms) or four (federated's grid points)
# times the rows; their calls/s against the row above bound what stacking can gain.
GRID = [("R=1", 10, 1, 8, 20_000), ("R=1 long", 10, 1, 8, 200_000),
        ("rate_shape", 10, 20, 8, 10_000), ("x3 rows", 10, 60, 8, 10_000),
        ("federated", 1, 10, 16, 20_000), ("x4 rows", 1, 40, 16, 20_000),
        ("tau_max", 10, 10, 8, 20_000), ("", 10, 100, 16, 10_000), ("", 10, 1000, 16, 2_000),
        ("", 100, 1000, 16, 1_000), ("", 1000, 100, 16, 1_000), ("", 10, 10_000, 16, 300),
        ("peer", 1000, 1, 100, 20_000)]
QUICK_SKIP = {(10, 10_000)}
NUMPY_EVENTS = 20_000  # the numpy engine's rate is timed on at most this many events
MIN_SECONDS = 0.02  # a timing repeats a short row's call until the limit's side lasts this


def workload(d: int, n: int, peer: bool) -> tuple:
    """The quadratic and the compute times of a row."""
    problem = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    times: ComputeTimes = ringmaster_peer(n) if peer else stragglers(n, n - 1, 4.0)
    return problem, times


def engine_run(problem, times: ComputeTimes, R: int, T: int, seed: int, engine: str,
               inner: int = 1) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Seconds building the schedule and seconds simulating, per call (the mean of
    ``inner`` calls), final running mean of ``||grad f||`` and hitting times, one engine."""
    built = ran = 0.0
    for _ in range(inner):
        start = time.perf_counter()
        sched = algorithm1(times, T + 20 * times.n, np.random.default_rng(SCHED_SEED))
        mid = time.perf_counter()
        res = simulate(problem, SubWeibull(theta=THETA, sigma=SIGMA), chain(clip(C_CLIP),
                       scale(ETA)), sched, R=R, rng=seed, horizon=T,
                       options=EngineOptions(eps=EPS), engine=engine)
        built, ran = built + mid - start, ran + time.perf_counter() - mid
    assert res.meta["engine"] == engine, res.meta
    return built / inner, ran / inner, res.metrics["avg"][-1], res.hit


def limit_run(problem, times: ComputeTimes, R: int, T: int, seed: int, virtual: bool,
              inner: int = 1) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds per call (the mean of ``inner`` calls), final running mean of ``||grad f||``
    and hitting times, the limit."""
    eps = np.array(sorted(EPS, reverse=True))
    start = time.perf_counter()
    for _ in range(inner):
        _, mean, hit, _, _ = hit_loop(
            np.random.default_rng(seed), np.random.default_rng(SCHED_SEED), LAWS[times.law],
            times.shift, times.scale, problem.a, problem.x0(), R, T, SIGMA, THETA, C_CLIP,
            ETA, eps, 1e10, virtual)
    return (time.perf_counter() - start) / inner, mean, hit


def bench_row(label: str, d: int, R: int, n: int, T: int, repeats: int) -> dict:
    problem, times = workload(d, n, label == "peer")
    for virtual in (False, True):  # compile or load the caches outside timing
        limit_run(problem, times, R, min(T, 50), 0, virtual)
    engine_run(problem, times, R, min(T, 50), 0, "compiled")
    inner = max(1, int(np.ceil(MIN_SECONDS / limit_run(problem, times, R, T, 0, False)[0])))
    secs: dict[str, list[float]] = {k: [] for k in ("numpy", "compiled", "sched", "limit",
                                                    "limit_v")}
    agree, hits = 0.0, True
    for k in range(repeats):
        for virtual in (False, True):
            tl, al, hl = limit_run(problem, times, R, T, k, virtual, inner)
            secs["limit_v" if virtual else "limit"].append(tl)
        for engine in ("numpy", "compiled"):
            Te = min(T, NUMPY_EVENTS) if engine == "numpy" else T
            ts, te, ae, he = engine_run(problem, times, R, Te, k, engine,
                                        1 if engine == "numpy" else inner)
            secs[engine].append((ts + te) * T / Te)  # numpy: its rate, scaled to T events
            if engine == "compiled":
                secs["sched"].append(ts)
            if Te == T:
                agree = max(agree, float(np.max(np.abs(ae - al) / np.abs(al))))
                hits = hits and bool(np.array_equal(he, hl))
    best = {kind: min(s) for kind, s in secs.items()}
    return {"label": label, "d": d, "R": R, "n": n, "events": T, "inner": inner,
            **{f"{kind}_calls_per_s": R * T / best[kind]
               for kind in ("numpy", "compiled", "limit", "limit_v")},
            "schedule_share": best["sched"] / best["compiled"],
            "compiled_ratio": best["compiled"] / best["limit"],
            "compiled_ratio_virtual": best["compiled"] / best["limit_v"],
            "numpy_ratio": best["numpy"] / best["limit"], "agree": agree, "hits_equal": hits,
            "seconds": secs}


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
    """The standard grid, five repeats (``quick``: a tenth of the events, three repeats, no
    R = 1e4 row), with one BLAS thread as pipeline jobs run (a user's own
    ``*_NUM_THREADS`` setting wins; ``blas`` in the result says which)."""
    reps = repeats or (3 if quick else 5)
    own = {v: os.environ[v] for v in BLAS_THREAD_VARS if v in os.environ}
    with one_blas_thread():
        rows = [bench_row(label, d, R, n, T // 10 if quick else T, reps)
                for label, d, R, n, T in GRID if not (quick and (d, R) in QUICK_SKIP)]
        sched = schedule_rates(100_000 if quick else 1_000_000, reps)
        network = run_network_bench(quick, reps)
    return {"engine": rows, "schedule_events_per_s_n10000": sched, "network": network,
            "repeats": reps, "blas": own or "one thread (as pipeline jobs)"}


def print_table(result: dict) -> None:
    print(f"{'':>10} {'d':>5} {'R':>6} {'n':>4} {'events':>7} {'numpy/s':>9} "
          f"{'engine/s':>9} {'limit/s':>9} {'lim+v/s':>9} {'sched%':>6} {'eng/lim':>7} "
          f"{'eng/lim+v':>9} {'numpy/lim':>9} {'agree':>8} {'hits':>5}")
    for r in result["engine"]:
        print(f"{r['label']:>10} {r['d']:>5} {r['R']:>6} {r['n']:>4} {r['events']:>7} "
              f"{r['numpy_calls_per_s']:>9.3g} {r['compiled_calls_per_s']:>9.3g} "
              f"{r['limit_calls_per_s']:>9.3g} {r['limit_v_calls_per_s']:>9.3g} "
              f"{100 * r['schedule_share']:>6.0f} {r['compiled_ratio']:>7.2f} "
              f"{r['compiled_ratio_virtual']:>9.2f} {r['numpy_ratio']:>9.1f} "
              f"{r['agree']:>8.1e} {'same' if r['hits_equal'] else 'DIFF':>5}")
    print("Work per side: engine = Algorithm-1 schedule (T + 20n events, heap) + simulate "
          "(Python set-up, plan, noise, clip, step, ||grad f||, running sum, hits, virtual "
          "iterate, checkpoints); limit = heap + noise, clip, step, ||grad f||, running sum, "
          "hits in one compiled loop (lim+v: and the virtual iterate). peer: one long "
          "trajectory (d=1000, R=1, n=100 Ringmaster times), the same split of work; each "
          "call draws 1000 normals and a radius on both sides.")
    for name, s in result["schedule_events_per_s_n10000"].items():
        print(f"{name} at n=10000: compiled {s['compiled']:.3g} events/s, python "
              f"{s['python']:.3g} events/s, speed-up {s['speedup']:.1f}x")
    print_network(result["network"])
    print(f"BLAS threads: {result['blas']}")


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
