"""Shared pieces of the federated claims (``federated``, ``federated_high_prob``): the two
worker groups of Fig. 4, explicit worker optima, per-replication schedules, late floors,
and the two known answers (Algorithm 1's biased fixed point, the clipped fixed point).
A leading underscore keeps this module out of the claim registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..compute_times import ComputeTimes, stragglers
from ..engine import EngineOptions, simulate
from ..experiment import schedule_slack
from ..lazy import LazyModule
from ..noise import make_noise
from ..problems import make_problem
from ..results import RunResult
from ..schedules import Schedule, make_schedule
from .base import DEFAULT_ENGINE, Ablation

spo = LazyModule("scipy.optimize")  # imported at first use

__all__ = ["scheduler", "WITHOUT_ALGORITHM2", "two_groups", "opposed_offsets",
           "quadratic", "schedules", "run", "late_floor",
           "hitting_times", "algorithm1_floor", "clipped_fixed_point", "at_least_verdict",
           "noise"]


def two_groups(workers: dict, D: float | None = None) -> ComputeTimes:
    """``n - m`` fast workers (mean 1) and ``m`` slow ones (mean ``D``), the slow ones last."""
    w = dict(workers)
    return stragglers(w.pop("n"), w.pop("stragglers"), D if D is not None else w.pop("D"),
                      **{k: v for k, v in w.items() if k != "D"})


def opposed_offsets(times: ComputeTimes, zeta: float) -> list[float]:
    """``b_i = +zeta`` on fast workers, ``-zeta`` on slow ones (equal groups: ``mean b = 0``)."""
    slow = times.means > times.means.min()
    if 2 * int(slow.sum()) != times.n:
        raise ValueError("opposed offsets need as many slow workers as fast ones")
    return np.where(slow, -zeta, zeta).tolist()


def quadratic(offsets: Sequence[float]):
    """``f_i(x) = 1/2 (x - b_i)^2`` in one dimension: ``zeta = max |b_i|``, ``grad f = x``."""
    return make_problem("quadratic", dim=1, condition=1.0, offsets=list(offsets))


def noise(sigma: float, name: str = "gaussian", **params: float):
    """No noise at ``sigma = 0``, else the named law with that ``sigma``."""
    return make_noise("none") if sigma == 0 else make_noise(name, sigma=sigma, **params)


def schedules(kind: str, times: ComputeTimes, T: int, ss: np.random.SeedSequence, R: int
              ) -> list[Schedule]:
    """One schedule per replication (children of ``ss``), with slack past the horizon."""
    events = T + schedule_slack(T, times.n)
    return [make_schedule(kind, times, events, np.random.default_rng(k)) for k in ss.spawn(R)]


def run(problem, noise_law, algorithm, scheds: list[Schedule], T: int,
        ss: np.random.SeedSequence, eps: Sequence[float] = (), stop: bool = False,
        engine: str = DEFAULT_ENGINE) -> RunResult:
    """Engine run on per-replication schedules; 400 evenly spaced checkpoints (late floors)."""
    cps = np.unique(np.linspace(1, T, 400).astype(np.int64))
    opts = EngineOptions(eps=tuple(eps), checkpoints=None if stop else cps, stop_when_hit=stop)
    return simulate(problem, noise_law, algorithm.rule, scheds, R=len(scheds),
                    rng=np.random.default_rng(ss), horizon=T, options=opts, engine=engine)


def late_floor(res: RunResult, frac: float = 0.5) -> np.ndarray:
    """Per replication: mean of ``||grad f(x_t)||`` over checkpoints in ``[frac T, T]``."""
    late = res.iters >= frac * res.iters[-1]
    return np.nanmean(res.metrics["gn"][late], axis=0)


def hitting_times(res: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """``T(eps)`` of the first target per replication (horizon where censored) and the
    censoring flags (diverged runs count as censored)."""
    hit = res.hit[0].astype(float)
    censored = (hit == 0) | (res.diverged_at >= 0)
    return np.where(censored, float(res.horizon), hit), censored


def algorithm1_floor(zeta: float, D: float) -> float:
    """Known answer: Algorithm 1, fast workers (time 1, ``b = +zeta``) and as many slow ones
    (time ``D``, ``b = -zeta``), no noise: the iterates settle where the gradients weighted
    by service rates ``1`` and ``1/D`` cancel, ``x = zeta (D - 1)/(D + 1)``."""
    return zeta * (D - 1) / (D + 1)


def clipped_fixed_point(b: Sequence[float], c: float, weights: Sequence[float] | None = None
                        ) -> float:
    """Known answer: the root of ``sum_i w_i clip_c(x - b_i) = 0`` (one dimension), where
    Clipped ASGD without noise settles when each worker's gradient is used at rate ``w_i``
    (Algorithm 2: equal rates)."""
    bs = np.asarray(b, dtype=float)
    w = np.ones_like(bs) if weights is None else np.asarray(weights, dtype=float)
    g = lambda x: float(np.sum(w * np.clip(x - bs, -c, c)))  # noqa: E731
    lo, hi = bs.min() - c, bs.max() + c
    return float(spo.brentq(g, lo, hi, xtol=1e-14))


def at_least_verdict(ci: tuple[float, float] | None, margin: float) -> str:
    """One-sided reading of "at least ``margin``": supported if the CI's lower end is above
    it, refuted if its upper end is below, else inconclusive."""
    if ci is None:
        return "inconclusive"
    return "supported" if ci[0] > margin else ("refuted" if ci[1] < margin else "inconclusive")


def scheduler(cfg: dict, kind: str = "algorithm2") -> str:
    """The scheduler a run uses: Algorithm 1 everywhere in the ablation of Algorithm 2."""
    return "algorithm1" if cfg.get("without_algorithm2") else kind


WITHOUT_ALGORITHM2 = Ablation(
    "algorithm2", config=lambda cfg: {**cfg, "without_algorithm2": True},
    how="every Algorithm 2 run (random assignment, FIFO queues) run under Algorithm 1 (the "
        "finished worker gets the next job), same seeds and test")
