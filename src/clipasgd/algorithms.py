"""The algorithms compared in the paper, each an update rule plus the scheduler it runs on.

A builder returns the rule from the algorithm's own parameters (its signature is the
spec's parameter list); ``n_workers``, when a builder names it, comes from the
experiment. ``scheduler=None`` means "the experiment's scheduler" (Algorithm 1 or 2).
Minibatch SGD runs on synchronous rounds: ``n`` gradients at one model, applied as
``n`` steps of ``eta/n`` (the same ``x_{r+1} = x_r - eta * mean(g)``). Single-worker
SGD runs the asynchronous engine with one worker (every delay is 0).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .updates import Transform, chain, clip, delay_adaptive, drop_stale, momentum, scale

__all__ = ["Algorithm", "ALGORITHMS", "Scheduler", "make_algorithm"]


class Scheduler(StrEnum):
    """A scheduler an algorithm imposes instead of the experiment's own."""

    SYNCHRONOUS = "synchronous"  # rounds of n_workers gradients at one model
    SINGLE = "single"  # one worker: plain SGD


@dataclass(frozen=True)
class Algorithm:
    name: str
    rule: Transform
    scheduler: Scheduler | None = None
    params: dict | None = None

    def describe(self) -> dict:
        return {"name": self.name, "scheduler": self.scheduler, **(self.params or {})}


_BUILDERS: dict[str, tuple[Callable[..., Transform], Scheduler | None]] = {}


def _register(scheduler: Scheduler | None = None) -> Callable:
    def add(build: Callable[..., Transform]) -> Callable[..., Transform]:
        _BUILDERS[build.__name__] = (build, scheduler)
        return build
    return add


@_register()
def clipped_asgd(eta: float, c: float) -> Transform:
    return chain(clip(c), scale(eta))


@_register()
def asgd(eta: float) -> Transform:
    return scale(eta)


@_register()
def delay_adaptive_asgd(eta: float, tau_c: int) -> Transform:
    return delay_adaptive(eta, tau_c)


@_register()
def ringmaster_asgd(eta: float, max_delay: int) -> Transform:
    return chain(drop_stale(max_delay), scale(eta))


@_register()
def momentum_asgd(eta: float, beta: float) -> Transform:
    return chain(momentum(beta), scale(eta))


@_register(Scheduler.SYNCHRONOUS)
def minibatch_sgd(eta: float, n_workers: int) -> Transform:
    return scale(eta / n_workers)  # n steps of eta/n = one step of eta * mean(g)


@_register(Scheduler.SINGLE)
def sgd(eta: float) -> Transform:
    return scale(eta)


ALGORITHMS = tuple(_BUILDERS)
_CONTEXT = ("n_workers",)  # builder arguments the experiment supplies, not the spec


def make_algorithm(name: str, n_workers: int = 1, **params: float) -> Algorithm:
    """Build by name. Unknown names, unknown or missing parameters raise ``ValueError``
    naming the algorithm and the key, before anything is built."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(_BUILDERS)}")
    build, scheduler = _BUILDERS[name]
    sig = inspect.signature(build).parameters
    valid = [p for p in sig if p not in _CONTEXT]
    unknown = [k for k in params if k not in valid]
    missing = [p for p in valid if sig[p].default is inspect.Parameter.empty and p not in params]
    if unknown or missing:
        what = f"unknown {unknown}" if unknown else f"missing {missing}"
        raise ValueError(f"algorithm {name!r}: bad parameters: {what}; "
                         f"valid parameters: {', '.join(valid)}")
    context = {"n_workers": n_workers} if "n_workers" in sig else {}
    return Algorithm(name, build(**params, **context), scheduler, dict(params))
