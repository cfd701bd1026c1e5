"""Known answers for the rules of :mod:`clipasgd.readings` (statistics -> verdict words),
and that the modules that used to hold them still hand out the same functions."""

from __future__ import annotations

import pytest

from clipasgd import readings as R
from clipasgd import stats
from clipasgd.claims import base


@pytest.mark.parametrize("ci, expected", [((0.4, 1.2), "supported"), ((1.3, 2.0), "refuted"),
                                          ((0.9, 1.4), "inconclusive"), ((1.0, 1.25), "supported"),
                                          (None, "inconclusive")])
def test_upper_bound_verdict(ci, expected) -> None:
    assert R.upper_bound_verdict(ci, 1.0, 0.25) == expected


def test_above_one_is_the_speedup_direction() -> None:
    assert R.above_one((1.1, 2.0)) == "supported"
    assert R.above_one((0.5, 0.9)) == "refuted"
    assert R.above_one((0.8, 1.3)) == "inconclusive"
    assert R.above_one(stats.Interval(1.0, 1.0)) == "inconclusive"  # a tie is no speedup


def test_growth_reading_rejects_margins_that_cannot_be_met() -> None:
    with pytest.raises(ValueError, match="ratio_margin"):
        R.growth_reading((1.0, 1.1), None, 0.9, 0.1)


def test_every_rule_answers_with_a_reading() -> None:
    answers = {R.combine(["supported", "refuted"]), R.control_outcome([]),
               R.upper_bound_verdict((0, 1), 0, 2), R.growth_reading(None, None, 1.25, 0.1)}
    assert answers <= set(R.READINGS) and base.VERDICTS == R.READINGS


def test_claims_import_the_one_copy() -> None:
    # Claim modules import these from claims.base or stats: the same objects, not copies.
    assert base.combine is R.combine and base.control_outcome is R.control_outcome
    assert base.upper_bound_verdict is R.upper_bound_verdict
    assert stats.growth_reading is R.growth_reading
    assert not hasattr(stats, "Verdict")  # the dataclass is claims.base.Verdict only
