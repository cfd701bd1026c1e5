"""Claim modules, discovered: every module here (except ``base`` and ``_``-prefixed helpers)
is a claim and exposes ``CLAIM`` (a :class:`~clipasgd.claims.base.Claim`). Nothing else
registers a claim: the pipeline, the Snakemake rules and the config checks all read
:data:`REGISTRY`. A claim's words (statement, test, falsifier, what ran) come from the
``words.yaml`` in its folder, or from ``Claim.words`` (:mod:`clipasgd.claims.words`).

Claim modules are imported when first asked for (:func:`get_claim`, or the first read of
``REGISTRY``, ``SIMULATED``, ``DATA_FROM`` or ``FOLDERS``, which import them all).

Adding a claim = one module here, one config section (+ its schema entry), its words, one
notebook. Extra claim folders (a user's own claims, or a test's) can be listed in the
environment variable ``CLIPASGD_CLAIM_PATH`` (``os.pathsep``-separated); their modules join
this package.
"""

from __future__ import annotations

import os
import pkgutil
import sys
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from .base import Claim

__path__ += [p for p in os.environ.get("CLIPASGD_CLAIM_PATH", "").split(os.pathsep) if p]

_NOT_CLAIMS = {"base", "words"}

# The ids are the module names (found without importing them); a claim's module is imported
# when it is first asked for (get_claim), so a pipeline job loads only the claims it runs.
CLAIM_IDS: tuple[str, ...] = tuple(sorted(
    info.name for info in pkgutil.iter_modules(__path__)
    if info.name not in _NOT_CLAIMS and not info.name.startswith("_")))


_LOADED: dict[str, Claim] = {}  # REGISTRY, once every claim is in it


def _load(mod: str) -> Claim:
    module = import_module(f"{__name__}.{mod}")
    claim = getattr(module, "CLAIM", None)
    if not isinstance(claim, Claim):
        raise TypeError(f"claim module {__name__}.{mod} must define CLAIM = Claim(...)")
    if claim.id != mod:
        raise ValueError(f"claim module {mod!r} declares id {claim.id!r}: they must match")
    if claim.source != mod and (claim.source not in CLAIM_IDS or
                                get_claim(claim.source).design is None):
        raise ValueError(f"claim {mod!r} reads data of {claim.source!r}, which is not a "
                         "claim with a design of its own")
    return claim


def get_claim(claim_id: str) -> Claim:
    """The registered claim; unknown ids raise ``ValueError`` listing the known ones."""
    if claim_id not in _LOADED:
        if claim_id not in CLAIM_IDS:
            raise ValueError(f"unknown claim {claim_id!r}; registered: "
                             f"{', '.join(CLAIM_IDS)}")
        _LOADED[claim_id] = _load(claim_id)
    return _LOADED[claim_id]


def claim_folder(claim_id: str) -> Path:
    """The folder of the claim's module (its ``words.yaml`` is there)."""
    get_claim(claim_id)
    return Path(sys.modules[f"{__name__}.{claim_id}"].__file__).parent


@cache
def _every() -> dict[str, Any]:
    ordered = {c: get_claim(c) for c in CLAIM_IDS}
    _LOADED.clear()
    _LOADED.update(ordered)  # the same dict get_claim reads: an entry added to it is found
    registry = _LOADED
    return {"REGISTRY": registry, "FOLDERS": {c: claim_folder(c) for c in CLAIM_IDS},
            "SIMULATED": tuple(c for c, i in registry.items() if i.design is not None),
            "DATA_FROM": {c: i.source for c, i in registry.items()}}


def __getattr__(name: str) -> Any:
    """``REGISTRY``, ``FOLDERS``, ``SIMULATED``, ``DATA_FROM``: every claim, imported on the
    first read of any of them."""
    if name in ("REGISTRY", "FOLDERS", "SIMULATED", "DATA_FROM"):
        return _every()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "FOLDERS", "CLAIM_IDS", "SIMULATED", "DATA_FROM", "get_claim",
           "claim_folder", "Claim"]
