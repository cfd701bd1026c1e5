"""Issue 19 pilot A (items 3-4): does vanilla ASGD's time to eps grow with tau_max in the
straggler regime while Clipped ASGD's does not?  Recorded in pilots/ISSUE19.md.

Algorithm 1, n workers of which n - 1 straggle with exponential compute times of mean D
(one fast worker of mean 1), quadratic (dim 20), far start, Gaussian noise. Per D, median
T(eps) of: Clipped ASGD (eta, c), vanilla at the same eta, vanilla at its tuned eta (best
median of a small grid at the smallest straggler D, separate seed), vanilla at the
worker-count step 1/(n L) and delay-adaptive (eta, tau_c = n). Ratios over the straggler
grid: max/min of medians, the largest rise max_{i<j} med_j/med_i with its lower end from
exact Bonferroni median boxes (joint >= 90%), tau_max / tau_avg of one schedule per D
truncated at the clipped median T, and the theorem's step conditions at K = 1.

    PYTHONPATH=src nice -n 10 python pilots/issue19_taumax.py --cond 10 --n 16 --eta 0.06 --c 2
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import numpy as np

from clipasgd.experiment import run_experiment, spec_schedule
from clipasgd.stats.quantiles import quantile_box
from clipasgd.theory import step_conditions


def spec_for(a: argparse.Namespace, D: float, algos: list[dict], R: int, seed: int) -> dict:
    return {"name": "pilot", "seed": seed, "replications": R, "horizon": a.horizon,
            "problem": {"name": "quadratic", "dim": 20, "condition": a.cond, "delta0": a.delta0},
            "noise": {"name": "gaussian", "sigma": a.sigma},
            "workers": {"n": a.n, "stragglers": a.n - 1 if D != 1 else 0, "D": D,
                        "law": "exponential"},
            "scheduler": "algorithm1", "per_replication_schedules": True, "eps": [a.eps],
            "stop_when_hit": True, "algorithms": algos}


def times(res, label: str) -> np.ndarray:
    h = res.frame("hits")
    g = h[h.algorithm == label]
    return np.where(g.censored, np.inf, g["T"]).astype(float)


def tune(a: argparse.Namespace) -> float:
    grid = [0.03, 0.06, 0.125, 0.25, 0.5]
    algos = [{"name": "asgd", "eta": e, "label": f"v{e}"} for e in grid]
    res = run_experiment(spec_for(a, a.D[0], algos, a.tune_R, a.seed + 1000),
                         progress=lambda m: None)
    meds = {e: float(np.median(times(res, f"v{e}"))) for e in grid}
    print(f"tuning (D = {a.D[0]:g}, {a.tune_R} runs, seed {a.seed + 1000}): "
          + ", ".join(f"eta {e}: {m:.0f}" for e, m in meds.items()))
    return min(meds, key=meds.get)


def rise(samples: list[np.ndarray], alpha: float = 0.05) -> tuple[float, float, float]:
    """max/min of medians, largest rise med_j/med_i (i < j) and its lower end (boxes at
    1 - 2 alpha / k each, Bonferroni: joint >= 1 - 2 alpha)."""
    k = len(samples)
    boxes = [quantile_box(s, 0.5, 1 - 2 * alpha / k, math.inf) for s in samples]
    med = [b.estimate for b in boxes]
    pairs = list(itertools.combinations(range(k), 2))
    best = max(pairs, key=lambda p: med[p[1]] / med[p[0]])
    lows = max(boxes[j].ci.low / boxes[i].ci.high for i, j in pairs)
    return max(med) / min(med), med[best[1]] / med[best[0]], lows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cond", type=float, default=1000.0)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--delta0", type=float, default=10.0)
    p.add_argument("--sigma", type=float, default=0.01)
    p.add_argument("--eps", type=float, default=0.05)
    p.add_argument("--eta", type=float, default=0.12)
    p.add_argument("--c", type=float, default=1.0)
    p.add_argument("--D", type=float, nargs="+", default=[16, 64, 256, 1024])
    p.add_argument("--R", type=int, default=40)
    p.add_argument("--tune-R", type=int, default=20)
    p.add_argument("--horizon", type=int, default=100000)
    p.add_argument("--seed", type=int, default=19)
    a = p.parse_args()
    t0 = time.process_time()
    eta_tuned = tune(a)
    n_step = 1.0 / a.n  # L = 1
    algos = [{"name": "clipped_asgd", "eta": a.eta, "c": a.c, "label": "clipped"},
             {"name": "asgd", "eta": a.eta, "label": "vanilla same eta"},
             {"name": "asgd", "eta": eta_tuned, "label": f"vanilla tuned {eta_tuned}"},
             {"name": "asgd", "eta": n_step, "label": f"vanilla 1/(nL)={n_step:.4g}"},
             {"name": "delay_adaptive_asgd", "eta": a.eta, "tau_c": a.n, "label": "delay-adaptive"}]
    labels = [x["label"] for x in algos]
    print(f"design: quadratic d 20 cond {a.cond:g} delta0 {a.delta0:g}, gaussian {a.sigma:g}, "
          f"eps {a.eps:g}, n {a.n} ({a.n - 1} exponential stragglers of mean D), "
          f"eta {a.eta:g}, c {a.c:g}, {a.R} runs per D, seed {a.seed}")
    samples: dict[str, list[np.ndarray]] = {lab: [] for lab in labels}
    print("\n| D | tau_max | tau_avg | " + " | ".join(labels) + " | clipped frac |")
    print("|---" * (len(labels) + 4) + "|")
    for D in [1.0, *a.D]:
        res = run_experiment(spec_for(a, D, algos, a.R, a.seed), progress=lambda m: None)
        meds = []
        for lab in labels:
            s = times(res, lab)
            if D != 1.0:
                samples[lab].append(s)
            cens = int(np.isinf(s).sum())
            meds.append(f"{np.median(s):.0f}" + (f" ({cens} cens)" if cens else ""))
        tcut = max(int(np.median(times(res, "clipped"))), a.n)
        sched = spec_schedule(spec_for(a, D, algos, a.R, a.seed)).truncate(tcut).summary()
        frac = float(np.mean(res.runs["clipped"].clip_fraction))
        ref = " (ref, no stragglers)" if D == 1.0 else ""
        print(f"| {D:g}{ref} | {sched['tau_max']} | {sched['tau_avg']:.1f} | "
              + " | ".join(meds) + f" | {frac:.4f} |")
    print(f"\nover the straggler grid D = {a.D}:\n")
    print("| arm | max/min median | largest rise (i<j) | its lower end (joint 90%) |")
    print("|---|---|---|---|")
    for lab in labels:
        mm, r, lo = rise(samples[lab])
        print(f"| {lab} | {mm:.3f} | {r:.3f} | {lo:.3f} |")
    print("\nstep conditions at K = 1 (tau_C = n, sigma, theta 0.5):\n")
    for name, row in step_conditions(a.eta, a.c, a.eps, 1.0, a.sigma, a.n).items():
        v, b = row["value"], row["bound"]
        fac = b / v if name.startswith("c") else v / b
        print(f"* {name}: value {row['value']:.4g}, bound {row['bound']:.4g}, "
              f"{'holds' if row['holds'] else f'BROKEN by {fac:.1f}x'}")
    print(f"\nCPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
