"""Time to target (Figures 2-4 claims): checkpoints from event times, censoring, the
speedup verdict on planted tables, tuning choice, and smoke-scale runs of each claim."""

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

from clipasgd.claims import _speedup, get_claim
from clipasgd.datasets import needed
from clipasgd.time_to_target import (
    Setting,
    choose,
    eval_checkpoints,
    run_times,
    settings,
    speedup_verdict,
    time_to_target,
)

SS = np.random.SeedSequence(0)


def test_checkpoints_are_the_events_done_by_each_evaluation_time():
    times = np.array([0.5, 1.0, 1.0, 2.5, 3.0, 4.5, 7.0])
    # by t=2: 3 events; t=4: 5; t=6: 6 (7.0 is past the cap and never evaluated)
    assert eval_checkpoints(times, cap=6.5, every=2).tolist() == [3, 5, 6]
    # an evaluation time before any event, and repeats, are dropped
    assert eval_checkpoints(np.array([3.0, 3.5, 3.6]), cap=4, every=1).tolist() == [1, 3]


def test_time_to_target_first_hit_and_censoring():
    t = np.array([10.0, 20.0, 30.0])
    assert time_to_target(t, [0.5, 0.81, 0.79], 0.8, "max") == 20.0
    assert time_to_target(t, [20.0, 16.0, 14.9], 15.0, "min") == 30.0
    assert time_to_target(t, [0.5, 0.6, 0.7], 0.8, "max") == np.inf  # missed: censored
    assert time_to_target(t, [np.nan, np.nan, np.nan], 0.8, "max") == np.inf  # diverged
    with pytest.raises(ValueError, match="goal"):
        time_to_target(t, [1, 2, 3], 1, "up")


def _curves(spec: dict[tuple, list[float]], times=(10.0, 20.0, 30.0, 40.0)) -> pd.DataFrame:
    """Planted curves: {(D, phase, algorithm, seed): metric values at `times`}."""
    rows = [{"D": D, "phase": ph, "algorithm": alg, "seed": s, "time": t, "acc": v}
            for (D, ph, alg, s), vals in spec.items() for t, v in zip(times, vals, strict=True)]
    return pd.DataFrame(rows)


def test_run_times_extracts_per_run_times_with_censoring():
    c = _curves({(4, "fresh", "clipped", 0): [0.1, 0.9, 0.9, 0.9],
                 (4, "fresh", "vanilla", 0): [0.1, 0.2, 0.3, 0.4]})
    t = run_times(c, "acc", 0.8, "max", ["D", "phase", "algorithm"]).set_index("algorithm")
    assert t.loc["clipped", "T"] == 20.0 and t.loc["vanilla", "T"] == np.inf
    assert t.loc["vanilla", "final"] == pytest.approx(0.4)


def test_speedup_verdict_on_planted_times():
    fast = np.array([10.0, 11, 12, 10, 11, 12, 10, 11])
    slow = np.array([30.0, 33, 31, 32, 35, 36, 30, 33])
    v = speedup_verdict(fast, slow, cap=100, level=0.95, paper=1.8)
    assert v["verdict"] == "supported" and 2.5 < v["ratio"] < 3.2
    assert v["paper"] == 1.8 and v["reading"] == "paper's direction reproduced"
    assert speedup_verdict(slow, fast, 100, 0.95)["verdict"] == "refuted"
    same = speedup_verdict(fast, np.roll(fast, 1), 100, 0.95)
    assert same["verdict"] == "inconclusive" and same["reading"] == "not reproduced"
    # the other algorithm never reaches the target: a bound (T >= cap), not dropped
    cens = speedup_verdict(fast, np.full(8, np.inf), 100, 0.95)
    assert cens["ci_high"] is None and cens["censored_b"] == 8 and cens["n_pairs"] == 8
    assert cens["bound"] == "lower" and cens["verdict"] == "supported"
    # both missed on every seed: nothing to compare, no verdict either way
    assert speedup_verdict(np.full(8, np.inf), np.full(8, np.inf), 100, 0.95)["verdict"] == (
        "inconclusive")


def test_choose_smallest_median_time_then_best_final():
    sel = pd.DataFrame([
        {"D": 4, "algorithm": "vanilla", "eta": 0.1, "c": np.nan, "max_delay": 0, "seed": 0,
         "T": 50.0, "final": 0.8},
        {"D": 4, "algorithm": "vanilla", "eta": 0.2, "c": np.nan, "max_delay": 0, "seed": 0,
         "T": 30.0, "final": 0.7},
        {"D": 4, "algorithm": "clipped", "eta": 0.1, "c": 1.0, "max_delay": 0, "seed": 0,
         "T": np.inf, "final": 0.6},
        {"D": 4, "algorithm": "clipped", "eta": 0.2, "c": 1.0, "max_delay": 0, "seed": 0,
         "T": np.inf, "final": 0.7},  # both censored: the better final metric wins
    ])
    best = choose(sel, "max", cap=100).set_index("algorithm")
    assert best.loc["vanilla", "eta"] == 0.2 and best.loc["clipped", "eta"] == 0.2
    assert np.isnan(best.loc["vanilla", "c"]) and best.loc["clipped", "c"] == 1.0
    assert best.loc["clipped", "select_median_T"] == 100  # censored at the cap


def _cfg() -> dict:
    return {"metric": "acc", "target": 0.8, "goal": "max", "cap": 50.0, "level": 0.95,
            "seed": 1, "algorithms": ["clipped", "vanilla"], "D": [4],
            "paper": [{"D": 4, "vanilla": 1.2}]}


def _write(tmp_path: Path, curves: pd.DataFrame) -> Path:
    curves.to_csv(tmp_path / "curves.csv", index=False)
    pd.DataFrame([{"D": 4, "algorithm": a, "eta": 0.1} for a in ("clipped", "vanilla")]).to_csv(
        tmp_path / "choice.csv", index=False)
    return tmp_path


def test_claim_verdict_on_planted_tables(tmp_path):
    hit = lambda k: [0.1] * k + [0.9] * (4 - k)  # noqa: E731  reaches the target at eval k
    spec = {}
    for s in range(8):
        spec[4, "fresh", "clipped", s] = hit(1)
        spec[4, "fresh", "vanilla", s] = hit(3)
        spec[4, "control", "clipped", s] = hit(1)
    v = _speedup.verdict(_cfg(), _write(tmp_path, _curves(spec)))
    sp = v.details["D=4"]["speedups"]["vanilla"]
    assert sp["ratio"] == pytest.approx(2.0) and sp["paper"] == 1.2
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    # vanilla faster: refuted; the control against itself shows no speedup either way
    for s in range(8):
        spec[4, "fresh", "vanilla", s] = hit(0)
    assert _speedup.verdict(_cfg(), _write(tmp_path, _curves(spec))).verdict == "refuted"


def test_a_control_that_reports_a_difference_blocks_support(tmp_path):
    spec = {}
    for s in range(8):
        spec[4, "fresh", "clipped", s] = [0.1, 0.9, 0.9, 0.9]
        spec[4, "fresh", "vanilla", s] = [0.1, 0.1, 0.1, 0.9]
        spec[4, "control", "clipped", s] = [0.1, 0.1, 0.1, 0.9]  # planted: control slower
    v = _speedup.verdict(_cfg(), _write(tmp_path, _curves(spec)))
    assert v.control.verdict == "supported" and v.verdict == "inconclusive"
    for s in range(8):  # a planted slowdown against itself is just as overconfident
        spec[4, "fresh", "clipped", s] = [0.1, 0.1, 0.9, 0.9]
        spec[4, "control", "clipped", s] = [0.9, 0.9, 0.9, 0.9]
    v = _speedup.verdict(_cfg(), _write(tmp_path, _curves(spec)))
    assert v.control.verdict == "supported" and v.verdict == "inconclusive"


def test_mechanism_control_without_stragglers(tmp_path):
    """At D = 1 (control_D) Clipped against Vanilla must show no speedup; a speedup there
    is a broken control and blocks support."""
    hit = lambda k: [0.1] * k + [0.9] * (4 - k)  # noqa: E731
    spec = {}
    for s in range(8):
        spec[4, "fresh", "clipped", s] = spec[4, "control", "clipped", s] = hit(1)
        spec[4, "fresh", "vanilla", s] = hit(3)
        spec[1, "fresh", "clipped", s] = spec[1, "fresh", "vanilla", s] = hit(1)
    cfg = {**_cfg(), "control_D": [1]}
    v = _speedup.verdict(cfg, _write(tmp_path, _curves(spec)))
    assert v.verdict == "supported" and v.control.verdict == "refuted"
    assert not v.details["D=1"]["mechanism_control"]["decisive"]
    assert "design_amendment" in v.details and v.details["deciding_comparison"] == (
        "vanilla at D = 4")
    # one straggler D: the stragglers' effect is not measured (never divided by D = 1)
    assert "straggler_effect" not in v.details["D=4"]
    assert v.details["straggler_effect"].startswith("not measured: one straggler D (4)")
    for s in range(8):  # planted: clipped faster even without stragglers
        spec[1, "fresh", "vanilla", s] = hit(3)
    v = _speedup.verdict(cfg, _write(tmp_path, _curves(spec)))
    assert v.control.verdict == "supported" and v.verdict == "inconclusive"


def test_a_control_passed_only_by_an_open_interval_says_so(tmp_path):
    """Vanilla missing the target on most seeds at D = 1 leaves the control's interval
    open above: it still contains 1 (pre-registered: the control holds), and the reading
    says it had no power in that direction; a closed interval does not."""
    hit = lambda k: [0.1] * k + [0.9] * (4 - k)  # noqa: E731
    spec = {}
    for s in range(12):
        spec[4, "fresh", "clipped", s] = spec[4, "control", "clipped", s] = hit(1)
        spec[4, "fresh", "vanilla", s] = hit(1)
        spec[1, "fresh", "clipped", s] = hit(2)
        # 2 misses; the others faster, as fast or slower than Clipped
        spec[1, "fresh", "vanilla", s] = [0.1] * 4 if s < 2 else hit([1, 2, 3][s % 3])
    v = _speedup.verdict({**_cfg(), "control_D": [1]}, _write(tmp_path, _curves(spec)))
    ctrl = v.details["D=1"]["mechanism_control"]
    assert not ctrl["decisive"] and ctrl["ci_low"] < 1 and ctrl["ci_high"] is None
    assert ctrl["reading"] == ("no difference detected without stragglers (control refuted); "
                               "its interval is open above (0 vs 2 runs missed the target): "
                               "no power in that direction")
    assert v.details["D=4"]["control"]["reading"] == "no difference detected (control refuted)"


def test_slower_stragglers_effect_is_anchored_at_the_first_straggler_D(tmp_path):
    """Two straggler D: Clipped's speedup at D = 8 over that at D = 4, paired by seed; the
    no-straggler D = 1 point (here planted with a 4x speedup) never enters it. Known
    answers: 2x at D = 4 and 2x at D = 8 read 1; 2x then 4x reads 2."""
    hit = lambda k: [0.1] * k + [0.9] * (6 - k)  # noqa: E731  # first hit at evaluation k
    spec = {}
    for s in range(8):
        for D in (4, 8):
            spec[D, "fresh", "clipped", s] = spec[D, "control", "clipped", s] = hit(1)
            spec[D, "fresh", "vanilla", s] = hit(2)
        spec[1, "fresh", "clipped", s], spec[1, "fresh", "vanilla", s] = hit(1), hit(4)
    cfg = {**_cfg(), "D": [4, 8], "control_D": [1], "cap": 100.0}
    times = (5.0, 10.0, 20.0, 30.0, 40.0, 50.0)  # hit(1), hit(2), hit(4): T = 10, 20, 40
    v = _speedup.verdict(cfg, _write(tmp_path, _curves(spec, times)))
    assert "straggler_effect" not in v.details["D=4"] and "straggler_effect" not in v.details
    e = v.details["D=8"]["straggler_effect"]
    assert e["anchor_D"] == 4.0 and e["ratio"] == pytest.approx(1.0)
    assert e["status"].startswith("exploratory")  # defined after the paper runs
    # the straggler D come from the design: tables with a D it does not name are refused
    with pytest.raises(ValueError, match=r"tables hold D = \[1.0, 4.0, 8.0\]"):
        _speedup.verdict({**cfg, "control_D": []}, _write(tmp_path, _curves(spec, times)))
    assert e["reading"] == "no change with slower stragglers detected"
    for s in range(8):
        spec[8, "fresh", "vanilla", s] = hit(4)  # 4x at D = 8 against 2x at D = 4
    e = _speedup.verdict(cfg, _write(tmp_path, _curves(spec, times))).details["D=8"][
        "straggler_effect"]
    assert e["ratio"] == pytest.approx(2.0) and e["ci_low"] > 1
    assert e["reading"] == "slower stragglers add to Clipped ASGD's advantage"
    # an ablation's tables (fig3's: the unclipped arm against the other baselines, no
    # Vanilla arm) have two straggler D and nothing to divide: no effect, no error
    abl = {k: v for k, v in spec.items() if k[2] != "vanilla" and k[0] != 1}
    abl.update({(D, "fresh", "ringmaster", s): hit(2) for D in (4, 8) for s in range(8)})
    v = _speedup.verdict({**cfg, "algorithms": ["clipped", "ringmaster"], "control_D": []},
                         _write(tmp_path, _curves(abl, times)))
    assert "straggler_effect" not in v.details["D=8"] and v.verdict == "supported"


def test_straggler_effect_known_answers():
    """Per seed log speedup at the slower D less that at the first straggler D: a planted
    x2 at the slower D with no difference at the first reads 2; the same x2 at both reads 1
    (slower stragglers add nothing); a seed with a miss is dropped and counted; the
    interval sees a loss."""
    rng = np.random.default_rng(5)
    c = rng.uniform(10, 20, 20)
    T = {("fresh", "clipped"): c, ("fresh", "vanilla"): 2 * c * rng.uniform(0.97, 1.03, 20)}
    flat = {("fresh", "clipped"): c, ("fresh", "vanilla"): c * rng.uniform(0.97, 1.03, 20)}
    e = _speedup.straggler_effect(T, flat, 100.0, 0.95)
    assert 1.9 < e["ci_low"] and e["ci_high"] < 2.1 and e["n_pairs"] == 20
    assert _speedup.straggler_effect(T, T, 100.0, 0.95)["ratio"] == pytest.approx(1.0)
    T[("fresh", "vanilla")] = T[("fresh", "vanilla")].copy()
    T[("fresh", "vanilla")][:3] = np.inf
    e = _speedup.straggler_effect(flat, T, 100.0, 0.95)  # roles swapped: a loss
    assert e["dropped_with_a_miss"] == 3 and e["ci_high"] < 1
    assert e["reading"] == "slower stragglers take from Clipped ASGD's advantage"
    few = {k: v[:2] for k, v in flat.items()}  # 2 pairs: no finite interval end
    e = _speedup.straggler_effect(few, few, 100.0, 0.95)
    assert e["ci_high"] is None and e["reading"] == "no change with slower stragglers detected"


def test_data_rule_keys_on_the_problem_section():
    assert needed({"name": "fashion_mlp"}) == ["fashion-mnist"]
    assert needed({"name": "shakespeare_mlp", "source": "auto"}) == ["shakespeare"]
    assert needed({"name": "fashion_mlp", "source": "synthetic"}) == []
    assert needed({"name": "quadratic"}) == []


@pytest.mark.slow
@pytest.mark.parametrize("claim", ["fig2_speedup", "fig3_speedup", "fig4_federated"])
def test_smoke_scale_simulate_and_verdict(tmp_path, claim, root):
    """The claim end to end on synthetic data through ``python -m clipasgd.pipeline``."""
    shutil.copytree(root / "config", tmp_path / "config")
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1"}
    ablate = [["simulate", "--ablate", "clipping"]] if get_claim(claim).ablations else []
    for step in (["simulate"], *ablate, ["verdict"]):
        subprocess.run([sys.executable, "-m", "clipasgd.pipeline", step[0], claim, "--scale",
                        "smoke", *step[1:]], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
    rec = json.loads((tmp_path / "data" / "smoke" / "claims" / f"{claim}.json").read_text())
    assert rec["verdict_of_the_test"] in ("supported", "refuted", "inconclusive")
    ablation = rec["mechanism"]["ablations"]["clipping"]
    if claim == "fig4_federated":  # Vanilla is its only baseline: its comparison is the ablation
        assert not ablation["run"] and "own comparison" in ablation["why"]
    else:  # against delay-adaptive and Ringmaster, never Vanilla (itself, by algebra)
        assert ablation["run"] and ablation["data"]
    curves = pd.read_csv(tmp_path / "data" / "smoke" / claim / "curves.csv")
    assert set(curves["phase"]) == {"fresh", "control"}
    assert curves["time"].max() <= rec["config_section"]["cap"]
    for d in (v for k, v in rec["details"].items() if k.startswith("D=") and "speedups" in v):
        # every fresh seed counted: used, or dropped as a pair where both missed
        assert {s["n_pairs"] + s["dropped_both_censored"] for s in d["speedups"].values()} == {2}
    assert "mechanism_control" in rec["details"]["D=1"]  # tuned there: its own choice
    assert {c["algorithm"] for c in rec["details"]["D=1"]["chosen"]} == {"clipped", "vanilla"}
    from clipasgd import plots  # the figure: the claim's verdict in its title, saved

    drawn, paths = plots.draw(claim, tmp_path, "smoke")
    assert f"Verdict: {rec['verdict'].upper()}" in drawn.fig.get_suptitle()
    assert "analogue, not a replication" in drawn.caption and all(p.is_file() for p in paths)


def test_arm_labels_are_the_declared_arms_the_config_schema_lists(root) -> None:
    """The config schema is static JSON: its figure claims' ``algorithms`` enum must be the
    arms the protocol declares, each a registered algorithm."""
    from clipasgd.algorithms import REGISTRY
    from clipasgd.claims._speedup import ARMS

    schema = json.loads((root / "config" / "config.schema.json").read_text())
    entry = schema["$defs"]["time_to_target"]["properties"]["algorithms"]
    assert entry["items"]["enum"] == [a.label for a in ARMS]
    assert entry["prefixItems"][0]["const"] == ARMS[0].label
    assert [a.algorithm for a in ARMS] == ["clipped_asgd", "asgd", "delay_adaptive_asgd",
                                           "ringmaster_asgd"]
    assert all(a.algorithm in REGISTRY for a in ARMS)
    with pytest.raises(ValueError, match="unknown 'momentum'"):
        settings({"algorithms": ["momentum"], "lrs": [0.1]}, [a.label for a in ARMS])


def test_setting_keys_and_rules() -> None:
    """The grid per label, its point keys (they seed the runs: they must not change) and
    the rules the declared arms build from the registry."""
    from clipasgd.claims._speedup import ARMS
    from clipasgd.claims.base import Run
    from clipasgd.updates import chain, clip, delay_adaptive, drop_stale, scale

    cfg = {"algorithms": ["clipped", "vanilla", "delay_adaptive", "ringmaster"],
           "lrs": [0.1, 0.03], "clip": [1.0, 2.5], "ringmaster_R": [3]}
    grid = settings(cfg, [a.label for a in ARMS])
    assert [a.key for a in grid] == [
        "clipped-lr0.1-c1", "clipped-lr0.1-c2.5", "clipped-lr0.03-c1", "clipped-lr0.03-c2.5",
        "vanilla-lr0.1", "vanilla-lr0.03", "delay_adaptive-lr0.1", "delay_adaptive-lr0.03",
        "ringmaster-lr0.1-R3", "ringmaster-lr0.03-R3"]
    assert grid[1] == Setting("clipped", 0.1, c=2.5) and grid[-1] == Setting(
        "ringmaster", 0.03, max_delay=3)
    run = Run(cfg, ARMS, print)

    def rule(s: Setting):
        return run.build(s.label, {**s.params(), "n_workers": 4}, 4).rule

    assert rule(grid[1]) == chain(clip(2.5), scale(0.1))
    assert rule(grid[4]) == scale(0.1)
    assert rule(grid[6]) == delay_adaptive(0.1, 4)  # tau_C = n
    assert rule(grid[-1]) == chain(drop_stale(3), scale(0.03))


def test_each_algorithm_is_tuned_where_it_is_compared_control_D_included():
    """The mechanism control at D = 1 is the claim's comparison there: Clipped and Vanilla
    (only) are tuned at D = 1 on the selection seeds, and the fresh runs at D = 1 use the
    D = 1 choice, not the one made under stragglers (second amendment of issue 20)."""
    from clipasgd.claims.base import Run

    cfg = {**_cfg(), "algorithms": ["clipped", "vanilla", "delay_adaptive"], "D": [4],
           "control_D": [1], "lrs": [0.1, 0.2], "clip": [1.0], "ringmaster_R": [16],
           "selection_seeds": 2, "fresh_seeds": 3, "control_seeds": 2}
    run = Run(cfg, _speedup.ARMS, progress=lambda _: None)
    select = _speedup._select(run, {})
    at = {(p["D"], p["algorithm"]) for p in select}
    assert at == {(4, "clipped"), (4, "vanilla"), (4, "delay_adaptive"), (1, "clipped"),
                  (1, "vanilla")}
    assert len(select) == (3 + 2) * 2 * 2  # (algorithm, D) pairs x lrs x selection seeds
    # planted selection: at D = 4 the smaller step wins, at D = 1 the larger one
    best = {4: 0.1, 1: 0.2}
    rows = [{"D": p["D"], "phase": "select", "seed": p["seed_index"], "time": t,
             "acc": 0.9 if (p["eta"] == best[p["D"]] or t == 40.0) else 0.1,
             **{k: p[k] for k in ("algorithm", "eta", "c", "max_delay")}}
            for p in select for t in (10.0, 40.0)]
    fresh = _speedup._fresh(run, {"select": pd.DataFrame(rows)})
    eta = {(p["phase"], p["D"], p["algorithm"]): p["eta"] for p in fresh}
    assert eta == {("fresh", 4, "clipped"): 0.1, ("fresh", 4, "vanilla"): 0.1,
                   ("fresh", 4, "delay_adaptive"): 0.1, ("control", 4, "clipped"): 0.1,
                   ("fresh", 1, "clipped"): 0.2, ("fresh", 1, "vanilla"): 0.2}
    assert len(fresh) == 5 * 3 + 2  # 5 (phase-free) arms x fresh seeds + the self-control


def test_the_clipping_ablation_runs_no_duplicate():
    """Unclipped, the clip radii are one run and Vanilla is the arm itself: the ablation
    keeps one radius and drops Vanilla (its comparison would read 1 [1, 1] by algebra)."""
    from clipasgd.claims import delay_sweep

    cfg = {"algorithms": ["clipped", "vanilla", "delay_adaptive", "ringmaster"],
           "clip": [0.5, 1.0, 2.0, 4.0], "control_D": [1], "control_seeds": 20}
    ab = _speedup.ABLATION.config(cfg)
    assert ab["algorithms"] == ["clipped", "delay_adaptive", "ringmaster"]
    assert ab["clip"] == [0.5] and ab["control_D"] == [] and ab["control_seeds"] == 0
    assert delay_sweep.ABLATION.config(cfg)["clip"] == [0.5]


def test_a_figure_point_runs_on_the_configured_engine(claim_cfg, monkeypatch):
    """``engine`` reaches the simulation of a figure point (it was left at the default),
    the two backends agree to rounding, and the engine is part of what a point reads (so
    caches and run identities tell them apart)."""
    from clipasgd import time_to_target
    from clipasgd.claims.base import Run

    asked, real = [], time_to_target.simulate
    monkeypatch.setattr(time_to_target, "simulate",
                        lambda *a, **k: asked.append(k["engine"]) or real(*a, **k))
    frames = {}
    for engine in ("compiled", "numpy"):
        cfg = {**claim_cfg("fig2_speedup", "smoke"), "engine": engine}
        run = Run(cfg, _speedup.ARMS, lambda _: None)
        point = _speedup._points("fresh", cfg["D"][0], _speedup._setting(
            {"algorithm": "clipped", "eta": cfg["lrs"][0], "c": cfg["clip"][0],
             "max_delay": 0}), 1)[0]
        frames[engine] = _speedup._run(run, point, 0)["fresh"]
        assert _speedup.DESIGN.point_reads(cfg)["engine"] == engine
    assert asked == ["compiled", "numpy"]
    pd.testing.assert_frame_equal(frames["compiled"], frames["numpy"], rtol=1e-9)


def test_tuned_values_at_an_end_of_their_grid_are_named():
    """Known answers: a step at either end of the bracket, the largest clip radius and
    Ringmaster R are named; interior values, unused ones (c None, R 0) and one-value grids
    are not."""
    from clipasgd.report import grid_ends, mechanism_brief, mechanism_lines
    from clipasgd.time_to_target import at_grid_edge, edge_words

    cfg = {"lrs": [0.125, 0.25, 0.5], "clip": [0.5, 1.0, 4.0], "ringmaster_R": [16]}
    chosen = [{"algorithm": "clipped", "eta": 0.25, "c": 4.0, "max_delay": 0},
              {"algorithm": "vanilla", "eta": 0.125, "c": None, "max_delay": 0},
              {"algorithm": "delay_adaptive", "eta": 0.5, "c": None, "max_delay": 0},
              {"algorithm": "ringmaster", "eta": 0.25, "c": None, "max_delay": 16}]
    words = [edge_words(e) for e in at_grid_edge(chosen, cfg)]
    assert words == ["clipped clip radius 4 (largest of the grid)",
                     "vanilla step 0.125 (smallest of the grid)",
                     "delay_adaptive step 0.5 (largest of the grid)"]
    assert edge_words(at_grid_edge(chosen, {**cfg, "ringmaster_R": [8, 16]})[-1]) == (
        "ringmaster R 16 (largest of the grid)")
    assert at_grid_edge(chosen[:1], {"lrs": [0.25], "clip": [1.0, 4.0, 8.0]}) == []
    rec = {"details": {"D=4": {"at_grid_edge": at_grid_edge(chosen, cfg)},
                       "D=8": {"at_grid_edge": at_grid_edge(chosen[1:2], cfg)}, "x": "y"}}
    assert grid_ends(rec) == ["clipped clip radius (largest: D=4)",
                              "vanilla step (smallest: D=4, D=8)",
                              "delay_adaptive step (largest: D=4)"]
    assert ("tuned at a grid end: clipped clip radius (largest: D=4), vanilla step "
            "(smallest: D=4, D=8), delay_adaptive step (largest: D=4)") in mechanism_brief(rec)
    assert any(line.startswith("Tuned at an end of its grid") and "vanilla step (smallest: "
               in line for line in mechanism_lines(rec))
    nested = {"details": {"problems": {"fig3": {"at_grid_edge": at_grid_edge(chosen[1:2], cfg)}}}}
    assert grid_ends(nested) == ["vanilla step (smallest: fig3)"]  # delay_sweep: per problem
    # an end that won only a tie on time with an interior value says so
    med = pd.DataFrame([{"algorithm": "clipped", "eta": 0.25, "c": 4.0, "max_delay": 0, "T": 9.0},
                        {"algorithm": "clipped", "eta": 0.25, "c": 1.0, "max_delay": 0, "T": 9.0},
                        {"algorithm": "vanilla", "eta": 0.125, "c": -1, "max_delay": 0, "T": 5.0},
                        {"algorithm": "vanilla", "eta": 0.25, "c": -1, "max_delay": 0, "T": 7.0}])
    rows = [{**chosen[0], "select_median_T": 9.0}, {**chosen[1], "select_median_T": 5.0}]
    edges = at_grid_edge(rows, cfg, med)
    assert [e["tied"] for e in edges] == [True, False]
    assert edge_words(edges[0]) == ("clipped clip radius 4 (largest of the grid; tied on time "
                                    "with an interior value)")
    assert grid_ends({"details": {"D=4": {"at_grid_edge": edges}}})[0] == (
        "clipped clip radius (largest, won a tie: D=4)")
