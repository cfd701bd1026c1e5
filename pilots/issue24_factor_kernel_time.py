"""Issue 24 (session 25): kernel alone, old (0844a96, /tmp/kold/kold.py as in
issue24_factor_kernel_cmp.py) against pilots/issue24_factor_kernel.patch's (`git apply`
it first) with and without the virtual iterate, on the
bench's rows (quadratic, sub-Weibull noise, chain(clip, scale)); fastest of 9 interleaved."""
import sys, time, numpy as np
sys.path.insert(0, "/tmp/kold")
import kold
from clipasgd.kernel import run_loop
from clipasgd.compute_times import stragglers
from clipasgd.engine import EngineOptions, _job
from clipasgd.lowering import kernel_plan, lower
from clipasgd.noise import SubWeibull
from clipasgd.problems import make_problem
from clipasgd.schedules import algorithm1
from clipasgd.updates import chain, clip, scale
noise, rule = SubWeibull(theta=1.0, sigma=0.1), chain(clip(0.05), scale(0.18))
for d, R, n, T in [(10, 1, 8, 200000), (10, 20, 8, 10000), (1, 10, 16, 20000), (1, 40, 16, 20000), (10, 10, 8, 20000), (10, 10000, 16, 300)]:
    p = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    s = algorithm1(stragglers(n, n - 1, 4.0), T + 20 * n, np.random.default_rng(1))
    job = _job(p, noise, rule, [s], False, R, 0, T, None, EngineOptions(eps=(1.0, 0.1)))
    low = lower(p, noise, rule, True, None); kp = kernel_plan(job.plan)
    args = lambda: (np.random.default_rng(0), low.problem, low.noise, low.rule, kp, job.x_start, R, T, job.C, job.cps, job.eps, 1e10, 0.0, False)
    fns = {"old": lambda: kold.run_loop(*args()), "new": lambda: run_loop(*args(), True),
           "new-novirtual": lambda: run_loop(*args(), False)}
    for f in fns.values():
        f()
    best = {k: np.inf for k in fns}
    for _ in range(9):
        for k, f in fns.items():
            t0 = time.perf_counter(); f(); best[k] = min(best[k], time.perf_counter() - t0)
    print(f"d={d} R={R} n={n} T={T}: " + ", ".join(f"{k} {v*1e3:.1f} ms" for k, v in best.items())
          + f"; old/new {best['old']/best['new']:.2f}, old/new-novirtual {best['old']/best['new-novirtual']:.2f}")
