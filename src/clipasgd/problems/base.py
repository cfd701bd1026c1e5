"""The problem interface: a smooth objective evaluated on a batch of iterates.

Every method works on a batch ``x`` of shape ``(R, d)``: one row per independent
replication, so the engine can vectorise across replications.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

IntOrArray = int | np.ndarray


class Problem(ABC):
    """A smooth objective ``f`` with known constants.

    Subclasses set ``name``, ``dim``, ``L`` (smoothness constant of ``f``),
    ``f_star`` (the optimal value, or a lower bound when ``f_star_exact`` is
    false) and implement :meth:`value`, :meth:`grad` and :meth:`x0`.

    Heterogeneous (federated) problems write ``f = (1/n) sum_i f_i`` and set
    ``n_parts = n``; :meth:`local_grad` returns ``grad f_i``. Data problems
    implement :meth:`minibatch_grad`.
    """

    name: str = "problem"
    dim: int
    L: float
    f_star: float
    f_star_exact: bool = True
    n_parts: int = 1

    @abstractmethod
    def value(self, x: np.ndarray) -> np.ndarray:
        """``f(x)`` for each row of ``x``: shape ``(R,)``."""

    @abstractmethod
    def grad(self, x: np.ndarray) -> np.ndarray:
        """``grad f(x)`` for each row of ``x``: shape ``(R, d)``."""

    @abstractmethod
    def x0(self) -> np.ndarray:
        """Default starting point, shape ``(d,)``."""

    def local_grad(self, x: np.ndarray, part: IntOrArray, grad_f: np.ndarray | None = None
                   ) -> np.ndarray:
        """``grad f_part(x)``; ``part`` is an int or one index per row.

        ``grad_f`` (``grad f(x)``, if the caller already has it) lets cheap
        problems return ``grad_f + shift`` without recomputing. Homogeneous
        problems return ``grad f``.
        """
        return self.grad(x) if grad_f is None else grad_f

    def minibatch_grad(self, x: np.ndarray, rng: np.random.Generator, batch_size: int,
                       part: IntOrArray = 0) -> np.ndarray:
        """Unbiased minibatch estimate of ``grad f_part(x)``; data problems only."""
        raise NotImplementedError(f"{self.name} has no data: use an additive noise model")

    @property
    def zeta(self) -> float:
        """Heterogeneity bound ``sup_x max_i ||grad f_i(x) - grad f(x)||`` (0 if homogeneous)."""
        return 0.0

    def describe(self) -> dict:
        """Constants for result metadata."""
        return {"name": self.name, "dim": int(self.dim), "L": float(self.L),
                "f_star": float(self.f_star), "f_star_exact": bool(self.f_star_exact),
                "n_parts": int(self.n_parts), "zeta": float(self.zeta)}
