"""Known answers for the one-sided readings of issue 9 (tau_max, virtual, high_prob) on
planted tables: a control that gets faster is not refuted, a falling clipped curve is not
refuted, a non-monotone 3x swing does not read flat, a null comparison reports no win at the
planned rate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipasgd import readings as R
from clipasgd import stats as S
from clipasgd.claims import rate_shape as rs
from clipasgd.claims import tau_max as tm
from clipasgd.claims import virtual as vt
from clipasgd.claims.base import Run
from clipasgd.claims.high_prob import hp_reading

TAUS = [7.0, 22.0, 134.0, 1030.0]


def _samples(medians: list[float], rng: np.random.Generator, n: int = 200) -> list[np.ndarray]:
    return [m * (1 + 0.01 * rng.standard_normal(n)) for m in medians]


def _read(medians: list[float], seed: int = 0, slope: tuple[float, float] | None = None
          ) -> tuple[str, S.GrowthRatio]:
    r = S.growth_ratio(_samples(medians, np.random.default_rng(seed)), TAUS, 0.5, 0.05)
    return R.growth_reading(r.ci, slope, 1.25, 0.1), r


# ----------------------------------------------------------------- growth_ratio / reading


def test_flat_curve_reads_supported() -> None:
    v, r = _read([3000, 3010, 2990, 3005], slope=(-0.01, 0.01))
    assert v == "supported" and 1 <= r.estimate < 1.01 and r.ci.high < 1.25


def test_falling_curve_is_never_refuted() -> None:
    # A clipped T that falls with tau_max: no later point rises above an earlier one.
    v, r = _read([3000, 2500, 2000, 1500], slope=(-0.12, -0.09))
    assert v == "supported" and r.estimate == pytest.approx(2500 / 3000, rel=0.02)
    assert R.growth_reading(r.ci, None, 1.25, 0.1) != "refuted"


def test_control_that_gets_faster_is_not_refuted() -> None:
    v, _ = _read([5600, 3800, 3300, 3100], slope=(-0.12, -0.10))
    assert v != "refuted"


def test_non_monotone_3x_swing_does_not_read_flat() -> None:
    # Slope through the points is ~0 (the bump sits in the middle): rho sees it.
    v, r = _read([3000, 9000, 3000, 3000], slope=(-0.05, 0.05))
    assert v == "refuted" and r.estimate == pytest.approx(3, rel=0.02) and r.argmax == 22.0


def test_dip_and_return_reads_its_rise_not_flat() -> None:
    """Anchored at the first point this profile read 1 (flat); the rise from the dip is 3."""
    v, r = _read([3000, 1000, 3000, 3000], slope=(-0.05, 0.05))
    assert v == "refuted" and r.estimate == pytest.approx(3, rel=0.02)
    assert r.anchored == pytest.approx(1, rel=0.02) and r.rise_from == TAUS[1]


def test_swing_with_its_largest_value_first_reads_its_rise() -> None:
    """A 3.2x swing whose largest value comes first: anchored 1, pairwise 3.2."""
    v, r = _read([9600, 3000, 9600, 9600], slope=(-0.05, 0.05))
    assert v == "refuted" and r.estimate == pytest.approx(3.2, rel=0.02)
    assert r.anchored == pytest.approx(1, rel=0.02)


def test_rise_late_in_the_grid_is_seen() -> None:
    v, r = _read([3000, 3000, 3000, 9000], slope=(-0.05, 0.05))
    assert v == "refuted" and r.estimate == pytest.approx(3, rel=0.02)
    assert r.argmax == TAUS[-1]


@pytest.mark.slow  # 2 x 300-replicate calibration loops
@pytest.mark.parametrize("runs", [20, 440])  # rate_shape's and tau_max's runs per point
def test_pairwise_interval_covers_a_non_flat_truth_at_the_runs_used(runs: int) -> None:
    """Joint level 1 - 2 alpha = 90%: the interval holds the true largest rise (medians
    proportional to the scales: 1.2 / 0.5 = 2.4) in >= 90% of repeats, up to Monte Carlo
    error (300 repeats: sd 1.7%)."""
    rng = np.random.default_rng(3)
    scales, reps = [1.0, 0.5, 1.0, 1.2], 300
    cover = 0
    for _ in range(reps):
        r = S.growth_ratio([rng.exponential(s, runs) for s in scales], TAUS)
        cover += r.ci.low <= 2.4 <= r.ci.high
    assert cover / reps >= 0.87


def test_growing_curve_refuted_by_slope_alone() -> None:
    assert R.growth_reading((1.0, 1.2), (0.15, 0.2), 1.25, 0.1) == "refuted"
    assert R.growth_reading((1.0, 1.3), (0.0, 0.05), 1.25, 0.1) == "inconclusive"


def test_growth_ratio_censored_points() -> None:
    rng = np.random.default_rng(1)
    samples = [3000 * (1 + 0.01 * rng.standard_normal(200)), np.full(200, np.inf)]
    r = S.growth_ratio(samples, [7, 134], 0.5, 0.05, floors=[12000, 12000])
    assert r.ci.high == math.inf and r.ci.low > 3.9  # the horizon bounds the censored median
    assert R.growth_reading(r.ci, None, 1.25, 0.1) == "refuted"


@pytest.mark.slow  # 200-replicate calibration loop, ~4 s
def test_growth_ratio_interval_covers_on_flat_truth() -> None:
    rng = np.random.default_rng(2)
    reps = 200
    cover = sum(S.growth_ratio([rng.exponential(1, 101) for _ in TAUS], TAUS).ci.low <= 1
                for _ in range(reps))
    assert cover / reps >= 0.9  # rho_lo <= true rho = 1 at joint level >= 90%


# ----------------------------------------------------------------- tau_max verdict


def _hits(medians: dict[str, list[float]], rng: np.random.Generator, n: int = 40,
          horizon: float = 12000) -> pd.DataFrame:
    rows = []
    for alg, meds in medians.items():
        for D, tau, m in zip((1, 16, 128, 1024), TAUS, meds, strict=True):
            T = m * (1 + 0.01 * rng.standard_normal(n))
            rows.append(pd.DataFrame({"algorithm": alg, "rep": np.arange(n), "eps": 0.05,
                                      "T": np.minimum(T, horizon), "censored": T >= horizon,
                                      "diverged": False, "theta": 1.0, "D": D,
                                      "tau_max": tau, "tau_C": 8}))
    return pd.concat(rows, ignore_index=True)


# Medians in the shape of tau_max's pilot (pilots/ISSUE19.md, A1): D = 1 is the reference
# (no stragglers), the reading uses D >= 16 only.
GOOD = {"clipped": [4160, 4194, 4256, 4492], "vanilla": [2379, 2508, 2760, 3580],
        "planted": [2379, 2430, 1e9, 1e9], "delay_adaptive": [2538, 2659, 2740, 2756],
        "clipped_theory": [1e9] * 4}


@pytest.fixture
def tau_cfg(claim_cfg) -> dict:
    """The quick tau_max section (also virtual's data source)."""
    return claim_cfg("tau_max")


def _verdict(cfg: dict, tmp_path: Path, **change: list[float]):
    _hits(GOOD | change, np.random.default_rng(3)).to_csv(tmp_path / "hits.csv", index=False)
    return tm.verdict(cfg, tmp_path)


def test_tau_max_supported_with_mechanism_control(tmp_path: Path, tau_cfg: dict) -> None:
    v = _verdict(tau_cfg, tmp_path)
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    d = v.details["thetas"]["theta=1.0"]
    assert d["competitiveness"]["outcome"] == "passes"
    assert not d["step_conditions"]["eta <= eps/(K c tau_C L)"]["holds"]
    assert d["step_conditions"]["eta <= 1/(K tau_C L)"]["holds"]
    assert "design_amendment" in v.details
    at_theorem = d["theorem_params"]["reading"]  # censored at every D: not supported
    assert at_theorem != "supported"  # ... and the note, which the landing page shows, says so
    assert f"At the theorem's own (eta, c), reported and not deciding, the same test reads " \
           f"{at_theorem} (theta=1.0)." in v.note


def test_tau_max_control_getting_faster_downgrades(tmp_path: Path, tau_cfg: dict) -> None:
    v = _verdict(tau_cfg, tmp_path, vanilla=[5590, 3800, 3300, 3100])
    assert v.control.verdict != "refuted" and v.verdict == "inconclusive"


def test_tau_max_clipped_bump_refutes(tmp_path: Path, tau_cfg: dict) -> None:
    assert _verdict(tau_cfg, tmp_path, clipped=[4160, 4194, 12000, 4300]).verdict == "refuted"


def test_tau_max_falling_clipped_supported(tmp_path: Path, tau_cfg: dict) -> None:
    assert _verdict(tau_cfg, tmp_path, clipped=[4160, 4400, 4300, 4200]).verdict == "supported"


def test_tau_max_reference_point_is_no_anchor(tmp_path: Path, tau_cfg: dict) -> None:
    """A control that rises only from the no-straggler reference (D = 1) to the straggler
    regime, flat inside it, does not degrade with tau_max: not refuted, no support."""
    v = _verdict(tau_cfg, tmp_path, vanilla=[1000, 2508, 2510, 2505])
    assert v.control.verdict != "refuted" and v.verdict == "inconclusive"
    assert "D=1" in v.details["references"]


def test_tau_max_uncompetitive_clipped_not_supported(tmp_path: Path, tau_cfg: dict) -> None:
    v = _verdict(tau_cfg, tmp_path, clipped=[16000, 16000, 16000, 16000])
    d = v.details["thetas"]["theta=1.0"]
    assert d["competitiveness"]["outcome"] == "fails" and v.verdict == "inconclusive"


# ----------------------------------------------------------------- virtual


def test_virtual_control_needs_growth(tmp_path: Path, tau_cfg: dict) -> None:
    cfg = tau_cfg
    rows = []
    for tau, D, late in zip(TAUS, (1, 16, 128, 1024), (0.04, 0.35, 2.0, 6.5), strict=True):
        for alg, vmax, lt, c in (("clipped", 3.84, 0.1, 4.0), ("vanilla", 13.4, late, np.nan)):
            rows.append(pd.DataFrame({"algorithm": alg, "rep": np.arange(50),
                                      "virtual_max": vmax, "virtual_late": lt * (1 + 0.01 *
                                      np.arange(50) / 50), "eta": 0.12, "c": c,
                                      "tau_C": 8, "tau_max": tau, "D": D}))
    pd.concat(rows).to_csv(tmp_path / "reps.csv", index=False)
    v = vt.verdict(cfg, tmp_path)
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    flat = pd.concat(rows).assign(virtual_late=0.5)
    flat.to_csv(tmp_path / "reps.csv", index=False)
    assert vt.verdict(cfg, tmp_path).control.verdict != "refuted"


# ----------------------------------------------------------------- high_prob readings


def test_quantile_ratio_known_answers() -> None:
    rng = np.random.default_rng(5)
    light = 0.07 * (1 + 0.1 * rng.standard_normal(1000))
    heavy = 0.07 * (1 + rng.weibull(1 / 3, 1000) * 0.05)
    assert S.quantile_ratio(heavy, light, 0.99).reading == "win"
    assert S.quantile_ratio(light, heavy, 0.99).reading == "lose"
    assert S.quantile_ratio(light, light[::-1] * 1.0, 0.99).reading == "tie"


@pytest.mark.slow  # calibration loop, ~5 s
def test_null_quantile_ratio_size() -> None:
    # Two independent samples of one law (vanilla vs vanilla, another seed): a false "win"
    # at most alpha of the time (Bonferroni CIs: in fact far less).
    rng = np.random.default_rng(6)
    reps = 300
    wins = sum(S.quantile_ratio(rng.weibull(0.5, 1000), rng.weibull(0.5, 1000), 0.99,
                                0.05).reading == "win" for _ in range(reps))
    assert wins / reps <= 0.05


@pytest.mark.parametrize("readings, expected", [
    ({1.0: ("tie", 1.02), 2.0: ("win", 1.7), 3.0: ("win", 3.6)}, "supported"),
    ({1.0: ("lose", 0.9), 2.0: ("win", 1.7), 3.0: ("win", 3.6)}, "refuted"),
    ({1.0: ("tie", 1.02), 2.0: ("tie", 1.1), 3.0: ("win", 3.6)}, "inconclusive"),
    ({1.0: ("tie", 1.02), 2.0: ("win", 1.7), 3.0: ("tie", 0.99)}, "refuted"),
])
def test_hp_reading(readings, expected) -> None:
    assert hp_reading(readings, [2.0, 3.0]) == expected


# ----------------------------------------------------------------- rate_shape


def test_rate_shape_evidence_sweeps_are_noisy(claim_cfg) -> None:
    cfg = claim_cfg("rate_shape")
    run = Run(cfg, rs.ARMS, print)
    for sweep in rs.SWEEPS:
        for value in cfg[sweep]["grid"]:
            spec, _, _ = rs._spec(run, sweep, value, 0)
            sigma = spec["noise"].get("sigma", 0.0)
            c = spec["algorithms"][0]["c"]
            assert sigma > 0 and c <= 20 * sigma  # c of order sigma, not eps
    for sweep in rs.SANITY:
        assert rs._spec(run, sweep, cfg[sweep]["grid"][0], 0)[0]["noise"]["name"] == "none"


# --------------------------------------------------------- rate_shape readings


def _rate_hits(cfg: dict, sweep: str, shape, rng: np.random.Generator,
               censor_from: int | None = None, relative: bool = True) -> pd.DataFrame:
    """20 runs per grid value with T = shape(i) * B(x) (or * 1 if not ``relative``), 2%
    noise; runs at grid index >= ``censor_from`` censored at the sweep's horizon."""
    grid = sorted(cfg[sweep]["grid"], reverse=sweep == "eps")  # easiest first
    rows = []
    for i, x in enumerate(grid):
        b = rs.implied_bound(cfg, sweep, x) if relative else 1.0
        t = shape(i) * b * (1 + 0.02 * rng.standard_normal(20))
        cens = censor_from is not None and i >= censor_from
        rows.append(pd.DataFrame({"x": x, "T": np.full(20, cfg[sweep]["horizon"]) if cens else t,
                                  "censored": cens, "diverged": False,
                                  "horizon": cfg[sweep]["horizon"]}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("sweep", ["eps", "tau_c", "sigma"])
@pytest.mark.parametrize("shape, censor_from, expected", [
    (lambda i: 2.0, None, "supported"),              # T = const * B: the bound's shape
    (lambda i: 2.0 * 0.6**i, None, "supported"),     # T/B falls (loose bound): never refuted
    (lambda i: 2.0 * (3.0 if i == 1 else 1.0), None, "refuted"),  # a 3x bump mid-grid
    (lambda i: 2.0 * 1.8**i, None, "refuted"),       # T outgrows B
    (lambda i: 0.3, 2, "refuted"),                   # never reaches eps from grid point 2
])
def test_rate_shape_reading_known_answers(sweep, shape, censor_from, expected, claim_cfg
                                          ) -> None:
    cfg = claim_cfg("rate_shape")
    h = _rate_hits(cfg, sweep, shape, np.random.default_rng(3), censor_from)
    assert rs.sweep_reading(h, sweep, cfg)["verdict"] == expected


def test_rate_shape_no_growth_control_reads_T_itself(claim_cfg) -> None:
    """'T does not grow': refuted by a growing T, not by one that gets faster."""
    cfg = claim_cfg("rate_shape")
    rng = np.random.default_rng(4)
    grows = _rate_hits(cfg, "tau_c", lambda i: 1e3 * 2.0**i, rng, relative=False)
    faster = _rate_hits(cfg, "tau_c", lambda i: 1e3 * 0.7**i, rng, relative=False)
    assert rs.sweep_reading(grows, "tau_c", cfg, relative=False)["verdict"] == "refuted"
    assert rs.sweep_reading(faster, "tau_c", cfg, relative=False)["verdict"] == "supported"


def test_rate_shape_control_breaks_a_step_condition(claim_cfg) -> None:
    """The mechanism control's fixed step violates an eta condition at the hardest point."""
    cfg = claim_cfg("rate_shape")
    for sweep in rs.SWEEPS:
        rows = rs.fixed_step_conditions(cfg, sweep)
        assert not all(v["holds"] for k, v in rows.items() if k.startswith("eta")), sweep
