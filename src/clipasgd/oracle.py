"""Stochastic first-order oracles: a problem plus a noise model.

The engine already has ``grad f(x)`` at the current iterate (it records its norm
at every step), so an oracle turns it into a worker's stochastic gradient:

* additive noise: ``grad f_w(x) + xi`` (``grad f_w = grad f`` when homogeneous);
* minibatch noise: the problem's own minibatch gradient of ``f_w``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .noise import Minibatch, Noise
from .problems.base import Problem

Oracle = Callable[[np.ndarray, np.ndarray, np.random.Generator, "int | np.ndarray"], np.ndarray]

__all__ = ["Oracle", "make_oracle"]


def make_oracle(problem: Problem, noise: Noise, n_workers: int) -> Oracle:
    """``oracle(x, grad_f, rng, worker) -> g`` (a fresh array the caller may modify).

    Worker ``w`` samples part ``w`` of a heterogeneous problem, which therefore
    needs ``n_parts == n_workers``.
    """
    hetero = problem.n_parts > 1
    if hetero and problem.n_parts != n_workers:
        raise ValueError(f"problem {problem.name!r} has {problem.n_parts} parts but the schedule "
                         f"has {n_workers} workers: they must match")
    if isinstance(noise, Minibatch):
        batch = int(noise.batch_size)

        def minibatch(x, grad_f, rng, worker):
            return problem.minibatch_grad(x, rng, batch, worker if hetero else 0)

        return minibatch

    if hetero:
        def local(x, grad_f, rng, worker):
            g = noise.sample(rng, x.shape)
            g += problem.local_grad(x, worker, grad_f)
            return g

        return local

    def homogeneous(x, grad_f, rng, worker):
        g = noise.sample(rng, x.shape)
        g += grad_f
        return g

    return homogeneous
