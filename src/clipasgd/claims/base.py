"""The claim pattern: a declared design -> tables -> a reading -> a verdict file.

A claim module defines ``CLAIM = Claim(...)``: its design (stages of grid points, run by
:mod:`clipasgd.runner`), its arms (algorithms from the one registry, replaceable by the
runner), the mechanisms its statement credits and its ``reading(cfg, data) -> Verdict``,
or ``data_from``, the claim whose data it reads. Its words live in ``words.yaml``. The
pipeline adds provenance and writes ``data/<scale>/claims/<id>.json``. A verdict is
computed from data only; the margin, level and test come from the config section, fixed
before anything runs.
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import warmup
from ..algorithms import Algorithm, make_algorithm
from ..engine import DEFAULT_ENGINE
from ..problems import make_problem
from ..provenance import (
    atomic_write_text,
    config_hash,
    read_stamp,
    to_jsonable,
    with_inputs,
    write_json,
)
from ..readings import READINGS, combine, control_outcome, upper_bound_verdict
from ..tables import read_tables

__all__ = ["Claim", "Arm", "Run", "Stage", "Design", "Ablation", "MECHANISMS",
           "WITHOUT_CLIPPING", "unclip_claim_arms", "Verdict", "Control",
           "VERDICTS", "combine", "control_outcome", "upper_bound_verdict", "read_tables",
           "Progress", "sigma_for_second_moment", "cached_point", "code_fingerprint",
           "smoothness", "named_seed", "point_seed", "Tables", "DEFAULT_ENGINE", "engine"]

VERDICTS = READINGS  # the rules that produce them: clipasgd.readings (re-exported here)
Progress = Callable[[str], None]
Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Arm:
    """A named algorithm of a claim's design: ``label`` names it in the tables and the
    reading, ``algorithm`` is a name in the one registry (:mod:`clipasgd.algorithms`) and
    ``params(at)`` gives its parameters at a grid point (``at``: the values the claim
    computes there, such as ``eta``, ``c`` or the schedule's ``tau_max``). ``role`` says
    what the reading does with it: ``claim`` (the algorithm the statement is about),
    ``control`` (a negative or mechanism control) or ``reference`` (reported only)."""

    label: str
    algorithm: str
    params: Callable[[Mapping[str, Any]], dict]
    role: str = "claim"

    def spec(self, at: Mapping[str, Any]) -> dict:
        """The spec entry (``{"name", "label", **params}``) at the point ``at``."""
        return {"name": self.algorithm, "label": self.label, **self.params(at)}


@dataclass(frozen=True)
class Run:
    """What a stage of a design sees: the claim's merged config section, its arms (the
    declared ones, or replacements the runner was given) and a progress callback. A stage
    reads its arms through :meth:`spec`, :meth:`algorithms` or :meth:`build`."""

    cfg: dict
    arms: tuple[Arm, ...]
    progress: Progress
    seen: list | None = field(default=None, compare=False)  # (label, at) of every spec made

    def arm(self, label: str) -> Arm:
        for a in self.arms:
            if a.label == label:
                return a
        raise KeyError(f"no arm labelled {label!r}; arms: {[a.label for a in self.arms]}")

    def spec(self, label: str, at: Mapping[str, Any]) -> dict:
        """The arm ``label``'s spec entry at ``at`` (recorded in ``seen`` when the runner
        asks: a point whose arms' specs are all unchanged is the same point)."""
        if self.seen is not None:
            self.seen.append((label, dict(at)))
        return self.arm(label).spec(at)

    def algorithms(self, at: Mapping[str, Any], labels: Iterable[str] | None = None
                   ) -> list[dict]:
        """Spec entries of the arms (all, or those in ``labels``, in that order) at ``at``."""
        chosen = [a.label for a in self.arms] if labels is None else list(labels)
        return [self.spec(x, at) for x in chosen]

    def build(self, label: str, at: Mapping[str, Any], n_workers: int = 1) -> Algorithm:
        """The arm ``label``'s algorithm at ``at``, built from the registry."""
        spec = self.spec(label, at)
        return make_algorithm(spec.pop("name"), n_workers,
                              **{k: v for k, v in spec.items() if k != "label"})


def _section(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "scales"}


@dataclass(frozen=True)
class Stage:
    """One grid of a design. ``points(run, tables)`` declares the grid (unique ``key``
    per point) from the config and the tables of earlier stages; ``run(run, point,
    seed)`` computes one point's named tables. A stage whose points need earlier tables
    runs after them, complete, in the gather job; the first stage with points is the one
    shard jobs split."""

    name: str
    points: Callable[[Run, Tables], list[dict]]
    run: Callable[[Run, dict, int], Tables]


@dataclass(frozen=True)
class Design:
    """How a claim's data are made: its stages, run in order by :mod:`clipasgd.runner`.

    ``check(cfg)`` validates what the schema cannot, before any work; ``settings(cfg)``
    is what every point shares (hashed into each point's cache key; default: the section
    less ``scales``); ``finish(run, tables)`` derives further tables from all stages'
    (written beside them); ``tables`` lists every table the design may write (one not
    written by this run is removed, so no stale table survives a grid change);
    ``point_reads(cfg)`` is all of the section a point's run reads, where that is less
    than the whole (an ablation that drops arms or controls then reuses the points it
    leaves unchanged; ``None``: the whole section). ``run_identity(run, point)`` gives the
    arm label a point runs and what its run computes less that label (the point less its
    key and its arm's columns, the arm's spec less its label), for designs whose points
    run one arm each and read their arm's setting only through the rule it builds and the
    columns it writes: two points with equal identity, of the claim or an ablation, are one
    run under two labels (Clipped ASGD with ``c -> infinity`` is the Vanilla ASGD point of
    the same step and seeds), simulated once and the copy's columns relabelled."""

    stages: tuple[Stage, ...]
    settings: Callable[[dict], dict] = _section
    check: Callable[[dict], None] | None = None
    finish: Callable[[Run, Tables], Tables] | None = None
    tables: tuple[str, ...] = ()
    point_reads: Callable[[dict], dict] | None = None
    run_identity: Callable[[Run, dict], tuple[str, dict]] | None = None


MECHANISMS = ("clipping", "algorithm2", "step_rule", "stragglers")


@dataclass(frozen=True)
class Ablation:
    """The claim's design with one credited mechanism removed: ``arms(arms)`` gives the
    replacement arms (same labels, so the same reading applies) and ``config(cfg)`` the
    changed section (``None``: unchanged). Same seeds, same test (:mod:`clipasgd.runner`)."""

    mechanism: str
    arms: Callable[[tuple[Arm, ...]], tuple[Arm, ...]] | None = None
    config: Callable[[dict], dict] | None = None
    how: str = ""


def _unclipped(arm: Arm) -> Arm:
    def params(at: Mapping[str, Any], arm: Arm = arm) -> dict:
        return {k: v for k, v in arm.params(at).items() if k != "c"}

    return Arm(arm.label, "asgd", params, arm.role)


def unclip_claim_arms(arms: tuple[Arm, ...]) -> tuple[Arm, ...]:
    """``c -> infinity`` for the arms the statement is about (role ``claim``): Clipped ASGD
    becomes vanilla ASGD at the same step; controls and references are unchanged."""
    return tuple(_unclipped(a) if a.role == "claim" and a.algorithm == "clipped_asgd" else a
                 for a in arms)


WITHOUT_CLIPPING = Ablation("clipping", arms=unclip_claim_arms,
                            how="c -> infinity: the claim's Clipped ASGD arm run as vanilla "
                                "ASGD at the same step, same seeds and test")


@dataclass(frozen=True)
class Claim:
    """One claim, declared: the single place it is registered (see :mod:`clipasgd.claims`).

    ``design`` makes its data (``None`` for a claim that reads another claim's data,
    ``data_from``); ``arms`` are the algorithms the design runs, which the runner can
    replace without editing the claim; ``credits`` names the mechanisms its statement
    credits (:data:`MECHANISMS`); ``reading(cfg, data)`` turns the tables into a
    :class:`Verdict`. Its words (statement, test, falsifier, design) live in
    ``words.yaml`` beside the module (:mod:`clipasgd.claims.words`), or in ``words``.
    """

    id: str
    paper_ref: str
    reading: Callable[[dict, Path], Verdict]
    design: Design | None = None
    data_from: str | None = None
    arms: tuple[Arm, ...] = ()
    credits: tuple[str, ...] = ()
    ablations: tuple[Ablation, ...] = ()
    words: Mapping[str, str] | None = None
    kind: str = "claim"  # or "check": a simulator check, listed apart from the paper's claims
    figures: tuple[str, ...] = ()  # its figures (clipasgd.plots names), main first; () = (id,)
    # credited mechanisms with no ablation run, each with why (e.g. the claim's own
    # comparison already is the design without it)
    unablated: Mapping[str, str] | None = None
    # the rows of its data whose clip_fraction is its own arm's (column -> value), where the
    # data holds other claims' or controls' runs of the same arm (None: every row)
    clip_rows: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.design is None) == (self.data_from is None):
            raise ValueError(f"claim {self.id!r}: give exactly one of design and data_from")
        labels = [a.label for a in self.arms]
        if len(set(labels)) != len(labels):
            raise ValueError(f"claim {self.id!r}: arm labels must be unique, got {labels}")
        unknown = [m for m in (*self.credits, *(a.mechanism for a in self.ablations))
                   if m not in MECHANISMS]
        if unknown:
            raise ValueError(f"claim {self.id!r}: unknown credited mechanism(s) {unknown}; "
                             f"choose from {MECHANISMS}")
        stray = set(self.unablated or {}) - (set(self.credits)
                                             - {a.mechanism for a in self.ablations})
        if stray:
            raise ValueError(f"claim {self.id!r}: unablated names {sorted(stray)}, which it "
                             "does not credit or does ablate")

    @property
    def source(self) -> str:
        """The claim whose simulation (and config section) holds this claim's data."""
        return self.data_from or self.id

    @property
    def figure_names(self) -> list[str]:
        """Its figures (:mod:`clipasgd.plots` names), main first."""
        return list(self.figures or (self.id,))

    def ablation(self, mechanism: str) -> Ablation | None:
        """This claim's design with ``mechanism`` removed, if it declares one."""
        return next((a for a in self.ablations if a.mechanism == mechanism), None)


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
        """Fields as a dict; result objects in ``details`` are written by their own
        ``to_dict`` (an interval under the names it always had), not by ``asdict``."""
        out = asdict(replace(self, details={}))
        out["control"]["refuted"] = self.control.refuted
        out["details"] = to_jsonable(self.details)
        return out




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


# Modules that compute no result (figures, pages, the CLI, benchmarks, the publication): no
# simulation or verdict imports them (tests/test_pipeline_reliability.py checks), so they
# stay out of the fingerprint that keys the caches and changing them reruns no simulation;
# the notebook rule tracks them on its own.
PRESENTATION = ("plots", "report.py", "landing.py", "cli.py", "bench.py", "assess.py",
                "publish.py")


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
                 progress: Progress | None = None,
                 note: Callable[[], dict] | None = None) -> Tables:
    """Run one grid point, or reuse its tables from ``out/parts`` when an earlier
    (possibly interrupted) run finished it with the same settings and the same package
    code: resumption without stale results. The stamp (written last) records each
    table's SHA-256 and row count, and ``note()`` (called after the run) if given; a part
    that fails that check is recomputed, with a message. ``cpu_seconds`` includes the
    process's warm-up paid inside this point, also recorded alone
    (``warmup_cpu_seconds``, :mod:`clipasgd.warmup`), and the numba compiling within that
    warm-up (``compile_cpu_seconds``)."""
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
    warm, comp = warmup.spent(), warmup.compiled()
    tables = run()
    files = {}
    for name, frame in tables.items():
        text = frame.to_csv(index=False)
        atomic_write_text(parts / f"{key}.{name}.csv", text)
        files[name] = {"sha256": _digest(text), "rows": len(frame)}
    write_json(stamp_path, {"hash": digest, "tables": sorted(tables), "files": files,
                            "seconds": round(time.perf_counter() - start, 3),
                            "cpu_seconds": round(time.process_time() - cpu, 3),
                            "warmup_cpu_seconds": round(warmup.spent() - warm, 3),
                            "compile_cpu_seconds": round(warmup.compiled() - comp, 3),
                            **(note() if note is not None else {})})
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
    """The integer seed the runner gives the grid point named ``key``."""
    return int(named_seed(seed, key).generate_state(1)[0])


def smoothness(cfg: dict) -> float:
    """``L`` of the claim's configured problem."""
    return make_problem(**cfg["problem"]).L


def sigma_for_second_moment(theta: float, rms: float) -> float:
    """Sub-Weibull ``sigma`` giving ``E||xi||^2 = rms^2`` (``E rho^2 = Gamma(1 + 2 theta)``), so
    noise levels are comparable across ``theta``."""
    return rms / math.sqrt(math.gamma(1 + 2 * theta))
