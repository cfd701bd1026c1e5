"""Results of one engine run, as arrays and as tidy tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RunResult", "METRIC_COLUMNS", "RESERVED_COLUMNS"]

METRIC_COLUMNS = {
    "gn": "grad_norm",  # ||grad f(x_k)||
    "avg": "avg_grad_norm",  # S_k = (1/k) sum_{t<k} ||grad f(x_t)||
    "gmin": "min_grad_norm",  # min_{t<=k} ||grad f(x_t)||
    "subopt": "suboptimality",  # f(x_k) - f*
    "clip": "clip_fraction",  # clipped gradients / gradients computed so far
    "vdist": "virtual_dist",  # ||x_k - x~_k||
    "vmax": "virtual_max",  # max_{t<=k} ||x_t - x~_t||
}
# names an extra metric (``EngineOptions.evaluate``) may not take; it keeps its own name
RESERVED_COLUMNS = frozenset({"rep", "iter", "algorithm", *METRIC_COLUMNS.values()})


@dataclass
class RunResult:
    """Checkpoint metrics ``(K, R)`` at iteration counts ``iters``; hitting times
    ``hit[e, r]`` = first ``T`` with ``S_T <= eps[e]`` (0 = not reached: censored at
    the horizon); ``diverged_at[r]`` = step of divergence (-1 = none)."""

    iters: np.ndarray
    metrics: dict[str, np.ndarray]
    eps: np.ndarray
    hit: np.ndarray
    times: np.ndarray
    diverged_at: np.ndarray
    virtual_max: np.ndarray
    clip_fraction: np.ndarray
    schedule: dict
    c: float
    tau_c: int
    meta: dict = field(default_factory=dict)

    @property
    def R(self) -> int:
        return int(self.diverged_at.size)

    @property
    def horizon(self) -> int:
        return int(self.iters[-1])

    def wall_clock(self, T: np.ndarray) -> np.ndarray:
        """Wall-clock time at which ``x_0..x_{T-1}`` all exist (event ``T-2`` done)."""
        T = np.asarray(T)
        idx = np.clip(T - 2, 0, self.times.shape[0] - 1)
        col = np.arange(T.shape[-1]) % self.times.shape[1]
        return np.where(T >= 2, self.times[idx, col], 0.0)

    def checkpoints_frame(self) -> pd.DataFrame:
        """One row per (replication, checkpoint); extra metrics keep their own names."""
        K, R = self.metrics["gn"].shape
        out = {"rep": np.tile(np.arange(R), K), "iter": np.repeat(self.iters, R)}
        out |= {METRIC_COLUMNS.get(k, k): v.ravel() for k, v in self.metrics.items()}
        return pd.DataFrame(out)

    def hits_frame(self) -> pd.DataFrame:
        """One row per (replication, eps): ``T``, wall-clock, censored and diverged flags."""
        E, R = self.hit.shape
        T = self.hit.ravel()
        reps = np.tile(np.arange(R), E)
        wall = self.wall_clock(self.hit).ravel() if E else np.array([])
        return pd.DataFrame({
            "rep": reps, "eps": np.repeat(self.eps, R), "T": np.where(T > 0, T, self.horizon),
            "wall_clock": np.where(T > 0, wall, np.nan), "censored": T == 0,
            "diverged": self.diverged_at[reps] >= 0,
        })

    def reps_frame(self) -> pd.DataFrame:
        """One row per replication: divergence, max virtual distance, clip fraction."""
        return pd.DataFrame({"rep": np.arange(self.R), "diverged_at": self.diverged_at,
                             "virtual_max": self.virtual_max,
                             "virtual_ratio": self.virtual_max / (self.eta_c_tau()
                                                                  if self.eta_c_tau() else np.nan),
                             "clip_fraction": self.clip_fraction})

    def eta_c_tau(self) -> float:
        """``eta * c * tau_C`` when the run's meta records ``eta`` and clipping, else 0."""
        eta = self.meta.get("eta")
        return float(eta * self.c * self.tau_c) if eta and np.isfinite(self.c) else 0.0
