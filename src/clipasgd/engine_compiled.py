"""Lowering for the compiled engine: problems, noise models and rules as small numeric
descriptions, or the reason one cannot be lowered (the engine then runs numpy); and the
registry of *backends* that run a lowered description (``compiled``: the numba kernel).

Lowered: the quadratic (incl. heterogeneous parts), non-convex and logistic problems;
no noise, Gaussian and the radial laws (sub-Weibull, Student-t, Pareto); ``clip``,
``scale``, ``delay_adaptive``, ``drop_stale`` and chains of them. Not lowered: other
problems (the neural networks), minibatch noise, other transforms (``momentum``, user
transforms), ``full_gradient=False`` and ``evaluate``. Exact types only, so a subclass
that changes the maths is never lowered by mistake. Importing this module does not load
numba; :func:`run` does.

The GPU seam: a lowered description is plain numbers and arrays and the plan is CSR arrays,
nothing numba-specific, so another backend (JAX, CuPy or any array-API library, for the
``R >= 1e5`` high-probability runs) is one function with :func:`run`'s signature and return
value, added with :func:`register_backend`; ``simulate(..., engine=name)`` then runs it
wherever the compiled kernel would run and falls back to numpy where nothing lowers. A
backend with its own generator cannot match numpy's draws: test it in distribution (KS on
the hitting times), as the issue that introduced the kernel asks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .noise import Gaussian, Noise, NoNoise, Pareto, StudentT, SubWeibull
from .problems import HeterogeneousQuadratic, Logistic, NonConvex, Quadratic
from .problems.base import Problem
from .updates import Transform, chain, clip, delay_adaptive, drop_stale, scale

__all__ = ["ENGINES", "lower", "run", "BACKENDS", "register_backend", "engines"]

ENGINES = ("compiled", "numpy")  # the built-in engines (spec and config files name these)
_EMPTY2 = np.zeros((0, 0))


def _problem(p: Problem) -> tuple | str:
    d = p.dim
    kind = type(p)
    if kind in (Quadratic, HeterogeneousQuadratic):
        return (0, 0, 0.0, 0.0, p.a, p.x_star, p.shifts, _EMPTY2, np.zeros((0, d)),
                np.zeros(0), _EMPTY2)
    if kind is NonConvex:
        return (1, int(p.rotate), float(p.alpha), 0.0, np.zeros(d), np.zeros(d),
                np.zeros((1, d)), np.ascontiguousarray(p.Q, dtype=float), np.zeros((0, d)),
                np.zeros(0), _EMPTY2)
    if kind is Logistic:
        return (2, 0, 0.0, float(p.lam), np.zeros(d), np.zeros(d), np.zeros((p.n_parts, d)),
                _EMPTY2, np.ascontiguousarray(p.Z), np.ascontiguousarray(p.weights),
                np.ascontiguousarray(p.masks))
    return f"problem {p.name!r} has no compiled form"


def _noise(n: Noise) -> tuple | str:
    kind = type(n)
    if kind is NoNoise:
        return (0, 0.0, 0.0)
    if kind is Gaussian:
        return (1, float(n.sigma), 0.0)
    params = {SubWeibull: (2, "theta"), StudentT: (3, "df"), Pareto: (4, "alpha")}
    if kind in params:
        code, name = params[kind]
        return (code, float(n.sigma), float(getattr(n, name)))
    return f"noise {n.name!r} has no compiled form"


def _flatten(rule: Transform) -> list[Transform]:
    return [t for part in rule.transforms for t in _flatten(part)] if type(rule) is chain \
        else [rule]


def _rule(rule: Transform) -> tuple | str:
    """``(codes, params, count_op)``: one operation per transform; ``count_op`` is the clip
    whose count ``chain.clipped`` reports (smallest radius, first on ties; -1: none)."""
    parts = _flatten(rule)
    codes, params = [], []
    for t in parts:
        kind = type(t)
        if kind is clip:
            codes.append(0), params.append((t.c, 0.0))
        elif kind is scale:
            codes.append(1), params.append((t.eta, 0.0))
        elif kind is delay_adaptive:
            codes.append(2), params.append((t.eta, float(t.tau_c)))
        elif kind is drop_stale:
            codes.append(3), params.append((float(t.max_delay), 0.0))
        else:
            return f"transform {kind.__name__!r} has no compiled form"
    radii = [(p[0], i) for i, (c, p) in enumerate(zip(codes, params, strict=True)) if c == 0]
    count_op = min(radii)[1] if radii else -1
    return (np.array(codes, dtype=np.int64), np.array(params, dtype=float).reshape(-1, 2),
            count_op)


def lower(problem: Problem, noise: Noise, rule: Transform, full_gradient: bool = True,
          evaluate: object = None) -> tuple[tuple, tuple, tuple] | str:
    """``(problem, noise, rule)`` lowered, or a string saying why the numpy engine runs."""
    if not full_gradient or evaluate is not None:
        return "full_gradient=False or evaluate have no compiled form"
    pieces = (_problem(problem), _noise(noise), _rule(rule))
    for piece in pieces:
        if isinstance(piece, str):
            return piece
    return pieces  # type: ignore[return-value]


def _col(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.int64)


def run(lowered: tuple, plan, rng: np.random.Generator, x_start: np.ndarray, R: int, T: int,
        C: int, cps: np.ndarray, eps: np.ndarray, diverge_at: float, f_star: float,
        stop_when_hit: bool) -> tuple:
    """Call the kernel on the engine's CSR ``plan`` (each array made 2-D: one column, or
    one per replication)."""
    from .engine_kernel import run_loop  # numba loads on first use only

    prob, noise, ops = lowered
    arrays = (_col(plan.apply), np.ascontiguousarray(plan.starts, dtype=np.int64),
              _col(plan.slot), _col(plan.delay), _col(plan.worker))
    return run_loop(rng, prob, noise, ops, arrays, np.ascontiguousarray(x_start, dtype=float),
                    int(R), int(T), int(C), cps.astype(np.int64), eps.astype(float),
                    float(diverge_at), float(f_star), bool(stop_when_hit))


Backend = Callable[..., tuple]
BACKENDS: dict[str, Backend] = {"compiled": run}


def register_backend(name: str, backend: Backend) -> None:
    """Add (or replace) a backend that runs lowered descriptions: ``backend`` takes
    :func:`run`'s arguments and returns its tuple ``(metrics, hit, diverged_at,
    virtual_max, clip_counts, sent)``. ``numpy`` is the reference loop, not a backend."""
    if name == "numpy" or not name.isidentifier():
        raise ValueError(f"backend name must be an identifier other than 'numpy', got {name!r}")
    if not callable(backend):
        raise TypeError(f"backend {name!r} must be callable, got {type(backend).__name__}")
    BACKENDS[name] = backend


def engines() -> tuple[str, ...]:
    """Every engine ``simulate`` accepts: the registered backends, then ``numpy``."""
    return (*BACKENDS, "numpy")
