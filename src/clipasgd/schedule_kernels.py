"""Compiled event loops for Algorithms 1 and 2 (numba), exact twins of the Python ones.

The Python loops in :mod:`clipasgd.schedules` stay the reference; these produce the
same arrays for the same inputs and generator. Compute times are not drawn here: a
:class:`Draws` pulls base variates from the numpy generator in the same blocks, in
the same order, as ``ComputeTimes.sampler`` (or reads a ``TraceTimes`` replay), and
the kernels consume them in the order the Python loops call ``draw``. A kernel
stops before an event whose draws are not there yet; the caller refills and calls
again, so the generator ends in the same state as after the Python loop.

The finish-time heap is keyed by ``(time, worker)`` like the Python heap's tuples;
each worker is in it at most once, so keys are unique and the pop order does not
depend on the heap's layout. O(log n) per event.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .compute_times import ComputeTimes, TraceTimes
from .warmup import watch_numba

__all__ = ["Draws", "run_algorithm1", "run_algorithm2", "DONE", "REFILL"]

watch_numba()  # the kernels' first calls load their machine code: a process's warm-up

DONE, REFILL = -1, -2  # kernel status; a status >= 0 names a worker whose trace ran out


class Draws:
    """Compute-time draws laid out for a kernel: a pool of base variates (model) or
    per-worker replay arrays (trace). ``pos`` is the next unused pool entry."""

    def __init__(self, times: ComputeTimes | TraceTimes, rng: np.random.Generator):
        self.trace = isinstance(times, TraceTimes)
        self.times, self.rng = times, rng
        if self.trace:
            sizes = np.array([a.size for a in times.times], dtype=np.int64)
            self.flat = np.concatenate(times.times)
            self.ptr = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            self.end = self.ptr + sizes
            self.shift = self.scale = np.zeros(0)
        else:
            self.flat, self.ptr = np.zeros(0), np.zeros(0, dtype=np.int64)
            self.end = self.ptr
            self.shift, self.scale = times.shift, times.scale
        self.pool = np.zeros(0)
        self.pos = 0

    def refill(self) -> None:
        """Append the generator's next block to the unused part of the pool."""
        self.pool = np.concatenate([self.pool[self.pos:], self.times.block(self.rng)])
        self.pos = 0

    def first(self, workers: int) -> np.ndarray:
        """One draw for each of workers ``0 .. workers - 1``, in that order."""
        if self.trace:
            out = self.flat[self.ptr[:workers]]
            self.ptr[:workers] += 1
            return out
        while self.pool.size - self.pos < workers:
            self.refill()
        b = self.pool[self.pos:self.pos + workers]
        self.pos += workers
        return self.shift[:workers] + self.scale[:workers] * b

    def exhausted(self, worker: int) -> ValueError:
        return ValueError(f"trace exhausted: worker {worker} has only "
                          f"{self.times.times[worker].size} recorded times")

    def args(self) -> tuple:
        return (self.trace, self.pool, self.shift, self.scale, self.flat, self.ptr, self.end)


def _drive(kernel, draws: Draws, state: np.ndarray, *arrays: np.ndarray) -> None:
    """Call ``kernel`` until it is done, refilling the pool when it asks."""
    while True:
        state[1] = draws.pos
        status = kernel(state, *draws.args(), *arrays)
        draws.pos = int(state[1])
        if status == DONE:
            return
        if status >= 0:
            raise draws.exhausted(int(status))
        draws.refill()


def run_algorithm1(draws: Draws, n: int, T: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(worker, model, time)`` of Algorithm 1's first ``T`` events."""
    heap_t = draws.first(n)
    heap_w = np.arange(n, dtype=np.int64)
    _heapify(heap_t, heap_w, n)
    worker = np.empty(T, dtype=np.int64)
    model = np.empty(T, dtype=np.int64)
    time = np.empty(T)
    state = np.array([0, 0, n], dtype=np.int64)  # next event, pool position, heap size
    _drive(_algorithm1, draws, state, heap_t, heap_w, np.zeros(n, dtype=np.int64),
           worker, model, time)
    return worker, model, time


def run_algorithm2(draws: Draws, n: int, C: int, targets: np.ndarray, T: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(worker, slot, model, time)`` of Algorithm 2's first ``T`` events."""
    busy = min(n, C)
    heap_t = np.empty(n)
    heap_w = np.empty(n, dtype=np.int64)
    heap_t[:busy] = draws.first(busy)
    heap_w[:busy] = np.arange(busy)
    _heapify(heap_t, heap_w, busy)
    head = np.full(n, -1, dtype=np.int64)
    tail = np.full(n, -1, dtype=np.int64)
    qlen = np.zeros(n, dtype=np.int64)
    nxt = np.full(C, -1, dtype=np.int64)
    _round_robin(head, tail, qlen, nxt)
    out = [np.empty(T, dtype=np.int64) for _ in range(3)] + [np.empty(T)]
    state = np.array([0, 0, busy], dtype=np.int64)
    _drive(_algorithm2, draws, state, heap_t, heap_w, np.zeros(C, dtype=np.int64),
           head, tail, qlen, nxt, targets.astype(np.int64), *out)
    return out[0], out[1], out[2], out[3]


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _less(ht, hw, i, j):
    return ht[i] < ht[j] or (ht[i] == ht[j] and hw[i] < hw[j])


@njit(cache=True)
def _swap(ht, hw, i, j):
    ht[i], ht[j] = ht[j], ht[i]
    hw[i], hw[j] = hw[j], hw[i]


@njit(cache=True)
def _sift_down(ht, hw, size, i):
    while True:
        small, left = i, 2 * i + 1
        if left < size and _less(ht, hw, left, small):
            small = left
        if left + 1 < size and _less(ht, hw, left + 1, small):
            small = left + 1
        if small == i:
            return
        _swap(ht, hw, i, small)
        i = small


@njit(cache=True)
def _sift_up(ht, hw, i):
    while i > 0:
        parent = (i - 1) // 2
        if not _less(ht, hw, i, parent):
            return
        _swap(ht, hw, i, parent)
        i = parent


@njit(cache=True)
def _heapify(ht, hw, size):
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(ht, hw, size, i)


@njit(cache=True)
def _pop(ht, hw, size):
    """Remove the top; returns the new size."""
    size -= 1
    ht[0], hw[0] = ht[size], hw[size]
    _sift_down(ht, hw, size, 0)
    return size


@njit(cache=True)
def _push(ht, hw, size, t, w):
    ht[size], hw[size] = t, w
    _sift_up(ht, hw, size)
    return size + 1


@njit(cache=True)
def _append(head, tail, qlen, nxt, v, j):
    """Queue job ``j`` at the back of worker ``v``'s FIFO (a linked list over jobs)."""
    nxt[j] = -1
    if qlen[v] == 0:
        head[v] = j
    else:
        nxt[tail[v]] = j
    tail[v] = j
    qlen[v] += 1


@njit(cache=True)
def _round_robin(head, tail, qlen, nxt):
    """The initial jobs: job ``j`` queued at worker ``j mod n``."""
    for j in range(nxt.size):
        _append(head, tail, qlen, nxt, j % head.size, j)


@njit(cache=True)
def _take(w, pos, trace, pool, shift, scale, flat, ptr):
    """The next compute time of worker ``w`` (the caller checked it is there)."""
    if trace:
        v = flat[ptr[w]]
        ptr[w] += 1
        return v, pos
    return shift[w] + scale[w] * pool[pos], pos + 1


@njit(cache=True)
def _algorithm1(state, trace, pool, shift, scale, flat, ptr, end, ht, hw, job_model,
                worker, model, time):
    t, pos, T = state[0], state[1], worker.size
    while t < T:
        w = hw[0]
        if trace and ptr[w] == end[w]:
            return w
        if not trace and pos == pool.size:
            state[0], state[1] = t, pos
            return REFILL
        now = ht[0]
        worker[t], model[t], time[t] = w, job_model[w], now
        job_model[w] = t + 1
        d, pos = _take(w, pos, trace, pool, shift, scale, flat, ptr)
        ht[0] = now + d  # replace the top, then restore the heap
        _sift_down(ht, hw, state[2], 0)
        t += 1
    state[0], state[1] = t, pos
    return DONE


@njit(cache=True)
def _algorithm2(state, trace, pool, shift, scale, flat, ptr, end, ht, hw, job_model,
                head, tail, qlen, nxt, targets, worker, slot, model, time):
    t, pos, size, T = state[0], state[1], state[2], worker.size
    while t < T:
        w, v = hw[0], targets[t]
        again = qlen[w] > 1  # w starts its next queued job
        wake = qlen[v] - (1 if v == w else 0) == 0  # v was idle: starts the new job
        if trace:
            if again and ptr[w] == end[w]:
                return w
            if wake and ptr[v] == end[v]:
                return v
        elif pos + int(again) + int(wake) > pool.size:
            state[0], state[1], state[2] = t, pos, size
            return REFILL
        now = ht[0]
        size = _pop(ht, hw, size)
        j = head[w]
        head[w] = nxt[j]
        qlen[w] -= 1
        worker[t], slot[t], model[t], time[t] = w, j, job_model[j], now
        if again:
            d, pos = _take(w, pos, trace, pool, shift, scale, flat, ptr)
            size = _push(ht, hw, size, now + d, w)
        job_model[j] = t + 1
        _append(head, tail, qlen, nxt, v, j)
        if wake:
            d, pos = _take(v, pos, trace, pool, shift, scale, flat, ptr)
            size = _push(ht, hw, size, now + d, v)
        t += 1
    state[0], state[1], state[2] = t, pos, size
    return DONE
