"""Update rules as small composable transforms (clip, then scale), in the optax style.

A transform has ``init(x) -> state`` (``x``: the ``(R, d)`` batch of initial iterates)
and ``update(g, state, delay) -> (u, state)``: it maps a batch of stochastic gradients
``g`` (shape ``(R, d)``) and the delay each will have when applied (an int, or one per
row) to a batch of updates; the server then does ``x <- x - u``. ``update`` may work in
place on ``g``. The engine calls ``update`` once per job, when the job is computed (the
delay is known then, because a schedule does not depend on the iterates), so a state
evolves in dispatch order. A transform that clips reports its ``radius`` and, through
``clipped(state)``, how many gradients it clipped per replication; ``chain`` forwards both.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Transform", "clip", "scale", "delay_adaptive", "drop_stale", "momentum", "chain",
           "row_norms", "check_transform"]

Delay = int | np.ndarray
State = Any


def row_norms(a: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (faster than ``np.linalg.norm`` for this shape)."""
    return np.sqrt(np.einsum("...i,...i->...", a, a))


class Transform:
    """Base class: stateless unless ``init`` says otherwise; clips nothing by default."""

    def init(self, x: np.ndarray) -> State:
        return ()

    def update(self, g: np.ndarray, state: State, delay: Delay
               ) -> tuple[np.ndarray, State]:  # pragma: no cover
        raise NotImplementedError

    @property
    def radius(self) -> float:
        """The clipping radius this transform applies (``inf``: it does not clip)."""
        return np.inf

    def clipped(self, state: State) -> np.ndarray | None:
        """Per-replication count of gradients clipped so far (``None``: it does not clip)."""
        return None


def check_transform(t: Any, what: str = "rule") -> Transform:
    """``t`` if it has the transform protocol (``init(x)``, ``update(g, state, delay)``,
    ``radius``, ``clipped(state)``: subclass :class:`Transform` to get the last two);
    otherwise a ``TypeError`` that names ``what`` and the missing part."""
    def fail(why: str) -> TypeError:
        return TypeError(f"{what}: {type(t).__name__} is not a transform: {why} (subclass "
                         "clipasgd.updates.Transform and define update(g, state, delay))")
    for method, args in (("init", 1), ("update", 3), ("clipped", 1)):
        fn = getattr(t, method, None)
        if not callable(fn):
            raise fail(f"no method {method}")
        try:
            inspect.signature(fn).bind(*range(args))
        except TypeError:
            raise fail(f"{method} must take {args} argument(s)") from None
        except ValueError:  # a signature inspect cannot read: trust it
            pass
    try:
        radius = float(t.radius)
    except (AttributeError, TypeError, ValueError):
        raise fail("radius must be a number (inf: it does not clip)") from None
    if not radius > 0:
        raise fail(f"radius must be positive, got {radius}")
    return t


@dataclass(frozen=True)
class clip(Transform):  # noqa: N801 - optax-style lower-case constructor
    """Global-norm clipping ``min(1, c/||g||) g`` per row; the state counts clipped rows."""

    c: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.c) and self.c > 0):
            raise ValueError(f"clip: radius c must be positive and finite, got {self.c}")

    def init(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(x)[:-1], dtype=np.int64)

    def update(self, g: np.ndarray, state: np.ndarray, delay: Delay
               ) -> tuple[np.ndarray, np.ndarray]:
        norms = row_norms(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.minimum(1.0, self.c / norms)
        g *= np.where(np.isnan(factor), 1.0, factor)[..., None]
        return g, state + (norms > self.c)

    @property
    def radius(self) -> float:
        return self.c

    def clipped(self, state: np.ndarray) -> np.ndarray:
        return state


@dataclass(frozen=True)
class scale(Transform):  # noqa: N801
    """Constant step size ``eta``."""

    eta: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.eta) and self.eta > 0):
            raise ValueError(f"scale: step size eta must be positive and finite, got {self.eta}")

    def update(self, g: np.ndarray, state: State, delay: Delay) -> tuple[np.ndarray, State]:
        g *= self.eta
        return g, state


@dataclass(frozen=True)
class delay_adaptive(Transform):  # noqa: N801
    """Delay-adaptive step ``eta * min(1, tau_C / tau_t)``."""

    eta: float
    tau_c: int

    def __post_init__(self) -> None:
        scale(self.eta)
        if self.tau_c < 1:
            raise ValueError(f"delay_adaptive: tau_c must be >= 1, got {self.tau_c}")

    def update(self, g: np.ndarray, state: State, delay: Delay) -> tuple[np.ndarray, State]:
        factor = self.eta * np.minimum(1.0, self.tau_c / np.maximum(delay, 1))
        g *= np.asarray(factor)[..., None] if np.ndim(factor) else factor
        return g, state


@dataclass(frozen=True)
class drop_stale(Transform):  # noqa: N801
    """Ringmaster: discard a gradient whose delay is ``>= max_delay``."""

    max_delay: int

    def __post_init__(self) -> None:
        if self.max_delay < 1:
            raise ValueError(f"drop_stale: max_delay must be >= 1, got {self.max_delay}")

    def update(self, g: np.ndarray, state: State, delay: Delay) -> tuple[np.ndarray, State]:
        keep = np.asarray(delay) < self.max_delay
        g *= keep[..., None] if keep.ndim else float(keep)
        return g, state


@dataclass(frozen=True)
class momentum(Transform):  # noqa: N801
    """Heavy-ball momentum ``v <- beta v + g``, output ``v`` (state: ``v`` per replication,
    updated in the order the engine computes jobs)."""

    beta: float

    def __post_init__(self) -> None:
        if not 0 <= self.beta < 1:
            raise ValueError(f"momentum: beta must lie in [0, 1), got {self.beta}")

    def init(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(x))

    def update(self, g: np.ndarray, state: np.ndarray, delay: Delay
               ) -> tuple[np.ndarray, np.ndarray]:
        v = self.beta * state + g
        return v.copy(), v


@dataclass(frozen=True)
class chain(Transform):  # noqa: N801
    """Apply transforms left to right; the state is the tuple of the parts' states."""

    transforms: tuple[Transform, ...]

    def __init__(self, *transforms: Transform):
        object.__setattr__(self, "transforms", tuple(
            check_transform(t, f"chain: part {i}") for i, t in enumerate(transforms)))

    def init(self, x: np.ndarray) -> tuple:
        return tuple(t.init(x) for t in self.transforms)

    def update(self, g: np.ndarray, state: tuple, delay: Delay) -> tuple[np.ndarray, tuple]:
        new = []
        for t, s in zip(self.transforms, state, strict=True):
            g, s = t.update(g, s, delay)
            new.append(s)
        return g, tuple(new)

    @property
    def radius(self) -> float:
        return min((t.radius for t in self.transforms), default=np.inf)

    def clipped(self, state: tuple) -> np.ndarray | None:
        """The count of the part with the smallest radius (the first, on ties)."""
        parts = [(t.radius, i) for i, t in enumerate(self.transforms) if t.radius < np.inf]
        if not parts:
            return None
        _, i = min(parts)
        return self.transforms[i].clipped(state[i])
