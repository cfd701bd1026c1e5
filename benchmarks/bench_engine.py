"""Benchmark: engine oracle calls per second and ratio to a bare numpy loop.

Run ``python benchmarks/bench_engine.py [--quick]``; prints a table and JSON.
Speed is measured here, never asserted in tests.
"""

import argparse
import json

from clipasgd.bench import run_bench

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    result = run_bench(quick=ap.parse_args().quick)
    print(f"{'d':>6} {'R':>6} {'n':>5} {'steps':>6} {'calls/s':>12} {'bare calls/s':>13} "
          f"{'ratio':>6}")
    for r in result["engine"]:
        print(f"{r['d']:>6} {r['R']:>6} {r['n']:>5} {r['steps']:>6} {r['calls_per_s']:>12.3g} "
              f"{r['bare_calls_per_s']:>13.3g} {r['ratio']:>6.2f}")
    print(json.dumps(result["schedule_events_per_s_n10000"]))
