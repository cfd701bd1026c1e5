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
ASGD over another algorithm = the paired (same seed index, same initialisation) ratio of
times to target on the fresh seeds with its exact signed-rank interval, misses handled as
bounds (:func:`clipasgd.stats.paired_speedup`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .compute_times import make_compute_times
from .engine import EngineOptions, simulate
from .experiment import schedule_slack
from .noise import make_noise
from .problems.network import SoftmaxNetwork
from .readings import above_one
from .results import RESERVED_COLUMNS
from .schedules import make_schedule
from .stats import paired_speedup
from .updates import Transform

__all__ = ["eval_checkpoints", "time_to_target", "run_times", "settings", "run_one", "choose",
           "tune", "speedup_verdict", "GOALS"]

GOALS = ("max", "min")
# label -> the config list that extends its tuning grid beyond eta
_GRID_EXTRA = {"clipped": "clip", "ringmaster": "ringmaster_R"}
ARM_COLUMNS = ("algorithm", "eta", "c", "max_delay")


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
    """One row per run (``by`` + ``seed``): ``T`` (inf: censored) and the final metric;
    with an ``iter`` column also ``calls`` (gradients applied by the evaluation that met the
    target; inf: censored) and ``calls_cap`` (those applied by the cap)."""
    keys = [*by, "seed"]
    rows = []
    for key, g in curves.sort_values("time").groupby(keys, sort=True, dropna=False):
        T = time_to_target(g["time"], g[metric], target, goal)
        row = {**dict(zip(keys, key, strict=True)), "T": T, "final": float(g[metric].iloc[-1])}
        if "iter" in g:  # oracle calls to target: gradients applied by the hit (inf: none)
            row["calls"] = float(g["iter"][g["time"] == T].min()) if np.isfinite(T) else np.inf
            row["calls_cap"] = float(g["iter"].max())  # a miss is known to exceed this
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Setting:
    """One configuration of an arm in a tuning grid: its label and hyperparameters."""

    label: str
    eta: float
    c: float = float("nan")
    max_delay: int = 0

    def params(self) -> dict:
        """The values an arm's parameters are read from (:class:`clipasgd.claims.base.Arm`)."""
        return {"eta": self.eta, "c": self.c, "max_delay": self.max_delay}

    @property
    def key(self) -> str:
        extra = (f"-c{self.c:g}" if self.label == "clipped" else
                 f"-R{self.max_delay}" if self.label == "ringmaster" else "")
        return f"{self.label}-lr{self.eta:g}{extra}"

    def columns(self) -> dict:
        return {"algorithm": self.label, "eta": self.eta, "c": self.c,
                "max_delay": self.max_delay}

    @classmethod
    def from_row(cls, row: Any) -> Setting:
        """The setting a row of :func:`choose`'s table names."""
        return cls(row.algorithm, row.eta, row.c, int(row.max_delay))


def settings(cfg: dict, labels: Iterable[str]) -> list[Setting]:
    """Every configuration in the tuning grids of ``cfg['algorithms']`` (each one of
    ``labels``, the claim's arms)."""
    labels, out = list(labels), []
    for label in cfg["algorithms"]:
        if label not in labels:
            raise ValueError(f"algorithms: unknown {label!r}; valid: {', '.join(labels)}")
        extra = _GRID_EXTRA.get(label)
        for eta in cfg["lrs"]:
            if extra == "clip":
                out += [Setting(label, float(eta), c=float(c)) for c in cfg["clip"]]
            elif extra == "ringmaster_R":
                out += [Setting(label, float(eta), max_delay=int(r))
                        for r in cfg["ringmaster_R"]]
            else:
                out.append(Setting(label, float(eta)))
    return out


def run_one(problem: SoftmaxNetwork, cfg: dict, D: float, setting: Setting,
            build: Callable[[int], Transform], seed: np.random.SeedSequence) -> pd.DataFrame:
    """One run of ``setting``, whose rule ``build(n_workers)`` returns: evaluation rows
    ``iter, time, <metrics>`` up to ``cfg['cap']`` time units, simulated by the backend
    ``cfg['engine']``."""
    workers = make_compute_times({**cfg["workers"], "D": D})
    init_ss, sched_ss, noise_ss = seed.spawn(3)
    rate = float(np.sum(1.0 / workers.means))  # events per time unit, all workers busy
    n_ev = int(np.ceil(cfg["cap"] * rate * 1.05)) + 1
    sched = make_schedule(cfg["scheduler"], workers, n_ev + schedule_slack(n_ev, workers.n),
                          np.random.default_rng(sched_ss))
    T = int(np.searchsorted(sched.time, cfg["cap"], side="right"))
    cps = eval_checkpoints(sched.time[:T], cfg["cap"], cfg["eval_every"])
    x0 = problem.init(int(init_ss.generate_state(1)[0] % 2**31))
    opts = EngineOptions(full_gradient=False, evaluate=problem.evaluate, checkpoints=cps,
                         virtual=False)  # nothing below reads the virtual iterate
    res = simulate(problem, make_noise("minibatch", batch_size=cfg["batch_size"]),
                   build(workers.n), sched, R=1, rng=np.random.default_rng(noise_ss),
                   horizon=T, x0=x0, options=opts, engine=cfg["engine"])
    frame = res.checkpoints_frame()
    frame = frame[frame["iter"].isin(cps)].copy()
    frame["time"] = sched.time[frame["iter"].to_numpy() - 1]
    frame["diverged"] = bool(res.diverged_at[0] >= 0)
    frame["tau_max"] = int(sched.delay[:T].max()) if T else 0  # measured, up to the cap
    frame_cols = ["iter", "time", "clip_fraction", "diverged", "tau_max"]
    extra = [k for k in frame.columns if k not in RESERVED_COLUMNS and k not in frame_cols]
    return frame[[*frame_cols, *extra]].assign(**setting.columns(), D=D)


def selection_medians(select_times: pd.DataFrame, cap: float) -> pd.DataFrame:
    """Per ``D`` and configuration the median time to target over the selection seeds
    (censored at ``cap``) and the median final metric; ``c`` is -1 where unused."""
    t = select_times.assign(T=np.minimum(select_times["T"], cap))
    # group keys without NaN (c is NaN for algorithms that do not clip)
    t = t.assign(c=t["c"].fillna(-1.0))
    return t.groupby(["D", *ARM_COLUMNS], as_index=False)[["T", "final"]].median()


def choose(select_times: pd.DataFrame, goal: str, cap: float) -> pd.DataFrame:
    """Per ``D`` and algorithm, the configuration with the smallest median time to
    target (censored at ``cap``), ties broken by the better median final metric."""
    med = selection_medians(select_times, cap)
    med["rank_final"] = -med["final"] if goal == "max" else med["final"]
    med["rank_final"] = med["rank_final"].fillna(np.inf)
    best = med.sort_values(["T", "rank_final", "eta"]).groupby(["D", "algorithm"]).head(1)
    best = best.drop(columns="rank_final").rename(columns={"T": "select_median_T",
                                                           "final": "select_median_final"})
    best["c"] = best["c"].where(best["c"] >= 0)
    return best.sort_values(["D", "algorithm"]).reset_index(drop=True)


GRIDS = (("eta", "lrs", "step"), ("c", "clip", "clip radius"),
         ("max_delay", "ringmaster_R", "R"))


def at_grid_edge(chosen: list[dict], cfg: dict,
                 medians: pd.DataFrame | None = None) -> list[dict]:
    """The tuned values that sit at an end of their grid (of two or more values): the best
    value may lie beyond it, and a baseline tuned there may be handicapped (or, at the
    largest clip radius or Ringmaster R, barely clip or discard). Records from
    :func:`choose`; a value the algorithm does not use (``c``, ``max_delay`` 0) is skipped.
    With the selection ``medians`` of the same ``D`` (:func:`selection_medians`), each
    entry says whether a configuration with an interior value had the same median time
    (``tied``: the end won on the final metric or the smaller step, not on time)."""
    out = []
    for row in chosen:
        for key, grid_key, name in GRIDS:
            grid, value = sorted(cfg.get(grid_key) or []), row.get(key)
            if len(grid) < 2 or value is None or not value or not np.isfinite(value):
                continue
            end = "smallest" if value <= grid[0] else "largest" if value >= grid[-1] else None
            if not end:
                continue
            edge = {"algorithm": row["algorithm"], "parameter": name, "value": float(value),
                    "end": end}
            if medians is not None:
                own = medians[medians["algorithm"] == row["algorithm"]]
                inside = own[(own[key] > grid[0]) & (own[key] < grid[-1])]
                edge["tied"] = bool(np.isclose(inside["T"], row["select_median_T"]).any())
            out.append(edge)
    return out


def edge_words(edge: dict) -> str:
    """One :func:`at_grid_edge` entry in words."""
    return (f"{edge['algorithm']} {edge['parameter']} {edge['value']:g} ({edge['end']} of "
            "the grid" + ("; tied on time with an interior value" if edge.get("tied") else "")
            + ")")


def _selection_times(select: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """The selection runs' (their curves') times to ``cfg``'s target, per ``D`` and arm."""
    return run_times(select, cfg["metric"], cfg["target"], cfg["goal"], ["D", *ARM_COLUMNS])


def tuning_medians(select: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """:func:`selection_medians` of the selection runs ``select`` (their curves) at ``cfg``'s
    metric, target, goal and cap: what :func:`tune` chose from, for the grid-end ties."""
    return selection_medians(_selection_times(select, cfg), cfg["cap"])


def tune(select: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """:func:`choose` on the selection runs' times to ``cfg``'s target (per ``D`` and
    algorithm)."""
    return choose(_selection_times(select, cfg), cfg["goal"], cfg["cap"])


def speedup_verdict(times_clipped: np.ndarray, times_other: np.ndarray, cap: float,
                    level: float, paper: float | None = None) -> dict:
    """Paired speedup of Clipped over another algorithm (seed ``i`` of each arm shares its
    initialisation), its interval, and its reading."""
    sp = paired_speedup(times_clipped, times_other, cap, level=level)
    verdict = above_one(sp.ci)
    return {**sp.to_dict(), "verdict": verdict, "paper": paper,
            "reading": "paper's direction reproduced" if verdict == "supported"
            else "not reproduced"}
