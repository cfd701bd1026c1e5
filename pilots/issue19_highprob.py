"""Issue 19 pilot B (item 5): the theorem's event S_H <= eps at a fixed horizon H, with and
without stragglers, for Clipped ASGD and vanilla ASGD at the same eta, under heavy noise.
Recorded in pilots/ISSUE19.md.

Design = pilot A's (quadratic d 20, Algorithm 1, n workers, n - 1 exponential stragglers of
mean D; D = 1: all workers alike) with sub-Weibull(theta) noise. H is fixed from a pilot
seed (never reused) as the clipped arm's q_H-quantile of T(eps) at the straggler D; the
main seed then counts runs with S_H > eps (S_H = mean of ||grad f(x_t)||, t < H) with exact
Clopper-Pearson 95% intervals.

    PYTHONPATH=src nice -n 10 python pilots/issue19_highprob.py --theta 2 --sigma 0.02
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats

from clipasgd.experiment import run_experiment


def spec_for(a: argparse.Namespace, D: float, R: int, H: int, seed: int, stop: bool) -> dict:
    return {"name": "pilot", "seed": seed, "replications": R, "horizon": H,
            "problem": {"name": "quadratic", "dim": 20, "condition": a.cond, "delta0": a.delta0},
            "noise": {"name": "subweibull", "theta": a.theta, "sigma": a.sigma},
            "workers": {"n": a.n, "stragglers": a.n - 1 if D != 1 else 0, "D": D,
                        "law": "exponential"},
            "scheduler": "algorithm1", "per_replication_schedules": True, "eps": [a.eps],
            "stop_when_hit": stop,
            "algorithms": [{"name": "clipped_asgd", "eta": a.eta, "c": a.c, "label": "clipped"},
                           {"name": "asgd", "eta": a.eta, "label": "vanilla"}]}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cond", type=float, default=10.0)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--delta0", type=float, default=10.0)
    p.add_argument("--theta", type=float, default=2.0)
    p.add_argument("--sigma", type=float, default=0.02)
    p.add_argument("--eps", type=float, default=0.05)
    p.add_argument("--eta", type=float, default=0.06)
    p.add_argument("--c", type=float, default=2.0)
    p.add_argument("--D", type=float, default=1024.0)
    p.add_argument("--q-H", type=float, default=0.99)
    p.add_argument("--pilot-R", type=int, default=100)
    p.add_argument("--R", type=int, default=400)
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1905)
    a = p.parse_args()
    t0 = time.process_time()
    pil = run_experiment(spec_for(a, a.D, a.pilot_R, 200000, a.seed + 1000, True),
                         progress=lambda m: None).frame("hits")
    tq = {lab: g["T"].quantile([0.5, a.q_H]).round().tolist()
          for lab, g in pil.groupby("algorithm")}
    H = int(tq["clipped"][1])
    m2 = a.sigma**2 * math.gamma(2 * a.theta + 1)
    print(f"design: quadratic d 20 cond {a.cond:g} delta0 {a.delta0:g}, subweibull theta "
          f"{a.theta:g} sigma {a.sigma:g} (E||xi||^2 = {m2:.4g}), "
          f"eps {a.eps:g}, n {a.n}, eta {a.eta:g}, c {a.c:g}, delta {a.delta:g}")
    print(f"pilot (seed {a.seed + 1000}, {a.pilot_R} runs, D = {a.D:g}): T median / q{a.q_H:g}: "
          + ", ".join(f"{k} {v[0]:.0f} / {v[1]:.0f}" for k, v in tq.items()) + f" -> H = {H}")
    print(f"\nmain (seed {a.seed}, {a.R} runs per cell): failures S_H > eps at H = {H}, "
          "Clopper-Pearson 95%\n")
    print("| stragglers | arm | failures | rate | 95% CI | > delta reliably | clipped frac | "
          "median S_H |")
    print("|---|---|---|---|---|---|---|---|")
    for D in (a.D, 1.0):
        res = run_experiment(spec_for(a, D, a.R, H, a.seed, False), progress=lambda m: None)
        for lab, run in res.runs.items():
            assert run.iters[-1] == H, run.iters[-1]
            s = run.metrics["avg"][-1]
            k = int(np.sum(~(s <= a.eps)))
            lo, hi = clopper_pearson(k, a.R)
            tag = f"D = {D:g}" if D != 1 else "none (D = 1)"
            above = "yes" if lo > a.delta else "no (CI upper <= delta)" if hi <= a.delta else "no"
            print(f"| {tag} | {lab} | {k}/{a.R} | {k / a.R:.3f} | [{lo:.3f}, {hi:.3f}] | "
                  f"{above}"
                  f" | {np.mean(run.clip_fraction):.4f} | {np.median(s):.4f} |")
    print(f"\nCPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
