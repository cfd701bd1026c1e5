"""The algorithms compared in the paper, each an update rule plus the scheduler it runs on.

``scheduler=None`` means "the experiment's scheduler" (Algorithm 1 or 2).
Minibatch SGD runs on synchronous rounds: ``n`` gradients at one model, applied as
``n`` steps of ``eta/n`` (the same ``x_{r+1} = x_r - eta * mean(g)``). Single-worker
SGD runs the asynchronous engine with one worker (every delay is 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .updates import Transform, chain, clip, delay_adaptive, drop_stale, scale

__all__ = ["Algorithm", "ALGORITHMS", "make_algorithm"]


@dataclass(frozen=True)
class Algorithm:
    name: str
    rule: Transform
    scheduler: str | None = None
    params: dict | None = None

    def describe(self) -> dict:
        return {"name": self.name, "scheduler": self.scheduler, **(self.params or {})}


def clipped_asgd(eta: float, c: float) -> Transform:
    return chain(clip(c), scale(eta))


def asgd(eta: float) -> Transform:
    return scale(eta)


def delay_adaptive_asgd(eta: float, tau_c: int) -> Transform:
    return delay_adaptive(eta, tau_c)


def ringmaster_asgd(eta: float, max_delay: int) -> Transform:
    return chain(drop_stale(max_delay), scale(eta))


_BUILDERS: dict[str, tuple[Callable[..., Transform], str | None]] = {
    "clipped_asgd": (clipped_asgd, None),
    "asgd": (asgd, None),
    "delay_adaptive_asgd": (delay_adaptive_asgd, None),
    "ringmaster_asgd": (ringmaster_asgd, None),
    "minibatch_sgd": (asgd, "synchronous"),
    "sgd": (asgd, "single"),
}
ALGORITHMS = tuple(_BUILDERS)


def make_algorithm(name: str, n_workers: int = 1, **params: float) -> Algorithm:
    """Build by name. ``minibatch_sgd`` takes the minibatch step ``eta`` and scales it by
    ``1/n_workers`` internally. Unknown names or parameters raise ``ValueError``."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(_BUILDERS)}")
    build, scheduler = _BUILDERS[name]
    args = dict(params)
    if name == "minibatch_sgd" and "eta" in args:
        args["eta"] = args["eta"] / n_workers
    try:
        rule = build(**args)
    except TypeError as err:
        raise ValueError(f"algorithm {name!r}: bad parameters {sorted(params)} ({err})") from None
    return Algorithm(name, rule, scheduler, dict(params))
