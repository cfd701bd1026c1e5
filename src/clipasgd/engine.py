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

:func:`simulate` checks its inputs, plans the jobs and hands a :class:`Job` to one of
``BACKENDS``: ``compiled`` (the numba kernel, :mod:`clipasgd.kernel`, on the lowered
description of :mod:`clipasgd.lowering`) or ``numpy`` (:func:`numpy_loop`, the readable
reference, which also runs whatever another backend cannot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import lowering
from .noise import Minibatch, Noise
from .oracle import Oracle, make_oracle
from .problems.base import Problem
from .results import METRIC_COLUMNS, RESERVED_COLUMNS, RunResult
from .schedules import Schedule
from .updates import Transform, check_transform, row_norms

__all__ = ["simulate", "log_checkpoints", "EngineOptions", "Job", "Outcome", "Backend",
           "BACKENDS", "DEFAULT_ENGINE", "engines", "register_backend", "lowered_backend",
           "numpy_loop"]

DEFAULT_ENGINE = "compiled"  # the numba kernel: what a spec or config without ``engine`` runs


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
    checkpoint with ``x`` of shape ``(R, d)``; its values become extra metrics.

    ``virtual=False`` (for callers that read neither ``vdist``/``vmax`` nor
    ``virtual_max``): the numpy engine keeps no virtual iterate, those are NaN, and every
    other output is unchanged (the compiled engine always tracks it)."""

    eps: tuple[float, ...] = ()
    diverge_at: float = 1e10
    checkpoints: np.ndarray | None = None
    per_decade: int = 10
    stop_when_hit: bool = False  # end early once every live run reached every eps
    full_gradient: bool = True
    evaluate: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    virtual: bool = True


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


@dataclass(frozen=True)
class Job:
    """One checked :func:`simulate` call, as every backend gets it: ``plan`` holds the jobs
    in CSR form, ``cps`` the checkpoint iterations, ``eps`` the targets (largest first),
    ``C`` the schedule's concurrency ``tau_C``."""

    problem: Problem
    noise: Noise
    rule: Transform
    oracle: Oracle
    plan: _Plan
    rng: np.random.Generator
    x_start: np.ndarray
    R: int
    T: int
    C: int
    cps: np.ndarray
    eps: np.ndarray
    options: EngineOptions


class Outcome(NamedTuple):
    """What a backend returns; :func:`simulate` adds the schedule's fields."""

    metrics: dict[str, np.ndarray]  # (K, R) per name of METRIC_COLUMNS, then extras
    hit: np.ndarray
    diverged_at: np.ndarray
    virtual_max: np.ndarray
    clip_fraction: np.ndarray


# A backend runs a job, or returns a sentence saying why it cannot (numpy then runs it).
Backend = Callable[[Job], "Outcome | str"]


def simulate(problem: Problem, noise: Noise, rule: Transform,
             schedule: Schedule | Sequence[Schedule], R: int,
             rng: np.random.Generator | np.random.SeedSequence | int,
             horizon: int | None = None, x0: np.ndarray | None = None,
             options: EngineOptions = EngineOptions(), engine: str = DEFAULT_ENGINE
             ) -> RunResult:
    """Run ``R`` replications of ``x <- x - u`` (``u, state = rule.update(g, state, delay)``)
    on one shared schedule, or on one schedule per replication, for ``horizon`` events
    (default: the schedule's length), with the backend ``BACKENDS[engine]``.

    ``compiled`` (the default) runs the numba kernel when the problem, noise and rule lower
    to it; whatever a backend cannot run, :func:`numpy_loop` runs. ``result.meta["engine"]``
    says which ran and ``meta["engine_note"]`` why not the one asked for.
    """
    if engine not in BACKENDS:
        raise ValueError(f"engine must be one of {list(engines())}, got {engine!r}")
    batched = not isinstance(schedule, Schedule)
    scheds = list(schedule) if batched else [schedule]
    job = _job(problem, noise, rule, scheds, batched, R, rng, horizon, x0, options)
    out = BACKENDS[engine](job)
    meta: dict = {"engine": engine}
    if isinstance(out, str):
        out, meta = numpy_loop(job), {"engine": "numpy", "engine_note": out}
    return RunResult(iters=job.cps, eps=job.eps,
                     times=np.stack([s.time[:job.T] for s in scheds], axis=1),  # (T, R or 1)
                     schedule=scheds[0].truncate(job.T).summary(), c=rule.radius, tau_c=job.C,
                     meta=meta, **out._asdict())


def _job(problem: Problem, noise: Noise, rule: Transform, scheds: list[Schedule],
         batched: bool, R: int, rng: np.random.Generator | np.random.SeedSequence | int,
         horizon: int | None, x0: np.ndarray | None, options: EngineOptions) -> Job:
    """Check :func:`simulate`'s inputs (a ``ValueError`` naming the problem) and plan."""
    check_transform(rule, "simulate: rule")
    if batched and len(scheds) != R:
        raise ValueError(f"got {len(scheds)} schedules for R={R} replications")
    if R < 1:
        raise ValueError(f"R must be >= 1, got {R}")
    T = min(len(s) for s in scheds) if horizon is None else int(horizon)
    if T < 1 or any(len(s) < T for s in scheds):
        raise ValueError(f"horizon {T} must be in [1, schedule length]")
    if not options.full_gradient and not isinstance(noise, Minibatch):
        raise ValueError(f"full_gradient=False needs a minibatch oracle (noise 'minibatch'); "
                         f"noise {noise.name!r} adds noise to the full gradient")
    if not options.full_gradient and (options.eps or options.stop_when_hit):
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
    return Job(problem, noise, rule, oracle, plan, rng, x_start, R, T, scheds[0].concurrency,
               cps, eps, options)


def lowered_backend(kernel: Callable[..., tuple]) -> Backend:
    """A backend from a loop over lowered descriptions, with the signature and return value
    of :func:`clipasgd.lowering.run` (the GPU seam): it runs every job that lowers."""
    def run(job: Job) -> Outcome | str:
        o = job.options
        lowered = lowering.lower(job.problem, job.noise, job.rule, o.full_gradient, o.evaluate)
        if isinstance(lowered, str):
            return lowered
        metrics, hit, diverged_at, vmax, counts, sent = kernel(
            lowered, job.plan, job.rng, job.x_start, job.R, job.T, job.C, job.cps, job.eps,
            o.diverge_at, job.problem.f_star, o.stop_when_hit)
        return Outcome(dict(zip(METRIC_COLUMNS, metrics, strict=True)), hit, diverged_at,
                       vmax, counts / max(sent, 1))
    return run


def numpy_loop(job: Job) -> Outcome:
    """The reference backend: the event loop in numpy, for any problem, noise and rule."""
    problem, rule, plan, rng, R, T, C = job.problem, job.rule, job.plan, job.rng, job.R, \
        job.T, job.C
    options, x_start, eps = job.options, job.x_start, job.eps
    full, oracle = options.full_gradient, job.oracle
    rows = np.arange(R)
    nan = np.full(R, np.nan)
    grad = problem.grad if full else (lambda x: None)
    value = (lambda x: problem.value(x) - problem.f_star) if full else (lambda x: nan)
    # without grad f, a run's "gradient norm" is NaN while its iterate is finite, else inf
    norms = row_norms if full else (lambda g: np.where(_finite_rows(x), nan, np.inf))
    virtual = options.virtual
    shared = plan.apply.ndim == 1  # one schedule: a slot index selects every row at once

    x = np.tile(x_start, (R, 1))
    xv = x.copy() if virtual else None
    state = rule.init(x)
    buf = np.zeros((C, R, problem.dim))
    rec = _Recorder(job.cps, R, eps)
    sent = 0
    alive = np.ones(R, dtype=bool)
    diverged_at = np.full(R, -1, dtype=np.int64)
    gsum = np.zeros(R)
    gmin = np.full(R, np.inf if full else np.nan)
    vmax = np.zeros(R) if virtual else np.full(R, np.nan)

    def send(m: int) -> None:
        nonlocal sent, state
        for slot, delay, worker in plan.jobs(m):
            g = oracle(x, gf, rng, worker)
            sent += 1
            u, state = rule.update(g, state, delay)
            buf[slot if shared else (slot, rows)] = u
            if virtual:
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
                x[bad], buf[:, bad] = x_start, 0.0
                if virtual:
                    xv[bad] = x_start
                if full:
                    gf[bad] = problem.grad(x[bad])
                gn[bad] = np.nan
            if virtual:
                vd = row_norms(x - xv)
                np.maximum(vmax, vd, out=vmax)
            else:
                vd = nan
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
            x -= buf[plan.apply[t]] if shared else buf[plan.apply[t], rows]
            gf = grad(x)
            send(t + 1)

    return Outcome(rec.data, rec.hit, diverged_at, vmax, clip_fraction())


def _finite_rows(x: np.ndarray) -> np.ndarray:
    """Whether each row of ``x`` is finite: a row sum is non-finite whenever an entry is;
    only rows whose sum is not finite (an entry non-finite, or an overflow) are scanned."""
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(x.sum(axis=1))
    if not ok.all():
        ok[~ok] = np.isfinite(x[~ok]).all(axis=1)
    return ok


class _Recorder:
    """Checkpoint metrics ``(K, R)`` and hitting times ``(E, R)``."""

    names = tuple(METRIC_COLUMNS)

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


BACKENDS: dict[str, Backend] = {DEFAULT_ENGINE: lowered_backend(lowering.run),
                                "numpy": numpy_loop}


def engines() -> tuple[str, ...]:
    """Every engine :func:`simulate` accepts (spec and config files name the built-in ones)."""
    return tuple(BACKENDS)


def register_backend(name: str, backend: Backend) -> None:
    """Add (or replace) an engine: ``backend(job)`` returns an :class:`Outcome`, or a
    sentence saying why it cannot run ``job`` (then :func:`numpy_loop` runs it). Wrap a
    loop over lowered descriptions with :func:`lowered_backend`. ``numpy``, the reference,
    cannot be replaced."""
    if name == "numpy" or not name.isidentifier():
        raise ValueError(f"backend name must be an identifier other than 'numpy', got {name!r}")
    if not callable(backend):
        raise TypeError(f"backend {name!r} must be callable, got {type(backend).__name__}")
    BACKENDS[name] = backend
