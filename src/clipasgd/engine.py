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

from .engine_compiled import BACKENDS, engines, lower
from .noise import Minibatch, Noise
from .oracle import make_oracle
from .problems.base import Problem
from .results import RESERVED_COLUMNS, RunResult
from .schedules import Schedule
from .updates import Transform, row_norms

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
    non-finite one) marks the replication diverged; ``checkpoints``: iteration counts.

    ``full_gradient=False`` (for problems where ``grad f`` per step is unaffordable): the
    engine never calls ``problem.grad``/``problem.value``; gradient-norm metrics are NaN,
    there are no hitting times, a run diverges when its iterate turns non-finite, and only
    a minibatch oracle is allowed. ``evaluate(x) -> {name: (R,) values}`` is called at each
    checkpoint with ``x`` of shape ``(R, d)``; its values become extra metrics."""

    eps: tuple[float, ...] = ()
    diverge_at: float = 1e10
    checkpoints: np.ndarray | None = None
    per_decade: int = 10
    stop_when_hit: bool = False  # end early once every live run reached every eps
    full_gradient: bool = True
    evaluate: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None


@dataclass(frozen=True)
class _Plan:
    """Jobs in CSR form: those computed at model index ``m`` are ``starts[m]:starts[m+1]``,
    with ``slot``, ``delay``, ``worker`` per job; event ``t`` applies slot ``apply[t]``.
    Each array has one column per replication, or none (a shared schedule: broadcast)."""

    apply: np.ndarray  # (T,) or (T, R)
    starts: np.ndarray  # (T + 2,)
    slot: np.ndarray  # (J,) or (J, R)
    delay: np.ndarray
    worker: np.ndarray

    def jobs(self, m: int):
        for j in range(self.starts[m], self.starts[m + 1]):
            yield self.slot[j], self.delay[j], self.worker[j]


def _plan_shared(s: Schedule, T: int) -> _Plan:
    """One schedule for every replication: the jobs of ``x_m`` are the events applying
    them, in event order (the initial jobs first)."""
    counts = np.bincount(s.model, minlength=T + 1)[: T + 1]
    starts = np.concatenate([[0], np.cumsum(counts)])
    order = np.argsort(s.model, kind="stable")[: starts[-1]]
    return _Plan(s.slot[:T], starts, s.slot[order], order - s.model[order], s.worker[order])


def _plan_batched(schedules: Sequence[Schedule], T: int) -> _Plan:
    """Per-replication schedules: ``C`` initial jobs, then each event sends one job into
    the slot it freed."""
    R = len(schedules)
    C = schedules[0].concurrency
    slot = np.empty((C + T, R), dtype=np.int64)
    delay = np.empty((C + T, R), dtype=np.int64)
    worker = np.empty((C + T, R), dtype=np.int64)
    slot[:C] = np.arange(C)[:, None]
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
        slot[C:, r] = s.slot[:T]
        delay[C:, r] = np.where(known, nxt - np.arange(1, T + 1), n_ev - np.arange(1, T + 1))
        worker[C:, r] = np.where(known, s.worker[np.maximum(nxt, 0)], s.worker[:T])
        first = {}
        for e in np.flatnonzero(s.model == 0).tolist():
            first.setdefault(int(s.slot[e]), e)
        for j in range(C):
            e = first.get(j)
            delay[j, r] = n_ev if e is None else e
            worker[j, r] = j % s.n_workers if e is None else s.worker[e]
    starts = np.concatenate([[0], np.arange(C, C + T + 1)])
    return _Plan(slot[C:], starts, slot, delay, worker)


def simulate(problem: Problem, noise: Noise, rule: Transform,
             schedule: Schedule | Sequence[Schedule], R: int,
             rng: np.random.Generator | np.random.SeedSequence | int,
             horizon: int | None = None, x0: np.ndarray | None = None,
             options: EngineOptions = EngineOptions(), engine: str = "compiled") -> RunResult:
    """Run ``R`` replications of ``x <- x - u`` (``u, state = rule.update(g, state, delay)``)
    on one shared schedule, or on one schedule per replication, for ``horizon`` events
    (default: the schedule's length).

    ``engine="compiled"`` runs the numba kernel (:mod:`clipasgd.engine_kernel`) when the
    problem, noise and rule lower to it, else this numpy loop (the readable reference);
    another registered backend (:func:`clipasgd.engine_compiled.register_backend`) runs the
    same lowered description. ``result.meta["engine"]`` says which ran and
    ``meta["engine_note"]`` why not the one asked for.
    """
    if engine not in engines():
        raise ValueError(f"engine must be one of {list(engines())}, got {engine!r}")
    batched = not isinstance(schedule, Schedule)
    scheds = list(schedule) if batched else [schedule]
    if batched and len(scheds) != R:
        raise ValueError(f"got {len(scheds)} schedules for R={R} replications")
    if R < 1:
        raise ValueError(f"R must be >= 1, got {R}")
    T = min(len(s) for s in scheds) if horizon is None else int(horizon)
    if T < 1 or any(len(s) < T for s in scheds):
        raise ValueError(f"horizon {T} must be in [1, schedule length]")
    full = options.full_gradient
    if not full and not isinstance(noise, Minibatch):
        raise ValueError(f"full_gradient=False needs a minibatch oracle (noise 'minibatch'); "
                         f"noise {noise.name!r} adds noise to the full gradient")
    if not full and (options.eps or options.stop_when_hit):
        raise ValueError("full_gradient=False: hitting times (eps, stop_when_hit) need the "
                         "full gradient")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x_start = problem.x0() if x0 is None else np.asarray(x0, dtype=float)
    if x_start.shape != (problem.dim,):
        raise ValueError(f"x0 must have shape ({problem.dim},), got {x_start.shape}")
    oracle = make_oracle(problem, noise, scheds[0].n_workers)
    plan = _plan_batched(scheds, T) if batched else _plan_shared(scheds[0], T)
    cps = log_checkpoints(T, options.per_decade) if options.checkpoints is None else \
        np.unique(np.clip(np.asarray(options.checkpoints, dtype=np.int64), 1, T))
    eps = np.asarray(sorted(options.eps, reverse=True), dtype=float)
    rows = np.arange(R)
    nan = np.full(R, np.nan)
    grad = problem.grad if full else (lambda x: None)
    value = (lambda x: problem.value(x) - problem.f_star) if full else (lambda x: nan)
    # without grad f, a run's "gradient norm" is NaN while its iterate is finite, else inf
    norms = row_norms if full else (lambda g: np.where(np.isfinite(x).all(axis=1), nan, np.inf))

    C = scheds[0].concurrency
    times = np.stack([s.time[:T] for s in scheds], axis=1)  # (T, R or 1)
    info = dict(times=times, schedule=scheds[0].truncate(T).summary(), c=rule.radius, tau_c=C)
    lowered = lower(problem, noise, rule, full, options.evaluate) if engine != "numpy" \
        else "engine='numpy' requested"
    if not isinstance(lowered, str):
        metrics, hit, diverged_at, vmax, counts, sent = BACKENDS[engine](
            lowered, plan, rng, x_start, R, T, C, cps, eps, options.diverge_at,
            problem.f_star, options.stop_when_hit)
        return RunResult(iters=cps, metrics=dict(zip(_Recorder.names, metrics, strict=True)),
                         eps=eps, hit=hit, diverged_at=diverged_at, virtual_max=vmax,
                         clip_fraction=counts / max(sent, 1), meta={"engine": engine},
                         **info)
    x = np.tile(x_start, (R, 1))
    xv = x.copy()
    state = rule.init(x)
    buf = np.zeros((C, R, problem.dim))
    rec = _Recorder(cps, R, eps)
    sent = 0
    alive = np.ones(R, dtype=bool)
    diverged_at = np.full(R, -1, dtype=np.int64)
    gsum = np.zeros(R)
    gmin = np.full(R, np.inf if full else np.nan)
    vmax = np.zeros(R)

    def send(m: int) -> None:
        nonlocal sent, state
        for slot, delay, worker in plan.jobs(m):
            g = oracle(x, gf, rng, worker)
            sent += 1
            u, state = rule.update(g, state, delay)
            buf[slot, rows] = u
            xv[:] -= u

    def clip_fraction() -> np.ndarray:
        n = rule.clipped(state)
        return (np.zeros(R) if n is None else n) / max(sent, 1)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        gf = grad(x)
        send(0)
        for t in range(T + 1):
            gn = norms(gf)
            bad = alive & ~(gn <= options.diverge_at) if full else alive & (gn == np.inf)
            if bad.any():
                diverged_at[bad] = t
                alive &= ~bad
                x[bad], xv[bad], buf[:, bad] = x_start, x_start, 0.0
                if full:
                    gf[bad] = problem.grad(x[bad])
                gn[bad] = np.nan
            vd = row_norms(x - xv)
            np.maximum(vmax, vd, out=vmax)
            np.fmin(gmin, gn, out=gmin)
            if t >= 1 and rec.due(t):
                rec.record(alive, dict(gn=gn, avg=gsum / t, gmin=gmin, subopt=value(x),
                                       clip=clip_fraction(), vdist=vd, vmax=vmax))
                if options.evaluate:
                    rec.record_extra(alive, options.evaluate(x))
                rec.advance()
            if t == T:
                break
            gsum += np.where(alive, gn, 0.0)
            rec.hits(t + 1, gsum / (t + 1), alive)
            if options.stop_when_hit and eps.size and np.all((rec.hit > 0) | ~alive):
                break
            x -= buf[plan.apply[t], rows]
            gf = grad(x)
            send(t + 1)

    return rec.result(diverged_at=diverged_at, virtual_max=vmax, clip_fraction=clip_fraction(),
                      meta={"engine": "numpy", "engine_note": lowered}, **info)


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

    def record(self, alive: np.ndarray, values: dict[str, np.ndarray]) -> None:
        for k, v in values.items():
            self.data[k][self._next] = np.where(alive, v, np.nan)

    def record_extra(self, alive: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Metrics from ``EngineOptions.evaluate``: new names, one value per replication."""
        for k, v in values.items():
            if k in self.names or k in RESERVED_COLUMNS:
                raise ValueError(f"evaluate: metric name {k!r} is taken by a built-in metric")
            v = np.asarray(v, dtype=float)
            if v.shape != alive.shape:
                raise ValueError(f"evaluate: metric {k!r} must have shape {alive.shape}, "
                                 f"got {v.shape}")
            self.data.setdefault(k, np.full((self.cps.size, alive.size), np.nan))
        self.record(alive, values)

    def advance(self) -> None:
        self._next += 1

    def hits(self, T: int, avg: np.ndarray, alive: np.ndarray) -> None:
        if self.eps.size:
            new = (avg[None, :] <= self.eps[:, None]) & (self.hit == 0) & alive[None, :]
            self.hit[new] = T

    def result(self, **kw) -> RunResult:
        return RunResult(iters=self.cps, metrics=self.data, eps=self.eps, hit=self.hit, **kw)
