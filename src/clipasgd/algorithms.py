"""The algorithm registry: each algorithm is an update rule's builder plus the scheduler it
runs on, registered under a name (what specs say) and a short label (what claims' tables
and the figure claims' ``algorithms`` lists say).

A builder's signature is the one source of the algorithm's parameters: the spec schema
(:func:`clipasgd.spec.spec_schema`) is generated from it, each parameter typed ``int`` or
``float``, optionally ``typing.Annotated`` with JSON-schema bounds (:data:`Positive`,
:data:`Count`, :data:`Fraction`); a parameter with a default is optional. ``n_workers``,
when a builder names it, comes from the experiment. ``scheduler=None`` means "the
experiment's scheduler" (Algorithm 1 or 2). Minibatch SGD runs on synchronous rounds: ``n``
gradients at one model, applied as ``n`` steps of ``eta/n`` (the same
``x_{r+1} = x_r - eta * mean(g)``). Single-worker SGD runs the asynchronous engine with one
worker (every delay is 0). User code adds an algorithm with :func:`register`.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from .updates import (
    Transform,
    chain,
    check_transform,
    clip,
    delay_adaptive,
    drop_stale,
    momentum,
    scale,
)

__all__ = ["Algorithm", "Scheduler", "Entry", "Param", "REGISTRY", "register", "entry",
           "names", "labels", "name_of", "make_algorithm", "Positive", "Count", "Fraction"]

# parameter types with the bounds the spec schema checks before anything is built
Positive = Annotated[float, {"exclusiveMinimum": 0}]
Count = Annotated[int, {"minimum": 1}]
Fraction = Annotated[float, {"minimum": 0, "exclusiveMaximum": 1}]  # in [0, 1)

_CONTEXT = ("n_workers",)  # builder arguments the experiment supplies, not the spec
_RESERVED = ("name", "label")  # spec keys of an algorithm entry that are not parameters
_JSON_TYPES = {float: "number", int: "integer"}


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


@dataclass(frozen=True)
class Param:
    """One spec parameter of an algorithm: its JSON schema and whether a spec must give it."""

    name: str
    schema: dict
    required: bool


@dataclass(frozen=True)
class Entry:
    """A registered algorithm; ``params`` are its spec parameters in signature order."""

    name: str
    build: Callable[..., Transform]
    scheduler: Scheduler | None
    label: str
    params: dict[str, Param]

    def schema(self) -> dict:
        """JSON schema of one spec ``algorithms`` entry naming this algorithm."""
        return {"properties": {"name": {"const": self.name}, "label": {"type": "string"},
                               **{p.name: p.schema for p in self.params.values()}},
                "required": ["name", *(p.name for p in self.params.values() if p.required)],
                "additionalProperties": False}


REGISTRY: dict[str, Entry] = {}


def _params(name: str, build: Callable[..., Transform]) -> dict[str, Param]:
    """The builder's spec parameters; a ``TypeError`` names what its signature lacks."""
    where = f"algorithm {name!r}: builder {getattr(build, '__name__', build)!r}"
    try:
        sig = inspect.signature(build)
        hints = typing.get_type_hints(build, include_extras=True)
    except (TypeError, ValueError, NameError) as err:
        raise TypeError(f"{where}: cannot read its signature ({err})") from None
    out = {}
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise TypeError(f"{where}: parameter {p.name!r}: *args and **kwargs are not "
                            "allowed; name each parameter")
        if p.name in _CONTEXT:
            continue
        if p.name in _RESERVED:
            raise TypeError(f"{where}: parameter {p.name!r} clashes with a spec key")
        hint, bounds = hints.get(p.name), {}
        if typing.get_origin(hint) is Annotated:
            hint, *extra = typing.get_args(hint)
            bounds = {k: v for meta in extra if isinstance(meta, dict) for k, v in meta.items()}
        if hint not in _JSON_TYPES:
            raise TypeError(f"{where}: parameter {p.name!r} needs the type int or float "
                            f"(optionally typing.Annotated with bounds), got {hint!r}")
        out[p.name] = Param(p.name, {"type": _JSON_TYPES[hint], **bounds},
                            p.default is inspect.Parameter.empty)
    return out


def register(name: str, build: Callable[..., Transform],
             scheduler: Scheduler | str | None = None, label: str | None = None,
             replace: bool = False) -> Entry:
    """Register ``build`` (keyword parameters typed ``int``/``float``, returning a
    transform) as algorithm ``name``, shown as ``label`` (default: the name) in tables.
    Specs, :func:`make_algorithm` and the claims' arms can then name it, and the engine
    runs it (the numpy loop, saying why, unless its transforms lower to the kernel).
    Refuses a taken name or label unless ``replace``, and a builder whose signature
    cannot give the spec's parameters."""
    for what, value in (("name", name), ("label", label or name)):
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
            raise ValueError(f"algorithms.register: {what} must be an identifier, got {value!r}")
    if not callable(build):
        raise TypeError(f"algorithm {name!r}: builder must be callable, got "
                        f"{type(build).__name__}")
    try:
        sched = None if scheduler is None else Scheduler(scheduler)
    except ValueError:
        raise ValueError(f"algorithm {name!r}: scheduler must be None or one of "
                         f"{[s.value for s in Scheduler]}, got {scheduler!r}") from None
    new = Entry(name, build, sched, label or name, _params(name, build))
    taken = {v: e.name for e in REGISTRY.values() if e.name != name or not replace
             for v in (e.name, e.label)}
    for value in {name, new.label}:
        if value in taken:
            raise ValueError(f"algorithm {name!r}: {value!r} is taken by registered algorithm "
                             f"{taken[value]!r} (pass replace=True to replace an algorithm)")
    REGISTRY[name] = new
    return new


def _builtin(scheduler: Scheduler | None = None, label: str | None = None) -> Callable:
    def add(build: Callable[..., Transform]) -> Callable[..., Transform]:
        register(build.__name__, build, scheduler, label)
        return build
    return add


@_builtin(label="clipped")
def clipped_asgd(eta: Positive, c: Positive) -> Transform:
    return chain(clip(c), scale(eta))


@_builtin(label="vanilla")
def asgd(eta: Positive) -> Transform:
    return scale(eta)


@_builtin(label="delay_adaptive")
def delay_adaptive_asgd(eta: Positive, tau_c: Count) -> Transform:
    return delay_adaptive(eta, tau_c)


@_builtin(label="ringmaster")
def ringmaster_asgd(eta: Positive, max_delay: Count) -> Transform:
    return chain(drop_stale(max_delay), scale(eta))


@_builtin(label="momentum")
def momentum_asgd(eta: Positive, beta: Fraction) -> Transform:
    return chain(momentum(beta), scale(eta))


@_builtin(Scheduler.SYNCHRONOUS, label="minibatch")
def minibatch_sgd(eta: Positive, n_workers: int) -> Transform:
    return scale(eta / n_workers)  # n steps of eta/n = one step of eta * mean(g)


@_builtin(Scheduler.SINGLE)
def sgd(eta: Positive) -> Transform:
    return scale(eta)


def names() -> tuple[str, ...]:
    """Every registered algorithm's name, in registration order."""
    return tuple(REGISTRY)


def labels() -> dict[str, str]:
    """Label -> name of every registered algorithm."""
    return {e.label: e.name for e in REGISTRY.values()}


def entry(name: str) -> Entry:
    """The registered algorithm ``name``; a ``ValueError`` lists the choices."""
    if name not in REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name]


def name_of(label: str) -> str | None:
    """The algorithm a table's label stands for: a name, a label, or a label's variant
    ``<label>_<anything>`` (``vanilla_theory``: ``asgd``); ``None`` if none."""
    known = {**{n: n for n in REGISTRY}, **labels()}
    for cut in [len(label)] + [m.start() for m in re.finditer("_", label)][::-1]:
        if label[:cut] in known:
            return known[label[:cut]]
    return None


def make_algorithm(name: str, n_workers: int = 1, **params: Any) -> Algorithm:
    """Build by name. Unknown names, unknown or missing parameters raise ``ValueError``
    naming the algorithm and the key, before anything is built; a builder that returns no
    transform raises ``TypeError``."""
    e = entry(name)
    unknown = [k for k in params if k not in e.params]
    missing = [p for p, spec in e.params.items() if spec.required and p not in params]
    if unknown or missing:
        what = f"unknown {unknown}" if unknown else f"missing {missing}"
        raise ValueError(f"algorithm {name!r}: bad parameters: {what}; "
                         f"valid parameters: {', '.join(e.params)}")
    context = {"n_workers": n_workers} if "n_workers" in inspect.signature(e.build).parameters \
        else {}
    rule = check_transform(e.build(**params, **context), f"algorithm {name!r}: its builder")
    return Algorithm(name, rule, e.scheduler, dict(params))
