"""Claim L-virt: the real and virtual iterates stay within ``eta * c * tau_C``.

Uses the runs of the ``tau_max`` claim (every replication, every ``D`` and ``theta``).
The engine tracks ``||x_t - x~_t||`` at every step, ``x~`` being ``x`` minus every
update in flight, and keeps its maximum per run. A single run above the bound
refutes the lemma. Negative control: the same bound, with the same ``eta`` and
``c``, applied to unclipped ASGD must be violated; we also report how the unclipped
distance grows with ``tau_max``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..stats import slope_fit
from .base import ClaimInfo, Control, Verdict, read_tables

TOLERANCE = 1e-9


def bound_check(ratios: np.ndarray) -> tuple[str, float]:
    """``supported`` iff every ratio is at most 1 (+ rounding); the statistic is the max."""
    worst = float(np.nanmax(ratios))
    return ("supported" if worst <= 1 + TOLERANCE else "refuted"), worst


def verdict(cfg: dict, data: Path) -> Verdict:
    reps = read_tables(data, ("reps",))["reps"]
    c = cfg["c"]
    reps = reps.assign(ratio=reps["virtual_max"] / (reps["eta"] * c * reps["tau_C"]))
    clipped = reps[reps["algorithm"] == "clipped"]
    vanilla = reps[reps["algorithm"] == "vanilla"]
    v, worst = bound_check(clipped["ratio"].to_numpy())
    cv, cworst = bound_check(vanilla["ratio"].to_numpy())
    by_tau = clipped.groupby("tau_max")["ratio"].max()
    growth = vanilla.groupby("tau_max")["virtual_max"].median()
    fit = slope_fit(np.log(growth.index.to_numpy(float)), np.log(growth.to_numpy())) \
        if growth.size >= 3 else None
    details = {"runs_checked": int(len(clipped)),
               "max_ratio_by_tau_max": {str(k): float(x) for k, x in by_tau.items()},
               "vanilla_median_virtual_by_tau_max": {str(k): float(x) for k, x in growth.items()},
               "vanilla_growth_slope": None if fit is None else fit.to_dict()}
    ctrl = Control(description="Unclipped ASGD, same eta and the clipped run's c: the same "
                               "bound check must fail.", verdict=cv, statistic=cworst)
    return Verdict(verdict=v, statistic=worst, ci=None, margin=1.0, control=ctrl,
                   details=details)


CLAIM = ClaimInfo(
    id="virtual", paper_ref="Key lemma of Thm 4.2 (virtual iterate)",
    statement="At every step, ||x_t - x~_t|| <= eta * c * tau_C, whatever tau_max.",
    test="max over all runs and steps of ||x_t - x~_t|| / (eta c tau_C) <= 1 (+1e-9 rounding); "
         "any exceedance refutes.",
    falsifier="Any run, at any step, with ||x - x~|| above eta c tau_C (beyond rounding). A "
              "mechanism check of the simulator given clipping and tau_C jobs in flight (the "
              "bound is a triangle inequality), not evidence about the theorem's rate.",
    data_from="tau_max", verdict=verdict)
