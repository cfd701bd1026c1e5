"""Fashion-MNIST classification by an MLP ``784 - hidden - 10`` (numpy, tanh).

Pixels are scaled to ``[0, 1]`` and standardised by the training set's pixel mean
and standard deviation (exact, from integer moments of the ``uint8`` pixels); a pixel's
feature is read from a 256-entry table. The data and their statistics are prepared
once per process (:func:`prepared`). ``source="synthetic"`` swaps in
:func:`clipasgd.datasets.synthetic_fashion` (no files needed: tests, smoke runs).
Shards over workers come from :func:`clipasgd.problems.logistic.split_indices`
(``iid``, ``contiguous`` or Dirichlet(``alpha``) label skew).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from clipasgd import datasets
from clipasgd.problems.logistic import SPLITS, split_indices
from clipasgd.problems.network import Shards, SoftmaxNetwork
from clipasgd.problems.quadratic import check_float, check_int
from clipasgd.warmup import warm_cache

SOURCES = ("auto", "synthetic")


@dataclass(frozen=True)
class Prepared:
    """Training then test images (sample ids ``[0, n_train)`` train), labels, and the
    feature of each pixel level, ``(level / 255 - mean) / sd``, as a 256-entry table."""

    pixels: np.ndarray  # (N, 784) uint8
    labels: np.ndarray
    n_train: int
    table: np.ndarray  # (256,) float64


def pixel_moments(x: np.ndarray, chunk: int = 4096) -> tuple[float, float]:
    """Mean and standard deviation of ``x / 255`` for ``uint8`` pixels ``x``, from exact
    integer sums (counts per level; no float copy of the data)."""
    counts = np.zeros(256, dtype=np.int64)
    flat = x.reshape(len(x), -1)
    for s in range(0, len(flat), chunk):
        counts += np.bincount(flat[s:s + chunk].ravel(), minlength=256)
    levels = np.arange(256, dtype=np.int64)
    n, s1, s2 = int(counts.sum()), int(counts @ levels), int(counts @ levels ** 2)
    var = Fraction(n * s2 - s1 * s1, n * n * 255 * 255)
    return float(Fraction(s1, 255 * n)), float(np.sqrt(float(var)))


@warm_cache(maxsize=2)
def prepared(source: str, data_dir: str) -> Prepared:
    """The data set of ``source`` with its standardisation, built once per process."""
    data = (datasets.synthetic_fashion() if source == "synthetic" else
            datasets.load_fashion_mnist(datasets.require("fashion-mnist", data_dir)))
    mu, sd = pixel_moments(data.x_train)
    out = Prepared(np.vstack([data.x_train, data.x_test]),
                   np.concatenate([data.y_train, data.y_test]), len(data.y_train),
                   (np.arange(256) / 255.0 - mu) / sd)
    for a in (out.pixels, out.labels, out.table):  # shared by every instance
        a.flags.writeable = False
    return out


class FashionMLP(SoftmaxNetwork):
    """Cross-entropy of a tanh MLP on Fashion-MNIST, optionally federated over shards.

    :meth:`evaluate` gives ``test_accuracy`` and ``test_loss`` on the first
    ``n_eval`` test images of a seeded permutation (all of them if fewer).
    """

    name = "fashion_mlp"

    def __init__(self, source: str = "auto", data_dir: str = "data/raw", hidden: int = 128,
                 n_parts: int = 1, split: str = "iid", alpha: float = 0.5, seed: int = 0,
                 init_seed: int = 0, n_eval: int = 10_000, dtype: str = "float64") -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.source, self.split = source, split
        self._set_dtype(dtype)
        self.hidden = check_int("hidden", hidden, 1)
        self.n_parts = check_int("n_parts", n_parts, 1)
        self.alpha = check_float("alpha", alpha)
        self.seed = check_int("seed", seed, 0)
        n_eval = check_int("n_eval", n_eval, 1)
        data = prepared(source, str(data_dir))
        n_train = data.n_train
        # sample ids: [0, n_train) training images, then the test images
        self.pixels, self.labels = data.pixels, data.labels
        self._table = data.table.astype(self._ft, copy=False)
        self.n_in, self.n_out = self.pixels.shape[1], 10
        self._set_layout()
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 32]))
        self.shards = Shards(split_indices(self.labels[:n_train], self.n_parts, split,
                                           self.alpha, rng))
        self.eval_idx = n_train + rng.permutation(len(self.labels) - n_train)[:n_eval]
        self._x0 = self.init(check_int("init_seed", init_seed, 0))

    def _features(self, prefix: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self._table.take(self.pixels[idx])

    def _targets(self, idx: np.ndarray) -> np.ndarray:
        return self.labels[idx]

    def evaluate(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``test_loss`` (mean cross-entropy) and ``test_accuracy`` per row."""
        loss, acc = self._eval_pass(x, self.eval_idx)
        return {"test_accuracy": acc, "test_loss": loss}

    def describe(self) -> dict:
        return {**super().describe(), "source": self.source, "split": self.split,
                "alpha": self.alpha, "hidden": self.hidden, "n_eval": len(self.eval_idx),
                "dtype": self.dtype}
