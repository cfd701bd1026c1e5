"""Time to a target metric under stragglers: the protocol of the paper's Figures 2-4.

A *run* is one algorithm configuration on one seed: its own initialisation, minibatch
stream and schedule (Algorithm 1 or 2 on fixed per-worker compute times), simulated up
to ``cap`` time units and evaluated (``problem.evaluate``) after the last event finished
by each multiple of ``eval_every`` time units. Its time to target is the simulated time
of the first evaluation that meets the target; a run that never does (diverged runs
included) is censored at the cap, never dropped.

Protocol: each algorithm's grid (step size, and clip radius or Ringmaster threshold) is
run on selection seeds; the configuration with the smallest median time to target
(ties: the better median final metric) is then run on fresh seeds. Speedup of Clipped
ASGD over another algorithm = ratio of median times to target on the fresh seeds with a
bootstrap interval (:func:`clipasgd.stats.speedup`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .algorithms import REGISTRY, Entry, labels, make_algorithm
from .compute_times import make_compute_times
from .engine import EngineOptions, simulate
from .experiment import schedule_slack
from .noise import make_noise
from .problems.network import SoftmaxNetwork
from .results import RESERVED_COLUMNS
from .schedules import make_schedule
from .stats import speedup

__all__ = ["eval_checkpoints", "time_to_target", "run_times", "arms", "arm_labels", "run_one",
           "choose", "speedup_verdict", "direction", "GOALS"]

GOALS = ("max", "min")
# an algorithm parameter -> the config list that gives its grid (beyond ``lrs`` for eta),
# its type and its part of an arm's key; ``tau_c`` is tau_C = n (n jobs run at once)
_GRIDS = {"c": ("clip", float, "-c{:g}"), "max_delay": ("ringmaster_R", int, "-R{}")}
_FROM_WORKERS = "tau_c"
ARM_COLUMNS = ("algorithm", "eta", "c", "max_delay")


def _tunable(e: Entry) -> bool:
    return e.scheduler is None and "eta" in e.params and \
        set(e.params) <= {"eta", *_GRIDS, _FROM_WORKERS}


def arm_labels() -> tuple[str, ...]:
    """Labels of the registered algorithms this protocol can tune: on the experiment's
    scheduler, with ``eta`` and otherwise only parameters it grids or supplies."""
    return tuple(e.label for e in REGISTRY.values() if _tunable(e))


def _entry(label: str) -> Entry:
    if label not in arm_labels():
        raise ValueError(f"algorithms: unknown {label!r}; valid: {', '.join(arm_labels())}")
    return REGISTRY[labels()[label]]


def eval_checkpoints(times: np.ndarray, cap: float, every: float) -> np.ndarray:
    """Iteration counts to evaluate at: the number of events finished by each time
    ``k * every <= cap`` (repeats and zero dropped)."""
    grid = np.arange(1, int(np.floor(cap / every + 1e-9)) + 1) * every
    its = np.searchsorted(np.asarray(times), grid, side="right")
    return np.unique(its[its >= 1])


def time_to_target(times: np.ndarray, values: np.ndarray, target: float, goal: str) -> float:
    """Time of the first evaluation meeting ``target`` (``>=`` for goal ``max``, ``<=``
    for ``min``); ``inf`` if none does (NaN values, from diverged runs, never do)."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = v >= target if goal == "max" else v <= target
    hit = np.flatnonzero(ok)
    return float(np.asarray(times, dtype=float)[hit[0]]) if hit.size else float("inf")


def run_times(curves: pd.DataFrame, metric: str, target: float, goal: str,
              by: Iterable[str]) -> pd.DataFrame:
    """One row per run (``by`` + ``seed``): ``T`` (inf: censored) and the final metric."""
    keys = [*by, "seed"]
    rows = []
    for key, g in curves.sort_values("time").groupby(keys, sort=True, dropna=False):
        rows.append({**dict(zip(keys, key, strict=True)),
                     "T": time_to_target(g["time"], g[metric], target, goal),
                     "final": float(g[metric].iloc[-1])})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Arm:
    """One algorithm configuration: the label and the parameters of its update rule."""

    label: str
    eta: float
    c: float = float("nan")
    max_delay: int = 0

    def build(self, n_workers: int):
        e = _entry(self.label)
        params = {"eta": self.eta, **{p: getattr(self, p) for p in _GRIDS if p in e.params}}
        if _FROM_WORKERS in e.params:
            params[_FROM_WORKERS] = n_workers
        return make_algorithm(e.name, n_workers, **params).rule

    @property
    def key(self) -> str:
        params = _entry(self.label).params
        extra = "".join(_GRIDS[p][2].format(getattr(self, p)) for p in _GRIDS if p in params)
        return f"{self.label}-lr{self.eta:g}{extra}"

    def columns(self) -> dict:
        return {"algorithm": self.label, "eta": self.eta, "c": self.c,
                "max_delay": self.max_delay}


def arms(cfg: dict) -> list[Arm]:
    """Every configuration in the tuning grids of ``cfg['algorithms']``."""
    out = []
    for label in cfg["algorithms"]:
        grids = {p: (kind, cfg[key]) for p, (key, kind, _) in _GRIDS.items()
                 if p in _entry(label).params}
        for eta in cfg["lrs"]:
            for values in itertools.product(*(v for _, v in grids.values())):
                out.append(Arm(label, float(eta), **{p: kind(v) for (p, (kind, _)), v
                                                    in zip(grids.items(), values, strict=True)}))
    return out


def run_one(problem: SoftmaxNetwork, cfg: dict, D: float, arm: Arm,
            seed: np.random.SeedSequence) -> pd.DataFrame:
    """One run: evaluation rows ``iter, time, <metrics>`` up to ``cfg['cap']`` time units."""
    workers = make_compute_times({**cfg["workers"], "D": D})
    init_ss, sched_ss, noise_ss = seed.spawn(3)
    rate = float(np.sum(1.0 / workers.means))  # events per time unit, all workers busy
    n_ev = int(np.ceil(cfg["cap"] * rate * 1.05)) + 1
    sched = make_schedule(cfg["scheduler"], workers, n_ev + schedule_slack(n_ev, workers.n),
                          np.random.default_rng(sched_ss))
    T = int(np.searchsorted(sched.time, cfg["cap"], side="right"))
    cps = eval_checkpoints(sched.time[:T], cfg["cap"], cfg["eval_every"])
    x0 = problem.init(int(init_ss.generate_state(1)[0] % 2**31))
    opts = EngineOptions(full_gradient=False, evaluate=problem.evaluate, checkpoints=cps)
    res = simulate(problem, make_noise("minibatch", batch_size=cfg["batch_size"]),
                   arm.build(workers.n), sched, R=1, rng=np.random.default_rng(noise_ss),
                   horizon=T, x0=x0, options=opts)
    frame = res.checkpoints_frame()
    frame = frame[frame["iter"].isin(cps)].copy()
    frame["time"] = sched.time[frame["iter"].to_numpy() - 1]
    frame["diverged"] = bool(res.diverged_at[0] >= 0)
    frame_cols = ["iter", "time", "clip_fraction", "diverged"]
    extra = [k for k in frame.columns if k not in RESERVED_COLUMNS and k not in frame_cols]
    return frame[[*frame_cols, *extra]].assign(**arm.columns(), D=D)


def choose(select_times: pd.DataFrame, goal: str, cap: float) -> pd.DataFrame:
    """Per ``D`` and algorithm, the configuration with the smallest median time to
    target (censored at ``cap``), ties broken by the better median final metric."""
    t = select_times.assign(T=np.minimum(select_times["T"], cap))
    # group keys without NaN (c is NaN for algorithms that do not clip)
    t = t.assign(c=t["c"].fillna(-1.0))
    med = t.groupby(["D", *ARM_COLUMNS], as_index=False)[["T", "final"]].median()
    med["rank_final"] = -med["final"] if goal == "max" else med["final"]
    med["rank_final"] = med["rank_final"].fillna(np.inf)
    best = med.sort_values(["T", "rank_final", "eta"]).groupby(["D", "algorithm"]).head(1)
    best = best.drop(columns="rank_final").rename(columns={"T": "select_median_T",
                                                           "final": "select_median_final"})
    best["c"] = best["c"].where(best["c"] >= 0)
    return best.sort_values(["D", "algorithm"]).reset_index(drop=True)


def direction(ci: tuple[float, float]) -> str:
    """The paper's direction (Clipped faster): ``supported`` if the interval lies above
    1, ``refuted`` if below 1, else ``inconclusive``."""
    lo, hi = ci
    return "supported" if lo > 1 else "refuted" if hi < 1 else "inconclusive"


def speedup_verdict(times_clipped: np.ndarray, times_other: np.ndarray, cap: float,
                    level: float, n_boot: int, seed: np.random.SeedSequence,
                    paper: float | None = None) -> dict:
    """Speedup of Clipped over another algorithm, its interval, and its reading."""
    sp = speedup(times_clipped, times_other, cap, level=level, n_boot=n_boot, seed=seed)
    verdict = direction((sp.ci_low, sp.ci_high))
    return {**sp.to_dict(), "verdict": verdict, "paper": paper,
            "reading": "paper's direction reproduced" if verdict == "supported"
            else "not reproduced"}
