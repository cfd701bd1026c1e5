"""Claim modules: each is one file exposing ``CLAIM``, ``simulate`` and ``verdict``
(see :mod:`clipasgd.claims.base`). Adding a claim = one file + one registry line +
one config section + one notebook."""

from importlib import import_module
from types import ModuleType

CLAIM_MODULES = ("tau_max", "virtual", "rate_shape", "tails", "high_prob", "high_prob_tail",
                 "high_prob_tau_max")


def get_claim(claim_id: str) -> ModuleType:
    """The module of a registered claim; unknown ids raise ``ValueError``."""
    if claim_id not in CLAIM_MODULES:
        raise ValueError(f"unknown claim {claim_id!r}; registered: {', '.join(CLAIM_MODULES)}")
    return import_module(f"{__name__}.{claim_id}")


__all__ = ["CLAIM_MODULES", "get_claim"]
