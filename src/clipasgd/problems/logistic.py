"""Logistic regression with a non-convex regulariser on a small real dataset.

Data ship with scikit-learn (no download): ``breast_cancer`` (569 x 30,
malignant vs benign) or ``digits`` (1797 x 64, even vs odd digit). Features are
standardised (constant columns dropped) and an intercept column of ones is
appended, so ``dim`` is 31 or 62.

Split into ``n`` shards ``S_i``, the objective is the average of shard losses

    f_i(x) = (1/|S_i|) sum_{k in S_i} log(1 + exp(-y_k a_k^T x)) + lam * r(x),
    f(x)   = (1/n) sum_i f_i(x),      r(x) = sum_j x_j^2 / (1 + x_j^2).

With unequal shards ``f`` weights sample ``k`` by ``w_k = 1/(n |S_k's shard|)``,
which is not the pooled mean loss; this keeps ``f = mean_i f_i`` exact, as the
federated theory assumes. The regulariser sits in every ``f_i``.

Smoothness: the data Hessian is ``A^T diag(w_k s_k (1 - s_k)) A <= A^T diag(w) A / 4``
(``s(1-s) <= 1/4``); ``r''(t) = 2 (1 - 3t^2) / (1 + t^2)^3`` is decreasing in
``t^2`` on ``[0, 1]`` and increasing after, so it lies in ``[-1/2, 2]`` and
``|lam r''| <= 2 lam``. Hence ``L = lambda_max(A^T diag(w) A) / 4 + 2 lam``,
which is ``lambda_max(A^T A) / (4N) + 2 lam`` for equal weights.

``f >= 0`` always, so ``f_star = 0`` is a rigorous lower bound
(``f_star_exact = False``). ``breast_cancer`` is linearly separable and ``r`` is
bounded, so ``f`` need not attain its infimum, and ``f`` has several local
minima. ``solve()`` returns the best of multi-start L-BFGS runs, and
``solve_f_star=True`` uses its value (minus ``1e-9``) as ``f_star``: a numerical
estimate of ``inf f``, not a certified bound.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from clipasgd.lazy import LazyModule
from clipasgd.problems.base import IntOrArray, Problem
from clipasgd.problems.quadratic import check_float, check_int, part_index

# Imported at first use (f_star, expit): most jobs never build this problem.
spo, special = LazyModule("scipy.optimize"), LazyModule("scipy.special")

DATASETS = ("breast_cancer", "digits")
SPLITS = ("iid", "contiguous", "dirichlet")


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, y, strata)``: standardised features plus intercept, labels in {-1, +1},
    and the original class label of each sample (used for label-skewed splits)."""
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "breast_cancer":
        X, strata = load_breast_cancer(return_X_y=True)
        y = np.where(strata == 1, 1.0, -1.0)
    elif name == "digits":
        X, strata = load_digits(return_X_y=True)
        y = np.where(strata % 2 == 0, 1.0, -1.0)
    else:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    sd = X.std(axis=0)
    keep = sd > 0
    Xs = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    return np.hstack([Xs, np.ones((len(Xs), 1))]), y, strata.astype(int)


def split_indices(strata: np.ndarray, n_parts: int, split: str, alpha: float,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """Partition ``range(len(strata))`` into ``n_parts`` non-empty sorted shards.

    ``iid``: random permutation cut into near-equal pieces. ``contiguous``:
    samples sorted by class label (stably) then cut, the most label-skewed
    split. ``dirichlet``: for each class, its shuffled samples are divided in
    proportions ``p ~ Dirichlet(alpha * ones(n_parts))``. Empty shards (possible
    with small ``alpha``) each take one sample from the currently largest shard.
    """
    N = len(strata)
    if n_parts > N:
        raise ValueError(f"n_parts={n_parts} exceeds the {N} samples")
    if split == "iid":
        shards = np.array_split(rng.permutation(N), n_parts)
    elif split == "contiguous":
        shards = np.array_split(np.argsort(strata, kind="stable"), n_parts)
    elif split == "dirichlet":
        pieces: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
        for label in np.unique(strata):
            idx = rng.permutation(np.flatnonzero(strata == label))
            p = rng.dirichlet(np.full(n_parts, alpha))
            cuts = np.round(np.cumsum(p)[:-1] * len(idx)).astype(int)
            for i, piece in enumerate(np.split(idx, cuts)):
                pieces[i].append(piece)
        shards = [np.concatenate(ps) for ps in pieces]
    else:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    shards = [np.sort(s) for s in shards]
    for i in range(n_parts):
        if len(shards[i]) == 0:
            j = int(np.argmax([len(s) for s in shards]))
            shards[i], shards[j] = shards[j][-1:], shards[j][:-1]
    return shards


class Logistic(Problem):
    """Non-convex regularised logistic regression, optionally federated over shards.

    ``x0 = 0`` (``f(x0) = log 2``). ``zeta`` is *measured* (see
    :meth:`measured_zeta`), not proven; ``zeta_bound`` is a proven but loose
    bound valid at every ``x``.
    """

    name = "logistic"

    def __init__(self, dataset: str = "breast_cancer", lam: float = 0.1, n_parts: int = 1,
                 split: str = "iid", alpha: float = 0.5, seed: int = 0,
                 solve_f_star: bool = False) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.dataset, self.split = dataset, split
        self.lam = check_float("lam", lam, strict=False)
        self.n_parts = check_int("n_parts", n_parts, 1)
        self.alpha = check_float("alpha", alpha)
        self.seed = check_int("seed", seed, 0)
        self.A, self.y, self.strata = load_dataset(dataset)
        self.Z = self.y[:, None] * self.A  # margins are Z @ x
        self.N, self.dim = self.A.shape
        self.shards = split_indices(self.strata, self.n_parts, split, self.alpha,
                                    np.random.default_rng(self.seed))
        self.shard_sizes = np.array([len(s) for s in self.shards])
        self.order = np.concatenate(self.shards)  # sample ids grouped by shard
        self.starts = np.concatenate([[0], np.cumsum(self.shard_sizes)[:-1]])
        self.part_of = np.empty(self.N, dtype=int)
        self.part_of[self.order] = np.repeat(np.arange(self.n_parts), self.shard_sizes)
        # masks[i, k] = 1/|S_i| for k in S_i: row i averages over shard i.
        self.masks = np.zeros((self.n_parts, self.N))
        self.masks[self.part_of, np.arange(self.N)] = 1.0 / self.shard_sizes[self.part_of]
        self.weights = self.masks.mean(axis=0)  # w_k, sums to 1
        self.L = self._data_L(self.weights) + 2.0 * self.lam
        self.L_parts = np.array([self._data_L(m) for m in self.masks]) + 2.0 * self.lam
        self.f_star, self.f_star_exact = 0.0, False
        if solve_f_star:
            self.f_star = float(self.value(self.solve()[None])[0]) - 1e-9

    def _data_L(self, w: np.ndarray) -> float:
        return float(np.linalg.eigvalsh((self.A.T * w) @ self.A)[-1]) / 4.0

    def _reg(self, x: np.ndarray) -> np.ndarray:
        x2 = x * x
        return self.lam * (x2 / (1.0 + x2)).sum(axis=-1)

    def _reg_grad(self, x: np.ndarray) -> np.ndarray:
        return self.lam * 2.0 * x / (1.0 + x * x) ** 2

    def _grad_with(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Gradient with per-sample weights ``w`` of shape ``(N,)`` or ``(R, N)``."""
        s = special.expit(-(x @ self.Z.T))  # (R, N): -d/dm log(1 + e^{-m})
        return -(s * w) @ self.Z + self._reg_grad(x)

    def value(self, x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -(x @ self.Z.T)) @ self.weights + self._reg(x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self._grad_with(x, self.weights)

    def x0(self) -> np.ndarray:
        return np.zeros(self.dim)

    def local_value(self, x: np.ndarray, part: IntOrArray) -> np.ndarray:
        """``f_part(x)``: mean loss on shard ``part`` plus the regulariser."""
        w = self.masks[part_index(part, self.n_parts, x.shape[0])]
        return (np.logaddexp(0.0, -(x @ self.Z.T)) * w).sum(axis=-1) + self._reg(x)

    def local_grad(self, x: np.ndarray, part: IntOrArray, grad_f: np.ndarray | None = None
                   ) -> np.ndarray:
        """``grad f_part(x)``, the full gradient on shard ``part`` (``grad_f`` unused)."""
        return self._grad_with(x, self.masks[part_index(part, self.n_parts, x.shape[0])])

    def minibatch_grad(self, x: np.ndarray, rng: np.random.Generator, batch_size: int,
                       part: IntOrArray | None = None) -> np.ndarray:
        """Unbiased estimate of ``grad f_part`` from ``batch_size`` samples drawn with
        replacement, independently per row. ``part=None`` targets ``f`` itself: each
        draw first picks a shard uniformly, so sample ``k`` has probability ``w_k``."""
        R, B = x.shape[0], check_int("batch_size", batch_size, 1)
        if part is None:
            parts = (rng.integers(self.n_parts, size=(R, B)) if self.n_parts > 1
                     else np.zeros((R, B), dtype=int))
        else:
            p = part_index(part, self.n_parts, R)
            parts = np.broadcast_to(p if np.ndim(p) == 0 else p[:, None], (R, B))
        idx = self.order[self.starts[parts] + rng.integers(0, self.shard_sizes[parts])]
        Zb = self.Z[idx]  # (R, B, d)
        s = special.expit(-np.einsum("rbd,rd->rb", Zb, x))
        return -np.einsum("rb,rbd->rd", s, Zb) / B + self._reg_grad(x)

    def solve(self, x_init: np.ndarray | None = None, n_starts: int = 16) -> np.ndarray:
        """A local minimiser of ``f`` by L-BFGS.

        From ``x_init`` if given; otherwise the best of runs from ``x0`` and
        ``n_starts - 1`` seeded Gaussian starts (scales log-uniform in
        ``[0.1, 30]``), because ``f`` has several local minima; that result is cached.
        """
        if x_init is not None:
            return self._lbfgs(np.asarray(x_init, dtype=float))
        if "_x_sol" not in self.__dict__:
            rng = np.random.default_rng([self.seed, 2])
            scales = np.exp(rng.uniform(np.log(0.1), np.log(30.0), size=(n_starts - 1, 1)))
            starts = np.vstack([self.x0(), scales * rng.standard_normal((n_starts - 1, self.dim))])
            sols = np.array([self._lbfgs(s) for s in starts])
            self._x_sol = sols[np.argmin(self.value(sols))]
        return self._x_sol

    def _lbfgs(self, start: np.ndarray) -> np.ndarray:
        def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
            return float(self.value(v[None])[0]), self.grad(v[None])[0]

        res = spo.minimize(fun, start, jac=True, method="L-BFGS-B",
                           options={"maxiter": 20000, "gtol": 1e-10, "ftol": 1e-15})
        return res.x

    def measured_zeta(self, points: np.ndarray) -> float:
        """``max_i max_x ||grad f_i(x) - grad f(x)||`` over the rows of ``points``."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        if self.n_parts == 1:
            return 0.0
        g = self._grad_with(pts, self.weights)  # (P, d)
        # All (part, point) pairs in one batch: rows ordered part-major.
        reps = np.tile(pts, (self.n_parts, 1))
        parts = np.repeat(np.arange(self.n_parts), len(pts))
        gi = self._grad_with(reps, self.masks[parts]).reshape(self.n_parts, len(pts), -1)
        return float(np.linalg.norm(gi - g, axis=-1).max())

    def probe_points(self, n_random: int = 64) -> np.ndarray:
        """``x0``, the L-BFGS solution, and seeded Gaussian points with scales
        log-uniform in ``[0.1, 10]``: where :attr:`zeta` is measured."""
        rng = np.random.default_rng([self.seed, 1])
        scales = np.exp(rng.uniform(np.log(0.1), np.log(10.0), size=(n_random, 1)))
        rand = scales * rng.standard_normal((n_random, self.dim))
        return np.vstack([self.x0(), self.solve(), rand])

    @cached_property
    def _zeta(self) -> float:
        return self.measured_zeta(self.probe_points())

    @property
    def zeta(self) -> float:
        """Heterogeneity MEASURED at :meth:`probe_points` (a lower estimate of the sup)."""
        return self._zeta

    @property
    def zeta_bound(self) -> float:
        """Proven ``sup_x max_i ||grad f_i - grad f||``-bound:
        ``max_i sum_k |masks[i, k] - w_k| ||a_k||`` (each sigmoid factor is in (0, 1))."""
        norms = np.linalg.norm(self.A, axis=1)
        return float((np.abs(self.masks - self.weights) @ norms).max())
