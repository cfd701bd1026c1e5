"""Claim modules, discovered: every module here (except ``base``) is a claim and exposes
``CLAIM`` (a :class:`~clipasgd.claims.base.ClaimInfo` naming its ``verdict``, optional
``simulate`` and ``data_from``). Nothing else registers a claim: the pipeline, the Snakemake
rules and the config checks all read :data:`REGISTRY`.

Adding a claim = one module here, one config section (+ its schema entry), one notebook.
Extra claim folders (a user's own claims, or a test's) can be listed in the environment
variable ``CLIPASGD_CLAIM_PATH`` (``os.pathsep``-separated); their modules join this package.
"""

from __future__ import annotations

import os
import pkgutil
from importlib import import_module

from .base import ClaimInfo

__path__ += [p for p in os.environ.get("CLIPASGD_CLAIM_PATH", "").split(os.pathsep) if p]

_NOT_CLAIMS = {"base"}


def _discover() -> dict[str, ClaimInfo]:
    found: dict[str, ClaimInfo] = {}
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod in _NOT_CLAIMS or mod.startswith("_"):
            continue
        info = getattr(import_module(f"{__name__}.{mod}"), "CLAIM", None)
        if not isinstance(info, ClaimInfo):
            raise TypeError(f"claim module {__name__}.{mod} must define CLAIM = ClaimInfo(...)")
        if info.id != mod:
            raise ValueError(f"claim module {mod!r} declares id {info.id!r}: they must match")
        found[mod] = info
    for cid, info in found.items():
        if info.source not in found or found[info.source].simulate is None:
            raise ValueError(f"claim {cid!r} reads data of {info.source!r}, which is not a "
                             "claim with its own simulation")
    return found


REGISTRY: dict[str, ClaimInfo] = _discover()
CLAIM_IDS: tuple[str, ...] = tuple(REGISTRY)
SIMULATED: tuple[str, ...] = tuple(c for c, i in REGISTRY.items() if i.simulate is not None)
DATA_FROM: dict[str, str] = {c: i.source for c, i in REGISTRY.items()}


def get_claim(claim_id: str) -> ClaimInfo:
    """The registered claim; unknown ids raise ``ValueError`` listing the known ones."""
    if claim_id not in REGISTRY:
        raise ValueError(f"unknown claim {claim_id!r}; registered: {', '.join(CLAIM_IDS)}")
    return REGISTRY[claim_id]


__all__ = ["REGISTRY", "CLAIM_IDS", "SIMULATED", "DATA_FROM", "get_claim", "ClaimInfo"]
