"""Issue 24 (session 25): the kernel before the rule-as-factors change (commit 0844a96's
kernel.py, copied to /tmp/kold/kold.py with its relative imports made absolute) against
the one of pilots/issue24_factor_kernel.patch (not committed: no speed-up; `git apply` it
to run this): every output bit for bit over 5 problems, 7 rules, 4 noises and 3 plan
kinds; the new one with virtual=False: equal except the virtual outputs (NaN). Run:
  mkdir -p /tmp/kold && git show 0844a96:src/clipasgd/kernel.py | sed -e "s/^from \\.lowering/from clipasgd.lowering/; s/^from \\.results/from clipasgd.results/" > /tmp/kold/kold.py
  .venv/bin/python pilots/issue24_factor_kernel_cmp.py   (2026-12-07 14:25: 420 cases, 0 differ)"""
import sys, time, numpy as np
sys.path.insert(0, "/tmp/kold")
import kold
from clipasgd.kernel import run_loop
from clipasgd.compute_times import stragglers
from clipasgd.engine import EngineOptions, _job
from clipasgd.lowering import kernel_plan, lower
from clipasgd.noise import SubWeibull, Gaussian, StudentT, NoNoise
from clipasgd.problems import make_problem
from clipasgd.schedules import algorithm1
from clipasgd.updates import chain, clip, scale, delay_adaptive, drop_stale
rules = {"clip-scale": chain(clip(0.05), scale(0.18)), "scale": scale(0.05),
         "scale-clip": chain(scale(0.5), clip(0.05)), "clip-scale-clip": chain(clip(0.3), scale(0.5), clip(0.05)),
         "delay-adaptive": delay_adaptive(0.1, 4), "drop-clip": chain(drop_stale(3), clip(0.1), scale(0.2)),
         "clip-delay": chain(clip(0.1), delay_adaptive(0.2, 3))}
noises = {"subweibull": SubWeibull(theta=1.0, sigma=0.1), "gaussian": Gaussian(sigma=0.3),
          "student": StudentT(df=2.5, sigma=0.2), "none": NoNoise()}
bad = 0; n_cases = 0
for pname, kw in [("quadratic", dict(dim=10, condition=10.0, delta0=10.0)), ("nonconvex", dict(dim=5)), ("logistic", dict(dataset="breast_cancer")), ("quadratic", dict(dim=6, n_parts=8, spread=1.0)), ("logistic", dict(dataset="breast_cancer", n_parts=8))]:
    try:
        p = make_problem(pname, **kw)
    except Exception as e:
        print("skip", pname, e); continue
    for rn, rule in rules.items():
        for nn, noise in noises.items():
            for R, batched in [(1, False), (3, False), (3, True)]:
                tm = stragglers(8, 7, 4.0); T = 3000
                scheds = [algorithm1(tm, T + 160, np.random.default_rng(k)) for k in range(R if batched else 1)]
                job = _job(p, noise, rule, scheds, batched, R, 0, T, None, EngineOptions(eps=(1.0, 0.1)))
                low = lower(p, noise, rule, True, None)
                if isinstance(low, str):
                    print("no lowering", pname, rn, nn, low); continue
                kp = kernel_plan(job.plan)
                args = lambda: (np.random.default_rng(0), low.problem, low.noise, low.rule, kp, job.x_start, R, T, job.C, job.cps, job.eps, 1e10, 0.0, False)
                a = kold.run_loop(*args()); b = run_loop(*args(), True); c = run_loop(*args(), False)
                same = all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
                m = a[0].copy(); m[5:] = np.nan
                offok = np.array_equal(c[0], m, equal_nan=True) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a[1:3] + a[4:], c[1:3] + c[4:])) and np.isnan(c[3]).all()
                n_cases += 1
                if not (same and offok):
                    bad += 1; print("DIFF", pname, rn, nn, R, batched, same, offok)
print(f"{n_cases} cases, {bad} differ")
