"""Lowering: a problem, noise law and rule as named tuples of numbers and arrays that a
compiled loop (:mod:`clipasgd.kernel`) runs, or the reason one cannot be lowered (the
engine then runs its numpy loop and says why).

Lowered: the quadratic (incl. heterogeneous parts), non-convex and logistic problems;
no noise, Gaussian and the radial laws (sub-Weibull, Student-t, Pareto); ``clip``,
``scale``, ``delay_adaptive``, ``drop_stale`` and chains of them. Not lowered: other
problems (the neural networks), minibatch noise, other transforms (``momentum``, user
transforms), ``full_gradient=False`` and ``evaluate``. Exact types only, so a subclass
that changes the maths is never lowered by mistake. Importing this module does not load
numba; :func:`run` does.

The GPU seam: a lowered description is plain numbers and arrays and the plan is CSR arrays,
nothing numba-specific, so another compiled loop (JAX, CuPy or any array-API library, for
the ``R >= 1e5`` high-probability runs) is one function with :func:`run`'s signature and
return value, registered as an engine with
``engine.register_backend(name, engine.lowered_backend(fn))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .noise import Gaussian, Noise, NoNoise, Pareto, StudentT, SubWeibull
from .problems import HeterogeneousQuadratic, Logistic, NonConvex, Quadratic
from .problems.base import Problem
from .updates import Transform, chain, clip, delay_adaptive, drop_stale, scale
from .warmup import warming

__all__ = ["LoweredProblem", "LoweredNoise", "LoweredRule", "KernelPlan", "Lowered", "lower",
           "run"]

# The codes the kernel branches on (plain ints: numba folds them as constants).
QUADRATIC, NONCONVEX, LOGISTIC = 0, 1, 2
NO_NOISE, GAUSSIAN, SUBWEIBULL, STUDENT_T, PARETO = 0, 1, 2, 3, 4
CLIP, SCALE, DELAY_ADAPTIVE, DROP_STALE = 0, 1, 2, 3


class LoweredProblem(NamedTuple):
    """One problem for the kernel; fields another kind does not use are empty arrays."""

    kind: int  # QUADRATIC, NONCONVEX or LOGISTIC
    rotate: int  # nonconvex: 1 if ``y = Q x``, 0 if ``y = x``
    alpha: float  # nonconvex: the ``alpha cos(y)`` weight
    lam: float  # logistic: the regulariser weight
    a: np.ndarray  # quadratic: curvatures (d,)
    x_star: np.ndarray  # quadratic: the minimiser (d,)
    shifts: np.ndarray  # heterogeneous quadratic: per-part gradient shifts (parts, d)
    Q: np.ndarray  # nonconvex: the rotation (d, d)
    Z: np.ndarray  # logistic: label-signed examples (n, d)
    weights: np.ndarray  # logistic: example weights of f (n,)
    masks: np.ndarray  # heterogeneous logistic: per-part example weights (parts, n)


class LoweredNoise(NamedTuple):
    kind: int  # NO_NOISE, GAUSSIAN, SUBWEIBULL, STUDENT_T or PARETO
    sigma: float
    par: float  # theta, df or alpha of the radial laws


class LoweredRule(NamedTuple):
    """One operation per transform in order; ``count_op`` is the clip whose count
    ``chain.clipped`` reports (smallest radius, first on ties; -1: none)."""

    codes: np.ndarray  # (k,) int64: CLIP, SCALE, DELAY_ADAPTIVE or DROP_STALE
    params: np.ndarray  # (k, 2) float64
    count_op: int


class KernelPlan(NamedTuple):
    """The engine's CSR plan with every per-job array 2-D (one column, or one per run)."""

    apply: np.ndarray
    starts: np.ndarray
    slot: np.ndarray
    delay: np.ndarray
    worker: np.ndarray


class Lowered(NamedTuple):
    problem: LoweredProblem
    noise: LoweredNoise
    rule: LoweredRule


_EMPTY2 = np.zeros((0, 0))


def _problem(p: Problem) -> LoweredProblem | str:
    d = p.dim
    kind = type(p)
    if kind in (Quadratic, HeterogeneousQuadratic):
        return LoweredProblem(QUADRATIC, 0, 0.0, 0.0, p.a, p.x_star, p.shifts, _EMPTY2,
                              np.zeros((0, d)), np.zeros(0), _EMPTY2)
    if kind is NonConvex:
        return LoweredProblem(NONCONVEX, int(p.rotate), float(p.alpha), 0.0, np.zeros(d),
                              np.zeros(d), np.zeros((1, d)),
                              np.ascontiguousarray(p.Q, dtype=float), np.zeros((0, d)),
                              np.zeros(0), _EMPTY2)
    if kind is Logistic:
        return LoweredProblem(LOGISTIC, 0, 0.0, float(p.lam), np.zeros(d), np.zeros(d),
                              np.zeros((p.n_parts, d)), _EMPTY2, np.ascontiguousarray(p.Z),
                              np.ascontiguousarray(p.weights), np.ascontiguousarray(p.masks))
    return f"problem {p.name!r} has no compiled form"


_RADIAL = {SubWeibull: (SUBWEIBULL, "theta"), StudentT: (STUDENT_T, "df"),
           Pareto: (PARETO, "alpha")}


def _noise(n: Noise) -> LoweredNoise | str:
    kind = type(n)
    if kind is NoNoise:
        return LoweredNoise(NO_NOISE, 0.0, 0.0)
    if kind is Gaussian:
        return LoweredNoise(GAUSSIAN, float(n.sigma), 0.0)
    if kind in _RADIAL:
        code, name = _RADIAL[kind]
        return LoweredNoise(code, float(n.sigma), float(getattr(n, name)))
    return f"noise {n.name!r} has no compiled form"


# transform type -> (kernel code, its two parameters); a lowered rule adds a line here and
# a branch in kernel._apply_ops
_OPS: dict[type, Callable[[Any], tuple[int, float, float]]] = {
    clip: lambda t: (CLIP, t.c, 0.0),
    scale: lambda t: (SCALE, t.eta, 0.0),
    delay_adaptive: lambda t: (DELAY_ADAPTIVE, t.eta, float(t.tau_c)),
    drop_stale: lambda t: (DROP_STALE, float(t.max_delay), 0.0),
}


def _flatten(rule: Transform) -> list[Transform]:
    return [t for part in rule.transforms for t in _flatten(part)] if type(rule) is chain \
        else [rule]


def _rule(rule: Transform) -> LoweredRule | str:
    parts = _flatten(rule)
    ops = []
    for t in parts:
        if type(t) not in _OPS:
            return f"transform {type(t).__name__!r} has no compiled form"
        ops.append(_OPS[type(t)](t))
    radii = [(p1, i) for i, (code, p1, _) in enumerate(ops) if code == CLIP]
    return LoweredRule(np.array([o[0] for o in ops], dtype=np.int64),
                       np.array([o[1:] for o in ops], dtype=float).reshape(-1, 2),
                       min(radii)[1] if radii else -1)


def lower(problem: Problem, noise: Noise, rule: Transform, full_gradient: bool = True,
          evaluate: object = None) -> Lowered | str:
    """``(problem, noise, rule)`` lowered, or a string saying why the numpy engine runs."""
    if not full_gradient or evaluate is not None:
        return "full_gradient=False or evaluate have no compiled form"
    pieces = (_problem(problem), _noise(noise), _rule(rule))
    for piece in pieces:
        if isinstance(piece, str):
            return piece
    return Lowered(*pieces)


def _col(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.int64)


def kernel_plan(plan: Any) -> KernelPlan:
    """The engine's plan with int64 arrays, each per-job array made 2-D."""
    return KernelPlan(_col(plan.apply), np.ascontiguousarray(plan.starts, dtype=np.int64),
                      _col(plan.slot), _col(plan.delay), _col(plan.worker))


def run(lowered: Lowered, plan: Any, rng: np.random.Generator, x_start: np.ndarray, R: int,
        T: int, C: int, cps: np.ndarray, eps: np.ndarray, diverge_at: float, f_star: float,
        stop_when_hit: bool) -> tuple:
    """Run the numba kernel on the engine's CSR ``plan``; returns ``(metrics (7, K, R), hit
    (E, R), diverged_at (R,), virtual_max (R,), clip counts (R,), jobs sent)``."""
    with warming():  # numba loads on first use only
        from .kernel import run_loop

    return run_loop(rng, lowered.problem, lowered.noise, lowered.rule, kernel_plan(plan),
                    np.ascontiguousarray(x_start, dtype=float), int(R), int(T), int(C),
                    cps.astype(np.int64), eps.astype(float), float(diverge_at),
                    float(f_star), bool(stop_when_hit))
