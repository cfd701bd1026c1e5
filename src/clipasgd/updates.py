"""Update rules as small composable transforms (clip, then scale), in the optax style.

A transform maps a batch of stochastic gradients ``g`` (shape ``(R, d)``) and the
delay each will have when applied (an int, or one per row) to a batch of updates;
the server then does ``x <- x - update``. Transforms may work in place on ``g``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Transform", "clip", "scale", "delay_adaptive", "drop_stale", "chain", "row_norms",
           "clip_radius"]

Delay = int | np.ndarray


def row_norms(a: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (faster than ``np.linalg.norm`` for this shape)."""
    return np.sqrt(np.einsum("...i,...i->...", a, a))


class Transform:
    """Base class: ``transform(g, delay) -> update``."""

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class clip(Transform):  # noqa: N801 - optax-style lower-case constructor
    """Global-norm clipping ``min(1, c/||g||) g`` per row."""

    c: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.c) and self.c > 0):
            raise ValueError(f"clip: radius c must be positive and finite, got {self.c}")

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:
        norms = row_norms(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.minimum(1.0, self.c / norms)
        g *= np.where(np.isnan(factor), 1.0, factor)[..., None]
        return g


@dataclass(frozen=True)
class scale(Transform):  # noqa: N801
    """Constant step size ``eta``."""

    eta: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.eta) and self.eta > 0):
            raise ValueError(f"scale: step size eta must be positive and finite, got {self.eta}")

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:
        g *= self.eta
        return g


@dataclass(frozen=True)
class delay_adaptive(Transform):  # noqa: N801
    """Delay-adaptive step ``eta * min(1, tau_C / tau_t)``."""

    eta: float
    tau_c: int

    def __post_init__(self) -> None:
        scale(self.eta)
        if self.tau_c < 1:
            raise ValueError(f"delay_adaptive: tau_c must be >= 1, got {self.tau_c}")

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:
        factor = self.eta * np.minimum(1.0, self.tau_c / np.maximum(delay, 1))
        g *= np.asarray(factor)[..., None] if np.ndim(factor) else factor
        return g


@dataclass(frozen=True)
class drop_stale(Transform):  # noqa: N801
    """Ringmaster: discard a gradient whose delay is ``>= max_delay``."""

    max_delay: int

    def __post_init__(self) -> None:
        if self.max_delay < 1:
            raise ValueError(f"drop_stale: max_delay must be >= 1, got {self.max_delay}")

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:
        keep = np.asarray(delay) < self.max_delay
        g *= keep[..., None] if keep.ndim else float(keep)
        return g


@dataclass(frozen=True)
class chain(Transform):  # noqa: N801
    """Apply transforms left to right."""

    transforms: tuple[Transform, ...]

    def __init__(self, *transforms: Transform):
        object.__setattr__(self, "transforms", tuple(transforms))

    def __call__(self, g: np.ndarray, delay: Delay) -> np.ndarray:
        for t in self.transforms:
            g = t(g, delay)
        return g


def clip_radius(rule: Transform) -> float:
    """The clipping radius a rule applies (``inf`` when it does not clip)."""
    if isinstance(rule, clip):
        return rule.c
    if isinstance(rule, chain):
        return min((clip_radius(t) for t in rule.transforms), default=np.inf)
    return np.inf
