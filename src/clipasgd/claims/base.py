"""The claim pattern: config section -> experiment -> data -> verdict file.

Every claim module exposes ``CLAIM`` (a :class:`ClaimInfo`), ``simulate(cfg, out,
progress)`` (writes tidy CSV tables into ``out``) and ``verdict(cfg, data) ->
Verdict``. The pipeline adds provenance and writes ``data/<scale>/claims/<id>.json``.
A verdict is computed from data only; the margin, level and test come from the
config section, fixed before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..problems import make_problem
from ..provenance import config_hash, write_csv, write_json

__all__ = ["ClaimInfo", "Verdict", "Control", "VERDICTS", "combine", "control_outcome",
           "upper_bound_verdict", "read_tables", "Progress", "sigma_for_second_moment",
           "cached_point", "code_fingerprint", "smoothness"]

VERDICTS = ("supported", "refuted", "inconclusive")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ClaimInfo:
    id: str
    paper_ref: str
    statement: str
    test: str


@dataclass
class Control:
    """The negative control: a planted false variant the same test must refute."""

    description: str
    verdict: str
    statistic: float | None = None
    ci: tuple[float, float] | None = None

    @property
    def refuted(self) -> bool:
        return self.verdict == "refuted"


@dataclass
class Verdict:
    """One claim's outcome; ``details`` holds per-setting statistics."""

    verdict: str
    statistic: float | None
    ci: tuple[float, float] | None
    margin: float | None
    control: Control
    details: dict = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS or self.control.verdict not in VERDICTS:
            raise ValueError(f"verdicts must be one of {VERDICTS}")
        if self.verdict == "supported" and not self.control.refuted:
            # A check whose planted false variant also passes has no power.
            self.verdict = "inconclusive"
            self.note = (self.note + " " if self.note else "") + \
                "Downgraded from supported: the negative control was not refuted."

    def to_dict(self) -> dict:
        out = asdict(self)
        out["control"]["refuted"] = self.control.refuted
        return out


def combine(verdicts: list[str]) -> str:
    """A claim made of several settings: refuted if any is, supported if all are."""
    if any(v == "refuted" for v in verdicts):
        return "refuted"
    if verdicts and all(v == "supported" for v in verdicts):
        return "supported"
    return "inconclusive"


def upper_bound_verdict(ci: tuple[float, float] | None, bound: float, margin: float) -> str:
    """One-sided reading of an O-bound on an exponent: supported if the CI's upper end is
    at most ``bound + margin``, refuted if its lower end is above, else inconclusive."""
    if ci is None:
        return "inconclusive"
    lo, hi = ci
    if hi <= bound + margin:
        return "supported"
    return "refuted" if lo > bound + margin else "inconclusive"


def control_outcome(verdicts: list[str]) -> str:
    """A control run in several settings is refuted only if refuted in every one; if the
    false variant is supported anywhere, the check is broken there."""
    if verdicts and all(v == "refuted" for v in verdicts):
        return "refuted"
    return "supported" if any(v == "supported" for v in verdicts) else "inconclusive"


def read_tables(folder: str | Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Load ``<name>.csv`` tables written by a claim's ``simulate``; clear error if missing."""
    folder = Path(folder)
    out = {}
    for name in names:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"missing result table {path}: run the claim's simulation "
                                    "first (snakemake does this for you)")
        out[name] = pd.read_csv(path)
    return out


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the package's Python sources: any code change invalidates caches."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cached_point(out: Path, key: str, point: dict, run: Callable[[], dict[str, pd.DataFrame]]
                 ) -> dict[str, pd.DataFrame]:
    """Run one grid point, or reuse its tables from ``out/parts`` when an earlier
    (possibly interrupted) run finished it with the same settings and the same package
    source code: resumption without stale results."""
    parts = Path(out) / "parts"
    stamp = parts / f"{key}.done.json"
    digest = config_hash({"point": point, "code": code_fingerprint()})
    if stamp.is_file() and json.loads(stamp.read_text()).get("hash") == digest:
        names = json.loads(stamp.read_text())["tables"]
        return {n: pd.read_csv(parts / f"{key}.{n}.csv") for n in names}
    tables = run()
    for name, frame in tables.items():
        write_csv(parts / f"{key}.{name}.csv", frame)
    write_json(stamp, {"hash": digest, "tables": sorted(tables)})  # written last
    return tables


def smoothness(cfg: dict) -> float:
    """``L`` of the claim's configured problem."""
    return make_problem(**cfg["problem"]).L


def sigma_for_second_moment(theta: float, rms: float) -> float:
    """Sub-Weibull ``sigma`` giving ``E||xi||^2 = rms^2`` (``E rho^2 = Gamma(1 + 2 theta)``), so
    noise levels are comparable across ``theta``."""
    return rms / math.sqrt(math.gamma(1 + 2 * theta))
