"""The runner: plans a claim's declared design, runs its stages point by point (seeded by
name, cached per point, resumable), shards the first grid across jobs (and each later
stage, once the stages before it are complete) and writes the tables. It holds no
global state and signals nothing by exception: a plan is a list of points, a shard's run
returns what it did.

A claim is run with its declared arms, or with arms the caller gives (``arms=``): the
same design, seeds and reading with other algorithms (an ablation, a user's rule). Such a
run is named by ``variant``, which keys its caches apart from the claim's own.

:func:`run_variants` runs a shard of the claim and of its ablations together, point by
point: a run an ablation shares with the claim (an unchanged arm, or the ablated arm
where it becomes another arm: Clipped ASGD with ``c -> infinity`` is the vanilla arm at
the same step and seeds) is simulated once and reused: inside a point by
:func:`clipasgd.experiment.shared_runs` (designs whose points run every arm), as a whole
point of the same key with unchanged arms, or as the point of the same run identity under
another label (``Design.run_identity``: designs whose points run one arm each, the figure
claims and ``delay_sweep``); each point's stamp records what was reused from which arm.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .claims.base import Arm, Claim, Progress, Run, Stage, Tables, cached_point, point_seed
from .experiment import RunMemo, shared_runs
from .tables import remove_tables, write_tables

__all__ = ["Shard", "later_stages", "check_stage", "plan", "run_claim", "run_points", "ShardResult",
           "replace_arms", "ablated", "Variant", "run_variants"]


@dataclass(frozen=True)
class Shard:
    """Run only the points ``i`` with ``i % count == index`` of the first grid, or of the
    later stage named ``stage`` (its points depend on the earlier stages' tables: every
    earlier point must be done; they are read from their cached parts)."""

    index: int
    count: int
    stage: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    def owns(self, i: int) -> bool:
        return i % self.count == self.index


@dataclass(frozen=True)
class ShardResult:
    """What a shard job did: the stage it split and how many of its points it ran."""

    stage: str | None
    points: int
    of: int


def replace_arms(arms: Sequence[Arm], *new: Arm) -> tuple[Arm, ...]:
    """``arms`` with each of ``new`` in place of the arm with its label: the same design
    and reading, run on another algorithm (an ablation, a user's rule)."""
    labels = [a.label for a in arms]
    unknown = [a.label for a in new if a.label not in labels]
    if unknown:
        raise ValueError(f"no arm labelled {unknown}; the claim's arms: {labels}")
    by_label = {a.label: a for a in new}
    return tuple(by_label.get(a.label, a) for a in arms)


def ablated(claim: Claim, cfg: dict, mechanism: str) -> tuple[dict, tuple[Arm, ...]]:
    """The section and arms of ``claim``'s design with ``mechanism`` removed (its declared
    :class:`~clipasgd.claims.base.Ablation`); run them with ``variant=f"without-{mechanism}"``."""
    ab = claim.ablation(mechanism)
    if ab is None:
        declared = [a.mechanism for a in claim.ablations]
        raise ValueError(f"claim {claim.id!r} declares no ablation of {mechanism!r}; "
                         f"declared: {declared or 'none'}")
    arms = ab.arms(claim.arms) if ab.arms is not None else claim.arms
    return (ab.config(cfg) if ab.config is not None else cfg), tuple(arms)


def _quiet(_: str) -> None:
    pass


def _run(claim: Claim, cfg: dict, arms: Sequence[Arm] | None, progress: Progress | None
         ) -> Run:
    if claim.design is None:
        raise ValueError(f"claim {claim.id!r} has no design of its own: it reads the data "
                         f"of {claim.source!r}")
    return Run(cfg, tuple(claim.arms if arms is None else arms), progress or _quiet)


def _unique(points: list[dict], stage: Stage) -> list[dict]:
    keys = [p["key"] for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError(f"stage {stage.name!r}: grid point keys must be unique, got {keys}")
    return points


def plan(claim: Claim, cfg: dict, arms: Sequence[Arm] | None = None) -> list[dict]:
    """The grid the shard jobs split: the first stage with points, declared without
    running anything (later stages depend on its tables). ``check`` runs first."""
    run = _run(claim, cfg, arms, None)
    if claim.design.check is not None:
        claim.design.check(cfg)
    for stage in claim.design.stages:
        points = _unique(stage.points(run, {}), stage)
        if points:
            return points
    return []


def _settings(claim: Claim, cfg: dict, variant: str | None) -> dict:
    settings = claim.design.settings(cfg)
    return settings if variant is None else {**settings, "variant": variant}


@dataclass
class _Made:
    """A point one variant made in this process: what another variant's same point
    needs to be the same point (settings less the variant name, the arms' specs), and
    for a run met under another label (:class:`Design` ``run_identity``) its label, key
    and point."""

    owner: str
    run: Run
    settings: dict
    tables: Tables
    label: str = ""
    point: dict = field(default_factory=dict)


@dataclass
class _Seen:
    """The points of one shard job: computed here, by key (:func:`_same_point`), and every
    one computed or read from its part, by run identity (:func:`_same_run`)."""

    by_key: dict[str, _Made] = field(default_factory=dict)
    by_run: dict[str, _Made] = field(default_factory=dict)


def _less_variant(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "variant"}


def _same_point(made: _Made | None, run: Run, settings: dict,
                reads: Callable[[dict], dict] | None = None) -> bool:
    """Is ``made`` (same key) what ``run`` would compute? The same config (or the part of
    it a point reads, ``reads``: the design's ``point_reads``) and settings, and every arm
    spec it asked for the same in both (an ablation's unchanged arms)."""
    if made is None or made.run.seen is None or not _same_run(made, run, settings, reads):
        return False
    try:
        return all(made.run.arm(label).spec(at) == run.arm(label).spec(at)
                   for label, at in made.run.seen)
    except KeyError:
        return False


def _same_run(made: _Made | None, run: Run, settings: dict,
              reads: Callable[[dict], dict] | None = None) -> bool:
    """May ``run`` take ``made``'s tables, the same run (same key with the same arm specs,
    or the same run identity)? The same settings less the variant name and the same
    config, or the part of it a point reads (``reads``)."""
    part = reads or (lambda cfg: cfg)
    return (made is not None and part(made.run.cfg) == part(run.cfg)
            and _less_variant(made.settings) == _less_variant(settings))


def _relabel(made: _Made, point: dict) -> Tables:
    """``made``'s tables as ``point``'s: each column named by a field of the point that
    differs from ``made``'s point (the arm's label and settings) set to the point's value."""
    diff = {k: v for k, v in point.items() if k != "key" and made.point.get(k) != v}
    return {name: frame.assign(**{k: v for k, v in diff.items() if k in frame.columns})
            for name, frame in made.tables.items()}


def _point(out: Path, stage: Stage, run: Run, points: list[dict], i: int, settings: dict,
           memo: RunMemo, made: _Seen | None = None,
           reads: Callable[[dict], dict] | None = None,
           identity: tuple[str, str] | None = None, quiet: bool = False) -> Tables:
    """Point ``i`` of the stage, run (runs already in ``memo`` reused; the whole point
    reused where ``made`` holds the same point, :func:`_same_point`, or the same run under
    another label, ``identity`` = (label, hash), :func:`_same_run`) or read from its
    cached part; a run's stamp lists what it reused (``reused``)."""
    point = points[i]
    s = point_seed(run.cfg["seed"], point["key"])
    prun = replace(run, seen=[])
    seen = made or _Seen()
    before = seen.by_key.get(point["key"])
    other = seen.by_run.get(identity[1]) if identity else None
    memo.take()

    def compute() -> Tables:
        if _same_point(before, prun, settings, reads):
            labels = dict.fromkeys(label for label, _ in before.run.seen)
            memo.reused += [{"label": x, "owner": memo.owner, "from_label": x,
                             "from_owner": before.owner} for x in labels]
            run.progress(f"{stage.name}: grid point {point['key']}: the same point as "
                         f"{before.owner}'s (arms unchanged): reused")
            return {name: frame.copy() for name, frame in before.tables.items()}
        if identity is not None and _same_run(other, prun, settings, reads):
            memo.reused.append({"label": identity[0], "owner": memo.owner,
                                "from_label": other.label, "from_owner": other.owner})
            run.progress(f"{stage.name}: grid point {point['key']}: the run of "
                         f"{other.owner}'s {other.point['key']} (same arm spec, step and "
                         "seed): reused, relabelled")
            return _relabel(other, point)
        return stage.run(prun, point, s)

    done = cached_point(out, point["key"], {**point, "seed": s, "settings": settings},
                        compute, run.progress, note=lambda: {"reused": memo.take()})
    if made is not None and prun.seen:  # computed here, not read from its part
        made.by_key.setdefault(point["key"], _Made(memo.owner, prun, settings, done))
    if made is not None and identity is not None:
        made.by_run.setdefault(identity[1], _Made(memo.owner, prun, settings, done,
                                                  identity[0], point))
    if not quiet:
        run.progress(f"{stage.name}: grid point {i + 1}/{len(points)} ({point['key']}) done")
    return done


def _concat(parts: list[Tables]) -> Tables:
    tables: dict[str, list[pd.DataFrame]] = {}
    for done in parts:
        for name, frame in done.items():
            tables.setdefault(name, []).append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}


def run_points(out: Path, stage: Stage, run: Run, points: list[dict], settings: dict,
               shard: Shard | None = None, quiet: bool = False) -> Tables:
    """Run (or reuse from ``out/parts``) the stage's points, all or ``shard``'s share;
    returns the tables concatenated over the points run (``quiet``: no line per point
    done). A point's seed is named by the claim's ``seed`` and its key, whatever else is
    in the grid or which shard runs it."""
    parts = []
    for i in range(len(points)):
        if shard is None or shard.owns(i):
            with shared_runs() as memo:
                parts.append(_point(out, stage, run, points, i, settings, memo,
                                    quiet=quiet))
    return _concat(parts)


@dataclass(frozen=True)
class Variant:
    """One run of a claim's design for :func:`run_variants`: its own (``variant=None``) or
    with other arms or config (an ablation), into ``out``."""

    cfg: dict
    out: Path
    arms: tuple[Arm, ...] | None = None
    variant: str | None = None
    progress: Progress | None = None


def later_stages(claim: Claim) -> list[str]:
    """Names of the design's stages after its first (each needs the tables of those
    before it): what :class:`Shard` ``stage`` may name."""
    return [] if claim.design is None else [s.name for s in claim.design.stages[1:]]


def check_stage(claim: Claim, stage: str | None) -> None:
    """Refuse a ``stage`` that is not one of the claim's later stages (``None``: the first
    grid, always valid)."""
    if stage is not None and stage not in later_stages(claim):
        raise ValueError(f"claim {claim.id!r} has no later stage {stage!r}; its later "
                         f"stages: {', '.join(later_stages(claim)) or 'none'}")


def _shard_grid(claim: Claim, run: Run, out: Path, settings: dict, stage: str | None
                ) -> tuple[Stage | None, list[dict]]:
    """The stage a shard splits and its points: the first stage with points (``stage``
    None), or the stage named ``stage``, after every stage before it has run complete
    (their points read from their cached parts; one not there yet is computed). A named
    stage that is the first with points (the stages before it empty at this scale) is
    the first-grid shards' work: ``(None, [])``."""
    check_stage(claim, stage)
    tables: Tables = {}
    for s in claim.design.stages:
        points = _unique(s.points(run, tables), s)
        if stage is None and points:
            return s, points
        if s.name == stage:
            return (s, points) if tables else (None, [])
        tables |= run_points(out, s, _earlier(run, out, s, points), points, settings,
                             quiet=True)
    return None, []


def _earlier(run: Run, out: Path, stage: Stage, points: list[dict]) -> Run:
    """``run`` for reading an earlier stage inside a later stage's shard (its per-point
    lines silenced by :func:`run_points`' ``quiet``: its points are read from their
    parts): what it says is prefixed with the stage's name, a recompute included, and one
    line says where some points have no part yet (each such shard job computes them)."""
    missing = sum(not (Path(out) / "parts" / f"{p['key']}.done.json").is_file()
                  for p in points)
    if missing:
        run.progress(f"{stage.name}: {missing} of {len(points)} points of this earlier stage "
                     "have no cached part: computing them in this job")
    return replace(run, progress=lambda msg: run.progress(f"{stage.name} (earlier stage): "
                                                          f"{msg}"))


def _slots(grids: Sequence[list[dict]], runs: Sequence[list[str] | None] | None = None
           ) -> list[dict[int, list[int]]]:
    """Per variant, the point indices run at each slot (what a shard owns): the first
    variant's point ``i`` at slot ``i``; another's point at the slot of the first's point
    with the same run identity (``runs``: per variant, each point's identity hash, or
    ``None``; the same key with other arm specs is another run), else with the same key,
    so the two meet in one shard job and one block, else at its own index. Every point
    of every variant has a slot, so the shards cover them all."""
    runs = list(runs) if runs is not None else [None] * len(grids)
    first = {p["key"]: i for i, p in enumerate(grids[0])} if grids else {}
    first_run = {h: i for i, h in reversed(list(enumerate(runs[0] or [])))} if grids else {}
    out = []
    for points, ids in zip(grids, runs, strict=True):
        per: dict[int, list[int]] = {}
        for i, p in enumerate(points):
            slot = first_run.get(ids[i]) if ids is not None else None
            if slot is None:
                slot = first.get(p["key"])
            per.setdefault(i if slot is None else slot, []).append(i)
        out.append(per)
    return out


def _identities(claim: Claim, run: Run, points: list[dict]) -> list[tuple[str, str]] | None:
    """Each point's (arm label, run identity hash), where the design declares identities."""
    identity = claim.design.run_identity
    if identity is None:
        return None
    return [(label, _identity_hash(ident)) for label, ident in (identity(run, p) for p in points)]


def _identity_hash(identity: dict) -> str:
    """SHA-256 of the identity's JSON with non-finite numbers kept apart (``NaN``,
    ``Infinity``: :func:`~clipasgd.provenance.config_hash` maps both to ``null``)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=repr).encode()
                          ).hexdigest()[:16]


def run_variants(claim: Claim, variants: Sequence[Variant], shard: Shard
                 ) -> list[ShardResult]:
    """``shard``'s share of the first grid (or of the later stage ``shard.stage``) of each
    variant, run slot by slot (the claim's point ``i``, then each ablation's point of the
    same key or run identity, or index, :func:`_slots`) inside one
    :func:`~clipasgd.experiment.shared_runs` block per slot: a run that equals one made
    before in the block is reused, and so is a whole point whose arms the ablation leaves
    unchanged (the figure claims' points run one arm each), or whose run is another arm's
    under the design's ``run_identity`` (Clipped ASGD unclipped is the claim's Vanilla
    point). Parts are cached as :func:`run_claim` with ``shard`` caches them (the gather
    jobs find them); the same tables as running each variant alone, which
    ``tests/test_runner_reuse.py`` checks."""
    plans = []
    for v in variants:
        run = _run(claim, v.cfg, v.arms, v.progress)
        if claim.design.check is not None:
            claim.design.check(v.cfg)
        Path(v.out).mkdir(parents=True, exist_ok=True)
        settings = _settings(claim, v.cfg, v.variant)
        stage, points = _shard_grid(claim, run, Path(v.out), settings, shard.stage)
        plans.append((v, run, stage, points, settings, _identities(claim, run, points)))
    slots = _slots([p[3] for p in plans],
                   [None if p[5] is None else [h for _, h in p[5]] for p in plans])
    owned = [sum(len(ix) for k, ix in per.items() if shard.owns(k)) for per in slots]
    for (_, run, stage, points, *_), n in zip(plans, owned, strict=True):
        if stage is not None:  # what this job runs of each grid (its progress lines)
            run.progress(f"{stage.name}: {n} of {len(points)} points in this job")
    made = _Seen()
    for slot in sorted({k for per in slots for k in per}):
        if not shard.owns(slot):
            continue
        with shared_runs() as memo:
            for (v, run, stage, points, settings, ids), per in zip(plans, slots, strict=True):
                for i in per.get(slot, ()):
                    memo.owner = v.variant or claim.id
                    _point(Path(v.out), stage, run, points, i, settings, memo, made,
                           claim.design.point_reads, None if ids is None else ids[i])
    return [ShardResult(stage.name if stage else None, n, len(points))
            for (_, _, stage, points, _, _), n in zip(plans, owned, strict=True)]


def _write(out: Path, tables: Tables) -> None:
    write_tables(out, tables)  # with a manifest: a verdict reads them verified


def run_claim(claim: Claim, cfg: dict, out: Path, *, arms: Sequence[Arm] | None = None,
              variant: str | None = None, shard: Shard | None = None,
              progress: Progress | None = None) -> Tables | ShardResult:
    """Run a claim's design into ``out``.

    Without ``shard``: every stage in order (points cached ones reused), each stage's
    tables written to ``out/<name>.csv`` as it ends, then the design's ``finish`` tables;
    returns every table. With ``shard``: only that share of the first stage with points
    (or of the later stage ``shard.stage``), parts cached but nothing merged (the gather
    job, run afterwards without a shard, finds them, and runs complete any later stage no
    shard ran); returns a :class:`ShardResult`."""
    run = _run(claim, cfg, arms, progress)
    design = claim.design
    if design.check is not None:
        design.check(cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(claim, cfg, variant)
    if shard is not None:
        stage, points = _shard_grid(claim, run, out, settings, shard.stage)
        if stage is None:
            return ShardResult(None, 0, 0)
        run_points(out, stage, run, points, settings, shard)
        return ShardResult(stage.name, sum(shard.owns(i) for i in range(len(points))),
                           len(points))
    tables: Tables = {}
    for stage in design.stages:
        done = run_points(out, stage, run, _unique(stage.points(run, tables), stage), settings)
        _write(out, done)
        tables |= done
    if design.finish is not None:
        extra = design.finish(run, tables)
        _write(out, extra)
        tables |= extra
    remove_tables(out, tuple(n for n in design.tables if n not in tables))  # stale ones
    return tables
