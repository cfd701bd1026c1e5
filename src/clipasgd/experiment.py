"""Run an experiment spec: build its pieces, run every algorithm, gather tidy tables.

Randomness: one ``SeedSequence(seed)``; the schedule stream and the noise stream
of each chunk of replications are spawned from it. Every algorithm sees the same
schedule and the same noise streams (common random numbers), which sharpens
comparisons between algorithms without changing any one algorithm's law.

So one algorithm's run is a function of the spec less its other algorithms: inside
:func:`shared_runs`, a run whose content (:func:`run_key`) was computed before in the
block is reused, not simulated again (an ablation's unchanged arms, an arm ablated into
another arm, two arms with the same parameters).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .algorithms import Scheduler, make_algorithm
from .compute_times import ComputeTimes, make_compute_times
from .engine import EngineOptions, log_checkpoints, simulate
from .noise import make_noise
from .problems import make_problem
from .provenance import config_hash, with_inputs
from .results import RunResult
from .schedules import Schedule, algorithm1, make_schedule
from .spec import load_spec

__all__ = ["build", "run_experiment", "spec_schedule", "schedule_summary", "ExperimentResult",
           "concat_results", "schedule_slack", "RunMemo", "shared_runs", "run_key"]


def schedule_slack(T: int, n: int) -> int:
    """Extra events past the horizon so jobs in flight at the end are known."""
    return T // 4 + 10 * n


@dataclass
class ExperimentResult:
    spec: dict
    runs: dict[str, RunResult]
    schedule: dict

    def frame(self, which: str) -> pd.DataFrame:
        """``which`` in {checkpoints, hits, reps}: all algorithms, with a label column."""
        parts = [getattr(r, f"{which}_frame")().assign(algorithm=label)
                 for label, r in self.runs.items()]
        return pd.concat(parts, ignore_index=True)

    def summary(self) -> dict:
        out = {"name": self.spec["name"], "schedule": self.schedule, "algorithms": {}}
        for label, r in self.runs.items():
            hits = r.hits_frame()
            out["algorithms"][label] = {
                "diverged": int((r.diverged_at >= 0).sum()),
                "final_avg_grad_norm_median": float(np.nanmedian(r.metrics["avg"][-1])),
                "virtual_max": float(np.max(r.virtual_max)),
                "clip_fraction": float(np.mean(r.clip_fraction)),
                "engine": r.meta.get("engine"),
                **({"engine_note": r.meta["engine_note"]} if "engine_note" in r.meta else {}),
                "T_median": {str(e): float(g["T"].median()) for e, g in hits.groupby("eps")},
                "censored": {str(e): int(g["censored"].sum()) for e, g in hits.groupby("eps")},
            }
        return out


def concat_results(parts: list[RunResult]) -> RunResult:
    """Join chunks of replications of the same run."""
    first = parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=-1)  # noqa: E731
    times = first.times if first.times.shape[1] == 1 else cat("times")
    return replace(first, metrics={k: np.concatenate([p.metrics[k] for p in parts], axis=1)
                                   for k in first.metrics},
                   hit=cat("hit"), times=times, diverged_at=cat("diverged_at"),
                   virtual_max=cat("virtual_max"), clip_fraction=cat("clip_fraction"))


@dataclass
class RunMemo:
    """Runs computed inside one :func:`shared_runs` block, by :func:`run_key`: who ran each
    (``owner``, the label), and which runs were reused (``reused``: one record per run)."""

    owner: str = ""  # set by the caller before each experiment (a claim, an ablation)
    runs: dict[str, tuple[str, str, RunResult]] = field(default_factory=dict)
    reused: list[dict] = field(default_factory=list)

    def take(self) -> list[dict]:
        """The reuse records since the last call (and forget them)."""
        out, self.reused = self.reused, []
        return out


_MEMO: ContextVar[RunMemo | None] = ContextVar("clipasgd_shared_runs", default=None)


@contextmanager
def shared_runs(owner: str = "") -> Iterator[RunMemo]:
    """Within the block, :func:`run_experiment` simulates each distinct run once and reuses
    it wherever the same run comes again (same :func:`run_key`). Outside: no memo."""
    memo = RunMemo(owner)
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def run_key(spec: dict, algorithm: dict) -> str:
    """What one algorithm's run in ``spec`` depends on: the validated spec less its name
    and its other algorithms, and this algorithm less its label."""
    rest = {k: v for k, v in spec.items() if k not in ("name", "algorithms")}
    return config_hash(with_inputs({"spec": rest, "algorithm": {
        k: v for k, v in algorithm.items() if k != "label"}}))


def build(spec: dict):
    """Problem, noise, compute times and algorithms of a validated spec."""
    problem = make_problem(**spec["problem"])
    noise = make_noise(**spec["noise"])
    times = make_compute_times(spec["workers"])
    algos = []
    for a in spec["algorithms"]:
        params = {k: v for k, v in a.items() if k not in ("name", "label")}
        algos.append((a.get("label", a["name"]), make_algorithm(a["name"], times.n, **params)))
    labels = [lab for lab, _ in algos]
    if len(set(labels)) != len(labels):
        raise ValueError(f"spec: algorithms: labels must be unique, got {labels} "
                         "(add 'label' to tell runs of one algorithm apart)")
    return problem, noise, times, algos


def _children(ss: np.random.SeedSequence, k: int) -> list[np.random.SeedSequence]:
    """The first ``k`` children of ``ss`` without advancing it (``spawn`` would), so every
    algorithm of an experiment gets the same per-replication schedules."""
    return [np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, i)) for i in range(k)]


def _schedules_for(scheduler: Scheduler | None, spec: dict, times, T: int,
                   ss: np.random.SeedSequence, per_rep: bool, R: int
                   ) -> Schedule | list[Schedule]:
    """Schedule(s) for an algorithm's scheduler (``None``: the spec's own)."""
    slack = T + schedule_slack(T, times.n)
    if scheduler is Scheduler.SINGLE:
        one = ComputeTimes(np.zeros(1), np.ones(1))
        return algorithm1(one, slack)
    kind = str(scheduler or spec["scheduler"])
    opts = {"concurrency": spec["concurrency"]} if kind == "algorithm2" and "concurrency" in spec \
        else {}
    if per_rep and kind != Scheduler.SYNCHRONOUS:
        return [make_schedule(kind, times, slack, np.random.default_rng(s), **opts)
                for s in _children(ss, R)]
    return make_schedule(kind, times, slack, np.random.default_rng(ss), **opts)


def spec_schedule(spec: dict) -> Schedule:
    """The shared schedule ``run_experiment`` draws for the spec's asynchronous algorithms."""
    spec = load_spec(spec)
    _, _, times, _ = build(spec)
    sched_ss = np.random.SeedSequence(spec["seed"]).spawn(2)[0]
    return _schedules_for(None, spec, times, spec["horizon"], sched_ss, False, 1)


def schedule_summary(spec: dict) -> dict:
    """Summary (``tau_C``, ``tau_max``, ``tau_avg``, time per call, ...) of the shared
    schedule ``run_experiment`` draws for ``spec``, truncated at the spec's horizon."""
    spec = load_spec(spec)
    return spec_schedule(spec).truncate(spec["horizon"]).summary()


def run_experiment(spec: dict, progress: Callable[[str], None] | None = None,
                   engine: str | None = None,
                   on_chunk: Callable[[str, int, RunResult], None] | None = None
                   ) -> ExperimentResult:
    """Run every algorithm of ``spec`` (a dict or a path) on the same schedule and noise.
    ``engine`` (a name in :data:`clipasgd.engine.BACKENDS`) overrides the spec's
    ``engine``. ``on_chunk(label, first_replication, result)`` sees each chunk as it
    finishes (``clipasgd run`` writes it at once, so a failure later loses no finished
    chunk); a run reused inside :func:`shared_runs` has no chunks."""
    spec = load_spec(spec)
    if engine is not None:
        spec = load_spec({**spec, "engine": engine})
    problem, noise, times, algos = build(spec)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    root = np.random.SeedSequence(spec["seed"])
    sched_ss, noise_ss = root.spawn(2)
    R, T, chunk = spec["replications"], spec["horizon"], spec["chunk"]
    starts = list(range(0, R, chunk))
    chunk_ss = noise_ss.spawn(len(starts))
    extra = spec.get("checkpoints")  # recorded besides the log-spaced grid
    opts = EngineOptions(eps=tuple(spec["eps"]), diverge_at=spec["diverge_at"],
                         stop_when_hit=spec["stop_when_hit"],
                         checkpoints=None if not extra else np.union1d(log_checkpoints(T),
                                                                       extra))
    runs, sched_summary = {}, {}
    memo = _MEMO.get()
    for entry, (label, algo) in zip(spec["algorithms"], algos, strict=True):
        key = run_key(spec, entry) if memo is not None else ""
        if memo is not None and key in memo.runs:
            owner, source, done = memo.runs[key]
            runs[label] = replace(done, meta=dict(done.meta))
            sched_summary[label] = done.schedule
            memo.reused.append({"label": label, "owner": memo.owner, "from_label": source,
                                "from_owner": owner})
            say(f"[{spec['name']}] {label}: the same run as {owner} {source}: reused")
            continue
        scheds = _schedules_for(algo.scheduler, spec, times, T, sched_ss,
                                spec["per_replication_schedules"], R)
        parts = []
        for k, (lo, s_ss) in enumerate(zip(starts, chunk_ss, strict=True)):
            r = min(chunk, R - lo)
            sched = scheds[lo:lo + r] if isinstance(scheds, list) else scheds
            parts.append(simulate(problem, noise, algo.rule, sched, R=r,
                                  rng=np.random.default_rng(s_ss), horizon=T, options=opts,
                                  engine=spec["engine"]))
            if on_chunk is not None:
                on_chunk(label, lo, parts[-1])
            say(f"[{spec['name']}] {label}: chunk {k + 1}/{len(starts)} ({lo + r}/{R} runs)")
        run = concat_results(parts)
        run.meta = {**run.meta, "eta": (algo.params or {}).get("eta"),
                    "algorithm": algo.describe()}
        runs[label] = run
        sched_summary[label] = run.schedule
        if memo is not None:
            memo.runs[key] = (memo.owner, label, run)
    return ExperimentResult(spec, runs, sched_summary)
