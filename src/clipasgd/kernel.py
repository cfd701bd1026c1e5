"""The engine's event loop compiled with numba (the ``compiled`` engine), written row by
row with fixed float64/int64 types.

It takes the lowered pieces of :mod:`clipasgd.lowering` (a problem, noise and rule as named
tuples of numbers and arrays; it branches on their codes) and the engine's CSR plan, and
does the numpy loop's work in its order: per job one ``(R, d)`` block of standard normals
then ``R`` radii from the caller's generator (numba's scalar draws equal numpy's array draws
bit for bit, so both engines see the same noise), the rule's operations per row, the parked
update and the virtual iterate; per event the divergence check and reset, the virtual distance and
its maximum, the running sum and minimum of ``||grad f||``, hitting times and checkpoint
records. Sums run left to right, so results agree with the numpy engine to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .lowering import (
    CLIP,
    DELAY_ADAPTIVE,
    GAUSSIAN,
    NO_NOISE,
    NONCONVEX,
    QUADRATIC,
    SCALE,
    STUDENT_T,
    SUBWEIBULL,
)
from .results import METRIC_COLUMNS
from .warmup import watch_numba

__all__ = ["run_loop"]

watch_numba()  # the kernel's first calls load its machine code: a process's warm-up

N_METRICS = len(METRIC_COLUMNS)  # rec[0..6]: gn, avg, gmin, subopt, clip, vdist, vmax


@njit(cache=True)
def _norm(v):
    s = 0.0
    for i in range(v.size):
        s += v[i] * v[i]
    return np.sqrt(s)


@njit(cache=True, inline="always")
def _row_norm(a, r):
    """``||a[r]||`` without making a view (views cost reference counting per call)."""
    s = 0.0
    for i in range(a.shape[1]):
        s += a[r, i] * a[r, i]
    return np.sqrt(s)


@njit(cache=True)
def _to_y(prob, x, y):
    """Nonconvex: ``y = Q x`` (or ``x`` without rotation)."""
    Q = prob.Q
    d = x.size
    if prob.rotate:
        for j in range(d):
            s = 0.0
            for i in range(d):
                s += x[i] * Q[j, i]
            y[j] = s
    else:
        for j in range(d):
            y[j] = x[j]


@njit(cache=True)
def _margins(prob, x, m):
    Z = prob.Z
    for k in range(Z.shape[0]):
        s = 0.0
        for i in range(x.size):
            s += x[i] * Z[k, i]
        m[k] = s


@njit(cache=True)
def _logistic_grad(prob, x, w, out, m):
    """``-(expit(-Z x) * w) @ Z + lam * 2 x / (1 + x^2)^2`` for one row."""
    Z, lam = prob.Z, prob.lam
    _margins(prob, x, m)
    d = x.size
    for i in range(d):
        out[i] = 0.0
    for k in range(Z.shape[0]):
        sw = w[k] / (1.0 + np.exp(m[k]))
        for i in range(d):
            out[i] += sw * Z[k, i]
    for i in range(d):
        out[i] = -out[i] + lam * 2.0 * x[i] / (1.0 + x[i] * x[i]) ** 2


@njit(cache=True)
def _grad(prob, x, out, y, m):
    """``grad f`` of one row ``x`` into ``out`` (``y``, ``m``: scratch)."""
    kind = prob.kind
    if kind == QUADRATIC:
        a, xs = prob.a, prob.x_star
        for i in range(x.size):
            out[i] = a[i] * (x[i] - xs[i])
    elif kind == NONCONVEX:
        alpha, Q = prob.alpha, prob.Q
        _to_y(prob, x, y)
        for j in range(y.size):
            y[j] = y[j] - alpha * np.sin(y[j])
        if prob.rotate:
            for i in range(x.size):
                s = 0.0
                for j in range(y.size):
                    s += y[j] * Q[j, i]
                out[i] = s
        else:
            for i in range(x.size):
                out[i] = y[i]
    else:
        _logistic_grad(prob, x, prob.weights, out, m)


@njit(cache=True)
def _value(prob, x, y, m):
    """``f(x)`` of one row."""
    kind = prob.kind
    s = 0.0
    if kind == QUADRATIC:
        a, xs = prob.a, prob.x_star
        for i in range(x.size):
            diff = x[i] - xs[i]
            s += diff * diff * a[i]
        return 0.5 * s
    if kind == NONCONVEX:
        alpha = prob.alpha
        _to_y(prob, x, y)
        for j in range(y.size):
            s += 0.5 * y[j] * y[j] + alpha * np.cos(y[j])
        return s
    w, lam = prob.weights, prob.lam
    _margins(prob, x, m)
    for k in range(m.size):
        v = -m[k]  # logaddexp(0, v) as numpy computes it
        if v == 0.0:
            term = np.log(2.0)
        elif v > 0.0:
            term = v + np.log1p(np.exp(-v))
        else:
            term = np.log1p(np.exp(v))
        s += term * w[k]
    r = 0.0
    for i in range(x.size):
        r += x[i] * x[i] / (1.0 + x[i] * x[i])
    return s + lam * r


@njit(cache=True)
def _local_grad(prob, x, gf, part, out, m):
    """``grad f_part(x)`` of a heterogeneous problem into ``out`` (``gf``: ``grad f(x)``)."""
    if prob.kind == QUADRATIC:
        shift = prob.shifts[part]
        for i in range(x.size):
            out[i] = gf[i] + shift[i]
    else:
        _logistic_grad(prob, x, prob.masks[part], out, m)


@njit(cache=True, inline="always")
def _apply_ops(g, delay, codes, params, count_op, counts, r):
    """The rule's operations on one row ``g`` in order; counts the clip ``count_op``."""
    for k in range(codes.size):
        code = codes[k]
        if code == CLIP:
            n = _norm(g)
            if n > params[k, 0]:
                f = params[k, 0] / n
                for i in range(g.size):
                    g[i] *= f
                if k == count_op:
                    counts[r] += 1
        elif code == SCALE:
            for i in range(g.size):
                g[i] *= params[k, 0]
        elif code == DELAY_ADAPTIVE:
            f = params[k, 0] * min(1.0, params[k, 1] / max(delay, 1))
            for i in range(g.size):
                g[i] *= f
        else:  # DROP_STALE
            keep = 1.0 if delay < params[k, 0] else 0.0
            for i in range(g.size):
                g[i] *= keep


@njit(cache=True, inline="always")
def _send(rng, m, plan, prob, noise, ops, x, gf, xv, buf, z, rad, g, lg, mm, counts):
    """Compute, transform and park every job of model index ``m``; returns how many."""
    starts, slots, delays, workers = plan.starts, plan.slot, plan.delay, plan.worker
    kind, sigma, par = noise
    codes, params, count_op = ops
    R, d = x.shape
    hetero = prob.shifts.shape[0] > 1
    for j in range(starts[m], starts[m + 1]):
        if kind != NO_NOISE:
            for r in range(R):
                for i in range(d):
                    z[r, i] = rng.standard_normal()
        if kind >= SUBWEIBULL:  # the radial laws
            for r in range(R):
                if kind == SUBWEIBULL:
                    rad[r] = rng.standard_exponential() ** par
                elif kind == STUDENT_T:
                    rad[r] = abs(rng.standard_t(par))
                else:
                    rad[r] = 1.0 + rng.pareto(par)
        for r in range(R):
            col = r if slots.shape[1] > 1 else 0
            slot, delay = slots[j, col], delays[j, col]
            if hetero:
                _local_grad(prob, x[r], gf[r], workers[j, col], lg, mm)
            else:
                for i in range(d):
                    lg[i] = gf[r, i]
            if kind == NO_NOISE:
                for i in range(d):
                    g[i] = lg[i]
            else:
                f = sigma / np.sqrt(d) if kind == GAUSSIAN else sigma * rad[r] / _row_norm(z, r)
                for i in range(d):
                    g[i] = z[r, i] * f + lg[i]
            _apply_ops(g, delay, codes, params, count_op, counts, r)
            for i in range(d):
                buf[slot, r, i] = g[i]
                xv[r, i] -= g[i]
    return starts[m + 1] - starts[m]


@njit(cache=True, inline="always")
def _observe(r, gf, x, xv, gn, vd, vmax, gmin):
    """``||grad f||``-free part of an event's bookkeeping for row ``r``: the virtual
    distance, its running maximum (NaN sticks, as ``np.maximum``) and the running minimum
    of ``gn`` (NaN skipped, as ``np.fmin``)."""
    s = 0.0
    for i in range(x.shape[1]):
        diff = x[r, i] - xv[r, i]
        s += diff * diff
    vd[r] = np.sqrt(s)
    if not np.isnan(vmax[r]) and (np.isnan(vd[r]) or vd[r] > vmax[r]):
        vmax[r] = vd[r]
    if not np.isnan(gn[r]) and (np.isnan(gmin[r]) or gn[r] < gmin[r]):
        gmin[r] = gn[r]


@njit(cache=True)
def run_loop(rng, prob, noise, ops, plan, x_start, R, T, C, cps, eps, diverge_at, f_star,
             stop_when_hit):
    """``T`` events of ``R`` replications; returns ``(metrics (7, K, R), hit (E, R),
    diverged_at (R,), vmax (R,), clip counts (R,), jobs sent)``."""
    apply = plan.apply
    d = x_start.size
    x = np.empty((R, d))
    for r in range(R):
        x[r] = x_start
    xv = x.copy()
    gf = np.empty((R, d))
    buf = np.zeros((C, R, d))
    z = np.empty((R, d))
    rad = np.empty(R)
    g, lg, y = np.empty(d), np.empty(d), np.empty(d)
    mm = np.empty(prob.Z.shape[0])
    counts = np.zeros(R, dtype=np.int64)
    rec = np.full((N_METRICS, cps.size, R), np.nan)
    hit = np.zeros((eps.size, R), dtype=np.int64)
    alive = np.ones(R, dtype=np.bool_)
    diverged = np.full(R, -1, dtype=np.int64)
    gsum, vmax = np.zeros(R), np.zeros(R)
    gmin = np.full(R, np.inf)
    gn, vd = np.empty(R), np.empty(R)
    for r in range(R):
        _grad(prob, x[r], gf[r], y, mm)
    sent = _send(rng, 0, plan, prob, noise, ops, x, gf, xv, buf, z, rad, g, lg, mm, counts)
    k = 0
    for t in range(T + 1):
        for r in range(R):
            gn[r] = _row_norm(gf, r)
            if alive[r] and not gn[r] <= diverge_at:
                diverged[r] = t
                alive[r] = False
                x[r] = x_start
                xv[r] = x_start
                buf[:, r] = 0.0
                _grad(prob, x[r], gf[r], y, mm)
                gn[r] = np.nan
            _observe(r, gf, x, xv, gn, vd, vmax, gmin)
        if t >= 1 and k < cps.size and cps[k] == t:
            for r in range(R):
                if alive[r]:
                    rec[0, k, r], rec[1, k, r], rec[2, k, r] = gn[r], gsum[r] / t, gmin[r]
                    rec[3, k, r] = _value(prob, x[r], y, mm) - f_star
                    rec[4, k, r] = counts[r] / max(sent, 1)
                    rec[5, k, r], rec[6, k, r] = vd[r], vmax[r]
            k += 1
        if t == T:
            break
        done = True
        for r in range(R):
            if alive[r]:
                gsum[r] += gn[r]
                for e in range(eps.size):
                    if hit[e, r] == 0 and gsum[r] / (t + 1) <= eps[e]:
                        hit[e, r] = t + 1
                    done = done and hit[e, r] > 0
        if stop_when_hit and eps.size > 0 and done:
            break
        for r in range(R):
            s = apply[t, r if apply.shape[1] > 1 else 0]
            for i in range(d):
                x[r, i] -= buf[s, r, i]
            if prob.kind == QUADRATIC:  # inline: no row views on the hot path
                a, xs = prob.a, prob.x_star
                for i in range(d):
                    gf[r, i] = a[i] * (x[r, i] - xs[i])
            else:
                _grad(prob, x[r], gf[r], y, mm)
        sent += _send(rng, t + 1, plan, prob, noise, ops, x, gf, xv, buf, z, rad, g, lg, mm,
                      counts)
    return rec, hit, diverged, vmax, counts, sent
