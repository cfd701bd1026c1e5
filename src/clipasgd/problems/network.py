"""Shared core of the data-set problems: a one-hidden-layer softmax network in numpy.

``logits = tanh(h W1 + b1) W2 + b2`` with cross-entropy loss, where the input
features ``h`` of sample ``k`` come from the subclass (pixels, or embedded
characters whose table is part of the parameters). All parameters of one
replication are one flat row of ``x``; every method works on ``R`` rows at once
(batched matrix products, each row sampling its own minibatch).

Over ``n`` shards the objective is ``f = (1/n) sum_i f_i`` with ``f_i`` the mean
loss on shard ``i``, as in :mod:`clipasgd.problems.logistic` (whose
:func:`split_indices` makes the shards). ``tanh`` keeps ``f`` smooth, but its
smoothness constant is unknown: ``L`` is ``nan`` so that no step size can be
silently derived from it; ``f >= 0`` gives ``f_star = 0`` as a lower bound.

``dtype="float32"`` (a problem option a claim may declare; recorded by
:meth:`SoftmaxNetwork.describe`) computes the network's passes in single precision; the
iterate and the returned gradient stay float64. The default, ``float64``, is unchanged.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from clipasgd.problems.base import IntOrArray, Problem
from clipasgd.problems.quadratic import check_int, part_index
from clipasgd.warmup import warming

CHUNK = 2048  # samples per block in full passes (bounds memory)
DTYPES = ("float64", "float32")


def _log_softmax(a: np.ndarray) -> np.ndarray:
    """``scipy.special.log_softmax(a, axis=-1)``, the same operations without its
    dispatch overhead (a non-finite row maximum is taken as 0)."""
    top = a.max(axis=-1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    tmp = a - top
    with np.errstate(divide="ignore"):
        return tmp - np.log(np.exp(tmp).sum(axis=-1, keepdims=True))


class Shards:
    """Sample ids grouped by shard, for sampling with replacement within a shard."""

    def __init__(self, shards: list[np.ndarray]) -> None:
        self.sizes = np.array([len(s) for s in shards])
        if np.any(self.sizes == 0):
            raise ValueError("every shard must be non-empty")
        self.order = np.concatenate(shards)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.n = len(shards)
        # weight of sample k in f = (1/n) sum_i mean_{S_i}: 1 / (n |S_{part(k)}|)
        self.weights = np.zeros(int(self.order.max()) + 1)
        self.weights[self.order] = np.repeat(1.0 / (self.n * self.sizes), self.sizes)

    def draw(self, rng: np.random.Generator, part: IntOrArray | None, R: int, B: int
             ) -> np.ndarray:
        """``(R, B)`` sample ids: row ``r`` draws from shard ``part[r]`` (``None``: each
        draw picks a shard uniformly first, an unbiased sample of ``f``)."""
        if part is None:
            parts = rng.integers(self.n, size=(R, B))
        else:
            p = part_index(part, self.n, R)
            parts = np.broadcast_to(p if np.ndim(p) == 0 else p[:, None], (R, B))
        return self.order[self.starts[parts] + rng.integers(0, self.sizes[parts])]


class SoftmaxNetwork(Problem):
    """Base class: subclasses set the layout and implement the feature map.

    Layout of a row: ``prefix`` (feature parameters, possibly empty), ``W1``
    ``(n_in, hidden)``, ``b1``, ``W2`` ``(hidden, n_out)``, ``b2``.
    """

    n_in: int
    hidden: int
    n_out: int
    n_prefix: int = 0
    shards: Shards
    L = float("nan")
    f_star = 0.0
    f_star_exact = False
    dtype = "float64"
    _ft = np.dtype(np.float64)

    def _set_dtype(self, dtype: str) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        self.dtype = dtype
        self._ft = np.dtype(dtype)

    def _set_layout(self) -> None:
        h, o = self.hidden, self.n_out
        # row offsets of prefix | W1 | b1 | W2 | b2
        self._cuts = np.cumsum([0, self.n_prefix, self.n_in * h, h, h * o, o])
        self.dim = int(self._cuts[-1])

    def _unpack(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        R, h, o, c = x.shape[0], self.hidden, self.n_out, self._cuts
        pre, w1, b1, w2, b2 = (x[:, c[i]:c[i + 1]] for i in range(5))
        return pre, w1.reshape(R, self.n_in, h), b1, w2.reshape(R, h, o), b2

    @abstractmethod
    def _features(self, prefix: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Inputs ``(R, B, n_in)`` (or ``(B, n_in)`` if row-independent) of samples ``idx``."""

    def _feature_grad(self, prefix: np.ndarray, idx: np.ndarray, dh: np.ndarray) -> np.ndarray:
        """Gradient ``(R, n_prefix)`` of the prefix given ``dloss/dfeatures`` ``(R, B, n_in)``;
        only called when ``n_prefix > 0``."""
        raise NotImplementedError

    @abstractmethod
    def _targets(self, idx: np.ndarray) -> np.ndarray:
        """Class labels of samples ``idx``."""

    def _loss_grad(self, x: np.ndarray, idx: np.ndarray, w: np.ndarray, grad: bool = True,
                   h: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(sum_b w_b loss_b, its gradient, logits)`` per row for samples ``idx``
        (``(B,)`` shared or ``(R, B)``) with weights ``w`` broadcastable to ``(R, B)``.
        The gradient's blocks are written in place into one ``(R, dim)`` array. ``h``: the
        features of ``idx`` if already known (only where they do not depend on ``x``)."""
        ft = self._ft
        pre, w1, b1, w2, b2 = (a.astype(ft, copy=False) for a in self._unpack(x))
        if h is None:
            h = self._features(pre, idx)
        z = np.tanh(h @ w1 + b1[:, None])
        logits = z @ w2 + b2[:, None]
        logp = _log_softmax(logits)
        R, B = logp.shape[:2]
        at = (np.arange(R)[:, None], np.arange(B), np.broadcast_to(self._targets(idx), (R, B)))
        nll = -logp[at]
        wb = np.broadcast_to(w, nll.shape)
        loss = (nll * wb).sum(axis=1)
        if not grad:
            return loss, None, logits
        d = np.exp(logp)
        d[at] -= 1.0
        d *= wb[..., None]  # dloss/dlogits
        da = (d @ w2.transpose(0, 2, 1)) * (1.0 - z * z)
        g, c = np.empty((R, self.dim), dtype=ft), self._cuts
        if self.n_prefix:
            g[:, :c[1]] = self._feature_grad(pre, idx, da @ w1.transpose(0, 2, 1))
        np.matmul(np.swapaxes(h, -1, -2), da,
                  out=g[:, c[1]:c[2]].reshape(R, self.n_in, self.hidden))
        g[:, c[2]:c[3]] = da.sum(axis=1)
        np.matmul(z.transpose(0, 2, 1), d, out=g[:, c[3]:c[4]].reshape(R, self.hidden,
                                                                        self.n_out))
        g[:, c[4]:] = d.sum(axis=1)
        return loss, g.astype(np.float64, copy=False), logits

    def minibatch_grad(self, x: np.ndarray, rng: np.random.Generator, batch_size: int,
                       part: IntOrArray | None = None) -> np.ndarray:
        """Unbiased estimate of ``grad f_part`` from ``batch_size`` samples drawn with
        replacement, independently per row (``part=None``: of ``f``)."""
        B = check_int("batch_size", batch_size, 1)
        idx = self.shards.draw(rng, part, x.shape[0], B)
        return self._loss_grad(x, idx, np.full(B, 1.0 / B))[1]  # type: ignore[return-value]

    def _full(self, x: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``f`` and ``grad f`` in blocks over every training sample (slow)."""
        ids = self.shards.order
        loss, g = np.zeros(x.shape[0]), np.zeros_like(x)
        for s in range(0, len(ids), CHUNK):
            blk = ids[s:s + CHUNK]
            lb, gb, _ = self._loss_grad(x, blk, self.shards.weights[blk], grad)
            loss += lb
            if grad:
                g += gb
        return loss, g

    def value(self, x: np.ndarray) -> np.ndarray:
        """``f(x)``: a full pass over the training set (slow; not for every step)."""
        return self._full(x, grad=False)[0]

    def grad(self, x: np.ndarray) -> np.ndarray:
        """``grad f(x)``: a full pass over the training set (slow; not for every step)."""
        return self._full(x, grad=True)[1]

    def _eval_blocks(self, idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """The blocks of ``CHUNK`` evaluation samples of ``idx``, each with its features
        where these do not depend on the parameters (``n_prefix == 0``): computed once per
        instance and evaluation set, the same arrays a pass would compute (``None``: the
        pass computes them)."""
        blocks = [idx[s:s + CHUNK] for s in range(0, len(idx), CHUNK)]
        if self.n_prefix:
            return [(b, None) for b in blocks]
        key = idx.tobytes()
        cached = getattr(self, "_eval_cache", None)
        if cached is None or cached[0] != key:
            with warming():  # once per instance and evaluation set
                feats = [self._features(np.empty((1, 0), dtype=self._ft), b) for b in blocks]
            for f in feats:
                f.flags.writeable = False
            cached = self._eval_cache = (key, feats)
        return list(zip(blocks, cached[1], strict=True))

    def _eval_pass(self, x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy per row over the evaluation samples ``idx``."""
        loss, hits = np.zeros(x.shape[0]), np.zeros(x.shape[0])
        for blk, h in self._eval_blocks(idx):
            lb, _, logits = self._loss_grad(x, blk, np.full(len(blk), 1.0 / len(idx)), False,
                                            h)
            loss += lb
            hits += (logits.argmax(axis=-1) == self._targets(blk)).sum(axis=1)
        return loss, hits / len(idx)

    @abstractmethod
    def evaluate(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Held-out metrics, one value per row, on a fixed evaluation subset."""

    def init(self, seed: int) -> np.ndarray:
        """LeCun-normal weights (variance ``1/fan_in``), zero biases; seeded."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
        h, o = self.hidden, self.n_out
        return np.concatenate([
            self._init_prefix(rng),
            rng.normal(0, self.n_in ** -0.5, self.n_in * h), np.zeros(h),
            rng.normal(0, h ** -0.5, h * o), np.zeros(o)])

    def _init_prefix(self, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.n_prefix)

    def x0(self) -> np.ndarray:
        return self._x0.copy()
