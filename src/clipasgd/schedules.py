"""Schedules: who finishes when, independent of the iterates.

A :class:`Schedule` lists the server's events ``t = 0, 1, ...``: the job applied
at event ``t`` finished on ``worker[t]`` at wall-clock ``time[t]``, sat in job slot
``slot[t]`` and was computed at model index ``model[t]``, so its delay is
``tau_t = t - model[t]``. Event ``t`` turns ``x_t`` into ``x_{t+1}``; a job sent
right after it is computed at ``x_{t+1}``.

* :func:`algorithm1`: the finisher gets the next job (homogeneous setting).
* :func:`algorithm2`: the next job goes to a uniformly random worker, who queues it
  (FIFO) when busy (federated setting); ``concurrency`` jobs circulate.
* :func:`synchronous`: minibatch rounds that wait for every worker.
* :func:`from_delays`: replay a recorded delay sequence.

Event loops keep a heap of finish times: O(log n) per event. Algorithms 1 and 2 run
compiled (:mod:`clipasgd.schedule_kernels`); :func:`algorithm1_reference` and
:func:`algorithm2_reference` are the readable Python loops they must equal exactly
(same arrays for the same generator, which ends in the same state).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from .compute_times import ComputeTimes, TraceTimes
from .warmup import warming

__all__ = ["Schedule", "algorithm1", "algorithm2", "algorithm1_reference",
           "algorithm2_reference", "synchronous", "from_delays", "mva_time_per_call",
           "make_schedule", "calls_within", "schedule_past", "past_events"]

Times = ComputeTimes | TraceTimes


@dataclass(frozen=True)
class Schedule:
    """Event arrays of equal length ``T`` plus the number of workers and job slots."""

    worker: np.ndarray
    slot: np.ndarray
    model: np.ndarray
    time: np.ndarray
    n_workers: int
    concurrency: int
    kind: str

    def __post_init__(self) -> None:
        T = self.model.size
        if not all(a.shape == (T,) for a in (self.worker, self.slot, self.time)):
            raise ValueError("schedule: event arrays must be 1-D and equally long")
        if T and (np.any(self.model < 0) or np.any(self.model > np.arange(T))):
            raise ValueError("schedule: need 0 <= model[t] <= t for every event")

    def __len__(self) -> int:
        return int(self.model.size)

    @property
    def delay(self) -> np.ndarray:
        """``tau_t = t - model[t]``."""
        return np.arange(len(self)) - self.model

    @property
    def is_async(self) -> bool:
        """True when each event sends exactly one new job into the slot it freed."""
        return self.kind != "synchronous"

    def truncate(self, T: int) -> Schedule:
        """The first ``T`` events."""
        return Schedule(self.worker[:T], self.slot[:T], self.model[:T], self.time[:T],
                        self.n_workers, self.concurrency, self.kind)

    def summary(self) -> dict:
        """``tau_C``, ``tau_max``, ``tau_avg``, mean time per oracle call, events."""
        d = self.delay
        T = len(self)
        return {"kind": self.kind, "n_workers": self.n_workers, "tau_C": self.concurrency,
                "tau_max": int(d.max()) if T else 0, "tau_avg": float(d.mean()) if T else 0.0,
                "time_per_call": float(self.time[-1] / T) if T else float("nan"),
                "events": T}


def _check_events(T: int) -> int:
    if int(T) != T or T < 1:
        raise ValueError(f"schedule: number of events must be a positive integer, got {T}")
    return int(T)


def algorithm1(times: Times, T: int, rng: np.random.Generator | None = None) -> Schedule:
    """Algorithm 1: all ``n`` workers start on ``x_0``; the finisher gets the new model.

    Ties in finish time go to the lower worker index.
    """
    with warming():  # numba loads on first use only
        from .schedule_kernels import Draws, run_algorithm1

    T = _check_events(T)
    draws = Draws(times, rng if rng is not None else np.random.default_rng(0))
    worker, model, time = run_algorithm1(draws, times.n, T)
    return Schedule(worker, worker.copy(), model, time, times.n, times.n, "algorithm1")


def algorithm2(times: Times, T: int, rng: np.random.Generator | None = None,
               concurrency: int | None = None) -> Schedule:
    """Algorithm 2: each new job goes to a uniformly random worker (FIFO queue there).

    ``concurrency`` jobs (default ``n``) circulate; the initial ones go round-robin
    (job ``j`` to worker ``j mod n``). A job's compute time is drawn when its
    worker starts it.
    """
    with warming():
        from .schedule_kernels import Draws, run_algorithm2

    T = _check_events(T)
    rng = rng if rng is not None else np.random.default_rng(0)
    n, C = times.n, _concurrency(times.n, concurrency)
    targets = rng.integers(0, n, size=T)
    worker, slot, model, time = run_algorithm2(Draws(times, rng), n, C, targets, T)
    return Schedule(worker, slot, model, time, n, C, "algorithm2")


def _concurrency(n: int, concurrency: int | None) -> int:
    C = n if concurrency is None else int(concurrency)
    if C < 1:
        raise ValueError(f"algorithm2: concurrency must be >= 1, got {concurrency}")
    return C


def algorithm1_reference(times: Times, T: int, rng: np.random.Generator | None = None) -> Schedule:
    """:func:`algorithm1` as a plain Python heap loop (the reference it must equal)."""
    T = _check_events(T)
    draw = times.sampler(rng if rng is not None else np.random.default_rng(0))
    n = times.n
    heap = [(draw(i), i) for i in range(n)]
    heapq.heapify(heap)
    job_model = [0] * n
    worker = np.empty(T, dtype=np.int64)
    model = np.empty(T, dtype=np.int64)
    time = np.empty(T)
    pop, push = heapq.heappop, heapq.heappush
    for t in range(T):
        now, w = pop(heap)
        worker[t], model[t], time[t] = w, job_model[w], now
        job_model[w] = t + 1
        push(heap, (now + draw(w), w))
    return Schedule(worker, worker.copy(), model, time, n, n, "algorithm1")


def algorithm2_reference(times: Times, T: int, rng: np.random.Generator | None = None,
                         concurrency: int | None = None) -> Schedule:
    """:func:`algorithm2` as a plain Python loop (the reference it must equal)."""
    T = _check_events(T)
    rng = rng if rng is not None else np.random.default_rng(0)
    n = times.n
    C = _concurrency(n, concurrency)
    draw = times.sampler(rng)
    targets = rng.integers(0, n, size=T).tolist()
    queues: list[deque[int]] = [deque() for _ in range(n)]
    job_model = [0] * C
    for j in range(C):
        queues[j % n].append(j)
    heap = [(draw(i), i) for i in range(n) if queues[i]]
    heapq.heapify(heap)
    worker = np.empty(T, dtype=np.int64)
    slot = np.empty(T, dtype=np.int64)
    model = np.empty(T, dtype=np.int64)
    time = np.empty(T)
    pop, push = heapq.heappop, heapq.heappush
    for t in range(T):
        now, w = pop(heap)
        q = queues[w]
        j = q.popleft()
        worker[t], slot[t], model[t], time[t] = w, j, job_model[j], now
        if q:
            push(heap, (now + draw(w), w))
        job_model[j] = t + 1
        v = targets[t]
        queues[v].append(j)
        if len(queues[v]) == 1:
            push(heap, (now + draw(v), v))
    return Schedule(worker, slot, model, time, n, C, "algorithm2")


def synchronous(times: Times, rounds: int, rng: np.random.Generator | None = None) -> Schedule:
    """Minibatch rounds: all ``n`` workers compute at the round's model; the round ends
    when the slowest finishes. Within a round, events come in finish order."""
    rounds = _check_events(rounds)
    draw = times.sampler(rng if rng is not None else np.random.default_rng(0))
    n = times.n
    durations = np.array([[draw(i) for i in range(n)] for _ in range(rounds)])
    order = np.argsort(durations, axis=1, kind="stable")
    start = np.concatenate([[0.0], np.cumsum(durations.max(axis=1))[:-1]])
    worker = order.ravel()
    time = (start[:, None] + np.take_along_axis(durations, order, axis=1)).ravel()
    model = np.repeat(np.arange(rounds) * n, n)
    return Schedule(worker, worker.copy(), model, time, n, n, "synchronous")


def from_delays(delays: np.ndarray, concurrency: int, times: np.ndarray | None = None,
                workers: np.ndarray | None = None) -> Schedule:
    """Replay a recorded delay trace ``tau_t``.

    Feasible iff every model index ``m >= 1`` is used at most once and ``m = 0`` at
    most ``concurrency`` times; slots follow (a job sent after event ``m - 1``
    reuses that event's slot). Missing times default to ``t + 1``.
    """
    delays = np.asarray(delays)
    if delays.ndim != 1 or delays.size == 0 or not np.issubdtype(delays.dtype, np.integer):
        raise ValueError("trace: delays must be a non-empty 1-D integer array")
    T = delays.size
    model = np.arange(T) - delays
    if np.any(delays < 0) or np.any(model < 0):
        raise ValueError("trace: need 0 <= delay[t] <= t for every event")
    used = np.bincount(model, minlength=T)
    if used[0] > concurrency or np.any(used[1:] > 1):
        raise ValueError("trace: infeasible; a model index m >= 1 is used twice or m = 0 "
                         f"more than concurrency={concurrency} times")
    slot = np.empty(T, dtype=np.int64)
    slot[model == 0] = np.arange(used[0])
    for t in np.flatnonzero(model > 0):  # model[t] - 1 < t, so it is already assigned
        slot[t] = slot[model[t] - 1]
    time = np.arange(1.0, T + 1) if times is None else np.asarray(times, dtype=float)
    worker = slot.copy() if workers is None else np.asarray(workers, dtype=np.int64)
    return Schedule(worker, slot, model, time, int(worker.max()) + 1, int(concurrency), "trace")


def mva_time_per_call(means: np.ndarray, concurrency: int) -> float:
    """Exact mean time per oracle call of Algorithm 2 with exponential compute times.

    Algorithm 2 is then a closed product-form queueing network (``concurrency``
    customers, ``n`` FIFO stations, uniform routing); mean-value analysis gives its
    throughput ``X`` and the answer is ``1 / X``.
    """
    means = np.asarray(means, dtype=float)
    visits = np.full(means.size, 1.0 / means.size)
    queue = np.zeros(means.size)
    throughput = 0.0
    for k in range(1, int(concurrency) + 1):
        residence = means * (1.0 + queue)
        throughput = k / float(visits @ residence)
        queue = throughput * visits * residence
    return 1.0 / throughput


SCHEDULERS = {"algorithm1": algorithm1, "algorithm2": algorithm2, "synchronous": synchronous}


def make_schedule(kind: str, times: Times, T: int, rng: np.random.Generator,
                  **options: int) -> Schedule:
    """Build a schedule by name; unknown names raise ``ValueError``."""
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}; choose one of {sorted(SCHEDULERS)}")
    extra = set(options) - ({"concurrency"} if kind == "algorithm2" else set())
    if extra:
        raise ValueError(f"scheduler {kind!r} takes no option(s) {sorted(extra)}"
                         + (" (concurrency applies to algorithm2 only)"
                            if "concurrency" in extra else ""))
    if kind == "synchronous":
        return synchronous(times, -(-T // times.n), rng, **options).truncate(T)
    return SCHEDULERS[kind](times, T, rng, **options)


def calls_within(schedule: Schedule, cap: float) -> tuple[int, float]:
    """Oracle calls finished by wall-clock ``cap`` and the time per call ``cap / N(cap)``:
    the statistic of a run stopped at a time cap (Fig. 4's caption), not ``time[-1] / T``."""
    if not (np.isfinite(cap) and cap > 0):
        raise ValueError(f"time cap must be positive and finite, got {cap}")
    if len(schedule) == 0 or schedule.time[-1] <= cap:
        raise ValueError(f"time cap {cap} is not inside the schedule (it ends at "
                         f"{schedule.time[-1] if len(schedule) else 0}): draw more events")
    N = int(np.searchsorted(schedule.time, cap, side="right"))
    return N, (cap / N if N else float("inf"))


def past_events(times: Times, cap: float) -> int:
    """Events :func:`schedule_past` first simulates to pass wall-clock ``cap``."""
    return int(1.25 * cap * float(np.sum(1.0 / times.means))) + 10 * times.n


def schedule_past(kind: str, times: Times, cap: float, seed: np.random.SeedSequence,
                  **options: int) -> Schedule:
    """A schedule that runs past wall-clock ``cap``: enough events for the largest possible
    throughput ``sum_i 1/mean_i``, doubled (same seed, fresh generator) if ever short."""
    events = past_events(times, cap)
    while True:
        sched = make_schedule(kind, times, events, np.random.default_rng(seed), **options)
        if sched.time[-1] > cap:
            return sched
        events *= 2
