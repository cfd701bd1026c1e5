"""The compiled limit: a minimal numba loop doing the engine's work, written apart from it.

Clipped ASGD on the diagonal quadratic ``grad f(x) = a * x`` with radial sub-Weibull
noise, ``R`` replications on one precomputed asynchronous schedule (each event frees a
job slot; the job computed at model ``m`` is parked in the slot of the event that will
apply it). Per job it draws, from the same PCG64 generator and in the same order as the
numpy engine, ``R * d`` standard normals then ``R`` standard exponentials. Per event and
row it does what the engine must: apply the parked update, recompute ``grad f``, record
``||grad f||`` (divergence check, running sum, minimum, hitting times of every ``eps``),
the virtual-iterate distance ``||x - x~||`` and its maximum, checkpoints, the clip count,
and compute, clip, scale and park the new job while moving the virtual iterate.
Anything slower than this on the same machine is overhead, not work.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _norm(v):
    s = 0.0
    for i in range(v.size):
        s += v[i] * v[i]
    return np.sqrt(s)


@njit(cache=True)
def _job(rng, gf, x, buf, xv, slot, sigma, theta, c, eta, z, g):
    """Draw, clip, scale and park one job per row in ``slot``; returns the clip count."""
    R, d = x.shape
    for r in range(R):
        for i in range(d):
            z[r, i] = rng.standard_normal()
    clipped = 0
    for r in range(R):
        rad = rng.standard_exponential() ** theta
        s = sigma * rad / _norm(z[r])
        for i in range(d):
            g[i] = z[r, i] * s + gf[r, i]
        ng = _norm(g)
        clipped += ng > c
        f = min(1.0, c / ng) if ng > 0 else 1.0
        for i in range(d):
            u = g[i] * f * eta
            buf[slot, r, i] = u
            xv[r, i] -= u
    return clipped


@njit(cache=True)
def limit_loop(rng, a, x0, R, T, slot, model, C, sigma, theta, c, eta, eps, checkpoints,
               diverge_at):
    """Run ``T`` events; returns (checkpoint ||grad f|| and running mean (K, R), hitting
    times (E, R), max virtual distance (R,), clip count)."""
    d = a.size
    x = np.empty((R, d))
    for r in range(R):
        x[r] = x0
    xv = x.copy()
    gf = x * a
    buf = np.zeros((C, R, d))
    z = np.empty((R, d))
    g = np.empty(d)
    consumer = np.full(T + 1, -1)  # event applying the job computed at model m
    for e in range(slot.size):
        if model[e] <= T and model[e] > 0:
            consumer[model[e]] = e
    clipped = 0
    for e in range(slot.size):
        if model[e] == 0:
            clipped += _job(rng, gf, x, buf, xv, slot[e], sigma, theta, c, eta, z, g)
    gsum = np.zeros(R)
    gmin = np.full(R, np.inf)
    vmax = np.zeros(R)
    alive = np.ones(R, dtype=np.bool_)
    hit = np.zeros((eps.size, R), dtype=np.int64)
    rec = np.full((2, checkpoints.size, R), np.nan)
    k = 0
    for t in range(T + 1):
        for r in range(R):
            gn = _norm(gf[r])
            if alive[r] and not gn <= diverge_at:
                alive[r] = False
            for i in range(d):
                g[i] = x[r, i] - xv[r, i]
            vd = _norm(g)
            vmax[r] = max(vmax[r], vd)
            gmin[r] = min(gmin[r], gn)
            if k < checkpoints.size and checkpoints[k] == t and alive[r]:
                rec[0, k, r], rec[1, k, r] = gn, gsum[r] / max(t, 1)
            if t < T and alive[r]:
                gsum[r] += gn
                for j in range(eps.size):
                    if hit[j, r] == 0 and gsum[r] / (t + 1) <= eps[j]:
                        hit[j, r] = t + 1
        if k < checkpoints.size and checkpoints[k] == t:
            k += 1
        if t == T:
            break
        for r in range(R):
            for i in range(d):
                x[r, i] -= buf[slot[t], r, i]
                gf[r, i] = a[i] * x[r, i]
        if t + 1 <= T and consumer[t + 1] >= 0:
            e = consumer[t + 1]
            clipped += _job(rng, gf, x, buf, xv, slot[e], sigma, theta, c, eta, z, g)
    return rec, hit, vmax, clipped
