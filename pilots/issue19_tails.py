"""Issue 19 item 7 pilot: false-flag rates of tails.is_sub_weibull on batch means of exactly
sub-Weibull noise, at the claim's levels (config tails.plausibility, frac 0.05).

Per-example noise ``X = s E^theta`` (``s`` a random sign, ``E ~ Exp(1)``), so ``|X|`` is
exactly Weibull-type with ``P(|X| > t) = exp(-t^(1/theta))``; the sample is ``|mean of b|``
over ``n`` disjoint batches (a mean of sub-Weibull(theta) terms is sub-Weibull(theta)).
Reports, per (theta, b): the drift test's flags, the likelihood-ratio test's flags, the
whole check's flags (either), the samples the claim's case rule would not read supported
(old rule and new rule), mean theta_hat; the same for heavy-tailed controls.
Seeds: SeedSequence(seed) children per cell (all cells spawned, selected ones run).

    PYTHONPATH=src python pilots/issue19_tails.py [--reps 20] [--n 200000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import yaml

from clipasgd import tails
from clipasgd.claims.tails import case_verdict, old_case_verdict

CONTROLS = {  # heavy-tailed laws: the old control (first three) and power-law candidates
    "student_t3": lambda rng, n: np.abs(rng.standard_t(3, n)),
    "pareto2": lambda rng, n: 1.0 + rng.pareto(2.0, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
    "pareto1.5": lambda rng, n: 1.0 + rng.pareto(1.5, n),
    "cauchy": lambda rng, n: np.abs(rng.standard_cauchy(n)),
}


def batch_means(rng: np.random.Generator, theta: float, b: int, n: int) -> np.ndarray:
    x = rng.exponential(size=(n, b)) ** theta * rng.choice([-1.0, 1.0], size=(n, b))
    return np.abs(x.mean(axis=1))


def rates(samples, pl: dict, seeds, n_boot: int) -> dict:
    """Flag counts; ``old``/``new``: samples the claim's case rule (old: drift alone reads
    inconclusive; new: drift reported only) does not read supported (bootstrap CI of theta
    with ``n_boot`` resamples, as in the claim)."""
    lr = drift = either = old = new = 0
    th = []
    for x, s in zip(samples, seeds, strict=True):
        s_check, s_boot = s.spawn(2)
        chk = tails.is_sub_weibull(x, frac=0.05, rng=s_check, **pl)
        lr_flag = bool(chk.lr_z > 0 and chk.lr_p < pl["lr_alpha"])
        drift_flag = "drifts upward" in chk.reason
        hi = tails.weibull_tail_bootstrap_ci(x, n_boot=n_boot, rng=s_boot).ci_high
        old += old_case_verdict(lr_flag, drift_flag, hi, pl["theta_max"]) != "supported"
        new += case_verdict(lr_flag, hi, pl["theta_max"]) != "supported"
        lr += lr_flag
        drift += drift_flag
        either += not chk.plausible
        th.append(chk.theta)
    return {"reps": len(th), "drift": drift, "lr": lr, "either": either, "old": old,
            "new": new, "theta": float(np.mean(th))}


def row(name: str, b: object, r: dict) -> str:
    return (f"| {name} | {b} | {r['reps']} | {r['drift']} | {r['lr']} | {r['either']} | "
            f"{r['old']} | {r['new']} | {r['theta']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=19_7)
    ap.add_argument("--n-boot", type=int, default=199)
    ap.add_argument("--thetas", type=float, nargs="*", default=[1.0, 2.0, 2.71])
    ap.add_argument("--bs", type=int, nargs="*", default=[1, 8, 32])
    ap.add_argument("--laws", nargs="*", default=list(CONTROLS))
    a = ap.parse_args()
    cfg = yaml.safe_load(open("config/config.yaml"))["claims"]["tails"]
    pl = cfg["plausibility"]
    t0 = time.process_time()
    root = np.random.SeedSequence(a.seed)
    print(f"levels {pl}; n {a.n}; {a.reps} replicates per cell; seed {a.seed}")
    print("| law | b | reps | drift flags | LR flags | either (is_sub_weibull) | "
          "not supported, old rule | not supported, new rule | mean theta_hat |")
    print("|---|---|---|---|---|---|---|---|---|")
    cells = [(th, b) for th in (1.0, 2.0, 2.71, 5.0) for b in (1, 8, 32)]
    for (theta, b), ss in zip(cells, root.spawn(len(cells)), strict=True):
        if theta not in a.thetas or b not in a.bs:
            continue
        kids = ss.spawn(2 * a.reps)
        xs = (batch_means(np.random.default_rng(kids[2 * i]), theta, b, a.n)
              for i in range(a.reps))
        print(row(f"subW theta={theta}", b, rates(xs, pl, kids[1::2], a.n_boot)), flush=True)
    for law, ss in zip(CONTROLS, root.spawn(len(CONTROLS)), strict=True):
        if law not in a.laws:
            continue
        kids = ss.spawn(2 * a.reps)
        xs = (CONTROLS[law](np.random.default_rng(kids[2 * i]), a.n) for i in range(a.reps))
        print(row(f"control {law}", "-", rates(xs, pl, kids[1::2], a.n_boot)), flush=True)
    print(f"CPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
