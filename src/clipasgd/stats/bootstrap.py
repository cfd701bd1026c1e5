"""Speedup: the ratio of median times to target with a percentile bootstrap over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ._core import Interval, _Result, check_level


@dataclass(frozen=True)
class Speedup(_Result):
    """Ratio of median times to target, ``median(T_b) / median(T_a)`` (> 1: ``a`` faster).

    Runs that missed the target enter at the ``cap`` (censored, never dropped), so
    a median that is itself censored makes the ratio a bound: ``bound`` says which
    (``"lower"`` when only ``b``'s median sits at the cap, ``"upper"`` when only
    ``a``'s does, ``"undefined"`` when both do, else ``"exact"``). The interval is a
    percentile bootstrap over seeds, resampling each algorithm's runs independently.
    """

    _flat: ClassVar[dict[str, tuple[str, str]]] = {"ci": ("ci_low", "ci_high")}

    ratio: float
    ci: Interval
    level: float
    median_a: float
    median_b: float
    n_a: int
    n_b: int
    censored_a: int
    censored_b: int
    cap: float
    bound: str
    n_boot: int


def speedup(
    times_a: ArrayLike,
    times_b: ArrayLike,
    cap: float,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
) -> Speedup:
    """Speedup of algorithm ``a`` over ``b`` from per-seed times to target.

    ``times_*`` hold one time per seed; ``inf``/``nan`` or anything ``>= cap``
    means the run missed the target and is censored at ``cap``.
    """
    check_level(level)
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"cap must be finite and > 0, got {cap}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    ta, tb = (np.asarray(t, dtype=float).ravel() for t in (times_a, times_b))
    if ta.size == 0 or tb.size == 0:
        raise ValueError("times_a and times_b need at least one run each")
    if np.any(ta <= 0) or np.any(tb <= 0):
        raise ValueError("times to target must be > 0")
    ta, tb = (np.where(np.isnan(t) | (t >= cap), cap, t) for t in (ta, tb))
    med_a, med_b = float(np.median(ta)), float(np.median(tb))
    rng = np.random.default_rng(seed)
    boot_a = np.median(rng.choice(ta, size=(n_boot, ta.size)), axis=1)
    boot_b = np.median(rng.choice(tb, size=(n_boot, tb.size)), axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot_b / boot_a, [tail, 1.0 - tail])
    at_cap_a, at_cap_b = med_a >= cap, med_b >= cap
    bound = ("undefined" if at_cap_a and at_cap_b else "upper" if at_cap_a
             else "lower" if at_cap_b else "exact")
    return Speedup(ratio=med_b / med_a, ci=Interval(float(lo), float(hi)), level=level,
                   median_a=med_a, median_b=med_b, n_a=int(ta.size), n_b=int(tb.size),
                   censored_a=int(np.sum(ta >= cap)), censored_b=int(np.sum(tb >= cap)),
                   cap=float(cap), bound=bound, n_boot=int(n_boot))
