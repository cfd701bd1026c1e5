"""Real gradient noise without downloads: per-example gradients of two small models.

Definition 3.1 of the paper is an assumption on the *norm* of the stochastic-gradient
error ``g - grad f(x)``. This module produces such errors from real data so that the
tail estimators of :mod:`clipasgd.tails` can be applied to them (claim ``tails``, the
paper's Figure 1 used ResNet-18 on CIFAR-10, which cannot be downloaded here).

Models (data ship with scikit-learn / statsmodels):

* ``mlp_digits``: a 64-32-10 multilayer perceptron (tanh hidden layer, softmax
  cross-entropy) on ``sklearn.datasets.load_digits`` (1797 images, pixels / 16).
  2410 parameters. Forward and backward passes are written here, vectorised over
  examples, and return one gradient row per example.
* ``poisson_randhie``: Poisson regression (log link) of ``mdvis`` on the nine
  covariates of ``statsmodels.datasets.randhie`` (20190 rows), standardised, plus an
  intercept: 10 parameters. Per-example loss ``exp(a.w) - y a.w``.

Checkpoints: ``initial`` (the seeded initial point), ``middle`` (the first
gradient-descent iterate whose loss is at most the geometric mean of the initial and the
final loss: halfway on a log scale, both losses being negative log-likelihoods, so
positive) and ``converged`` (the last iterate of ``steps`` full-batch gradient-descent
steps with a constant step ``lr``; its full-gradient norm is reported, never assumed small).

Noise: with per-example gradients ``g_i`` and the full gradient ``g = mean_i g_i``, the
per-example errors are ``e_i = g_i - g`` (mean exactly 0). A batch of size ``b`` draws
``b`` examples uniformly *with replacement*, so its noise ``mean_{j in B} e_j`` is a mean of
``b`` i.i.d. zero-mean vectors: an unbiased stochastic gradient, as the paper assumes. At
``b = 1`` the noise law is exactly the empirical law of the ``N`` errors, so
:func:`noise_sample` returns those ``N`` rows (no resampling, which would only add ties).
A finite dataset has bounded noise: fitted tail parameters are *effective* ones over the
observed range, to be read together with their theta-vs-k curves.

All randomness comes from seeds passed to ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

__all__ = ["MODELS", "CHECKPOINTS", "MLP", "PoissonGLM", "make_model", "train",
           "per_example_errors", "batch_indices", "batch_noise", "iter_batch_noise",
           "batch_noise_summary", "noise_sample", "random_directions"]

MODELS = ("mlp_digits", "poisson_randhie")
CHECKPOINTS = ("initial", "middle", "converged")
Array = NDArray[np.float64]


# ----------------------------------------------------------------------------- models


@dataclass
class MLP:
    """``sizes[0]``-``sizes[1]``-``sizes[2]`` perceptron, softmax cross-entropy, on digits.

    Parameters are one flat vector ``w = [W1 (in x hid, row-major), b1, W2 (hid x out), b2]``.
    ``activation``: ``tanh`` or ``relu``.
    """

    sizes: tuple[int, int, int] = (64, 32, 10)
    activation: str = "tanh"
    name: str = "mlp_digits"

    def __post_init__(self) -> None:
        if self.activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {self.activation!r}")
        self.sizes = tuple(int(s) for s in self.sizes)  # type: ignore[assignment]

    @cached_property
    def data(self) -> tuple[Array, NDArray[np.int64]]:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        if X.shape[1] != self.sizes[0] or y.max() + 1 != self.sizes[2]:
            raise ValueError(f"digits has {X.shape[1]} inputs and 10 classes: sizes must be "
                             f"(64, hidden, 10), got {self.sizes}")
        return X / 16.0, y.astype(np.int64)

    @property
    def n_examples(self) -> int:
        return self.data[0].shape[0]

    @property
    def dim(self) -> int:
        i, h, o = self.sizes
        return i * h + h + h * o + o

    def unpack(self, w: Array) -> tuple[Array, Array, Array, Array]:
        i, h, o = self.sizes
        w = np.asarray(w, dtype=float)
        if w.shape != (self.dim,):
            raise ValueError(f"expected {self.dim} parameters, got shape {w.shape}")
        a, b, c = i * h, i * h + h, i * h + h + h * o
        return w[:a].reshape(i, h), w[a:b], w[b:c].reshape(h, o), w[c:]

    def init(self, seed: int | np.random.SeedSequence = 0) -> Array:
        """Glorot-uniform weights, zero biases."""
        rng = np.random.default_rng(seed)
        i, h, o = self.sizes
        w1 = rng.uniform(-1, 1, (i, h)) * np.sqrt(6 / (i + h))
        w2 = rng.uniform(-1, 1, (h, o)) * np.sqrt(6 / (h + o))
        return np.concatenate([w1.ravel(), np.zeros(h), w2.ravel(), np.zeros(o)])

    def _forward(self, w: Array) -> tuple[Array, Array, Array]:
        X, _ = self.data
        W1, b1, W2, b2 = self.unpack(w)
        pre = X @ W1 + b1
        hid = np.tanh(pre) if self.activation == "tanh" else np.maximum(pre, 0.0)
        z = hid @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return pre, hid, logp

    def example_losses(self, w: Array) -> Array:
        """Cross-entropy of every example, shape ``(N,)``."""
        _, y = self.data
        _, _, logp = self._forward(w)
        return -logp[np.arange(y.size), y]

    def loss(self, w: Array) -> float:
        return float(self.example_losses(w).mean())

    def per_example_grads(self, w: Array) -> Array:
        """Gradient of every example's loss, shape ``(N, dim)`` (same layout as ``w``)."""
        X, y = self.data
        n = y.size
        pre, hid, logp = self._forward(w)
        dz = np.exp(logp)
        dz[np.arange(n), y] -= 1.0  # d loss_i / d logits_i = softmax - onehot
        _, _, W2, _ = self.unpack(w)
        act_grad = 1.0 - hid ** 2 if self.activation == "tanh" else (pre > 0).astype(float)
        dpre = (dz @ W2.T) * act_grad  # d loss_i / d pre-activations_i
        gw1 = (X[:, :, None] * dpre[:, None, :]).reshape(n, -1)
        gw2 = (hid[:, :, None] * dz[:, None, :]).reshape(n, -1)
        return np.hstack([gw1, dpre, gw2, dz])

    def full_grad(self, w: Array) -> Array:
        """``grad f(w) = mean_i grad loss_i(w)`` without forming the per-example rows."""
        return self.loss_and_grad(w)[1]

    def loss_and_grad(self, w: Array) -> tuple[float, Array]:
        """``f(w)`` and ``grad f(w)`` from one forward pass."""
        X, y = self.data
        pre, hid, logp = self._forward(w)
        n = y.size
        loss = float(-logp[np.arange(n), y].mean())
        dz = np.exp(logp)
        dz[np.arange(n), y] -= 1.0
        _, _, W2, _ = self.unpack(w)
        act_grad = 1.0 - hid ** 2 if self.activation == "tanh" else (pre > 0).astype(float)
        dpre = (dz @ W2.T) * act_grad
        return loss, np.concatenate([(X.T @ dpre).ravel() / n, dpre.mean(axis=0),
                                     (hid.T @ dz).ravel() / n, dz.mean(axis=0)])


@dataclass
class PoissonGLM:
    """Poisson regression (log link) on statsmodels' ``randhie``: the negative log-likelihood
    ``loss_i = exp(a_i.w) - y_i a_i.w + log(y_i!)`` (positive).

    Covariates are standardised; the last column is an intercept.
    """

    name: str = "poisson_randhie"

    @cached_property
    def data(self) -> tuple[Array, Array]:
        from statsmodels.datasets import randhie

        frame = randhie.load_pandas().data
        y = frame["mdvis"].to_numpy(float)
        X = frame.drop(columns="mdvis").to_numpy(float)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        return np.hstack([X, np.ones((X.shape[0], 1))]), y

    @property
    def n_examples(self) -> int:
        return self.data[0].shape[0]

    @property
    def dim(self) -> int:
        return self.data[0].shape[1]

    def init(self, seed: int | np.random.SeedSequence = 0) -> Array:
        """All zeros (rate 1 for everyone): the usual starting point of a GLM fit."""
        del seed
        return np.zeros(self.dim)

    @cached_property
    def _log_factorial(self) -> Array:
        from scipy.special import gammaln

        return gammaln(self.data[1] + 1.0)

    def example_losses(self, w: Array) -> Array:
        A, y = self.data
        eta = A @ np.asarray(w, dtype=float)
        return np.exp(eta) - y * eta + self._log_factorial

    def loss_and_grad(self, w: Array) -> tuple[float, Array]:
        A, y = self.data
        eta = A @ w
        mu = np.exp(eta)
        return float((mu - y * eta + self._log_factorial).mean()), A.T @ (mu - y) / y.size

    def loss(self, w: Array) -> float:
        return float(self.example_losses(w).mean())

    def per_example_grads(self, w: Array) -> Array:
        A, y = self.data
        return (np.exp(A @ w) - y)[:, None] * A

    def full_grad(self, w: Array) -> Array:
        A, y = self.data
        return A.T @ (np.exp(A @ w) - y) / y.size


Model = MLP | PoissonGLM


def make_model(name: str, **options) -> Model:
    """``mlp_digits`` (options: ``hidden``, ``activation``) or ``poisson_randhie``."""
    if name == "mlp_digits":
        return MLP(sizes=(64, int(options.get("hidden", 32)), 10),
                   activation=options.get("activation", "tanh"))
    if name == "poisson_randhie":
        if options:
            raise ValueError(f"poisson_randhie takes no options, got {sorted(options)}")
        return PoissonGLM()
    raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Training:
    """Checkpoints of a full-batch gradient-descent run and what they look like."""

    weights: dict[str, Array]
    step: dict[str, int]
    loss: dict[str, float]
    grad_norm: dict[str, float]
    losses: Array  # loss at every step 0..steps


def train(model: Model, steps: int, lr: float, seed: int | np.random.SeedSequence = 0
          ) -> Training:
    """Plain full-batch gradient descent from ``model.init(seed)``; checkpoints as in the
    module docstring. Deterministic given ``seed``; raises if the loss is not finite."""
    if steps < 2 or lr <= 0:
        raise ValueError("need steps >= 2 and lr > 0")
    w = model.init(seed)
    path, losses = [w], []
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        for _ in range(steps):
            loss, grad = model.loss_and_grad(w)
            losses.append(loss)
            if not np.isfinite(loss):
                break
            w = w - lr * grad
            path.append(w)
        else:
            losses.append(model.loss(w))
    losses_a = np.asarray(losses)
    if not np.all(np.isfinite(losses_a)):
        raise ValueError(f"{model.name}: gradient descent diverged (lr={lr} too large)")
    mid = int(np.argmax(losses_a <= np.sqrt(losses_a[0] * losses_a[-1])))
    step = {"initial": 0, "middle": mid, "converged": steps}
    weights = {k: path[s] for k, s in step.items()}
    return Training(weights=weights, step=step,
                    loss={k: float(losses_a[s]) for k, s in step.items()},
                    grad_norm={k: float(np.linalg.norm(model.full_grad(v)))
                               for k, v in weights.items()},
                    losses=losses_a)


# ------------------------------------------------------------------------------ noise


def per_example_errors(model: Model, w: Array) -> Array:
    """``e_i = g_i - mean_j g_j``, shape ``(N, dim)``: the batch-size-1 noise population."""
    g = model.per_example_grads(w)
    return g - g.mean(axis=0)


def batch_indices(n_examples: int, batch: int, n_batches: int,
                  seed: int | np.random.SeedSequence) -> Iterator[NDArray[np.int64]]:
    """Example indices of ``n_batches`` batches (with replacement), in chunks of rows."""
    if batch < 1 or n_batches < 1:
        raise ValueError("batch and n_batches must be >= 1")
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // batch)
    for start in range(0, n_batches, chunk):
        yield rng.integers(0, n_examples, size=(min(chunk, n_batches - start), batch))


def iter_batch_noise(errors: Array, batch: int, n_batches: int,
                     seed: int | np.random.SeedSequence) -> Iterator[Array]:
    """Batch-mean noise vectors ``mean_{j in B} e_j``, in chunks of rows (bounded memory)."""
    errors = np.asarray(errors, dtype=float)
    max_rows = max(1, 4_000_000 // (batch * errors.shape[1]))  # gathered floats per chunk
    for idx in batch_indices(errors.shape[0], batch, n_batches, seed):
        for start in range(0, idx.shape[0], max_rows):
            yield errors[idx[start:start + max_rows]].mean(axis=1)


def batch_noise(errors: Array, batch: int, n_batches: int,
                seed: int | np.random.SeedSequence) -> Array:
    """``(n_batches, dim)`` batch-mean noise vectors (batch-mean gradient minus full gradient)."""
    return np.concatenate(list(iter_batch_noise(errors, batch, n_batches, seed)))


def batch_noise_summary(errors: Array, batch: int, n_batches: int,
                        seed: int | np.random.SeedSequence, directions: Array
                        ) -> tuple[Array, Array]:
    """Norms ``(n_batches,)`` and projections ``(n_batches, n_dirs)`` of the *same* batches as
    :func:`batch_noise` with the same seed, without forming the vectors when ``dim`` is large.

    ``||mean_B e||^2 = 1_B^T H 1_B / b^2`` with the Gram matrix ``H = E E^T`` (``N x N``), used
    when ``dim > N`` or ``dim`` exceeds 256 and ``N <= 5000``; otherwise chunks of vectors.
    """
    errors = np.asarray(errors, dtype=float)
    u = np.atleast_2d(np.asarray(directions, dtype=float))
    n, d = errors.shape
    if u.shape[1] != d:
        raise ValueError(f"directions must have {d} columns, got {u.shape}")
    proj_e = errors @ u.T  # (N, n_dirs)
    norms, projs = [], []
    if d > 256 and n <= 5000:
        gram = errors @ errors.T
        for idx in batch_indices(n, batch, n_batches, seed):
            for start in range(0, idx.shape[0], 4096):
                sub = idx[start:start + 4096]
                sq = gram[sub[:, :, None], sub[:, None, :]].sum(axis=(1, 2)) / batch ** 2
                norms.append(np.sqrt(np.maximum(sq, 0.0)))
                projs.append(proj_e[sub].mean(axis=1))
    else:
        for v in iter_batch_noise(errors, batch, n_batches, seed):
            norms.append(np.linalg.norm(v, axis=1))
            projs.append(v @ u.T)
    return np.concatenate(norms), np.concatenate(projs)


def random_directions(dim: int, n_dirs: int, seed: int | np.random.SeedSequence) -> Array:
    """``n_dirs`` unit vectors uniform on the sphere in ``R^dim``, shape ``(n_dirs, dim)``."""
    u = np.random.default_rng(seed).standard_normal((n_dirs, dim))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def noise_sample(errors: Array, batch: int, n_batches: int,
                 seed: int | np.random.SeedSequence, directions: Array
                 ) -> tuple[Array, Array]:
    """Norms and projections of the batch-``batch`` noise: at ``batch = 1`` the exact
    population of the ``N`` per-example errors, otherwise ``n_batches`` random batches."""
    if batch == 1:
        errors = np.asarray(errors, dtype=float)
        return np.linalg.norm(errors, axis=1), errors @ np.atleast_2d(directions).T
    return batch_noise_summary(errors, batch, n_batches, seed, directions)
