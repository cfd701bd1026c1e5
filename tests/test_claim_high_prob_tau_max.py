"""high_prob_tau_max (Theorem 4.3's event per straggler D): the exact binomial interval at
the run counts used, known answers of the reading on planted failure counts, its size, and
the clipping ablation's arms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clipasgd.claims import high_prob_tau_max as hpm
from clipasgd.claims.base import WITHOUT_CLIPPING
from clipasgd.stats import clopper_pearson


@pytest.fixture
def cfg(claim_cfg) -> dict:
    return claim_cfg("high_prob_tau_max", "quick")


def _coverage(n: int, p: float, level: float) -> float:
    """Exact coverage of the Clopper-Pearson interval at the true rate ``p``."""
    k = np.arange(n + 1)
    cover = [clopper_pearson(int(j), n, level).ci for j in k]
    inside = np.array([lo <= p <= hi for lo, hi in cover])
    return float(sps.binom.pmf(k, n, p)[inside].sum())


@pytest.mark.parametrize("scale", ["smoke", "quick"])
def test_clopper_pearson_exact_coverage_at_the_run_counts_used(claim_cfg, scale) -> None:
    c = claim_cfg("high_prob_tau_max", scale)
    n, level = c["replications"], 1 - c["alpha"]
    for p in (0.005, 0.02, c["delta"], 0.1, 0.25):
        assert _coverage(n, p, level) >= level - 1e-12


def test_clopper_pearson_known_values() -> None:
    p = clopper_pearson(0, 400, 0.95)
    assert p.ci.low == 0 and p.ci.high == pytest.approx(1 - 0.025 ** (1 / 400))
    assert clopper_pearson(400, 400, 0.95).ci.high == 1.0
    lo, hi = clopper_pearson(12, 400, 0.95).ci  # the pilot's 0.9 H clipped count
    assert lo == pytest.approx(0.01560, abs=1e-5) and hi == pytest.approx(0.05182, abs=1e-5)
    assert clopper_pearson(3, 10).to_dict()["ci_low"] == pytest.approx(0.06674, abs=1e-5)
    with pytest.raises(ValueError):
        clopper_pearson(5, 4)


def test_event_reading_known_answers() -> None:
    eps, delta = 0.05, 0.05
    s = np.full(400, 0.04)
    assert hpm.event_reading(s, eps, delta, 0.95)["reading"] == "supported"  # 0/400
    s[:40] = 0.06  # 10%: lower end 0.072 > delta, median below eps: from the tail
    r = hpm.event_reading(s, eps, delta, 0.95)
    assert r["reading"] == "refuted" and r["tail_driven"] and r["failures"].k == 40
    s[:20] = np.nan  # diverged runs count as failures
    assert hpm.event_reading(s, eps, delta, 0.95)["failures"].k == 40
    s = np.full(400, 0.04)
    s[:20] = 0.06  # 5%: interval straddles delta
    assert hpm.event_reading(s, eps, delta, 0.95)["reading"] == "inconclusive"
    assert not hpm.event_reading(np.full(400, 0.06), eps, delta, 0.95)["tail_driven"]


def _write(folder: Path, cfg: dict, failures: dict[str, list[int]]) -> Path:
    """Planted tables: at grid D number i, ``failures[arm][i]`` runs with S_H above eps."""
    folder.mkdir(parents=True, exist_ok=True)
    R, eps = cfg["replications"], cfg["eps"]
    runs, sens = [], []
    for i, D in enumerate(cfg["D"]):
        for alg, ks in failures.items():
            s = np.full(R, 0.9 * eps)
            s[: ks[i]] = 1.1 * eps
            runs.append(pd.DataFrame({"algorithm": alg, "rep": np.arange(R), "S_H": s,
                                      "diverged": False, "clip_fraction": 0.02 * (alg ==
                                      "clipped"), "D": D, "tau_max": 10 * D, "tau_avg": 15}))
            sens.append(pd.DataFrame({"algorithm": alg, "iter": [cfg["horizon"]], "R": R,
                                      "failures": [ks[i]], "D": D, "tau_max": 10 * D,
                                      "tau_avg": 15}))
    pd.concat(runs).to_csv(folder / "runs.csv", index=False)
    pd.concat(sens).to_csv(folder / "sensitivity.csv", index=False)
    return folder


def test_verdict_on_planted_failure_counts(tmp_path: Path, cfg: dict) -> None:
    assert cfg["D"] == [1, 64, 256, 1024] and cfg["replications"] == 400
    # the pilot's counts (seed 1905): clipped passes at every straggler D, vanilla fails
    v = hpm.verdict(cfg, _write(tmp_path / "a", cfg, {"clipped": [0, 0, 0, 0],
                                                      "vanilla": [14, 33, 85, 100]}))
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    assert v.statistic == 0 and v.ci[1] == pytest.approx(1 - 0.025 ** (1 / 400))
    assert v.control.statistic == 0.25 and v.margin == cfg["delta"]
    assert set(v.details["straggler_D"]) == {"D=64", "D=256", "D=1024"}
    assert v.details["references"]["D=1"]["vanilla"]["failures"].k == 14
    # one straggler D where clipped fails reliably refutes (40/400: lower end 0.072 > delta)
    v = hpm.verdict(cfg, _write(tmp_path / "b", cfg, {"clipped": [0, 0, 40, 0],
                                                      "vanilla": [14, 33, 85, 100]}))
    assert v.verdict == "refuted" and v.statistic == 0.1
    # clipped unclear at one D (20/400 = delta): inconclusive, not supported
    v = hpm.verdict(cfg, _write(tmp_path / "c", cfg, {"clipped": [0, 20, 0, 0],
                                                      "vanilla": [14, 33, 85, 100]}))
    assert v.verdict == "inconclusive"
    # the reference D = 1 is never read: clipped failing there alone changes nothing
    v = hpm.verdict(cfg, _write(tmp_path / "d", cfg, {"clipped": [200, 0, 0, 0],
                                                      "vanilla": [14, 33, 85, 100]}))
    assert v.verdict == "supported"
    # no mechanism: vanilla passes too -> the control is not refuted, no support
    v = hpm.verdict(cfg, _write(tmp_path / "e", cfg, {"clipped": [0, 0, 0, 0],
                                                      "vanilla": [0, 2, 3, 4]}))
    assert v.control.verdict != "refuted" and v.verdict == "inconclusive"
    # vanilla failing only without stragglers is no mechanism control either
    v = hpm.verdict(cfg, _write(tmp_path / "f", cfg, {"clipped": [0, 0, 0, 0],
                                                      "vanilla": [100, 4, 4, 4]}))
    assert v.control.verdict != "refuted" and v.verdict == "inconclusive"
    # the clipping ablation: both arms vanilla on the same seeds -> identical counts
    v = hpm.verdict(cfg, _write(tmp_path / "g", cfg, {"clipped": [14, 33, 85, 100],
                                                      "vanilla": [14, 33, 85, 100]}))
    assert v.verdict == "refuted"
    assert v.details["sensitivity"]["counts"]["D=256"]["vanilla"] == {2068: "85/400"}


def test_reading_size_at_the_quick_run_count(cfg: dict) -> None:
    # Exact, from the binomial law at R = 400: at a true rate exactly delta at one straggler
    # D, a false 'refuted' (lower end > delta) or a false 'supported' (upper end <= delta)
    # each has probability <= alpha / 2. Over m straggler D (independent runs) a false
    # 'refuted' is then at most m alpha / 2 (union bound) and a false 'supported' (every
    # upper end <= delta) at most alpha / 2: both follow from the line below.
    R, delta, level = cfg["replications"], cfg["delta"], 1 - cfg["alpha"]
    m = len([D for D in cfg["D"] if D not in cfg["reference_D"]])
    k = np.arange(R + 1)
    pmf = sps.binom.pmf(k, R, delta)
    ends = [clopper_pearson(int(j), R, level).ci for j in k]
    p_fail = float(pmf[[lo > delta for lo, _ in ends]].sum())
    p_pass = float(pmf[[hi <= delta for _, hi in ends]].sum())
    assert p_fail <= cfg["alpha"] / 2 and p_pass <= cfg["alpha"] / 2
    assert m >= 2  # the reading is over several straggler D (see above)


def test_clipping_ablation_runs_the_claim_arm_as_vanilla() -> None:
    arms = WITHOUT_CLIPPING.arms(hpm.ARMS)
    at = {"eta": 0.06, "c": 1.0}
    assert [a.spec(at) for a in arms] == [
        {"name": "asgd", "label": "clipped", "eta": 0.06},
        {"name": "asgd", "label": "vanilla", "eta": 0.06}]
    assert hpm.CLAIM.credits == ("clipping",) and hpm.CLAIM.data_from is None


def test_extra_checkpoints_read_the_same_runs_as_a_shorter_horizon(cfg: dict) -> None:
    # S_H is read at the checkpoint H of runs continued to 1.1 H: the prefix must be the
    # run to H itself (same schedules and noise draws), so the sensitivity costs no redesign.
    from clipasgd.experiment import run_experiment

    assert hpm.marks(cfg) == [1861, 2068, 2275]
    base = {"seed": 3, "replications": 12, "horizon": 300, "engine": "numpy",
            "problem": {"name": "quadratic", "dim": 5},
            "noise": {"name": "subweibull", "theta": 3.0, "sigma": 0.01},
            "workers": {"n": 4, "stragglers": 3, "D": 50, "law": "exponential"},
            "per_replication_schedules": True, "algorithms": [{"name": "asgd", "eta": 0.05}]}
    long = run_experiment(base | {"checkpoints": [137, 250]}, progress=lambda m: None)
    short = run_experiment(base | {"horizon": 250}, progress=lambda m: None)
    r, s = long.runs["asgd"], short.runs["asgd"]
    assert {137, 250} <= set(r.iters.tolist())
    i = int(np.searchsorted(r.iters, 250))
    np.testing.assert_array_equal(r.metrics["avg"][i], s.metrics["avg"][-1])
