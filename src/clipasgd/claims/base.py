"""The claim pattern: config section -> grid of points -> data tables -> verdict file.

A claim module defines ``CLAIM = ClaimInfo(...)``: what it claims, how it is tested, what
would have made it fail, its ``verdict(cfg, data) -> Verdict`` and either a
``simulate(cfg, out, progress)`` (which declares a grid and hands it to :func:`run_grid`)
or ``data_from``, the claim whose data it reads. The pipeline adds provenance and writes
``data/<scale>/claims/<id>.json``. A verdict is computed from data only; the margin,
level and test come from the config section, fixed before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..problems import make_problem
from ..provenance import config_hash, write_csv, write_json

__all__ = ["ClaimInfo", "Verdict", "Control", "VERDICTS", "combine", "control_outcome",
           "upper_bound_verdict", "read_tables", "Progress", "sigma_for_second_moment",
           "cached_point", "code_fingerprint", "smoothness", "named_seed", "point_seed",
           "run_grid", "Tables"]

VERDICTS = ("supported", "refuted", "inconclusive")
Progress = Callable[[str], None]
Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class ClaimInfo:
    """One claim: the single place it is registered (see :mod:`clipasgd.claims`).

    ``falsifier`` says, for readers, what outcome would have made the claim fail.
    ``simulate`` is ``None`` for a claim that reads another claim's data (``data_from``).
    """

    id: str
    paper_ref: str
    statement: str
    test: str
    falsifier: str
    verdict: Callable[[dict, Path], Verdict]
    simulate: Callable[[dict, Path, Progress], None] | None = None
    data_from: str | None = None

    def __post_init__(self) -> None:
        if (self.simulate is None) == (self.data_from is None):
            raise ValueError(f"claim {self.id!r}: give exactly one of simulate and data_from")

    @property
    def source(self) -> str:
        """The claim whose simulation (and config section) holds this claim's data."""
        return self.data_from or self.id


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


def cached_point(out: Path, key: str, point: dict, run: Callable[[], Tables]) -> Tables:
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


def named_seed(seed: int, *keys: object) -> np.random.SeedSequence:
    """A seed keyed by names and values, not by grid position: a point draws the same
    numbers whatever else is in the grid, at every scale."""
    words = [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.SeedSequence([int(seed), *words])


def point_seed(seed: int, key: str) -> int:
    """The integer seed :func:`run_grid` gives the grid point named ``key``."""
    return int(named_seed(seed, key).generate_state(1)[0])


def run_grid(out: Path, points: Iterable[dict], run_point: Callable[[dict, int], Tables],
             seed: int, settings: dict | None = None, progress: Progress | None = None
             ) -> Tables:
    """Run a claim's grid, benchopt-style: each point is a dict with a unique ``key`` and
    the values that vary over the grid; ``settings`` holds what every point shares (the
    config section less the grid lists). ``run_point(point, point_seed)`` returns named
    tables; they are cached per point, keyed on point, settings, seed and code
    (:func:`cached_point`: resumable, never stale), concatenated across points, written
    to ``out/<name>.csv`` and returned.

    Every point's seed is :func:`named_seed` of the claim's ``seed`` and the point's key.
    """
    pts = list(points)
    keys = [p["key"] for p in pts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"grid point keys must be unique, got {keys}")
    tables: dict[str, list[pd.DataFrame]] = {}
    for i, point in enumerate(pts):
        s = point_seed(seed, point["key"])
        done = cached_point(out, point["key"], {**point, "seed": s, "settings": settings or {}},
                            lambda point=point, s=s: run_point(point, s))
        for name, frame in done.items():
            tables.setdefault(name, []).append(frame)
        if progress is not None:
            progress(f"grid point {i + 1}/{len(pts)} ({point['key']}) done")
    merged = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
    for name, frame in merged.items():
        write_csv(Path(out) / f"{name}.csv", frame)
    return merged


def smoothness(cfg: dict) -> float:
    """``L`` of the claim's configured problem."""
    return make_problem(**cfg["problem"]).L


def sigma_for_second_moment(theta: float, rms: float) -> float:
    """Sub-Weibull ``sigma`` giving ``E||xi||^2 = rms^2`` (``E rho^2 = Gamma(1 + 2 theta)``), so
    noise levels are comparable across ``theta``."""
    return rms / math.sqrt(math.gamma(1 + 2 * theta))
