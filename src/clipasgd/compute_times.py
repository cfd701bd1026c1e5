"""Compute-time models: how long worker ``i`` takes for one gradient.

Every model draws ``time_i = shift_i + scale_i * B`` with ``B`` i.i.d. from a base
law with mean 1 (``fixed``: ``B = 1``), so per-worker means are
``shift_i + scale_i``. A :class:`TraceTimes` replays recorded per-worker times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

__all__ = ["ComputeTimes", "TraceTimes", "BASE_LAWS", "stragglers", "ringmaster_peer",
           "make_compute_times"]

_BLOCK = 1 << 14


def _pareto_mean_one(alpha: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    if alpha <= 1:
        raise ValueError(f"pareto compute times need alpha > 1 (finite mean), got {alpha}")
    return lambda rng, size: (alpha - 1) / alpha * (1.0 + rng.pareto(alpha, size))


def _halfnormal_mean_one(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.abs(rng.standard_normal(size)) * np.sqrt(np.pi / 2)


def _uniform_mean_one(spread: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    if not 0 <= spread <= 1:
        raise ValueError(f"uniform compute times need spread in [0, 1], got {spread}")
    return lambda rng, size: rng.uniform(1 - spread, 1 + spread, size)


BASE_LAWS = {
    "fixed": lambda p: (lambda rng, size: np.ones(size)),
    "exponential": lambda p: (lambda rng, size: rng.standard_exponential(size)),
    "uniform": lambda p: _uniform_mean_one(p.get("spread", 0.5)),
    "halfnormal": lambda p: _halfnormal_mean_one,
    "pareto": lambda p: _pareto_mean_one(p.get("alpha", 2.5)),
}
_LAW_PARAMS = {"fixed": set(), "exponential": set(), "uniform": {"spread"},
               "halfnormal": set(), "pareto": {"alpha"}}


@dataclass(frozen=True)
class ComputeTimes:
    """Per-worker ``shift`` and ``scale`` arrays and a base law with mean 1."""

    shift: np.ndarray
    scale: np.ndarray
    law: str = "fixed"
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shift = np.asarray(self.shift, dtype=float).ravel()
        scale = np.asarray(self.scale, dtype=float).ravel()
        if shift.shape != scale.shape or shift.size < 1:
            raise ValueError("compute times: shift and scale must be non-empty and equally long")
        if np.any(~np.isfinite(shift)) or np.any(~np.isfinite(scale)):
            raise ValueError("compute times: shift and scale must be finite")
        if np.any(shift < 0) or np.any(scale < 0) or np.any(shift + scale <= 0):
            raise ValueError("compute times: need shift >= 0, scale >= 0 and a positive mean")
        if self.law not in BASE_LAWS:
            raise ValueError(f"unknown compute-time law {self.law!r}; choose one of "
                             f"{sorted(BASE_LAWS)}")
        extra = set(self.params) - _LAW_PARAMS[self.law]
        if extra:
            raise ValueError(f"compute-time law {self.law!r} takes no parameter(s) {sorted(extra)}")
        BASE_LAWS[self.law](self.params)  # validates parameters now, before any work
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "scale", scale)

    @property
    def n(self) -> int:
        return int(self.shift.size)

    @property
    def means(self) -> np.ndarray:
        return self.shift + self.scale

    def block(self, rng: np.random.Generator) -> np.ndarray:
        """The generator's next block of base variates, in the order draws use them."""
        return BASE_LAWS[self.law](self.params)(rng, _BLOCK)

    def sampler(self, rng: np.random.Generator) -> Callable[[int], float]:
        """A fast ``draw(worker) -> time`` that pulls base variates in blocks."""
        shift, scale = self.shift.tolist(), self.scale.tolist()
        pool: list[float] = []

        def draw(worker: int) -> float:
            if not pool:
                pool.extend(self.block(rng)[::-1].tolist())
            return shift[worker] + scale[worker] * pool.pop()

        return draw

    def describe(self) -> dict:
        return {"kind": "model", "law": self.law, "params": dict(self.params), "n": self.n,
                "mean_min": float(self.means.min()), "mean_max": float(self.means.max())}


@dataclass(frozen=True)
class TraceTimes:
    """Replay recorded compute times: worker ``i`` takes ``times[i][j]`` for its ``j``-th job."""

    times: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        arrays = tuple(np.asarray(t, dtype=float).ravel() for t in self.times)
        if not arrays or any(a.size == 0 for a in arrays):
            raise ValueError("trace: every worker needs at least one recorded time")
        if any(np.any(~np.isfinite(a) | (a <= 0)) for a in arrays):
            raise ValueError("trace: recorded times must be finite and positive")
        object.__setattr__(self, "times", arrays)

    @property
    def n(self) -> int:
        return len(self.times)

    @property
    def means(self) -> np.ndarray:
        return np.array([a.mean() for a in self.times])

    def sampler(self, rng: np.random.Generator) -> Callable[[int], float]:
        iters = [iter(a.tolist()) for a in self.times]

        def draw(worker: int) -> float:
            try:
                return next(iters[worker])
            except StopIteration:
                raise ValueError(f"trace exhausted: worker {worker} has only "
                                 f"{self.times[worker].size} recorded times") from None

        return draw

    def describe(self) -> dict:
        return {"kind": "trace", "n": self.n, "jobs": [int(a.size) for a in self.times]}


def _number(key: str, value: object, finite: bool = True) -> float:
    """``value`` as a (finite) real number, else a ValueError naming ``workers.key``."""
    if not isinstance(value, Real) or isinstance(value, bool) or \
            (finite and not np.isfinite(value)):
        raise ValueError(f"workers: {key} must be a {'finite ' if finite else ''}number, "
                         f"got {value!r}")
    return float(value)


def _numbers(key: str, value: object) -> np.ndarray:
    """A non-empty 1-D list of finite numbers, else a ValueError naming ``workers.key``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"workers: {key} must be a non-empty list of finite numbers")
    return arr


def stragglers(n: int, m: int = 1, D: float = 1.0, law: str = "fixed", shift: float = 0.0,
               **params: float) -> ComputeTimes:
    """``n - m`` workers with mean time 1 and ``m`` stragglers with mean ``D`` (the last ``m``).

    ``shift`` (at most 1): every time is ``shift + (mean - shift) B``, so ``shift = 1`` gives
    "fast workers take exactly 1, slow ones 1 + (D - 1) B"."""
    for key, value in {"n": n, "stragglers": m, "D": D, "shift": shift}.items():
        _number(key, value, finite=False)  # range checks below give the clearer message
    for key, value in params.items():
        _number(key, value)
    if not np.isfinite(n) or int(n) != n or n < 1:
        raise ValueError(f"workers: n must be a positive integer, got {n}")
    if not np.isfinite(m) or int(m) != m or not 0 <= m <= n:
        raise ValueError(f"workers: stragglers m must be an integer in [0, n], got {m}")
    if not (np.isfinite(D) and D > 0):
        raise ValueError(f"workers: delay factor D must be positive, got {D}")
    if not 0 <= shift <= min(1.0, D):
        raise ValueError(f"workers: shift must lie in [0, min(1, D)], got {shift}")
    means = np.ones(int(n))
    means[int(n) - int(m):] = D
    return ComputeTimes(np.full(int(n), float(shift)), means - shift, law, dict(params))


def ringmaster_peer(n: int) -> ComputeTimes:
    """The Ringmaster ASGD paper's heterogeneous setup, ``1 + sqrt(i) + |N(0, i+1)|``."""
    if _number("n", n) != int(n) or n < 1:
        raise ValueError(f"workers: n must be a positive integer, got {n}")
    i = np.arange(int(n), dtype=float)
    return ComputeTimes(1.0 + np.sqrt(i), np.sqrt(i + 1) * np.sqrt(2 / np.pi), "halfnormal")


def make_compute_times(spec: dict) -> ComputeTimes | TraceTimes:
    """Build from a dict: ``{"n", "stragglers", "D", "law", "shift", ...}``, ``{"means": [...]}``,
    ``{"peer": "ringmaster", "n"}`` or ``{"trace": [[...], ...]}``; errors name the bad key."""
    spec = dict(spec)
    if "trace" in spec:
        _no_extra(spec, {"trace"})
        return TraceTimes(tuple(_trace_rows(spec["trace"])))
    if "peer" in spec:
        if spec["peer"] != "ringmaster":
            raise ValueError(f"workers: peer: unknown setup {spec['peer']!r}; choose 'ringmaster'")
        _no_extra(spec, {"peer", "n"})
        return ringmaster_peer(spec.get("n", 16))
    law = spec.pop("law", "fixed")
    if not isinstance(law, str) or law not in BASE_LAWS:  # before its parameters are read
        raise ValueError(f"workers: law: unknown compute-time law {law!r}; choose one of "
                         f"{sorted(BASE_LAWS)}")
    if "means" in spec:
        means = _numbers("means", spec.pop("means"))
        shift = _numbers("shift", spec.pop("shift", np.zeros_like(means)))
        for key in set(spec) & _LAW_PARAMS.get(law, set()):
            _number(key, spec[key])
        _no_extra(spec, _LAW_PARAMS.get(law, set()), ("law", "means", "shift"))
        return ComputeTimes(shift, means - shift, law, spec)
    known = {"n", "stragglers", "D", "shift"}
    _no_extra(spec, known | _LAW_PARAMS.get(law, set()), ("law",))
    if "n" not in spec:
        raise ValueError("workers: missing key 'n' (number of workers)")
    return stragglers(spec.pop("n"), spec.pop("stragglers", 0), spec.pop("D", 1.0), law,
                      spec.pop("shift", 0.0), **spec)


def _trace_rows(trace: object) -> list:
    """Rows of recorded times: a nested list, or a path to a 2-D ``.npy``/``.csv`` file."""
    if isinstance(trace, str):
        from .spec import load_array

        arr = load_array(trace, "workers.trace")
        if arr.ndim != 2:
            raise ValueError(f"workers.trace: {trace}: expected a 2-D array (workers x recorded "
                             f"times), got shape {arr.shape}")
        return list(arr)
    if not isinstance(trace, list) or not all(isinstance(r, list | np.ndarray) for r in trace):
        raise ValueError("workers.trace: expected a file path or a list of per-worker lists")
    for i, row in enumerate(trace):
        if len(row):  # an empty row gets TraceTimes' own message
            _numbers(f"trace.{i}", row)
    return trace


def _no_extra(spec: dict, allowed: set[str], read: tuple[str, ...] = ()) -> None:
    """Refuse keys outside ``allowed``, naming every key this form takes: ``allowed``, the
    keys already read from it (``read``, e.g. ``law``) and each law's own parameters."""
    extra = set(spec) - allowed
    if extra:
        params = ", ".join(f"{k} (law={law})" for law, keys in _LAW_PARAMS.items()
                           for k in sorted(keys))
        shown = sorted(allowed | set(read))
        raise ValueError(f"workers: unknown key(s) {sorted(extra)}; allowed: {shown}"
                         + (f", law parameters: {params}" if "law" in read else ""))
