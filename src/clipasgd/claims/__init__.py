"""Claim modules, discovered: every module here (except ``base`` and ``_``-prefixed helpers)
is a claim and exposes ``CLAIM`` (a :class:`~clipasgd.claims.base.Claim`). Nothing else
registers a claim: the pipeline, the Snakemake rules and the config checks all read
:data:`REGISTRY`. A claim's words (statement, test, falsifier, what ran) come from the
``words.yaml`` in its folder, or from ``Claim.words`` (:mod:`clipasgd.claims.words`).

Adding a claim = one module here, one config section (+ its schema entry), its words, one
notebook. Extra claim folders (a user's own claims, or a test's) can be listed in the
environment variable ``CLIPASGD_CLAIM_PATH`` (``os.pathsep``-separated); their modules join
this package.
"""

from __future__ import annotations

import os
import pkgutil
from importlib import import_module
from pathlib import Path

from .base import Claim

__path__ += [p for p in os.environ.get("CLIPASGD_CLAIM_PATH", "").split(os.pathsep) if p]

_NOT_CLAIMS = {"base", "words"}


def _discover() -> tuple[dict[str, Claim], dict[str, Path]]:
    found: dict[str, Claim] = {}
    folders: dict[str, Path] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        mod = info.name
        if mod in _NOT_CLAIMS or mod.startswith("_"):
            continue
        module = import_module(f"{__name__}.{mod}")
        claim = getattr(module, "CLAIM", None)
        if not isinstance(claim, Claim):
            raise TypeError(f"claim module {__name__}.{mod} must define CLAIM = Claim(...)")
        if claim.id != mod:
            raise ValueError(f"claim module {mod!r} declares id {claim.id!r}: they must match")
        found[mod] = claim
        folders[mod] = Path(module.__file__).parent
    for cid, claim in found.items():
        if claim.source not in found or found[claim.source].design is None:
            raise ValueError(f"claim {cid!r} reads data of {claim.source!r}, which is not a "
                             "claim with a design of its own")
    return found, folders


REGISTRY, FOLDERS = _discover()
CLAIM_IDS: tuple[str, ...] = tuple(REGISTRY)
SIMULATED: tuple[str, ...] = tuple(c for c, i in REGISTRY.items() if i.design is not None)
DATA_FROM: dict[str, str] = {c: i.source for c, i in REGISTRY.items()}


def get_claim(claim_id: str) -> Claim:
    """The registered claim; unknown ids raise ``ValueError`` listing the known ones."""
    if claim_id not in REGISTRY:
        raise ValueError(f"unknown claim {claim_id!r}; registered: {', '.join(CLAIM_IDS)}")
    return REGISTRY[claim_id]


__all__ = ["REGISTRY", "FOLDERS", "CLAIM_IDS", "SIMULATED", "DATA_FROM", "get_claim", "Claim"]
