"""Shared test fixtures: the repository root and the shipped config, validated once.

``ROOT`` is also importable (``from conftest import ROOT``) for module-level use such as
parametrize lists; in a test, prefer the fixtures. Tests marked ``slow`` (the pipeline runs
in a temporary copy and the statistical calibration loops) are what ``pytest -m "not slow"``
leaves out; ``make test`` (and so CI) runs everything.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from clipasgd.pipeline import claim_config, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "config.yaml"
SCHEMA = ROOT / "config" / "config.schema.json"


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root (a pipeline test copies ``config/``, ``src/`` from here)."""
    return ROOT


@pytest.fixture(scope="session")
def shipped_config() -> dict:
    """``config/config.yaml`` validated against its schema (read once per session; do not
    mutate: take a claim's section from ``claim_cfg``, which copies)."""
    return load_config(CONFIG, SCHEMA)


@pytest.fixture
def claim_cfg(shipped_config: dict) -> Callable[..., dict]:
    """``claim_cfg(claim, scale="quick")``: a fresh copy of the claim's merged section."""

    def get(claim: str, scale: str = "quick") -> dict:
        return copy.deepcopy(claim_config(shipped_config, claim, scale))

    return get
