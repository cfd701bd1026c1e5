"""Statistics behind every claim verdict (README, "Claims and how to read a verdict").

Plain functions over arrays in the style of :mod:`scipy.stats`. Each returns a small frozen
dataclass; every interval in one is an :class:`Interval` ``(low, high)``. ``to_dict()`` is
JSON-ready: numpy scalars become Python numbers, non-finite floats (``inf``/``nan``) become
``None`` (so ``json.dumps(..., allow_nan=False)`` never fails; flags such as
``QuantileCI.upper_bounded`` keep what an infinite bound carried) and an interval is written
under the names each result always used (``ci_low``/``ci_high``, ``lower``/``upper``).

* ``slopes``: OLS with HC3 errors and the right-censored Tobit fit; each carries ``df``, the
  degrees of freedom of its t reference (``inf`` means normal).
* ``quantiles``: exact distribution-free quantile intervals (order statistics and the
  binomial law, never bootstrapped), quantile ratios, the two-sample tail test.
* ``growth``: the ratio ``max_k Q_k / Q_0`` along a grid and the one-sided growth test.
* ``means``: t intervals of means, the exact Clopper-Pearson interval of a rate, Newcombe's
  interval of a difference of proportions, the prediction interval of a ``k``-run mean.
* ``paired``: the paired (same-seed) speedup, exact signed-rank interval with censoring.

The rules that turn these into ``supported``/``refuted``/``inconclusive`` live in
:mod:`clipasgd.readings`.
"""

from __future__ import annotations

from ..readings import Reading, growth_reading
from ._core import Interval
from .growth import GrowthRatio, GrowthTest, growth_ratio, growth_test
from .means import (
    KMeanInterval,
    MeanCI,
    Proportion,
    ProportionDifference,
    clopper_pearson,
    k_mean_interval,
    mean_ci,
    proportion_difference,
)
from .paired import PairedSpeedup, paired_speedup
from .quantiles import (
    QuantileCI,
    QuantileRatio,
    TailComparison,
    quantile_box,
    quantile_ci,
    quantile_ratio,
    runs_for_two_sided_quantile_ci,
    tail_summary,
    two_sample_tail_test,
)
from .slopes import SlopeFit, censored_slope_fit, slope_fit

__all__ = [
    "GrowthRatio",
    "GrowthTest",
    "Interval",
    "KMeanInterval",
    "MeanCI",
    "PairedSpeedup",
    "Proportion",
    "ProportionDifference",
    "QuantileCI",
    "QuantileRatio",
    "Reading",
    "SlopeFit",
    "TailComparison",
    "censored_slope_fit",
    "clopper_pearson",
    "growth_ratio",
    "growth_reading",
    "growth_test",
    "k_mean_interval",
    "mean_ci",
    "paired_speedup",
    "proportion_difference",
    "quantile_box",
    "quantile_ci",
    "quantile_ratio",
    "runs_for_two_sided_quantile_ci",
    "slope_fit",
    "tail_summary",
    "two_sample_tail_test",
]
