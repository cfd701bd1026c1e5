"""The claim pattern: config section -> grid of points -> data tables -> verdict file.

A claim module defines ``CLAIM = ClaimInfo(...)``: what it claims, how it is tested, what
would have made it fail, its ``verdict(cfg, data) -> Verdict`` and either a
``simulate(cfg, out, progress)`` (which declares a grid and hands it to :func:`run_grid`)
or ``data_from``, the claim whose data it reads. The pipeline adds provenance and writes
``data/<scale>/claims/<id>.json``. A verdict is computed from data only; the margin,
level and test come from the config section, fixed before anything runs.
"""

from __future__ import annotations

import ast
import hashlib
import io
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine_compiled import ENGINES
from ..problems import make_problem
from ..provenance import atomic_write_text, config_hash, read_stamp, with_inputs, write_json
from ..tables import read_tables, write_tables

__all__ = ["ClaimInfo", "Verdict", "Control", "VERDICTS", "combine", "control_outcome",
           "upper_bound_verdict", "read_tables", "Progress", "sigma_for_second_moment",
           "cached_point", "code_fingerprint", "smoothness", "named_seed", "point_seed",
           "run_grid", "Tables", "Shard", "shard", "planning", "Planned", "DEFAULT_ENGINE",
           "engine"]

VERDICTS = ("supported", "refuted", "inconclusive")
DEFAULT_ENGINE = ENGINES[0]  # the compiled kernel, as in a spec without "engine"
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


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


def _code_text(path: Path) -> str:
    """A module's code without comments, docstrings or formatting (``ast.dump``): a change
    there changes no result, so it must not invalidate caches (it costs hours at paper
    scale). A file that does not parse is hashed as it is."""
    source = path.read_text()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    scopes = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    for node in ast.walk(tree):
        if isinstance(node, scopes) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


# Modules that only present results (figures, pages, the CLI): no simulation or verdict
# imports them (tests/test_pipeline_reliability.py checks), so they stay out of the
# fingerprint that keys the caches; the notebook rule tracks them on its own.
PRESENTATION = ("plots", "report.py", "landing.py", "cli.py", "bench.py")


def _is_presentation(rel: Path) -> bool:
    return rel.parts[0] in PRESENTATION


@lru_cache(maxsize=2)
def code_fingerprint(presentation: bool = False) -> str:
    """SHA-256 over the package's code (every module's AST less docstrings) that results
    depend on: any change of code invalidates the caches and reruns the claims; comments,
    docstrings and the presentation modules do not (``presentation=True``: those only)."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if _is_presentation(rel) == presentation:
            h.update(str(rel).encode())
            h.update(_code_text(path).encode())
    if not presentation:  # user claims (CLIPASGD_CLAIM_PATH) are results code too
        for path in _user_code():
            h.update(path.name.encode())
            h.update(_code_text(path).encode())
    return h.hexdigest()[:16]


def _user_code() -> list[Path]:
    """The modules of the claim folders listed in ``CLIPASGD_CLAIM_PATH``."""
    folders = [Path(p) for p in os.environ.get("CLIPASGD_CLAIM_PATH", "").split(os.pathsep) if p]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.glob("*.py"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_part(parts: Path, key: str, stamp: dict) -> Tables | None:
    """The point's tables if every file is there with the hash and row count in its stamp
    (``None`` otherwise: a damaged or edited part is recomputed, never trusted)."""
    tables = {}
    for name in stamp["tables"]:
        path = parts / f"{key}.{name}.csv"
        check = stamp.get("files", {}).get(name)
        if not path.is_file() or check is None:
            return None
        text = path.read_text()
        if _digest(text) != check["sha256"]:
            return None
        frame = pd.read_csv(io.StringIO(text))
        if len(frame) != check["rows"]:
            return None
        tables[name] = frame
    return tables


def cached_point(out: Path, key: str, point: dict, run: Callable[[], Tables],
                 progress: Progress | None = None) -> Tables:
    """Run one grid point, or reuse its tables from ``out/parts`` when an earlier
    (possibly interrupted) run finished it with the same settings and the same package
    code: resumption without stale results. The stamp (written last) records each
    table's SHA-256 and row count; a part that fails that check is recomputed, with a
    message."""
    parts = Path(out) / "parts"
    stamp_path = parts / f"{key}.done.json"
    digest = config_hash(with_inputs({"point": point, "code": code_fingerprint()}))
    if stamp_path.is_file():
        stamp, why = read_stamp(stamp_path)
        if stamp is None:
            (progress or _stderr)(f"grid point {key}: stamp {stamp_path} is {why}: recomputing")
        elif stamp.get("hash") == digest:
            tables = _read_part(parts, key, stamp)
            if tables is not None:
                return tables
            (progress or _stderr)(f"grid point {key}: part files in {parts} do not match "
                                  "their stamp (damaged or edited): recomputing")
    start, cpu = time.perf_counter(), time.process_time()
    tables = run()
    files = {}
    for name, frame in tables.items():
        text = frame.to_csv(index=False)
        atomic_write_text(parts / f"{key}.{name}.csv", text)
        files[name] = {"sha256": _digest(text), "rows": len(frame)}
    write_json(stamp_path, {"hash": digest, "tables": sorted(tables), "files": files,
                            "seconds": round(time.perf_counter() - start, 3),
                            "cpu_seconds": round(time.process_time() - cpu, 3)})
    return tables


def engine(cfg: dict) -> str:
    """The simulation engine a claim's section asks for (the pipeline config's ``engine``,
    which :func:`clipasgd.pipeline.claim_config` copies into every section)."""
    return cfg.get("engine", DEFAULT_ENGINE)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def named_seed(seed: int, *keys: object) -> np.random.SeedSequence:
    """A seed keyed by names and values, not by grid position: a point draws the same
    numbers whatever else is in the grid, at every scale."""
    words = [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.SeedSequence([int(seed), *words])


def point_seed(seed: int, key: str) -> int:
    """The integer seed :func:`run_grid` gives the grid point named ``key``."""
    return int(named_seed(seed, key).generate_state(1)[0])


@dataclass(frozen=True)
class Shard:
    """Run only grid point ``i`` with ``i % count == index`` (``index`` in 0..count-1)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count")


class ShardDone(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by :func:`run_grid` inside :func:`shard` once the shard's points are cached:
    a claim whose later grid depends on an earlier one's tables (tuning, then fresh seeds)
    must not go on with a shard's partial tables. Later stages run in the gather job."""


class Planned(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by :func:`run_grid` in planning mode, carrying the grid it was given."""

    def __init__(self, points: list[dict]) -> None:
        super().__init__(f"{len(points)} grid points")
        self.points = points


_MODE: dict[str, Shard | bool | None] = {"shard": None, "plan": False}


@contextmanager
def shard(part: Shard | None) -> Iterator[None]:
    """Within this block :func:`run_grid` runs only ``part``'s points (one Snakemake job
    each) and writes their parts but no merged tables; the gathering job, run afterwards
    without a shard, finds every point cached and only concatenates."""
    old = _MODE["shard"]
    _MODE["shard"] = part
    try:
        yield
    finally:
        _MODE["shard"] = old


@contextmanager
def planning() -> Iterator[None]:
    """Within this block :func:`run_grid` raises :class:`Planned` with its points instead
    of running anything (estimates and config checks)."""
    _MODE["plan"] = True
    try:
        yield
    finally:
        _MODE["plan"] = False


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
    Inside :func:`shard` only that shard's points run (points are dealt round-robin in
    grid order, which spreads each sweep's costly end over the shards; which shard runs
    a point never changes its result or cache) and nothing is merged or written: the
    shard stops there (:class:`ShardDone`), so only a claim's first grid is sharded and any
    grid built from its tables runs, complete, in the gather job.
    """
    pts = list(points)
    keys = [p["key"] for p in pts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"grid point keys must be unique, got {keys}")
    if _MODE["plan"]:
        raise Planned(pts)
    part = _MODE["shard"]
    mine = [(i, p) for i, p in enumerate(pts)
            if not isinstance(part, Shard) or i % part.count == part.index]
    tables: dict[str, list[pd.DataFrame]] = {}
    for i, point in mine:
        s = point_seed(seed, point["key"])
        done = cached_point(out, point["key"], {**point, "seed": s, "settings": settings or {}},
                            lambda point=point, s=s: run_point(point, s), progress)
        for name, frame in done.items():
            tables.setdefault(name, []).append(frame)
        if progress is not None:
            progress(f"grid point {i + 1}/{len(pts)} ({point['key']}) done")
    if isinstance(part, Shard):
        raise ShardDone(f"{len(mine)} of {len(pts)} grid points")
    merged = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
    write_tables(out, merged)  # with a manifest: a verdict reads them verified
    return merged


def smoothness(cfg: dict) -> float:
    """``L`` of the claim's configured problem."""
    return make_problem(**cfg["problem"]).L


def sigma_for_second_moment(theta: float, rms: float) -> float:
    """Sub-Weibull ``sigma`` giving ``E||xi||^2 = rms^2`` (``E rho^2 = Gamma(1 + 2 theta)``), so
    noise levels are comparable across ``theta``."""
    return rms / math.sqrt(math.gamma(1 + 2 * theta))
