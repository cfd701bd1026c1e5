"""Federated claims (issue 10): explicit worker optima, the two known answers (Algorithm 1's
biased floor, the clipped fixed point), the readings on planted tables, the schedule CLI's
candidate models, and each claim's smoke pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipasgd import cli
from clipasgd.algorithms import make_algorithm
from clipasgd.claims import federated as fed
from clipasgd.claims import federated_high_prob as fhp
from clipasgd.claims import scheduler_caption as sc
from clipasgd.claims._federated import (
    algorithm1_floor,
    clipped_fixed_point,
    late_floor,
    noise,
    opposed_offsets,
    quadratic,
    run,
    schedules,
    two_groups,
)
from clipasgd.compute_times import make_compute_times
from clipasgd.pipeline import ablation_mechanisms
from clipasgd.problems import make_problem
from clipasgd.runner import run_claim
from clipasgd.stats import k_mean_interval, proportion_difference

WORKERS = {"n": 16, "stragglers": 8, "D": 4, "law": "fixed"}


# ------------------------------------------------------------------ explicit offsets


def test_offsets_give_exact_zeta_and_mean_gradient() -> None:
    q = make_problem("quadratic", dim=2, condition=1.0, offsets=[[1.0, 2.0], -1.0, [0.0, -2.0]])
    assert q.n_parts == 3 and q.zeta == pytest.approx(np.sqrt(5.0))
    x = np.array([[0.3, -0.7]])
    grads = [q.local_grad(x, i) for i in range(3)]
    np.testing.assert_allclose(np.mean(grads, axis=0), q.grad(x))
    np.testing.assert_allclose(grads[0], x - [1.0, 2.0])


@pytest.mark.parametrize("kw, match", [
    ({"offsets": [1.0, 1.0]}, "average to the optimum"),
    ({"offsets": [1.0, -1.0], "n_parts": 3}, "n_parts"),
    ({"offsets": [1.0, -1.0], "spread": 1.0}, "exclusive"),
    ({"offsets": [[1.0, 0.0, 0.0], -1.0]}, "at most dim"),
    ({"offsets": "abc"}, "offsets must be"),
    ({"offsets": [float("nan"), 0.0]}, "offsets must be"),
])
def test_offsets_are_validated(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_problem("quadratic", dim=2, **kw)


# ------------------------------------------------------------------ known answers


@pytest.mark.parametrize("D", [4, 8])
def test_algorithm1_floor_is_the_rate_weighted_fixed_point(D: int) -> None:
    times = two_groups(WORKERS, D)
    prob = quadratic(opposed_offsets(times, 1.0))
    eta, T = 0.01, 6000
    sch = schedules("algorithm1", times, T, np.random.SeedSequence(0), 1)
    res = run(prob, noise(0.0), make_algorithm("asgd", eta=eta), sch, T,
              np.random.SeedSequence(1))
    assert algorithm1_floor(1.0, D) == pytest.approx((D - 1) / (D + 1))
    assert abs(late_floor(res)[0] - algorithm1_floor(1.0, D)) <= eta / 20


def test_clipped_fixed_point_closed_form() -> None:
    b = [-0.5] * 15 + [7.5]
    for c in (0.5, 1.0, 2.0, 4.0):  # 15 clip_c(x + 0.5) unclipped, the outlier at -c
        assert abs(clipped_fixed_point(b, c)) == pytest.approx(0.5 - c / 15, abs=1e-12)
    assert clipped_fixed_point(b, 45.0) == pytest.approx(0.0, abs=1e-12)
    assert clipped_fixed_point([0.0, 1.0], 10.0, weights=[3, 1]) == pytest.approx(0.25)


def test_clipped_asgd_settles_at_the_clipped_fixed_point() -> None:
    b = [-0.5] * 15 + [7.5]
    times, T, R, c = two_groups(WORKERS), 6000, 12, 4.0
    sch = schedules("algorithm2", times, T, np.random.SeedSequence(3), R)
    res = run(quadratic(b), noise(0.0), make_algorithm("clipped_asgd", eta=0.01, c=c), sch, T,
              np.random.SeedSequence(4))
    fl = late_floor(res)
    se = fl.std(ddof=1) / np.sqrt(R)
    assert abs(fl.mean() - abs(clipped_fixed_point(b, c))) <= 3 * se + 0.001
    assert fl.mean() > 0.2  # far above any O(eta) floor: the bias is clipping's


# ------------------------------------------------------------------ readings on planted tables


@pytest.fixture
def fed_cfg(claim_cfg) -> dict:
    return claim_cfg("federated")


def test_bias_reading_supports_vanishing_floor_and_refutes_a_stuck_one(fed_cfg: dict) -> None:
    cfg, rng = fed_cfg, np.random.default_rng(0)
    etas = np.repeat([0.03, 0.01, 0.003], 10)
    rows = [pd.DataFrame({"D": 4, "scheduler": "algorithm2", "eta": etas,
                          "floor": np.sqrt(etas) * np.exp(0.05 * rng.standard_normal(30))}),
            pd.DataFrame({"D": 4, "scheduler": "algorithm1", "eta": etas,
                          "floor": 0.6 + 0.001 * rng.standard_normal(30)})]
    out = fed.bias_reading(cfg, pd.concat(rows))
    assert out["D=4 algorithm2"]["verdict"] == "supported"
    assert out["D=4 algorithm1"]["verdict"] == "refuted"


def _pairs(ratio: float, ctrl: float, rng) -> pd.DataFrame:
    rows = []
    for s in (0.5, 1.0, 1.5):
        base = 1000 * s * np.exp(0.1 * rng.standard_normal(10))
        for m, r in (("sigma", 1.0), ("zeta", ratio), ("sigma2", ctrl)):
            rows.append(pd.DataFrame({"s": s, "member": m, "rep": np.arange(10),
                                      "T": base * r * np.exp(0.02 * rng.standard_normal(10)),
                                      "censored": False}))
    return pd.concat(rows, ignore_index=True)


def test_like_sigma_reading(fed_cfg: dict) -> None:
    cfg, rng = fed_cfg, np.random.default_rng(1)
    ok = fed.like_sigma_reading(cfg, _pairs(1.05, 2.5, rng))
    assert ok["verdict"] == "supported" and ok["control_verdict"] == "refuted"
    assert ok["tost_equivalent"]
    bad = fed.like_sigma_reading(cfg, _pairs(2.5, 2.5, rng))
    assert bad["verdict"] == "refuted"


@pytest.mark.parametrize("power, expected", [(None, "supported"), (3.0, "refuted")])
def test_zeta_rate_reading(power, expected, fed_cfg: dict) -> None:
    cfg, rng = fed_cfg, np.random.default_rng(2)
    z = np.repeat(cfg["zeta_rate"]["grid"], 10)
    T = np.array([0.3 * fed.implied_bound(cfg, v) for v in z]) if power is None \
        else 500 * z ** power
    frame = pd.DataFrame({"zeta": z, "T": T * np.exp(0.05 * rng.standard_normal(z.size)),
                          "censored": False})
    out = fed.zeta_rate_reading(cfg, frame)
    assert out["verdict"] == expected and out["control_verdict"] == "refuted"


def test_clip_radius_reading_uses_eps_and_the_fixed_point(fed_cfg: dict) -> None:
    cfg, rng = fed_cfg, np.random.default_rng(3)
    b = fed.clip_offsets(cfg)
    rows = []
    for label, c, level in (("4.0", 4.0, 0.2333), ("rule", 45.1, 0.05)):
        pred = abs(clipped_fixed_point(b, c))
        rows.append(pd.DataFrame({"c_label": label, "c": c, "S_T": level + 0.001 *
                                  rng.standard_normal(20), "floor": pred + 0.0005 *
                                  rng.standard_normal(20), "predicted": pred}))
    out = fed.clip_radius_reading(cfg, pd.concat(rows))
    assert out["c=rule"]["verdict"] == "supported" and out["c=4.0"]["verdict"] == "refuted"
    assert out["c=4.0"]["fixed_point_match"]


def test_federated_high_prob_verdict_on_planted_tables(tmp_path: Path, claim_cfg) -> None:
    cfg = claim_cfg("federated_high_prob")
    rng, R = np.random.default_rng(4), 1000
    rows = []
    for case, alg, sched, fail in (("hetero", "clipped", "algorithm2", 0.14),
                                   ("homog", "clipped", "algorithm2", 0.30),
                                   ("hetero", "vanilla", "algorithm2", 1.0),
                                   ("homog", "vanilla", "algorithm2", 1.0),
                                   ("hetero", "clipped", "algorithm1", 1.0)):
        S = np.where(rng.random(R) < fail, 0.13, 0.11) * np.exp(0.01 * rng.standard_normal(R))
        rows.append(pd.DataFrame({"case": case, "algorithm": alg, "scheduler": sched,
                                  "rep": np.arange(R), "S_T": S}))
    pd.concat(rows).to_csv(tmp_path / "final.csv", index=False)
    v = fhp.verdict(cfg, tmp_path)
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    assert v.statistic == pytest.approx(v.details["main"]["p_a"] - v.details["main"]["p_b"])
    assert "second moment" not in v.note  # no such case planted: nothing to say
    m2 = np.where(rng.random(R) < 0.02, 0.13, 0.11)  # the other convention fails less often
    pd.concat([*rows, pd.DataFrame({"case": fhp.M2, "algorithm": "clipped",
                                    "scheduler": "algorithm2", "rep": np.arange(R),
                                    "S_T": m2})]).to_csv(tmp_path / "final.csv", index=False)
    v = fhp.verdict(cfg, tmp_path)
    assert v.verdict == "supported"  # the theorem's convention decides ...
    other = v.details["conventions"]["second moment matched (reported)"]
    assert other["reading"] == "refuted"  # ... and the page says the other one refutes
    assert "matched in second moment instead" in v.note and "reads refuted (+0.1" in v.note


def test_proportion_difference_known_values() -> None:
    r = proportion_difference(56, 70, 48, 80, level=0.95)  # Newcombe (1998) example
    assert r.ci == pytest.approx((0.0524, 0.3339), abs=1e-3)


def test_scheduler_caption_readings(tmp_path: Path, claim_cfg) -> None:
    cfg = {**claim_cfg("scheduler_caption"),
           "models": {"fixed": {"law": "fixed"}, "exponential": {"law": "exponential"}},
           "controls": ["fixed"]}
    rng = np.random.default_rng(5)
    rows = []
    for m, means in (("fixed", (0.3269, 0.6422)), ("exponential", (0.337, 0.668))):
        for s, mu in zip(cfg["settings"], means, strict=True):
            rows.append(pd.DataFrame({"model": m, "D": s["D"], "cap": s["cap"],
                                      "time_per_call": mu + 0.003 * rng.standard_normal(64)}))
    pd.concat(rows).to_csv(tmp_path / "runs.csv", index=False)
    v = sc.verdict(cfg, tmp_path)
    assert v.details["compatible"] == ["exponential"] and v.verdict == "supported"
    assert v.control.verdict == "refuted"
    assert v.details["models"]["exponential"]["D=4"]["exact_mva"] == pytest.approx(0.3723, abs=1e-4)
    assert v.details["models"]["fixed"]["D=4"]["exact_mva"] is None


def test_k_mean_interval_width() -> None:
    iv = k_mean_interval(np.arange(10.0), k=3, level=0.9)
    assert iv.ci.high - iv.mean == pytest.approx(iv.mean - iv.ci.low)
    assert iv.sd * np.sqrt(1 / 3) < iv.ci.high - iv.mean < 3 * iv.sd


def test_caption_control_is_checked_before_work(claim_cfg) -> None:
    cfg = {**claim_cfg("scheduler_caption"), "controls": ["nope"]}
    with pytest.raises(ValueError, match="controls: 'nope'"):
        run_claim(sc.CLAIM, cfg, Path("/nonexistent"))


# ------------------------------------------------------------------ schedule CLI candidates


def _schedule(capsys, *args: str) -> dict:
    assert cli.main(["schedule", "--scheduler", "algorithm2", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_shifted_model_has_no_mva(capsys) -> None:
    out = _schedule(capsys, "--workers", "n=16,stragglers=8,D=4,law=uniform,spread=1,shift=1",
                    "--time-cap", "500")
    assert "time_per_call_mva" not in out and out["time_cap"] == 500
    assert out["time_per_call"] == pytest.approx(500 / out["events"])


def test_cli_exponential_has_mva_and_seeds_average(capsys) -> None:
    out = _schedule(capsys, "--workers", "n=16,stragglers=8,D=4,law=exponential",
                    "--time-cap", "300", "--seeds", "3")
    assert out["seeds"] == 3 and len(out["runs"]) == 3
    assert out["time_per_call"] == pytest.approx(np.mean([r["time_per_call"]
                                                          for r in out["runs"]]))
    assert out["time_per_call_mva"] == pytest.approx(0.3723, abs=1e-4)


def test_cli_per_worker_means_list(capsys) -> None:
    means = ",".join(["1"] * 8 + ["4"] * 8)
    out = _schedule(capsys, "--workers", f"means=[{means}],law=fixed", "--time-cap", "400")
    assert out["n_workers"] == 16 and out["time_per_call"] == pytest.approx(0.33, abs=0.02)


def test_shift_builds_fast_one_slow_one_plus_b() -> None:
    t = make_compute_times({"n": 4, "stragglers": 2, "D": 4, "law": "exponential", "shift": 1})
    np.testing.assert_allclose(t.shift, 1.0)
    np.testing.assert_allclose(t.scale, [0, 0, 3, 3])
    with pytest.raises(ValueError, match="shift"):
        make_compute_times({"n": 4, "stragglers": 2, "D": 4, "shift": 2})


@pytest.mark.parametrize("args, match", [(["--seeds", "0"], "--seeds"),
                                         (["--time-cap", "-1"], "--time-cap")])
def test_cli_bad_options_are_named(capsys, args, match) -> None:
    try:
        code = cli.main(["schedule", *args])
    except SystemExit as exit_:  # argparse refuses a badly typed option itself
        code = exit_.code
    assert code == 2
    assert match in capsys.readouterr().err


# ------------------------------------------------------------------ smoke pipeline


@pytest.mark.slow
@pytest.mark.parametrize("claim", ["federated", "federated_high_prob", "scheduler_caption"])
def test_smoke_pipeline(claim: str, tmp_path: Path, root: Path) -> None:
    shutil.copytree(root / "config", tmp_path / "config")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    steps = [["simulate"], *(["simulate", "--ablate", m] for m in ablation_mechanisms(claim)),
             ["verdict"]]
    for step in steps:
        proc = subprocess.run([sys.executable, "-m", "clipasgd.pipeline", step[0], claim,
                               "--scale", "smoke", *step[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((tmp_path / "data" / "smoke" / "claims" / f"{claim}.json").read_text())
    assert rec["verdict_of_the_test"] in ("supported", "refuted", "inconclusive")
    mech = rec["mechanism"]
    assert rec["falsifier"] and set(mech["ablations"]) == set(mech["credits"])
