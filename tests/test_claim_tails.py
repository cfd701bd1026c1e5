"""Claim ``tails``: verdict logic on synthetic data folders, the negative control, user files
(and the missing-file error), a tiny end-to-end simulation, and the ``fit-tail`` CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clipasgd import cli, tails
from clipasgd.claims import get_claim
from clipasgd.claims import tails as claim
from clipasgd.runner import run_claim


@pytest.fixture
def cfg(claim_cfg) -> dict:
    """The shipped config's smoke section (so the test also checks it validates)."""
    return claim_cfg("tails", "smoke")


# ------------------------------------------------------------------ synthetic data folders


def _calibration(cfg: dict, rng: np.random.Generator, bias: float = 0.0) -> pd.DataFrame:
    """Replicates that behave as the asymptotics say (plus an optional planted bias)."""
    c, rows = cfg["calibration"], []
    for theta in c["thetas"]:
        for n in c["ns"]:
            k = round(c["frac"] * n)
            for method, reps in (("asymptotic", c["replicates"]), ("bootstrap", 40)):
                est = theta * (1 + bias + rng.standard_normal(reps) / np.sqrt(k))
                half = 1.96 * est / np.sqrt(k)
                rows.append(pd.DataFrame({"method": method, "rep": range(reps), "theta_hat": est,
                                          "ci_low": est - half, "ci_high": est + half, "k": k,
                                          "kind": "weibull", "law": "weibull",
                                          "theta_true": theta, "n": n}))
    rows.append(pd.DataFrame({"method": "asymptotic", "rep": range(5), "theta_hat": 0.64,
                              "ci_low": 0.6, "ci_high": 0.7, "k": 50, "kind": "known_bias",
                              "law": "halfnormal", "theta_true": 0.5, "n": 1000,
                              "theta_reference": 0.636}))
    return pd.concat(rows, ignore_index=True)


def _plausibility(cfg: dict, size_flags: int = 0, control_flag_rate: float = 1.0
                  ) -> pd.DataFrame:
    """``size_flags`` exact-Weibull samples flagged by the likelihood ratio; the heavy laws
    flagged at ``control_flag_rate`` by it; the old control laws by the drift test only."""
    base = {"theta": 1.0, "lr_z": 0.0, "lr_p": 0.5, "drift_slope": 0.0, "drift_z": 0.0}
    size = pd.DataFrame([base | {"rep": i, "plausible": i >= size_flags, "lr_flag": i < size_flags,
                                 "drift_flag": False, "reason": "x", "role": "size",
                                 "law": "weibull", "theta_true": 1.0, "n": 1000}
                         for i in range(50)])
    rows = []
    for law in claim.HEAVY_LAWS:
        for n in cfg["control"]["ns"]:
            reps = 10
            flagged = round(control_flag_rate * reps)
            lr = law in claim.CONTROL_LAWS
            rows += [base | {"rep": i, "plausible": i >= flagged, "lr_flag": lr and i < flagged,
                             "drift_flag": not lr and i < flagged,
                             "reason": "not sub-Weibull", "role": "control", "law": law,
                             "theta_true": np.nan, "n": n}
                     for i in range(reps)]
    return pd.concat([size, pd.DataFrame(rows)], ignore_index=True)


def _real(lr_flag: bool = False, drift_flag: bool = False, boot_high: float = 2.5
          ) -> pd.DataFrame:
    rows = []
    for b in (1, 8):
        for q in ("norm", "projection"):
            rows.append({"source": "builtin", "model": "poisson_randhie", "checkpoint": "converged",
                         "batch": b, "quantity": q, "n": 20000, "k": 1000, "theta": 2.0,
                         "ci_low": 1.9, "ci_high": 2.1, "boot_low": 1.8, "boot_high": 2.2,
                         "qq_theta": 2.0, "qq_intercept": 0.0, "plausible": True,
                         "lr_flag": False, "drift_flag": False, "reason": "no evidence",
                         "lr_z": -3.0, "lr_p": 0.01, "pareto_alpha": 3.0, "theta_se": 2.0,
                         "drift_slope": 0.0, "drift_z": 0.0, "envelope_K": 1.0,
                         "orlicz_K": 1.0})
    last = rows[-1]
    last.update(lr_flag=lr_flag, drift_flag=drift_flag, plausible=not (lr_flag or drift_flag),
                boot_high=boot_high)
    return pd.DataFrame(rows)


def _folder(tmp_path: Path, cfg: dict, *, bias=0.0, size_flags=0, control_rate=1.0,
            **real) -> Path:
    rng = np.random.default_rng(0)
    out = tmp_path / "data"
    out.mkdir(exist_ok=True)
    _calibration(cfg, rng, bias).to_csv(out / "calibration.csv", index=False)
    _plausibility(cfg, size_flags, control_rate).to_csv(out / "plausibility.csv", index=False)
    _real(**real).to_csv(out / "real.csv", index=False)
    return out


def test_supported_when_everything_passes(tmp_path, cfg):
    v = claim.verdict(cfg, _folder(tmp_path, cfg))
    assert v.verdict == "supported" and v.control.refuted
    assert v.details["calibration"]["ok"] and v.details["plausibility_size"]["ok"]
    assert v.statistic == pytest.approx(2.0) and v.margin == cfg["plausibility"]["theta_max"]
    json.dumps(v.to_dict(), default=str)
    known = v.details["known_biases"]["cells"][0]
    assert known["law"] == "halfnormal" and known["mean_theta_hat"] == pytest.approx(0.64)
    assert v.details["paper_comparison"]["paper"]["theta"] == 2.71


def test_power_law_tail_refutes(tmp_path, cfg):
    v = claim.verdict(cfg, _folder(tmp_path, cfg, lr_flag=True))
    assert v.verdict == "refuted"
    assert v.details["real_noise"]["lr_flags"] == 1


def test_drift_is_reported_not_decided(tmp_path, cfg):
    """Issue 19: drift alone no longer blocks support; the old outcome is recorded."""
    v = claim.verdict(cfg, _folder(tmp_path, cfg, drift_flag=True))
    assert v.verdict == "supported" and v.control.refuted
    amend = v.details["design_amendment"]
    assert amend["verdict_under_old_rule"] == "inconclusive"
    assert amend["control_under_old_rule"] == "refuted"  # old laws flagged by drift here
    assert v.details["rule_amendment"]["verdict_under_first_rule"] == "refuted"
    assert v.details["real_noise"]["drift_only_flags"] == 1


def test_theta_at_the_bound_is_inconclusive(tmp_path, cfg):
    v = claim.verdict(cfg, _folder(tmp_path, cfg, boot_high=7.0))
    assert v.verdict == "inconclusive"


def test_failed_calibration_blocks_support(tmp_path, cfg):
    v = claim.verdict(cfg, _folder(tmp_path, cfg, bias=0.2))
    assert v.verdict == "inconclusive" and not v.details["calibration"]["ok"]
    assert v.details["calibration"]["failed_cells"]
    # ... but a power-law rejection still refutes (the check's own size is fine)
    assert claim.verdict(cfg, _folder(tmp_path, cfg, bias=0.2, lr_flag=True)).verdict == "refuted"


def test_oversized_check_makes_everything_inconclusive(tmp_path, cfg):
    v = claim.verdict(cfg, _folder(tmp_path, cfg, size_flags=10, lr_flag=True))
    assert v.verdict == "inconclusive" and not v.details["plausibility_size"]["ok"]
    size = v.details["plausibility_size"]
    assert size["nominal_rate"] == cfg["plausibility"]["lr_alpha"]


def test_control_without_power_downgrades(tmp_path, cfg):
    """The planted false variant 'heavy-tailed sample is sub-Weibull' must be refuted; if
    the check lets the heavy tails through, a 'supported' cannot stand."""
    v = claim.verdict(cfg, _folder(tmp_path, cfg, control_rate=0.0))
    assert v.control.verdict == "supported" and v.verdict == "inconclusive"
    assert "Downgraded" in v.note
    ctrl = v.details["control"]
    assert ctrl["decided_laws"] == list(claim.CONTROL_LAWS)
    assert set(ctrl["power"]) == set(claim.HEAVY_LAWS)  # the old laws' power reported
    weak = claim.verdict(cfg, _folder(tmp_path, cfg, control_rate=0.6))
    assert weak.control.verdict == "inconclusive"


def test_rule_helpers():
    assert claim.case_verdict(True, 1.0, 5.0) == "refuted"
    assert claim.case_verdict(False, 1.0, 5.0) == "supported"
    assert claim.case_verdict(False, 7.0, 5.0) == "inconclusive"
    assert claim.case_verdict(False, np.nan, 5.0) == "inconclusive"
    assert claim.old_case_verdict(False, True, 1.0, 5.0) == "inconclusive"
    assert claim.old_case_verdict(True, True, 1.0, 5.0) == "refuted"
    assert claim.decide(True, True, [])[0] == "inconclusive"
    lo, hi = claim.coverage_band(0.95, 100, 0.03, 3.5)
    assert lo == pytest.approx(0.95 - 0.03 - 3.5 * np.sqrt(0.95 * 0.05 / 100)) and hi == 1.0
    assert claim.girard_bias_approx(50) == pytest.approx(0.0449, abs=1e-3)


# ------------------------------------------------------------ simulate, user files, CLI


def _tiny(cfg: dict, user_files: list[str]) -> dict:
    c = copy.deepcopy(cfg)
    c["calibration"].update(thetas=[1.0], ns=[1000], replicates=20, known_bias_replicates=3,
                            size_replicates=3, bootstrap={"replicates": 3, "n_boot": 39,
                                                          "max_n": 1000})
    c["control"].update(ns=[2000], replicates=2)
    c["real"].update(models={"poisson_randhie": {"steps": 20, "lr": 0.1}}, batch_sizes=[1, 8],
                     checkpoints=["converged"], n_batches=2000, n_boot=39, ks=5)
    c["user_files"] = user_files
    return c


@pytest.fixture()
def user_files(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    one = tmp_path / "norms.npy"
    two = tmp_path / "vectors.npy"
    np.save(one, rng.exponential(size=3000) ** 2.0)  # theta = 2 exactly
    np.save(two, rng.standard_normal((2000, 6)))
    return [str(one), str(two)]


def test_simulate_with_user_files(tmp_path, cfg, user_files):
    c = _tiny(cfg, user_files)
    out = tmp_path / "out"
    messages: list[str] = []
    run_claim(claim.CLAIM, c, out, progress=messages.append)
    real = pd.read_csv(out / "real.csv")
    user = real[real["source"] == "user"]
    assert set(user["quantity"]) == {"sample", "norm", "projection"}
    one = user[user["model"] == user_files[0]].iloc[0]
    assert one["n"] == 3000 and one["theta"] == pytest.approx(2.0, rel=0.25)
    assert set(real[real["source"] == "builtin"]["batch"]) == {1, 8}
    for name in ("calibration", "plausibility", "curves", "tail"):
        assert (out / f"{name}.csv").stat().st_size > 0
    v = claim.verdict(c, out)
    assert any(r["model"] == user_files[1] for r in v.details["real_noise"]["cases"])
    assert v.details["real_noise"]["user_files"] == user_files
    # resumable: a rerun reuses every part
    stamps = sorted((out / "parts").glob("*.done.json"))
    mtimes = [p.stat().st_mtime_ns for p in stamps]
    run_claim(claim.CLAIM, c, out, progress=messages.append)
    assert [p.stat().st_mtime_ns for p in stamps] == mtimes


def test_missing_user_file_fails_before_any_work(tmp_path, cfg, user_files):
    c = _tiny(cfg, [*user_files, str(tmp_path / "nope.npy"), "also/missing.npy"])
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="nope.npy.*also/missing.npy"):
        run_claim(claim.CLAIM, c, out)
    assert not out.exists() or not any(out.iterdir())


def test_bad_user_file_content(tmp_path, cfg):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="bad.npy.*2-D"):
        claim.check_user_files({"user_files": [str(bad)]})
    nan = tmp_path / "nan.npy"
    np.save(nan, np.r_[np.arange(1.0, 100), np.nan])
    with pytest.raises(ValueError, match="NaN"):
        claim.check_user_files({"user_files": [str(nan)]})
    np.save(tmp_path / "ok.npy", np.arange(1.0, 101.0))
    loaded = claim.check_user_files({"user_files": ["ok.npy"]}, root=tmp_path)  # relative
    assert list(loaded) == ["ok.npy"] and loaded["ok.npy"].shape == (100,)


def test_registered():
    assert get_claim("tails") is claim.CLAIM and claim.CLAIM.id == "tails"


def test_cli_fit_tail(tmp_path, capsys, user_files):
    assert cli.main(["fit-tail", user_files[0]]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("theta", "ci_low", "ci_high", "k", "n", "method", "sub_weibull_plausible"):
        assert key in out
    assert out["n"] == 3000 and out["method"] == "girard"
    assert out["ci_low"] < 2.0 < out["ci_high"] and out["sub_weibull_plausible"] is True
    assert cli.main(["fit-tail", str(tmp_path / "missing.npy")]) == 2
    assert "not found" in capsys.readouterr().err


# ------------------------------------- issue 19: the decision's size on batch means, its power


def _batch_means(rng: np.random.Generator, theta: float, b: int, n: int) -> np.ndarray:
    """``|mean of b terms s E^theta|`` (random sign ``s``, ``E ~ Exp(1)``): each term is
    exactly sub-Weibull(theta), and so is their mean."""
    x = rng.exponential(size=(n, b)) ** theta * rng.choice([-1.0, 1.0], size=(n, b))
    return np.abs(x.mean(axis=1))


@pytest.mark.slow
def test_decision_size_on_sub_weibull_batch_means(claim_cfg):
    """Batch means at the claim's quick levels (batch 8 and 32, n = n_batches, its frac,
    lr_alpha, theta_max; bootstrap with fewer resamples): the case rule must not read
    'refuted' or fail to read 'supported' more often than the 99% binomial bound at
    ``lr_alpha``. The old rule (drift alone -> inconclusive) fails the same samples far
    above its nominal rate: the reason its drift test is reported only."""
    cfg = claim_cfg("tails", "quick")
    cfg["real"]["n_boot"] = 39
    pl, n = cfg["plausibility"], cfg["real"]["n_batches"]
    cells = [(theta, b) for theta in (2.0, 2.71) for b in (8, 32)]
    new = old = 0
    for (theta, b), seq in zip(cells, np.random.SeedSequence(197).spawn(len(cells)),
                               strict=True):
        for s in seq.spawn(4):
            s_draw, s_fit = s.spawn(2)
            row = claim.fit_sample(_batch_means(np.random.default_rng(s_draw), theta, b, n),
                                   cfg, s_fit)
            new += claim.case_verdict(row["lr_flag"], row["boot_high"],
                                      pl["theta_max"]) != "supported"
            old += claim.old_case_verdict(row["lr_flag"], row["drift_flag"], row["boot_high"],
                                          pl["theta_max"]) != "supported"
    checks = 4 * len(cells)
    assert new <= stats.binom.ppf(0.99, checks, pl["lr_alpha"])
    assert old >= checks / 4  # nominal lr_alpha + drift_alpha ~ 0.1%


def test_power_law_controls_flagged_at_claim_n(claim_cfg):
    """The negative control's laws at the decision's n: the likelihood-ratio test (the one
    the decision keeps) flags every sample, so the decision can still fail."""
    cfg = claim_cfg("tails", "quick")
    pl, n = cfg["plausibility"], max(cfg["control"]["ns"])
    for law, seq in zip(claim.CONTROL_LAWS, np.random.SeedSequence(198).spawn(2), strict=True):
        for s in seq.spawn(3):
            x = claim.CONTROL_LAWS[law](np.random.default_rng(s), n)
            cmp = tails.compare_tails(x, frac=cfg["calibration"]["frac"],
                                      theta_max=pl["theta_max"])
            assert cmp.z > 0 and cmp.p_value < pl["lr_alpha"], (law, cmp.z)
