"""Benchmark: gradients/s of the package's neural-network minibatch gradient against a
minimal numpy gradient of the same network on the same shapes (and torch, if installed).

One row per model at its figure's shapes: ``fashion_mlp`` (784-128-10, batch 32) and
``shakespeare_mlp`` (context 16 x embed 16, hidden 256, batch 64, the vocabulary of the
data). Real data when present (``data/raw``), else the synthetic look-alike (``data``
says which; Fashion's shapes are the same either way). ``package`` times
``problem.minibatch_grad`` on one row (what the time-to-target runs call per event);
``minimal`` is the forward/backward pass written directly (features pre-normalised,
no layout bookkeeping; the embedding's scatter by ``np.add.at``, slower than the package's
``bincount``), a floor for numpy; ``torch`` the MLP part in float32 autograd.
``agree``: largest relative difference between the package's and the minimal gradient.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from clipasgd.problems import make_problem
from clipasgd.problems.network import SoftmaxNetwork

MODELS = {  # name: (problem parameters, batch size)
    "fashion_mlp": ({"hidden": 128}, 32),
    "shakespeare_mlp": ({"context": 16, "embed": 16, "hidden": 256}, 64),
}


def _problem(name: str, params: dict) -> tuple[SoftmaxNetwork, str]:
    try:
        return make_problem(name, source="auto", **params), "real"  # type: ignore[return-value]
    except (ValueError, RuntimeError, OSError):
        return make_problem(name, source="synthetic", **params), "synthetic"  # type: ignore


def _minimal(p: SoftmaxNetwork, x: np.ndarray, h: np.ndarray, y: np.ndarray,
             ctx: np.ndarray | None) -> np.ndarray:
    """The gradient of the mean loss of one row ``x`` on features ``h`` ``(B, n_in)``."""
    c = p._cuts
    w1 = x[c[1]:c[2]].reshape(p.n_in, p.hidden)
    w2 = x[c[3]:c[4]].reshape(p.hidden, p.n_out)
    z = np.tanh(h @ w1 + x[c[2]:c[3]])
    s = z @ w2 + x[c[4]:]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    d = e / e.sum(axis=1, keepdims=True)
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    da = (d @ w2.T) * (1.0 - z * z)
    parts = [h.T @ da, da.sum(axis=0), z.T @ d, d.sum(axis=0)]
    if ctx is not None:  # embedding table: scatter-add of d loss / d features
        g = np.zeros((p.n_out, p.embed))
        np.add.at(g, ctx.ravel(), (da @ w1.T).reshape(-1, p.embed))
        parts.insert(0, g)
    return np.concatenate([a.ravel() for a in parts])


def _torch_step(p: SoftmaxNetwork, x: np.ndarray, h: np.ndarray, y: np.ndarray):
    """A float32 torch forward/backward of the MLP part (``None`` without torch)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    c = p._cuts
    w1 = torch.tensor(x[c[1]:c[2]].reshape(p.n_in, p.hidden), dtype=torch.float32,
                      requires_grad=True)
    w2 = torch.tensor(x[c[3]:c[4]].reshape(p.hidden, p.n_out), dtype=torch.float32,
                      requires_grad=True)
    b1 = torch.zeros(p.hidden, requires_grad=True)
    b2 = torch.zeros(p.n_out, requires_grad=True)
    th, ty = torch.tensor(h, dtype=torch.float32), torch.tensor(y)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(torch.tanh(th @ w1 + b1) @ w2 + b2, ty)
        w1.grad = w2.grad = b1.grad = b2.grad = None
        loss.backward()
    return step


def _rate(fn, n: int, repeats: int) -> float:
    """Median calls/s of ``fn`` over ``repeats`` runs of ``n`` calls."""
    secs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        secs.append(time.perf_counter() - start)
    return n / statistics.median(secs)


def network_row(name: str, calls: int, repeats: int) -> dict:
    params, B = MODELS[name]
    p, data = _problem(name, params)
    x = p.x0()[None, :]
    rng = np.random.default_rng(0)
    idx = p.shards.draw(rng, 0, 1, B)[0]
    pre = x[:, :p.n_prefix]
    h = np.asarray(p._features(pre, idx)).reshape(B, p.n_in)  # features once, pre-normalised
    y = p._targets(idx)
    ctx = p._contexts(idx) if p.n_prefix else None
    ref = p._loss_grad(x, idx, np.full(B, 1.0 / B))[1][0]
    got = _minimal(p, x[0], h, y, ctx)
    agree = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    draw = np.random.default_rng(1)
    rates = {"package": _rate(lambda: p.minibatch_grad(x, draw, B), calls, repeats),
             "minimal": _rate(lambda: _minimal(p, x[0], h, y, ctx), calls, repeats)}
    step = _torch_step(p, x[0], h, y)
    rates["torch"] = _rate(step, calls, repeats) if step else float("nan")
    return {"model": name, "data": data, "dim": int(p.dim), "batch": B,
            **{f"{k}_grads_per_s": v for k, v in rates.items()},
            "package_over_minimal": rates["minimal"] / rates["package"], "agree": agree,
            "note": "" if step else "torch not installed: no torch column"}


def run_network_bench(quick: bool = False, repeats: int = 3) -> list[dict]:
    """One row per model (``quick``: 100 calls per repeat, else 1000)."""
    return [network_row(name, 100 if quick else 1000, repeats) for name in MODELS]


def print_network(rows: list[dict]) -> None:
    print(f"{'model':>16} {'data':>9} {'dim':>7} {'B':>3} {'package/s':>9} {'minimal/s':>9} "
          f"{'torch/s':>8} {'pkg/min':>7} {'agree':>8}")
    for r in rows:
        print(f"{r['model']:>16} {r['data']:>9} {r['dim']:>7} {r['batch']:>3} "
              f"{r['package_grads_per_s']:>9.3g} {r['minimal_grads_per_s']:>9.3g} "
              f"{r['torch_grads_per_s']:>8.3g} {r['package_over_minimal']:>7.2f} "
              f"{r['agree']:>8.1e}")
    for r in rows:
        if r["note"]:
            print(f"{r['model']}: {r['note']}")


if __name__ == "__main__":
    print_network(run_network_bench(quick=True))
