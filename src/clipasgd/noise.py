"""Gradient-noise models with one interface: ``sample(rng, (R, d)) -> (R, d)``.

Additive models are *radial*: ``xi = sigma * rho * u`` with ``u`` uniform on the
unit sphere and ``rho >= 0`` an independent radius. Then ``E xi = 0`` and the
norm's law is exactly the law of ``sigma * rho``, so the tail assumption of the
paper (on ``||g - grad f||``) holds or fails by construction:

* :class:`SubWeibull` (``rho = E**theta``, ``E ~ Exp(1)``): exactly
  ``P(||xi|| > t) = exp(-(t/sigma)**(1/theta))`` (the paper's Definition 3.1).
* :class:`Gaussian`: ``xi ~ N(0, sigma^2/d I)``, so ``E||xi||^2 = sigma^2``.
* :class:`StudentT` (``rho = |t_df|``) and :class:`Pareto`
  (``rho ~ Pareto(alpha)`` with ``P(rho > r) = r**-alpha``, ``r >= 1``): power-law
  tails, outside every sub-Weibull class; stress cases.

:class:`Minibatch` is not additive: it asks a data problem for minibatch gradients.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .lazy import LazyModule
from .updates import row_norms

stats = LazyModule("scipy.stats")  # only norm_dist (tests, tail checks) reads it

__all__ = ["Noise", "SubWeibull", "Gaussian", "StudentT", "Pareto", "Minibatch", "NoNoise",
           "make_noise", "NOISES"]


class Noise(ABC):
    """A gradient-noise model."""

    name: str = "noise"
    additive: bool = True

    @abstractmethod
    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Noise vectors, one per row: shape ``(R, d)``."""

    def describe(self) -> dict:
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class _Radial(Noise):
    """``xi = sigma * rho * u``; subclasses give the radius law."""

    sigma: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"{self.name}: sigma must be finite and >= 0, got {self.sigma}")

    @abstractmethod
    def radius(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draws of ``rho`` (the norm divided by sigma)."""

    @abstractmethod
    def norm_dist(self) -> stats.rv_continuous:
        """The exact law of ``||xi||`` as a frozen scipy distribution (for tests)."""

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        z = rng.standard_normal(shape)
        z *= (self.sigma * self.radius(rng, shape[0]) / row_norms(z))[:, None]
        return z


@dataclass(frozen=True)
class SubWeibull(_Radial):
    """Exactly sub-Weibull(theta, sigma) norm: ``P(||xi|| > t) = exp(-(t/sigma)^(1/theta))``."""

    theta: float = 1.0
    name = "subweibull"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (np.isfinite(self.theta) and self.theta > 0):
            raise ValueError(f"subweibull: theta must be > 0, got {self.theta}")

    def radius(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.standard_exponential(size) ** self.theta

    def norm_dist(self) -> stats.rv_continuous:
        return stats.weibull_min(c=1.0 / self.theta, scale=self.sigma)


@dataclass(frozen=True)
class StudentT(_Radial):
    """Radius ``|t_df|``: polynomial tail with index ``df`` (not sub-Weibull)."""

    df: float = 3.0
    name = "student_t"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.df > 0:
            raise ValueError(f"student_t: df must be > 0, got {self.df}")

    def radius(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.abs(rng.standard_t(self.df, size))

    def norm_dist(self) -> stats.rv_continuous:
        if self.df == 1:
            return stats.halfcauchy(scale=self.sigma)
        return _abs_t_class()(self.df, self.sigma)


@dataclass(frozen=True)
class Pareto(_Radial):
    """Radius ``Pareto(alpha)`` on ``[1, inf)``: ``P(rho > r) = r^-alpha`` (not sub-Weibull)."""

    alpha: float = 2.5
    name = "pareto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.alpha > 0:
            raise ValueError(f"pareto: alpha must be > 0, got {self.alpha}")

    def radius(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return 1.0 + rng.pareto(self.alpha, size)

    def norm_dist(self) -> stats.rv_continuous:
        return stats.pareto(b=self.alpha, scale=self.sigma)


@dataclass(frozen=True)
class Gaussian(Noise):
    """Isotropic Gaussian with ``E||xi||^2 = sigma^2`` (sub-Weibull with theta = 1/2)."""

    sigma: float = 1.0
    name = "gaussian"

    def __post_init__(self) -> None:
        if not np.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"gaussian: sigma must be finite and >= 0, got {self.sigma}")

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        z = rng.standard_normal(shape)
        z *= self.sigma / np.sqrt(shape[1])
        return z

    def norm_dist(self, d: int) -> stats.rv_continuous:
        return stats.chi(df=d, scale=self.sigma / np.sqrt(d))


@dataclass(frozen=True)
class NoNoise(Noise):
    """Exact gradients (deterministic oracle)."""

    name = "none"

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return np.zeros(shape)


@dataclass(frozen=True)
class Minibatch(Noise):
    """Minibatch gradients of a data problem (the noise is whatever the data gives)."""

    batch_size: int = 1
    name = "minibatch"
    additive = False

    def __post_init__(self) -> None:
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"minibatch: batch_size must be a positive integer, "
                             f"got {self.batch_size}")

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        raise TypeError("minibatch noise is drawn by the problem: use an Oracle")


@lru_cache(maxsize=1)
def _abs_t_class() -> type:
    """``sigma * |t_df|`` (scipy has no folded t); defined at first use, with scipy.stats."""

    class _AbsT(stats.rv_continuous):
        def __init__(self, df: float, sigma: float):
            super().__init__(a=0.0, name="abs_t")
            self._t = stats.t(df, scale=sigma)

        def _cdf(self, x: np.ndarray) -> np.ndarray:
            return 2.0 * self._t.cdf(x) - 1.0

        def _pdf(self, x: np.ndarray) -> np.ndarray:
            return 2.0 * self._t.pdf(x)

    return _AbsT


NOISES: dict[str, type[Noise]] = {
    "subweibull": SubWeibull, "gaussian": Gaussian, "student_t": StudentT, "pareto": Pareto,
    "minibatch": Minibatch, "none": NoNoise,
}


def make_noise(name: str, **params: float) -> Noise:
    """Build a noise model by name; unknown names or parameters raise ``ValueError``."""
    if name not in NOISES:
        raise ValueError(f"unknown noise {name!r}; choose one of {sorted(NOISES)}")
    try:
        return NOISES[name](**params)
    except TypeError as err:
        raise ValueError(f"noise {name!r}: bad parameters {sorted(params)} ({err})") from None
