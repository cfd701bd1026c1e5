"""Where the CPU of one paper-scale grid point of a time-to-target claim goes.

Builds the first point of the ``select`` stage of ``fig2_speedup`` (or ``fig4_federated``)
at ``scale=paper`` exactly as :func:`clipasgd.claims._speedup._run` does (same config,
arms, seed ``named_seed(cfg['seed'], 'select', 0)``) and runs it twice in one process:

1. with ``time.process_time`` around the pieces (minibatch gradients, evaluations, the
   rule's update, the schedule), the rest being engine/loop overhead and framing;
2. under cProfile (top functions by own time).

Both runs must give the same table (checked: a hash of the frame is printed).

Usage: PYTHONPATH=src OPENBLAS_NUM_THREADS=1 nice -n 10 python pilots/profile_figure_point.py
       [claim [data_dir [point_index [scale]]]]
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import json
import pstats
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from clipasgd import time_to_target as ttt
from clipasgd.claims import _speedup
from clipasgd.claims.base import Run
from clipasgd.pipeline import claim_config, load_config


class Timer:
    """Accumulated process time and call count of wrapped callables, by name."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - t0
                self.calls[name] = self.calls.get(name, 0) + 1
        return timed


def frame_hash(tables: dict) -> str:
    (frame,) = tables.values()
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).values.tobytes()
                          ).hexdigest()[:16]


def setup(claim: str, data_dir: str, index: int, scale: str) -> tuple[Run, dict]:
    cfg = claim_config(load_config(), claim, scale)
    cfg["problem"] = {**cfg["problem"], "data_dir": data_dir}
    run = Run(cfg, _speedup.ARMS, progress=lambda _: None)
    points = _speedup._select(run, {}) or [  # smoke: nothing to tune, a fresh point
        p for s in ttt.settings(cfg, [a.label for a in run.arms])
        for p in _speedup._points("fresh", cfg["D"][0], s, 1)]
    return run, points[index]


def timed_run(run: Run, point: dict) -> tuple[dict, dict]:
    """The point with timers around its pieces; returns (tables, numbers)."""
    tm = Timer()
    problem = _speedup._problem(json.dumps(run.cfg["problem"], sort_keys=True))
    saved = (ttt.make_schedule, ttt.simulate, run.build)
    problem.minibatch_grad = tm.wrap("gradient", type(problem).minibatch_grad.__get__(problem))
    problem.evaluate = tm.wrap("evaluate", type(problem).evaluate.__get__(problem))
    ttt.make_schedule = tm.wrap("schedule", ttt.make_schedule)
    ttt.simulate = tm.wrap("simulate", ttt.simulate)

    def build(label, at, n):
        alg = saved[2](label, at, n)
        object.__setattr__(alg.rule, "update", tm.wrap("rule_update", alg.rule.update))
        return alg
    object.__setattr__(run, "build", build)
    t0 = time.process_time()
    try:
        tables = _speedup._run(run, point, 0)
    finally:
        total = time.process_time() - t0
        ttt.make_schedule, ttt.simulate = saved[:2]
        object.__delattr__(run, "build")
        del problem.minibatch_grad, problem.evaluate
    c = tm.cpu
    engine = c["simulate"] - c["gradient"] - c["evaluate"] - c["rule_update"]
    parts = {"a_gradient": c["gradient"], "b_evaluate": c["evaluate"],
             "c_rule_update": c["rule_update"], "c_engine_loop": engine,
             "d_rest (schedule, framing)": total - c["simulate"]}
    return tables, {"total_cpu_s": round(total, 2),
                    "parts_cpu_s": {k: round(v, 2) for k, v in parts.items()},
                    "share": {k: round(v / total, 3) for k, v in parts.items()},
                    "schedule_cpu_s": round(c["schedule"], 3), "calls": tm.calls}


def profiled_run(run: Run, point: dict, top: int = 25) -> tuple[dict, str]:
    prof = cProfile.Profile()
    prof.enable()
    tables = _speedup._run(run, point, 0)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return tables, out.getvalue()


def eval_cache_ab(problem, rounds: int = 3, n: int = 5) -> dict:
    """CPU-s per evaluation with the cached evaluation features (new) and without them
    (the old path: features recomputed per pass), interleaved, on one ``x``; and whether
    the values are bit-for-bit equal."""
    x = problem.init(1)[None, :]
    old_blocks = lambda idx: [(b, None) for b, _ in type(problem)._eval_blocks(  # noqa: E731
        problem, idx)]
    cpu = {"new": [], "old": []}
    same, ref = True, None
    for _ in range(rounds):
        for which in ("new", "old"):
            if which == "old":
                problem._eval_blocks = old_blocks
            t0 = time.process_time()
            for _ in range(n):
                out = problem.evaluate(x)
            cpu[which].append((time.process_time() - t0) / n)
            problem.__dict__.pop("_eval_blocks", None)
            if which == "new":
                ref = out
            else:
                same &= all(np.array_equal(out[k], ref[k]) for k in out)
    return {"eval_cpu_s_new": round(min(cpu["new"]), 4),
            "eval_cpu_s_old": round(min(cpu["old"]), 4), "identical": bool(same)}


def main(claim: str = "fig2_speedup", data_dir: str = "/work/main/data/raw",
         index: str = "0", scale: str = "paper") -> None:
    run, point = setup(claim, data_dir, int(index), scale)
    t0 = time.process_time()
    _speedup._problem(json.dumps(run.cfg["problem"], sort_keys=True))
    build_s = time.process_time() - t0
    print(json.dumps({"claim": claim, "point": point, "problem_build_cpu_s": round(build_s, 2)},
                     default=str))
    tables, numbers = timed_run(run, point)
    (frame,) = tables.values()
    numbers.update(rows=len(frame), hash=frame_hash(tables),
                   final=float(frame[run.cfg["metric"]].iloc[-1]))
    print(json.dumps(numbers, indent=1))
    tables2, text = profiled_run(run, point)
    print("cProfile run, same table:", frame_hash(tables2) == numbers["hash"])
    if hasattr(type(problem := _speedup._problem(json.dumps(run.cfg["problem"],
                                                             sort_keys=True))), "_eval_blocks"):
        print("evaluation features cached vs not:", json.dumps(eval_cache_ab(problem)))
    print(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
