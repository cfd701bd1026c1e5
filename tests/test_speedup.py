"""The speedup statistic: known answers, censoring at the cap, bootstrap interval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clipasgd.stats import speedup


def test_known_ratio_of_medians():
    res = speedup([10, 20, 30], [40, 60, 80], cap=100)
    assert res.ratio == pytest.approx(3.0)
    assert (res.median_a, res.median_b, res.bound) == (20.0, 60.0, "exact")
    # every bootstrap median of a lies in [10, 30] and of b in [40, 80]
    assert 40 / 30 <= res.ci.low <= res.ratio <= res.ci.high <= 80 / 10


def test_misses_are_censored_at_the_cap_not_dropped():
    # dropping b's misses would give median 50 and ratio 5; censoring gives median 100
    res = speedup([10, 10, 10], [50, np.inf, np.nan], cap=100)
    assert res.censored_b == 2 and res.n_b == 3
    assert res.median_b == 100.0 and res.ratio == pytest.approx(10.0)
    assert res.bound == "lower"  # b's true median is beyond the cap
    # times past the cap count as the cap too
    assert speedup([10], [250], cap=100).ratio == pytest.approx(10.0)


def test_bound_flags():
    assert speedup([np.inf, np.inf, 5], [10, 10, 10], cap=50).bound == "upper"
    both = speedup([np.inf], [np.inf], cap=50)
    assert both.bound == "undefined" and both.ratio == 1.0


def test_identical_samples_give_a_degenerate_interval():
    res = speedup([7, 7, 7, 7], [14, 14, 14, 14], cap=100, n_boot=200)
    assert res.ci.low == res.ci.high == res.ratio == 2.0


def test_interval_covers_the_true_ratio_and_is_seeded():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(np.log(100), 0.2, 40), rng.lognormal(np.log(150), 0.2, 40)
    res = speedup(a, b, cap=1e4, seed=3)
    assert res.ci.low < 1.5 < res.ci.high and res.ci.low > 1.2
    assert speedup(a, b, cap=1e4, seed=3) == res
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("kw, match", [
    ({"cap": 0}, "cap"), ({"cap": np.inf}, "cap"), ({"n_boot": 0}, "n_boot"),
    ({"level": 1.5}, "level"), ({"times_a": []}, "at least one"),
    ({"times_a": [-1.0]}, "> 0"),
])
def test_bad_inputs(kw, match):
    args = {"times_a": [1.0, 2.0], "times_b": [2.0, 3.0], "cap": 10.0, **kw}
    with pytest.raises(ValueError, match=match):
        speedup(**args)
