"""Smooth non-convex test function with provable ``L`` and exact ``f_star``.

``f(x) = sum_j h((Q x)_j)`` with ``h(t) = t^2/2 + alpha cos t`` and ``Q`` a
seeded random orthogonal matrix (identity if ``rotate=False``).

Smoothness: ``h''(t) = 1 - alpha cos t`` so ``|h''| <= 1 + alpha``, attained at
``t = pi``. The Hessian ``Q^T diag(h''(Qx)) Q`` has spectral norm
``max_j |h''((Qx)_j)| <= 1 + alpha``, hence ``L = 1 + alpha`` (tight).

Minimum: for ``alpha <= 1``, ``h`` is convex with minimiser ``t* = 0``. For
``alpha > 1``, ``h(0)`` is a local maximum (``h''(0) = 1 - alpha < 0``) and the
global minimisers are ``+-t*``, the root of ``sin(t)/t = 1/alpha`` in
``(0, pi)``: on ``[pi, 2 pi]`` ``h' = t - alpha sin t > 0``, and for
``|t| >= 2 pi`` ``h(t) >= 2 pi^2 - alpha > pi^2/2 - alpha = h(pi) >= h(t*)``.
So ``f_star = dim * h(t*)``, found by one scalar root solve (rotation does not
change it). ``f`` is non-convex wherever some ``|(Qx)_j| < arccos(1/alpha)``,
which includes the default start.
"""

from __future__ import annotations

import numpy as np

from clipasgd.lazy import LazyModule
from clipasgd.problems.base import Problem
from clipasgd.problems.quadratic import check_float, check_int

spo = LazyModule("scipy.optimize")  # imported at first use


def coordinate_minimiser(alpha: float) -> float:
    """Non-negative global minimiser ``t*`` of ``h(t) = t^2/2 + alpha cos t``."""
    if alpha <= 1.0:
        return 0.0
    # sin(t)/t = np.sinc(t/pi) decreases from 1 to 0 on [0, pi]; brentq is robust
    # even for alpha -> 1+ where t* -> 0.
    return float(spo.brentq(lambda t: np.sinc(t / np.pi) - 1.0 / alpha, 0.0, np.pi,
                            xtol=1e-15, rtol=4 * np.finfo(float).eps))


def random_orthogonal(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


class NonConvex(Problem):
    """``f(x) = sum_j [y_j^2/2 + alpha cos y_j]``, ``y = Q x``; ``L = 1 + alpha``.

    The default start is ``x0 = Q^T (start * ones)``; with ``alpha = 2`` and
    ``start = 0.5`` every coordinate starts in the concave region
    (``|y| < arccos(1/2)``) and ``f(x0) - f_star ~= 0.72 * dim``.
    """

    name = "nonconvex"

    def __init__(self, dim: int = 20, alpha: float = 2.0, rotate: bool = True,
                 start: float = 0.5, seed: int = 0) -> None:
        self.dim = check_int("dim", dim, 1)
        self.alpha = check_float("alpha", alpha, strict=False)
        if not isinstance(rotate, bool | np.bool_):
            raise ValueError(f"rotate must be a bool, got {rotate!r}")
        self.rotate = bool(rotate)
        self.start = check_float("start", start, -np.inf)
        self.seed = check_int("seed", seed, 0)
        self.L = 1.0 + self.alpha
        self.t_star = coordinate_minimiser(self.alpha)
        self.f_star = self.dim * float(self._h(np.array(self.t_star)))
        self.f_star_exact = True
        self.Q = (random_orthogonal(self.dim, np.random.default_rng(self.seed))
                  if self.rotate else np.eye(self.dim))
        self.x_star = self._from_y(np.full(self.dim, self.t_star))

    def _h(self, y: np.ndarray) -> np.ndarray:
        return 0.5 * y * y + self.alpha * np.cos(y)

    def _to_y(self, x: np.ndarray) -> np.ndarray:
        return x @ self.Q.T if self.rotate else x

    def _from_y(self, y: np.ndarray) -> np.ndarray:
        return y @ self.Q if self.rotate else y

    def value(self, x: np.ndarray) -> np.ndarray:
        return self._h(self._to_y(x)).sum(axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        y = self._to_y(x)
        return self._from_y(y - self.alpha * np.sin(y))

    def x0(self) -> np.ndarray:
        return self._from_y(np.full(self.dim, self.start))
