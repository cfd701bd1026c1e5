"""Issue 19 pilot C (item 2): a federated Algorithm 2 design where clipping acts (fraction
clipped > ~5%) and removing it (vanilla at the same eta) changes an outcome.
Recorded in pilots/ISSUE19.md.

Heterogeneous quadratic (16 parts, seeded offsets, zeta = spread), Algorithm 2 (random
worker, FIFO), 8 of 16 workers straggling with exponential times of mean D, Gaussian noise,
a far start. Per (zeta, c, D): median T(eps), censored runs, fraction clipped, and the
median final gradient norm (the bias a radius below zeta leaves).

    PYTHONPATH=src nice -n 10 python pilots/issue19_federated.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from clipasgd.experiment import run_experiment


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cond", type=float, default=10.0)
    p.add_argument("--delta0", type=float, default=10.0)
    p.add_argument("--zeta", type=float, nargs="+", default=[0.2, 1.0])
    p.add_argument("--c", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--D", type=float, nargs="+", default=[4, 64, 1024])
    p.add_argument("--eta", type=float, default=0.03)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--R", type=int, default=20)
    p.add_argument("--horizon", type=int, default=40000)
    p.add_argument("--seed", type=int, default=1951)
    a = p.parse_args()
    t0 = time.process_time()
    print(f"design: heterogeneous quadratic d 20 cond {a.cond:g} delta0 {a.delta0:g}, 16 parts, "
          f"gaussian 0.01, Algorithm 2, 16 workers (8 exponential stragglers of mean D), "
          f"eta {a.eta:g}, eps {a.eps:g}, {a.R} runs, seed {a.seed}\n")
    print("| zeta | D | arm | median T | censored | clipped frac | median final S_H | "
          "median final grad |")
    print("|---|---|---|---|---|---|---|---|")
    for zeta in a.zeta:
        for D in a.D:
            algos = [{"name": "clipped_asgd", "eta": a.eta, "c": c, "label": f"clipped c={c:g}"}
                     for c in a.c] + [{"name": "asgd", "eta": a.eta, "label": "vanilla"}]
            spec = {"name": "pilot", "seed": a.seed, "replications": a.R, "horizon": a.horizon,
                    "problem": {"name": "quadratic", "dim": 20, "condition": a.cond,
                                "delta0": a.delta0, "n_parts": 16, "spread": zeta},
                    "noise": {"name": "gaussian", "sigma": 0.01},
                    "workers": {"n": 16, "stragglers": 8, "D": D, "law": "exponential"},
                    "scheduler": "algorithm2", "per_replication_schedules": True,
                    "eps": [a.eps], "stop_when_hit": False, "algorithms": algos}
            res = run_experiment(spec, progress=lambda m: None)
            h = res.frame("hits")
            for lab, run in res.runs.items():
                g = h[h.algorithm == lab]
                print(f"| {zeta:g} | {D:g} | {lab} | {g['T'].median():.0f} | "
                      f"{int(g.censored.sum())}/{a.R} | {np.mean(run.clip_fraction):.3f} | "
                      f"{np.median(run.metrics['avg'][-1]):.4f} | "
                      f"{np.median(run.metrics['gn'][-1]):.4f} |")
    print(f"\nCPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
