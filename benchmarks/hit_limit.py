"""The minimal limit: what a hitting time of clipped ASGD needs, and nothing else (numba).

Written apart from the engine (it imports nothing of ``clipasgd``). One call runs ``T``
events of Algorithm 1 *and* the optimisation on it, online: a heap of worker finish times
keyed by ``(time, worker)`` (ties to the lower index), compute times ``shift_w + scale_w * B``
with the base variates ``B`` drawn one by one from their own generator in the order
Algorithm 1 draws them (so the schedule equals the project's one from the same generator);
the finisher's parked update is applied and it gets the new model. Per job it draws, from
the noise generator and in the engine's order, ``R * d`` standard normals then ``R``
standard exponentials, fused with the radial sub-Weibull noise, clipping and the step.
Per event and row: ``||grad f||`` of the diagonal quadratic ``grad f(x) = a * x``, the
divergence check, the running sum and the hitting time of each ``eps``. The virtual
iterate (its distance and maximum) only with ``virtual=True``.

Initial jobs (all at ``x_0``) draw their noise in the order the workers first finish,
which is the order the engine computes them; like the engine, it assumes every worker
finishes its first job within the schedule the engine is given.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LAWS = {"fixed": 0, "exponential": 1, "halfnormal": 2}  # base laws of the compute times


@njit(cache=True)
def _base(rng, law):
    """One base variate ``B`` (mean 1) of the compute-time law ``law``."""
    if law == 0:
        return 1.0
    if law == 1:
        return rng.standard_exponential()
    return np.abs(rng.standard_normal()) * np.sqrt(np.pi / 2)


@njit(cache=True, inline="always")
def _before(ft, fw, i, j):
    return ft[i] < ft[j] or (ft[i] == ft[j] and fw[i] < fw[j])


@njit(cache=True)
def _down(ft, fw, i):
    """Restore the min-heap below position ``i``."""
    n = ft.size
    while True:
        best = i
        for child in (2 * i + 1, 2 * i + 2):
            if child < n and _before(ft, fw, child, best):
                best = child
        if best == i:
            return
        ft[i], ft[best] = ft[best], ft[i]
        fw[i], fw[best] = fw[best], fw[i]
        i = best


@njit(cache=True, inline="always")
def _job(rng, w, x, gf, buf, xv, z, g, sigma, theta, c, eta, virtual):
    """Draw the noise of one job per row, clip, scale and park it for worker ``w``."""
    R, d = x.shape
    for r in range(R):
        for i in range(d):
            z[r, i] = rng.standard_normal()
    for r in range(R):
        rad = rng.standard_exponential() ** theta
        s = 0.0
        for i in range(d):
            s += z[r, i] * z[r, i]
        f = sigma * rad / np.sqrt(s)
        s = 0.0
        for i in range(d):
            g[i] = z[r, i] * f + gf[r, i]
            s += g[i] * g[i]
        s = np.sqrt(s)
        k = c / s if s > c else 1.0  # g * 1.0 is g: no branch per entry
        for i in range(d):
            u = g[i] * k * eta
            buf[w, r, i] = u
            if virtual:
                xv[r, i] -= u


@njit(cache=True)
def hit_loop(rng, times_rng, law, shift, scale, a, x0, R, T, sigma, theta, c, eta, eps,
             diverge_at, virtual):
    """``T`` events; returns ``(||grad f(x_T)||, mean of ||grad f(x_t)||, t < T, hit (E, R),
    diverged at (R,), max ||x - x~|| (R,; zeros unless virtual))``; NaN where diverged."""
    n, d = shift.size, a.size
    ft = np.empty(n)
    for w in range(n):
        ft[w] = shift[w] + scale[w] * _base(times_rng, law)
    fw = np.argsort(ft, kind="mergesort")  # stable: first finishes in (time, worker) order
    ft = ft[fw]  # sorted, hence a heap
    x = np.empty((R, d))
    for r in range(R):
        x[r] = x0
    xv = x.copy()
    gf = x * a
    buf = np.empty((n, R, d))
    z = np.empty((R, d))
    g = np.empty(d)
    for k in range(n):
        _job(rng, fw[k], x, gf, buf, xv, z, g, sigma, theta, c, eta, virtual)
    gsum = np.zeros(R)
    gn = np.zeros(R)
    hit = np.zeros((eps.size, R), dtype=np.int64)
    diverged = np.full(R, -1, dtype=np.int64)
    vmax = np.zeros(R)
    for t in range(T + 1):
        for r in range(R):
            s = 0.0
            for i in range(d):
                s += gf[r, i] * gf[r, i]
            gn[r] = np.sqrt(s)
            if diverged[r] < 0 and not gn[r] <= diverge_at:
                diverged[r] = t
            if virtual:
                s = 0.0
                for i in range(d):
                    s += (x[r, i] - xv[r, i]) ** 2
                vmax[r] = max(vmax[r], np.sqrt(s))
            if t < T and diverged[r] < 0:
                gsum[r] += gn[r]
                for e in range(eps.size):
                    if hit[e, r] == 0 and gsum[r] / (t + 1) <= eps[e]:
                        hit[e, r] = t + 1
        if t == T:
            break
        w, now = fw[0], ft[0]  # event t: worker w finishes
        for r in range(R):
            for i in range(d):
                x[r, i] -= buf[w, r, i]
                gf[r, i] = a[i] * x[r, i]
        _job(rng, w, x, gf, buf, xv, z, g, sigma, theta, c, eta, virtual)
        ft[0] = now + (shift[w] + scale[w] * _base(times_rng, law))
        _down(ft, fw, 0)
    mean = gsum / T
    for r in range(R):
        if diverged[r] >= 0:
            gn[r] = mean[r] = vmax[r] = np.nan
    return gn, mean, hit, diverged, vmax
