"""The simulation engine: ``R`` independent replications of asynchronous SGD at once.

Exact asynchronous semantics with memory ``O(R * tau_C * d)``: because a schedule
does not depend on the iterates, the job applied at event ``t'`` can be computed
the moment its model ``x_m`` exists (``m = model[t']``) and parked in its job slot
as the finished *update* (its delay ``t' - m`` is known from the schedule). Event
``t`` then does ``x <- x - slot[t]``. The virtual iterate (``x`` minus every parked
update) therefore moves by exactly the newest update, so ``||x - x~||`` costs one
extra vector operation per step.

Jobs that the schedule never completes are not computed; give the schedule some
slack past the horizon so the virtual iterate sees every job in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .noise import Noise
from .oracle import make_oracle
from .problems.base import Problem
from .results import RunResult
from .schedules import Schedule
from .updates import Transform, clip_radius, row_norms

__all__ = ["simulate", "log_checkpoints", "EngineOptions"]


def log_checkpoints(T: int, per_decade: int = 10) -> np.ndarray:
    """Log-spaced iteration counts in ``[1, T]``, always including ``T``."""
    if T < 1:
        raise ValueError(f"horizon must be >= 1, got {T}")
    pts = np.unique(np.round(np.logspace(0, np.log10(T), max(2, int(per_decade *
                                                                      np.log10(T)) + 1))))
    return np.unique(np.append(pts.astype(np.int64), T))


@dataclass(frozen=True)
class EngineOptions:
    """``eps``: targets for hitting times; ``diverge_at``: a gradient norm past this (or a
    non-finite one) marks the replication diverged; ``checkpoints``: iteration counts."""

    eps: tuple[float, ...] = ()
    diverge_at: float = 1e10
    checkpoints: np.ndarray | None = None
    per_decade: int = 10
    stop_when_hit: bool = False  # end early once every live run reached every eps


@dataclass
class _Plan:
    """Which jobs to compute at each model index, as (slot, delay, worker)."""

    initial: list[tuple]
    steps: Callable[[int], list[tuple]] | None  # shared schedule: jobs at model index m
    slots: np.ndarray | None  # batched: (T, R) slot freed by event t
    delays: np.ndarray | None  # batched: (T, R) delay of the job sent after event t
    workers: np.ndarray | None


def _consumers(s: Schedule, m_max: int) -> tuple[list[int], list[int]]:
    """Events grouped by the model index they were computed at (CSR form): the events
    applying a job computed at ``x_m`` are ``order[starts[m]:starts[m + 1]]``."""
    order = np.argsort(s.model, kind="stable")
    counts = np.bincount(s.model, minlength=m_max + 1)[: m_max + 1]
    starts = np.concatenate([[0], np.cumsum(counts)])
    return order.tolist(), starts.tolist()


def _plan_shared(s: Schedule, T: int) -> _Plan:
    order, starts = _consumers(s, T)
    slot, worker = s.slot.tolist(), s.worker.tolist()

    def jobs(m: int) -> list[tuple]:
        return [(slot[e], e - m, worker[e]) for e in order[starts[m]:starts[m + 1]]]

    return _Plan(jobs(0), jobs, None, None, None)


def _plan_batched(schedules: Sequence[Schedule], T: int) -> _Plan:
    """Per-replication schedules; each event sends one job into the slot it freed."""
    R = len(schedules)
    C = schedules[0].concurrency
    slots = np.empty((T, R), dtype=np.int64)
    delays = np.empty((T, R), dtype=np.int64)
    workers = np.empty((T, R), dtype=np.int64)
    init_delay = np.empty((C, R), dtype=np.int64)
    init_worker = np.empty((C, R), dtype=np.int64)
    for r, s in enumerate(schedules):
        if not s.is_async or s.concurrency != C:
            raise ValueError("per-replication schedules must be asynchronous, "
                             "with equal concurrency")
        n_ev = len(s)
        arrival = np.full(T + 1, -1, dtype=np.int64)
        late = s.model > 0
        arrival[s.model[late & (s.model <= T)]] = np.flatnonzero(late & (s.model <= T))
        nxt = arrival[1:]
        known = nxt >= 0
        if np.any(s.slot[nxt[known]] != s.slot[:T][known]):
            raise ValueError("per-replication schedule: a job does not reuse the slot it freed")
        slots[:, r] = s.slot[:T]
        delays[:, r] = np.where(known, nxt - np.arange(1, T + 1), n_ev - np.arange(1, T + 1))
        workers[:, r] = np.where(known, s.worker[np.maximum(nxt, 0)], s.worker[:T])
        first = {}
        for e in np.flatnonzero(s.model == 0).tolist():
            first.setdefault(int(s.slot[e]), e)
        for j in range(C):
            e = first.get(j)
            init_delay[j, r] = n_ev if e is None else e
            init_worker[j, r] = j % s.n_workers if e is None else s.worker[e]
    initial = [(j, init_delay[j], init_worker[j]) for j in range(C)]
    return _Plan(initial, None, slots, delays, workers)


def simulate(problem: Problem, noise: Noise, rule: Transform,
             schedule: Schedule | Sequence[Schedule], R: int,
             rng: np.random.Generator | np.random.SeedSequence | int,
             horizon: int | None = None, x0: np.ndarray | None = None,
             options: EngineOptions = EngineOptions()) -> RunResult:
    """Run ``R`` replications of ``x <- x - rule(g, delay)`` on one shared schedule, or on
    one schedule per replication, for ``horizon`` events (default: the schedule's length).
    """
    batched = not isinstance(schedule, Schedule)
    scheds = list(schedule) if batched else [schedule]
    if batched and len(scheds) != R:
        raise ValueError(f"got {len(scheds)} schedules for R={R} replications")
    if R < 1:
        raise ValueError(f"R must be >= 1, got {R}")
    T = min(len(s) for s in scheds) if horizon is None else int(horizon)
    if T < 1 or any(len(s) < T for s in scheds):
        raise ValueError(f"horizon {T} must be in [1, schedule length]")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x_start = problem.x0() if x0 is None else np.asarray(x0, dtype=float)
    if x_start.shape != (problem.dim,):
        raise ValueError(f"x0 must have shape ({problem.dim},), got {x_start.shape}")
    n_workers = scheds[0].n_workers
    oracle = make_oracle(problem, noise, n_workers)
    plan = _plan_batched(scheds, T) if batched else _plan_shared(scheds[0], T)
    cps = log_checkpoints(T, options.per_decade) if options.checkpoints is None else \
        np.unique(np.clip(np.asarray(options.checkpoints, dtype=np.int64), 1, T))
    eps = np.asarray(sorted(options.eps, reverse=True), dtype=float)
    c_clip = clip_radius(rule)
    rows = np.arange(R)

    C = scheds[0].concurrency
    x = np.tile(x_start, (R, 1))
    xv = x.copy()
    buf = np.zeros((C, R, problem.dim))
    rec = _Recorder(cps, R, eps)
    clipped = np.zeros(R)
    sent = 0
    alive = np.ones(R, dtype=bool)
    diverged_at = np.full(R, -1, dtype=np.int64)
    gsum = np.zeros(R)
    gmin = np.full(R, np.inf)
    vmax = np.zeros(R)

    def send(slot, delay, worker) -> None:
        nonlocal sent
        g = oracle(x, gf, rng, worker)
        if c_clip < np.inf:
            clipped[:] += row_norms(g) > c_clip
        sent += 1
        u = rule(g, delay)
        if batched:
            buf[slot, rows] = u
        else:
            buf[slot] = u
        xv[:] -= u

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        gf = problem.grad(x)
        for job in plan.initial:
            send(*job)
        for t in range(T + 1):
            gn = row_norms(gf)
            bad = alive & ~(gn <= options.diverge_at)
            if bad.any():
                diverged_at[bad] = t
                alive &= ~bad
                x[bad], xv[bad], buf[:, bad] = x_start, x_start, 0.0
                gf[bad] = problem.grad(x[bad])
                gn[bad] = np.nan
            vd = row_norms(x - xv)
            np.maximum(vmax, vd, out=vmax)
            np.fmin(gmin, gn, out=gmin)
            if t >= 1 and rec.due(t):
                rec.record(t, gn=gn, avg=gsum / t, gmin=gmin,
                           subopt=problem.value(x) - problem.f_star,
                           clip=clipped / max(sent, 1), vdist=vd, vmax=vmax, alive=alive)
            if t == T:
                break
            gsum += np.where(alive, gn, 0.0)
            rec.hits(t + 1, gsum / (t + 1), alive)
            if options.stop_when_hit and eps.size and np.all((rec.hit > 0) | ~alive):
                break
            if batched:
                x -= buf[plan.slots[t], rows]
            else:
                x -= buf[scheds[0].slot[t]]
            gf = problem.grad(x)
            if batched:
                send(plan.slots[t], plan.delays[t], plan.workers[t])
            else:
                for job in plan.steps(t + 1):
                    send(*job)

    times = np.stack([s.time[:T] for s in scheds], axis=1)  # (T, R or 1)
    return rec.result(times=times, diverged_at=diverged_at, virtual_max=vmax,
                      clip_fraction=clipped / max(sent, 1),
                      schedule=[s.truncate(T).summary() for s in scheds[:1]][0],
                      c=c_clip, tau_c=C)


class _Recorder:
    """Checkpoint metrics ``(K, R)`` and hitting times ``(E, R)``."""

    names = ("gn", "avg", "gmin", "subopt", "clip", "vdist", "vmax")

    def __init__(self, cps: np.ndarray, R: int, eps: np.ndarray):
        self.cps = cps
        self._next = 0
        self.data = {k: np.full((cps.size, R), np.nan) for k in self.names}
        self.eps = eps
        self.hit = np.zeros((eps.size, R), dtype=np.int64)

    def due(self, t: int) -> bool:
        return self._next < self.cps.size and self.cps[self._next] == t

    def record(self, t: int, alive: np.ndarray, **values: np.ndarray) -> None:
        i = self._next
        for k, v in values.items():
            self.data[k][i] = np.where(alive, v, np.nan)
        self._next += 1

    def hits(self, T: int, avg: np.ndarray, alive: np.ndarray) -> None:
        if self.eps.size:
            new = (avg[None, :] <= self.eps[:, None]) & (self.hit == 0) & alive[None, :]
            self.hit[new] = T

    def result(self, times: np.ndarray, **kw) -> RunResult:
        return RunResult(iters=self.cps, metrics=self.data, eps=self.eps, hit=self.hit,
                         times=times, **kw)
