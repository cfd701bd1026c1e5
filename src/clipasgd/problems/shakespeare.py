"""Next-character prediction on Shakespeare by a character MLP (numpy, tanh).

The ``context`` previous characters are embedded (a ``vocab x embed`` table that
is part of the parameters), concatenated, and fed to a one-hidden-layer softmax
network over the vocabulary. Each role (``play/SPEAKER``, see
:func:`clipasgd.datasets.roles`) keeps the last ``val_fraction`` of its text for
validation; every character of a role's text is one sample, its context padded
with a pad symbol (id 0, never a target) at the start of the role.

Splits over workers: ``role`` gives each worker whole characters
(:func:`clipasgd.datasets.split_roles`), the natural non-iid split; ``iid``
cuts a random permutation of all training samples.
``source="synthetic"`` uses :func:`clipasgd.datasets.synthetic_shakespeare`.
"""

from __future__ import annotations

import numpy as np

from clipasgd import datasets
from clipasgd.problems.logistic import split_indices
from clipasgd.problems.network import Shards, SoftmaxNetwork
from clipasgd.problems.quadratic import check_float, check_int
from clipasgd.warmup import warm_cache

SOURCES = ("auto", "synthetic")
SPLITS = ("iid", "role")


@warm_cache(maxsize=2)
def _roles(source: str, data_dir: str) -> dict[str, str]:
    texts = (datasets.synthetic_shakespeare() if source == "synthetic"
             else datasets.load_shakespeare(datasets.require("shakespeare", data_dir)))
    return datasets.roles(texts, min_chars=2)


def _encode(texts: list[str], table: np.ndarray, context: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One code array of ``context`` pads + text per role; ``(codes, starts, role_of)``:
    sample ``k`` predicts ``codes[starts[k] + context]`` from the ``context`` before it."""
    pieces, starts, role_of, pos = [], [], [], 0
    for r, t in enumerate(texts):
        codes = table[np.frombuffer(t.encode("latin-1"), np.uint8)]
        pieces.append(np.concatenate([np.zeros(context, np.uint8), codes]))
        starts.append(pos + np.arange(len(t)))
        role_of.append(np.full(len(t), r))
        pos += context + len(t)
    return np.concatenate(pieces), np.concatenate(starts), np.concatenate(role_of)


class ShakespeareMLP(SoftmaxNetwork):
    """Cross-entropy of a character MLP, optionally federated over role shards.

    :meth:`evaluate` gives ``val_perplexity`` (``exp`` of the mean cross-entropy),
    ``val_loss`` and ``val_accuracy`` on ``n_eval`` validation characters drawn
    once by a seeded permutation (all of them if fewer).
    """

    name = "shakespeare_mlp"

    def __init__(self, source: str = "auto", data_dir: str = "data/raw", context: int = 16,
                 embed: int = 16, hidden: int = 256, n_parts: int = 1, split: str = "role",
                 val_fraction: float = 0.1, seed: int = 0, init_seed: int = 0,
                 n_eval: int = 20_000, dtype: str = "float64") -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.source, self.split = source, split
        self._set_dtype(dtype)
        self.context = check_int("context", context, 1)
        self.embed = check_int("embed", embed, 1)
        self.hidden = check_int("hidden", hidden, 1)
        self.n_parts = check_int("n_parts", n_parts, 1)
        self.seed = check_int("seed", seed, 0)
        self.val_fraction = check_float("val_fraction", val_fraction)
        if self.val_fraction >= 1:
            raise ValueError(f"val_fraction must be < 1, got {val_fraction!r}")
        n_eval = check_int("n_eval", n_eval, 1)
        roles = _roles(source, str(data_dir))
        chars = sorted(set("".join(roles.values())))
        self.vocab = ["<pad>", *chars]
        table = np.zeros(256, np.uint8)
        table[[ord(c) for c in chars]] = np.arange(1, len(chars) + 1)
        cut = {k: len(t) - max(1, int(round(self.val_fraction * len(t)))) for k, t in
               roles.items()}
        names = list(roles)
        # sample ids: training characters of every role, then validation characters
        tr_codes, tr_starts, tr_role = _encode([roles[k][:cut[k]] for k in names], table,
                                               self.context)
        va_codes, va_starts, _ = _encode([roles[k][cut[k]:] for k in names], table,
                                         self.context)
        self.codes = np.concatenate([tr_codes, va_codes])
        self.starts = np.concatenate([tr_starts, len(tr_codes) + va_starts])
        self.n_in, self.n_out = self.context * self.embed, len(self.vocab)
        self.n_prefix = self.n_out * self.embed
        self._set_layout()
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 33]))
        if split == "role":
            sizes = {k: cut[k] for k in names}
            groups = datasets.split_roles(sizes, self.n_parts, rng)
            pos = {k: i for i, k in enumerate(names)}
            by_role = np.split(np.arange(len(tr_starts)), np.cumsum([cut[k] for k in names])[:-1])
            self.shard_roles = groups
            shards = [np.concatenate([by_role[pos[k]] for k in g]) for g in groups]
        else:
            shards = split_indices(tr_role, self.n_parts, "iid", 1.0, rng)
            self.shard_roles = None
        self.shards = Shards(shards)
        self.role_names, self.role_of = names, tr_role.astype(np.int32)
        self.eval_idx = len(tr_starts) + rng.permutation(len(va_starts))[:n_eval]
        self._offsets = np.arange(self.context)
        self._x0 = self.init(check_int("init_seed", init_seed, 0))

    def _init_prefix(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, 1.0, self.n_prefix)

    def _contexts(self, idx: np.ndarray) -> np.ndarray:
        return self.codes[self.starts[idx][..., None] + self._offsets]

    def _features(self, prefix: np.ndarray, idx: np.ndarray) -> np.ndarray:
        table = prefix.reshape(len(prefix), self.n_out, self.embed)
        ctx = self._contexts(idx)  # (B, c) or (R, B, c)
        e = table[:, ctx] if ctx.ndim == 2 else table[np.arange(len(table))[:, None, None], ctx]
        return e.reshape(e.shape[0], e.shape[1], self.n_in)

    def _feature_grad(self, prefix: np.ndarray, idx: np.ndarray, dh: np.ndarray) -> np.ndarray:
        R = dh.shape[0]
        ctx = np.broadcast_to(self._contexts(idx), dh.shape[:2] + (self.context,))
        flat = (np.arange(R)[:, None, None] * self.n_out + ctx).ravel()
        d = dh.reshape(-1, self.embed)
        g = np.empty((R * self.n_out, self.embed))
        for j in range(self.embed):
            g[:, j] = np.bincount(flat, weights=d[:, j], minlength=R * self.n_out)
        return g.reshape(R, -1)

    def _targets(self, idx: np.ndarray) -> np.ndarray:
        return self.codes[self.starts[idx] + self.context]

    def evaluate(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``val_perplexity``, ``val_loss`` (nats per character) and ``val_accuracy``."""
        loss, acc = self._eval_pass(x, self.eval_idx)
        return {"val_perplexity": np.exp(loss), "val_loss": loss, "val_accuracy": acc}

    def describe(self) -> dict:
        return {**super().describe(), "source": self.source, "split": self.split,
                "context": self.context, "embed": self.embed, "hidden": self.hidden,
                "vocab": self.n_out, "n_eval": len(self.eval_idx), "dtype": self.dtype}
