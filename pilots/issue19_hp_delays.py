"""Issue 19 item 5 pilot: Theorem 4.3's event S_H <= eps per straggler D under heavy
sub-Weibull noise, Clipped ASGD vs vanilla ASGD at the same eta (same seeds). Recorded in
pilots/ISSUE19_hp_delays.md.

Design family = pilot B (pilots/issue19_highprob.py): quadratic d 20, Algorithm 1, n workers,
`--stragglers` of them exponential with mean D (D = 1: all alike), sub-Weibull(theta, sigma)
noise, per-replication schedules. H rule (stated before the main seed is read): the clipped
arm's q_H-quantile of T(eps) at the largest D from the pilot seed (seed + 1000, never reused),
unless --H is given. Main seed: failures S_H > eps per (D, arm), Clopper-Pearson at `--level`.

    PYTHONPATH=src nice -n 10 python pilots/issue19_hp_delays.py --theta 3 --sigma 0.01
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
            "workers": {"n": a.n, "stragglers": a.stragglers if D != 1 else 0, "D": D,
                        "law": "exponential"},
            "scheduler": "algorithm1", "per_replication_schedules": True, "eps": [a.eps],
            "stop_when_hit": stop,
            "algorithms": [{"name": "clipped_asgd", "eta": a.eta, "c": a.c, "label": "clipped"},
                           {"name": "asgd", "eta": a.eta, "label": "vanilla"}]}


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cond", type=float, default=10.0)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--stragglers", type=int, default=15)
    p.add_argument("--delta0", type=float, default=10.0)
    p.add_argument("--theta", type=float, default=3.0)
    p.add_argument("--sigma", type=float, default=0.01)
    p.add_argument("--eps", type=float, default=0.05)
    p.add_argument("--eta", type=float, default=0.06)
    p.add_argument("--c", type=float, default=2.0)
    p.add_argument("--D", type=float, nargs="+", default=[1.0, 1024.0])
    p.add_argument("--q-H", type=float, default=0.99)
    p.add_argument("--H", type=int, default=0)
    p.add_argument("--H-D", type=float, default=0.0, help="pilot D of the H rule (0: max D)")
    p.add_argument("--H-arm", default="clipped", help="arm of the H rule (or 'max')")
    p.add_argument("--pilot-R", type=int, default=100)
    p.add_argument("--R", type=int, default=200)
    p.add_argument("--H-sens", type=float, nargs="*", default=[],
                   help="also count failures at these multiples of H (same seed)")
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--level", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=1905)
    a = p.parse_args()
    t0 = time.process_time()
    m2 = a.sigma**2 * math.gamma(2 * a.theta + 1)
    print(f"design: quadratic d 20 cond {a.cond:g} delta0 {a.delta0:g}, subweibull theta "
          f"{a.theta:g} sigma {a.sigma:g} (rms ||xi|| {math.sqrt(m2):.3g}, "
          f"sigma log(1/delta)^theta {a.sigma * math.log(1 / a.delta) ** a.theta:.3g}), "
          f"eps {a.eps:g}, n {a.n} ({a.stragglers} stragglers), eta {a.eta:g}, c {a.c:g}, "
          f"delta {a.delta:g}")
    H = a.H
    if not H:
        hd = a.H_D or max(a.D)
        pil = run_experiment(spec_for(a, hd, a.pilot_R, 200000, a.seed + 1000, True),
                             progress=lambda m: None).frame("hits")
        tq = {lab: g["T"].quantile([0.5, a.q_H]).round().tolist()
              for lab, g in pil.groupby("algorithm")}
        H = int(max(v[1] for v in tq.values()) if a.H_arm == "max" else tq[a.H_arm][1])
        print(f"pilot (seed {a.seed + 1000}, {a.pilot_R} runs, D = {hd:g}): T median / "
              f"q{a.q_H:g} ({a.H_arm}'s is H): "
              + ", ".join(f"{k} {v[0]:.0f} / {v[1]:.0f}" for k, v in tq.items())
              + f" -> H = {H}")
    print(f"\nmain (seed {a.seed}, {a.R} runs per cell): failures S_H > eps at H = {H}, "
          f"Clopper-Pearson {a.level:g}\n")
    print("| D | arm | failures | CP interval | reads | clipped frac | S_H q50 | q90 | q95 | "
          "q99 | eps/q50 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for D in a.D:
        res = run_experiment(spec_for(a, D, a.R, H, a.seed, False), progress=lambda m: None)
        for lab, run in res.runs.items():
            s = run.metrics["avg"][-1]
            k = int(np.sum(~(s <= a.eps)))
            lo, hi = clopper_pearson(k, a.R, a.level)
            reads = "fails (lo > delta)" if lo > a.delta else \
                "passes (hi <= delta)" if hi <= a.delta else "unclear"
            q = np.quantile(np.where(np.isfinite(s), s, np.inf), [0.5, 0.9, 0.95, 0.99])
            print(f"| {D:g} | {lab} | {k}/{a.R} | [{lo:.3f}, {hi:.3f}] | {reads} | "
                  f"{np.mean(run.clip_fraction):.4f} | " + " | ".join(f"{v:.4f}" for v in q)
                  + f" | {a.eps / q[0]:.2f} |")
    if a.H_sens:
        print(f"\nH-sensitivity (seed {a.seed}, {a.R} runs): failures S_h > eps at h = m H\n")
        print("| D | arm | " + " | ".join(f"h = {m:g} H = {round(m * H)}" for m in a.H_sens)
              + " |")
        print("|---|---|" + "---|" * len(a.H_sens))
        rows: dict = {}
        for m in a.H_sens:
            for D in a.D:
                res = run_experiment(spec_for(a, D, a.R, round(m * H), a.seed, False),
                                     progress=lambda m: None)
                for lab, run in res.runs.items():
                    k = int(np.sum(~(run.metrics["avg"][-1] <= a.eps)))
                    rows.setdefault((D, lab), []).append(f"{k}/{a.R}")
        for (D, lab), cells in rows.items():
            print(f"| {D:g} | {lab} | " + " | ".join(cells) + " |")
    print(f"\nCPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
