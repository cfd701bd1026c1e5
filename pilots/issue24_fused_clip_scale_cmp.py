"""Issue 24: the compiled kernel against a copy with pilots/issue24_fused_clip_scale.patch
applied (run `sed` on src/clipasgd/kernel.py to make /tmp/kexp/kfused.py as in
pilots/ISSUE24_LIMIT.md); checks bit-identity and times both, interleaved, 9 repeats."""
import sys, time, numpy as np
sys.path.insert(0, "/tmp/kexp")
import kfused
from clipasgd.kernel import run_loop
from clipasgd.compute_times import stragglers
from clipasgd.engine import EngineOptions, _job
from clipasgd.lowering import kernel_plan, lower
from clipasgd.noise import SubWeibull
from clipasgd.problems import make_problem
from clipasgd.schedules import algorithm1
from clipasgd.updates import chain, clip, scale
noise, rule = SubWeibull(theta=1.0, sigma=0.1), chain(clip(0.05), scale(0.18))
for d, R, n, T in [(10, 1, 8, 100000), (10, 20, 8, 10000), (1, 10, 16, 50000)]:
    p = make_problem("quadratic", dim=d, condition=10.0, delta0=10.0)
    tm = stragglers(n, n-1, 4.0)
    s = algorithm1(tm, T + 20*n, np.random.default_rng(1))
    job = _job(p, noise, rule, [s], False, R, 0, T, None, EngineOptions(eps=(1.0, 0.1)))
    low = lower(p, noise, rule, True, None); kp = kernel_plan(job.plan)
    args = lambda: (np.random.default_rng(0), low.problem, low.noise, low.rule, kp, job.x_start, R, T, job.C, job.cps, job.eps, 1e10, 0.0, False)
    a = run_loop(*args()); b = kfused.run_loop(*args())
    same = all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
    to, tf = [], []
    for i in range(9):
        x=args(); t0=time.perf_counter(); run_loop(*x); t1=time.perf_counter(); x=args(); t2=time.perf_counter(); kfused.run_loop(*x); t3=time.perf_counter()
        to.append(t1-t0); tf.append(t3-t2)
    print(d, R, n, T, "bit-identical" if same else "DIFFERENT", f"orig min {min(to)*1e3:.1f} med {np.median(to)*1e3:.1f} ms; fused min {min(tf)*1e3:.1f} med {np.median(tf)*1e3:.1f} ms; ratio(min) {min(to)/min(tf):.2f}")
