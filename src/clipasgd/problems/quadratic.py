"""Ill-conditioned diagonal quadratic, optionally split into heterogeneous parts.

``f(x) = 0.5 sum_j a_j (x_j - xstar_j)^2`` with the curvatures ``a_j`` log-spaced
from ``mu = L / condition`` to ``L``, so the smoothness constant is exactly ``L``
and ``f_star = 0`` exactly: every constant the theory needs is known.
"""

from __future__ import annotations

import numpy as np

from clipasgd.problems.base import IntOrArray, Problem


def part_index(part: IntOrArray, n_parts: int, rows: int) -> np.ndarray | int:
    """Validate a worker index: an int, or one int per row of a ``(rows, d)`` batch."""
    p = np.asarray(part)
    if not np.issubdtype(p.dtype, np.integer):
        raise TypeError(f"part must be an int or an int array, got dtype {p.dtype}")
    if p.ndim == 0:
        p_int = int(p)
        if not 0 <= p_int < n_parts:
            raise IndexError(f"part {p_int} out of range for {n_parts} parts")
        return p_int
    if p.shape != (rows,):
        raise ValueError(f"part array must have shape ({rows},), got {p.shape}")
    if p.size and (p.min() < 0 or p.max() >= n_parts):
        raise IndexError(f"part indices must lie in [0, {n_parts})")
    return p


def check_int(name: str, value: object, low: int) -> int:
    """``value`` as an int ``>= low``, else a ValueError naming ``name``."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and int(value) >= low
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_float(name: str, value: object, low: float = 0.0, *, strict: bool = True) -> float:
    """``value`` as a finite float ``> low`` (``>= low`` if not strict), else a ValueError."""
    try:
        v = float(value)  # type: ignore[arg-type]
        ok = not isinstance(value, bool) and np.isfinite(v) and (v > low if strict else v >= low)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, "
                         f"got {value!r}")
    return v


class Quadratic(Problem):
    """``f(x) = 0.5 sum_j a_j (x_j - xstar_j)^2``, ``a`` log-spaced in ``[L/condition, L]``.

    ``xstar = 0``. The default start ``x0 = xstar + s * ones`` has ``s`` chosen
    so that ``f(x0) - f_star = delta0`` exactly, whatever ``dim`` and
    ``condition``: the initial gap is a parameter, not an accident of scale.

    Heterogeneity (``n_parts > 1``, ``spread > 0``): part ``i`` has minimiser
    ``b_i = xstar + spread * u_i`` with seeded Gaussian offsets ``u_i`` centred
    (``mean_i u_i = 0``) and scaled so ``max_i ||a * u_i|| = 1``. Then
    ``grad f_i(x) = grad f(x) + a * (xstar - b_i)`` and the heterogeneity
    ``zeta = max_i ||a * (b_i - xstar)||`` equals ``spread`` (computed from the
    stored shifts, so exact up to rounding) and holds at every ``x``. Each
    ``f_i = 0.5 sum_j a_j (x_j - b_ij)^2 - 0.5 sum_j a_j (b_ij - xstar_j)^2``:
    the constant makes ``(1/n) sum_i f_i = f`` exactly, so ``f_star`` stays 0.

    Explicit layouts (``offsets``): one minimiser ``b_i`` per part, a number (``b_i e_1``)
    or a vector of at most ``dim`` entries (zero-padded); they must average to ``xstar =
    0``. ``n_parts`` is then ``len(offsets)`` and ``zeta = max_i ||a * b_i||`` exactly
    (with ``condition = 1``: ``max_i ||b_i||``). Known answers need known ``b_i``.
    """

    name = "quadratic"

    def __init__(self, dim: int = 20, condition: float = 100.0, L: float = 1.0,
                 delta0: float = 1.0, n_parts: int = 1, spread: float = 0.0,
                 seed: int = 0, offsets: list | None = None) -> None:
        self.dim = check_int("dim", dim, 1)
        self.condition = check_float("condition", condition, 1.0, strict=False)
        self.L = check_float("L", L)
        self.delta0 = check_float("delta0", delta0, strict=False)
        self.n_parts = check_int("n_parts", n_parts, 1)
        self.spread = check_float("spread", spread, strict=False)
        self.seed = check_int("seed", seed, 0)
        b = None if offsets is None else self._check_offsets(offsets)
        if b is not None:
            self.n_parts = b.shape[0]
        self.mu = self.L / self.condition
        a = np.geomspace(self.L, self.mu, self.dim)
        a[0] = self.L  # exact endpoints despite rounding in geomspace
        if self.dim > 1:
            a[-1] = self.mu
        self.a = a
        self.x_star = np.zeros(self.dim)
        self.f_star = 0.0
        self.f_star_exact = True
        # shifts[i] = a * (xstar - b_i) (= -a * spread * u_i for the seeded layout)
        self.shifts = -self.a * b if b is not None else self._make_shifts()
        self.b = self.x_star - self.shifts / self.a
        self._zeta = float(np.max(np.linalg.norm(self.shifts, axis=1)))

    def _check_offsets(self, offsets: object) -> np.ndarray:
        """``offsets`` as an ``(n_parts, dim)`` array; a ValueError names what is wrong."""
        rows = offsets if isinstance(offsets, list | tuple | np.ndarray) else None
        try:
            b = [np.atleast_1d(np.asarray(r, dtype=float))
                 for r in rows]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            b = None
        if not b or any(r.ndim != 1 or r.size > self.dim or not np.all(np.isfinite(r))
                        for r in b):
            raise ValueError(f"offsets must be a non-empty list of finite numbers or vectors "
                             f"of at most dim = {self.dim} entries, got {offsets!r}")
        arr = np.zeros((len(b), self.dim))
        for i, r in enumerate(b):
            arr[i, :r.size] = r
        if self.n_parts not in (1, arr.shape[0]):
            raise ValueError(f"offsets: {arr.shape[0]} minimisers but n_parts = {self.n_parts}")
        if self.spread != 0:
            raise ValueError("offsets and spread > 0 are exclusive: give one layout")
        if np.max(np.abs(arr.mean(axis=0))) > 1e-9 * max(1.0, float(np.max(np.abs(arr)))):
            raise ValueError(f"offsets must average to the optimum 0 (mean {arr.mean(axis=0)})")
        return arr

    def _make_shifts(self) -> np.ndarray:
        shifts = np.zeros((self.n_parts, self.dim))
        if self.n_parts == 1 or self.spread == 0:
            return shifts
        u = np.random.default_rng(self.seed).standard_normal((self.n_parts, self.dim))
        u -= u.mean(axis=0)
        scale = np.max(np.linalg.norm(self.a * u, axis=1))
        return -self.a * (self.spread / scale) * u

    def value(self, x: np.ndarray) -> np.ndarray:
        diff = x - self.x_star
        return 0.5 * (diff * diff) @ self.a

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.a * (x - self.x_star)

    def x0(self) -> np.ndarray:
        step = np.sqrt(2.0 * self.delta0 / self.a.sum())
        return self.x_star + step

    def local_value(self, x: np.ndarray, part: IntOrArray) -> np.ndarray:
        """``f_part(x)``, including the constant that makes ``mean_i f_i = f``."""
        p = part_index(part, self.n_parts, x.shape[0])
        diff, off = x - self.b[p], self.b[p] - self.x_star
        return 0.5 * (diff * diff - off * off) @ self.a

    def local_grad(self, x: np.ndarray, part: IntOrArray, grad_f: np.ndarray | None = None
                   ) -> np.ndarray:
        """``grad f_part(x) = grad f(x) + a * (xstar - b_part)``."""
        p = part_index(part, self.n_parts, x.shape[0])
        g = self.grad(x) if grad_f is None else grad_f
        return g + self.shifts[p]

    @property
    def zeta(self) -> float:
        """Exact heterogeneity ``max_i ||a * (b_i - xstar)||`` (valid at every ``x``)."""
        return self._zeta


class HeterogeneousQuadratic(Quadratic):
    """:class:`Quadratic` with federated defaults: 16 parts, ``zeta = spread = 1``."""

    def __init__(self, dim: int = 20, condition: float = 100.0, L: float = 1.0,
                 delta0: float = 1.0, n_parts: int = 16, spread: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__(dim=dim, condition=condition, L=L, delta0=delta0,
                         n_parts=n_parts, spread=spread, seed=seed)
