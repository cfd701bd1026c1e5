"""High-probability claims (Thm 4.3): statistics and verdict logic on synthetic data.

Covers the statistics (quantile intervals with censoring, tails), the comparative tail test
and the tau_max quantile slope, and the high_prob / high_prob_tail verdicts on small
synthetic data folders: supported, refuted and inconclusive cases, the vanilla-vs-vanilla
null control and the seed-only control that must not be reported as different.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clipasgd import stats as S
from clipasgd.claims import high_prob as hp
from clipasgd.claims import high_prob_tail as hpt
from clipasgd.pipeline import claim_config


def _band(p: float, reps: int, z: float = 3.0) -> float:
    """z binomial standard deviations of a rate estimated from ``reps`` replicates."""
    return z * math.sqrt(p * (1 - p) / reps)


# ----------------------------------------------------------------- quantile intervals


@pytest.mark.parametrize("dist", [sps.expon(), sps.pareto(1.5), sps.weibull_min(0.5)])
def test_extreme_quantile_ci_coverage(dist) -> None:
    # The (1 - 10/R)-quantile at R = 1000, the smallest delta of the quick grid: the exact
    # order-statistic CI must cover the true quantile at its exact coverage (>= 95%),
    # whatever the law (distribution-free), light- or power-tailed.
    reps, n, q = 400, 1000, 0.99
    truth = float(dist.ppf(q))
    xs = dist.rvs(size=(reps, n), random_state=np.random.default_rng(11))
    boxes = [S.quantile_box(row, q, 0.95, floor=np.inf) for row in xs]
    cov = boxes[0]["coverage"]
    assert cov >= 0.95
    hit = np.mean([b.ci.low <= truth <= b.ci.high for b in boxes])
    assert hit >= cov - _band(cov, reps)


def test_quantile_box_censoring() -> None:
    # 5% of the runs never reached the target: they are +inf, never dropped.
    x = np.concatenate([np.arange(1.0, 951.0), np.full(50, np.inf)])
    low = S.quantile_box(x, 0.5, 0.95, floor=1000.0)
    assert math.isfinite(low.ci.high) and low.estimate == pytest.approx(np.median(x[:950]),
                                                                             abs=30)
    mid = S.quantile_box(x, 0.95, 0.95, floor=1000.0)  # upper end among the censored runs
    assert math.isfinite(mid.ci.low) and mid.ci.high == math.inf
    high = S.quantile_box(x, 0.99, 0.95, floor=1000.0)  # the whole box is censored
    assert high.estimate == math.inf and high.ci.high == math.inf
    assert high.ci.low == 1000.0  # a censored run's value exceeds the horizon


# ----------------------------------------------------------------- tails


def test_tail_summary_drift_marks_power_law() -> None:
    rng = np.random.default_rng(7)
    heavy = S.tail_summary(1 + rng.pareto(1.5, 4000))
    light = S.tail_summary(1 + rng.standard_exponential(4000))
    assert heavy["drift"]["slope"] > light["drift"]["slope"]
    assert heavy["hill_alpha"] < 2.5 < light["hill_alpha"]
    assert "reason" in S.tail_summary(np.arange(30.0))


def test_tail_compare_is_scale_free_and_directional() -> None:
    rng = np.random.default_rng(8)
    light = 1 + 0.05 * rng.standard_normal(1000)
    heavy = 1 + rng.pareto(1.5, 1000)
    assert hpt.tail_compare(heavy, light, 0.9, 0.05)["verdict"] == "supported"
    assert hpt.tail_compare(light, heavy, 0.9, 0.05)["verdict"] == "refuted"
    # Same law, different scale: no difference (division by the median).
    assert hpt.tail_compare(100 * light, light[::-1] * 1.0, 0.9, 0.05)["verdict"] == \
        "inconclusive"
    heavy_cens = np.where(heavy > 20, np.inf, heavy)  # censored runs count as exceedances
    assert hpt.tail_compare(heavy_cens, light, 0.9, 0.05)["verdict"] == "supported"


@pytest.mark.slow  # 150-replicate calibration loop, ~5 s
def test_seed_only_control_false_report_rate() -> None:
    # Two samples of one law (what two seeds of one configuration give): the two-direction
    # test reports a difference in at most 2 alpha of the pairs (+ 3 sd).
    rng = np.random.default_rng(9)
    reps = 150
    reported = sum(hpt.tail_compare(1 + rng.pareto(1.5, 300), 1 + rng.pareto(1.5, 300), 0.9,
                                    0.05)["verdict"] != "inconclusive" for _ in range(reps))
    assert reported / reps <= 0.1 + _band(0.1, reps)


# ----------------------------------------------------------------- verdicts on data folders


@pytest.fixture
def hp_cfg(claim_cfg) -> dict:
    """The smoke high_prob section, two thetas, enough runs for delta* = 0.025."""
    return claim_cfg("high_prob", "smoke") | {
        "thetas": [2.0, 3.0], "must_win": [2.0, 3.0], "replications": 400, "delta_star": 0.025,
        "fp_deltas": [0.5, 0.025]}


def _frames(point: str, algo: str, S_T: np.ndarray, eps: float, horizon: int = 2000
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = S_T.size
    keys = {"point": point, "D": 64, "tau_max": 70, "horizon": horizon, "algorithm": algo}
    runs = pd.DataFrame({"rep": np.arange(n), "S_T": S_T, "diverged": False, "eta": 0.01} | keys)
    T = 500 + 100 * S_T / np.median(S_T)
    hits = pd.DataFrame({"rep": np.arange(n), "eps": eps, "T": T, "censored": False} | keys)
    return runs, hits


def _folder(tmp_path: Path, cfg: dict, vanilla_heavy: bool = True, clipped_worse: bool = False,
            null_scale: float = 1.0, repeat_scale: float = 1.0, seed: int = 0) -> Path:
    """A data folder shaped like the ``high_prob`` simulation's, with planted laws."""
    rng = np.random.default_rng(seed)
    R, eps = cfg["replications"], cfg["eps"]

    def van() -> np.ndarray:
        return 0.07 * (1 + (0.2 * rng.weibull(1 / 3, R) if vanilla_heavy else
                            0.05 * rng.standard_normal(R)))

    parts = []
    for t in cfg["thetas"]:
        clip = 0.07 * (1 + 0.05 * rng.standard_normal(R)) * (3 if clipped_worse else 1)
        parts += [_frames(f"theta{t}", "clipped", clip, eps), _frames(f"theta{t}", "vanilla",
                                                                      van(), eps),
                  _frames(f"theta{t}-repeat", "vanilla", van() * null_scale, eps)]
    heavy_S = 0.1 * (1 + (rng.pareto(1.5, R) if vanilla_heavy else 0.02 * rng.standard_normal(R)))
    parts.append(_frames("heavy", "vanilla", heavy_S, cfg["eps_heavy"]))
    for point, scale in (("heavy", 1.0), ("heavy-repeat", repeat_scale)):
        parts.append(_frames(point, "clipped", 0.05 * (1 + 0.02 * scale * rng.standard_normal(R)),
                             cfg["eps_heavy"]))
    out = tmp_path / "data"
    out.mkdir()
    pd.concat([p[0] for p in parts]).to_csv(out / "runs.csv", index=False)
    pd.concat([p[1] for p in parts]).to_csv(out / "hits.csv", index=False)
    pd.DataFrame([{"point": "x", "algorithms": 2, "R": R, "seconds": 1.0,
                   "runs_per_s": 2 * R, "steps_per_s": 2e6}]).to_csv(out / "timing.csv",
                                                                      index=False)
    return out


def test_verdicts_supported_on_planted_true_laws(tmp_path: Path, hp_cfg: dict) -> None:
    cfg = hp_cfg
    data = _folder(tmp_path, cfg)
    v1 = hp.verdict(cfg, data)
    assert v1.verdict == "supported" and v1.control.verdict == "refuted"
    entry = v1.details["thetas"]["theta=3.0"]
    assert entry["reading"] == "win" and entry["ratio"].ci.low > 1
    assert all(c["holds"] for c in entry["step_conditions"].values())  # the rule's (eta, c)
    assert "design_amendment" in v1.details
    v2 = hpt.verdict(cfg, data)
    assert v2.verdict == "supported" and v2.control.verdict == "refuted"
    assert v2.statistic > 0
    for v in (v1, v2):
        json.dumps(v.to_dict(), default=str)


def test_verdict_refuted_when_clipping_loses(tmp_path: Path, hp_cfg: dict) -> None:
    cfg = hp_cfg
    v = hp.verdict(cfg, _folder(tmp_path, cfg, vanilla_heavy=False, clipped_worse=True))
    assert v.verdict == "refuted" and v.ci[1] < 1


def test_verdict_inconclusive_on_a_tie(tmp_path: Path, hp_cfg: dict) -> None:
    cfg = hp_cfg
    v = hp.verdict(cfg, _folder(tmp_path, cfg, vanilla_heavy=False))
    assert v.verdict != "supported"
    assert v.details["thetas"]["theta=2.0"]["reading"] != "win"


def test_null_control_false_win_downgrades(tmp_path: Path, hp_cfg: dict) -> None:
    cfg = hp_cfg
    v = hp.verdict(cfg, _folder(tmp_path, cfg, null_scale=3.0))
    assert v.control.verdict == "supported" and v.verdict == "inconclusive"


def test_seed_only_control_not_reported_as_different(tmp_path: Path, hp_cfg: dict) -> None:
    cfg = hp_cfg
    v = hpt.verdict(cfg, _folder(tmp_path, cfg, seed=1))
    assert v.control.verdict == "refuted"  # i.e. the seeds were NOT reported as different
    assert v.details["control"]["verdict"] == "inconclusive"
    (tmp_path / "b").mkdir()
    broken = hpt.verdict(cfg, _folder(tmp_path / "b", cfg, repeat_scale=20.0))
    assert broken.control.verdict == "supported"  # seed B planted heavier: reported
    assert broken.verdict == "inconclusive"  # so the claim is downgraded


def test_plan_runs_rejects_too_few_runs(hp_cfg: dict) -> None:
    cfg = hp_cfg
    assert hp.plan_runs(cfg)["runs_10_over_delta"] == 400
    with pytest.raises(ValueError, match="10/delta"):
        hp.plan_runs(cfg | {"replications": 300})
    with pytest.raises(ValueError, match="fp_deltas"):
        hp.plan_runs(cfg | {"fp_deltas": [0.01]})


def test_shipped_scales_satisfy_the_plan(shipped_config: dict) -> None:
    cfg = shipped_config
    for scale in cfg["scales"]:
        c = claim_config(cfg, "high_prob", scale)
        plan = hp.plan_runs(c)
        assert plan["R"] >= plan["runs_two_sided_ci"]
        assert claim_config(cfg, "high_prob_tail", scale) == c
    assert claim_config(cfg, "high_prob", "quick")["delta_star"] == 0.01
    assert claim_config(cfg, "high_prob", "paper")["delta_star"] == 0.001
