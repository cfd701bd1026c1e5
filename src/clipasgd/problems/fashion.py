"""Fashion-MNIST classification by an MLP ``784 - hidden - 10`` (numpy, tanh).

Pixels are scaled to ``[0, 1]`` and standardised by the training set's pixel mean
and standard deviation. ``source="synthetic"`` swaps in
:func:`clipasgd.datasets.synthetic_fashion` (no files needed: tests, smoke runs).
Shards over workers come from :func:`clipasgd.problems.logistic.split_indices`
(``iid``, ``contiguous`` or Dirichlet(``alpha``) label skew).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from clipasgd import datasets
from clipasgd.problems.logistic import SPLITS, split_indices
from clipasgd.problems.network import Shards, SoftmaxNetwork
from clipasgd.problems.quadratic import check_float, check_int

SOURCES = ("auto", "synthetic")


@lru_cache(maxsize=2)
def _load(source: str, data_dir: str) -> datasets.ImageData:
    if source == "synthetic":
        return datasets.synthetic_fashion()
    return datasets.load_fashion_mnist(datasets.require("fashion-mnist", data_dir))


class FashionMLP(SoftmaxNetwork):
    """Cross-entropy of a tanh MLP on Fashion-MNIST, optionally federated over shards.

    :meth:`evaluate` gives ``test_accuracy`` and ``test_loss`` on the first
    ``n_eval`` test images of a seeded permutation (all of them if fewer).
    """

    name = "fashion_mlp"

    def __init__(self, source: str = "auto", data_dir: str = "data/raw", hidden: int = 128,
                 n_parts: int = 1, split: str = "iid", alpha: float = 0.5, seed: int = 0,
                 init_seed: int = 0, n_eval: int = 10_000) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.source, self.split = source, split
        self.hidden = check_int("hidden", hidden, 1)
        self.n_parts = check_int("n_parts", n_parts, 1)
        self.alpha = check_float("alpha", alpha)
        self.seed = check_int("seed", seed, 0)
        n_eval = check_int("n_eval", n_eval, 1)
        data = _load(source, str(data_dir))
        n_train = len(data.y_train)
        scaled = data.x_train / 255.0
        self.mu, self.sd = float(scaled.mean()), float(scaled.std())
        # sample ids: [0, n_train) training images, then the test images
        self.pixels = np.vstack([data.x_train, data.x_test])
        self.labels = np.concatenate([data.y_train, data.y_test])
        self.n_in, self.n_out = self.pixels.shape[1], 10
        self._set_layout()
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 32]))
        self.shards = Shards(split_indices(data.y_train, self.n_parts, split, self.alpha, rng))
        self.eval_idx = n_train + rng.permutation(len(data.y_test))[:n_eval]
        self._x0 = self.init(check_int("init_seed", init_seed, 0))

    def _features(self, prefix: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return (self.pixels[idx] / 255.0 - self.mu) / self.sd

    def _targets(self, idx: np.ndarray) -> np.ndarray:
        return self.labels[idx]

    def evaluate(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``test_loss`` (mean cross-entropy) and ``test_accuracy`` per row."""
        loss, acc = self._eval_pass(x, self.eval_idx)
        return {"test_accuracy": acc, "test_loss": loss}

    def describe(self) -> dict:
        return {**super().describe(), "source": self.source, "split": self.split,
                "alpha": self.alpha, "hidden": self.hidden, "n_eval": len(self.eval_idx)}
