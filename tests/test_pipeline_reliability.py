"""Pipeline reliability without running Snakemake (issues 12 and 14): grid shards, the code
fingerprint, damaged parts, claim-section checks, logs per attempt, estimate, tidy runs,
the landing page's figure fallback."""

from __future__ import annotations

import ast
import json
import math
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import CONFIG, ROOT, SCHEMA

from clipasgd import pipeline, runner
from clipasgd.claims import base, get_claim
from clipasgd.pipeline import check_claims, check_config, claim_config, load_config
from clipasgd.provenance import config_hash
from clipasgd.runner import run_claim
from clipasgd.spec import SpecError

PACKAGE = ROOT / "src" / "clipasgd"


def _claim(calls: list[str], second: bool = False) -> base.Claim:
    """A design of 7 points; with ``second``, a later stage built from the first's tables
    (tuning, then fresh seeds)."""
    def run_point(run: base.Run, point: dict, seed: int) -> base.Tables:
        calls.append(point["key"])
        return {"t": pd.DataFrame({"x": [point["x"]], "seed": [seed]})}

    def fresh(run: base.Run, tables: base.Tables) -> list[dict]:
        best = int(tables["t"]["x"].max())  # needs every point of the first grid
        return [{"key": f"fresh{best}", "x": best}]

    stages = [base.Stage("t", lambda run, _: [{"key": f"p{i}", "x": i} for i in range(7)],
                         run_point)]
    if second:
        stages.append(base.Stage("u", fresh, lambda run, p, s: {
            "u": pd.DataFrame({"x": [p["x"]]})}))
    return base.Claim("toy", "none", reading=lambda cfg, data: None,
                      design=base.Design(tuple(stages), settings=lambda cfg: {"s": 1}))


# ---------------------------------------------------------------- grid points as jobs

def test_shards_split_the_grid_and_the_gather_only_concatenates(tmp_path):
    calls: list[str] = []
    claim, cfg = _claim(calls), {"seed": 1}
    for k in range(3):
        done = run_claim(claim, cfg, tmp_path / "sharded", shard=runner.Shard(k, 3))
        assert done == runner.ShardResult("t", len(range(k, 7, 3)), 7)
        assert not (tmp_path / "sharded" / "t.csv").exists(), "a shard writes parts only"
    assert sorted(calls) == [f"p{i}" for i in range(7)]  # each point once, in some shard
    merged = run_claim(claim, cfg, tmp_path / "sharded")  # the gather: every point cached
    assert len(calls) == 7
    plain = run_claim(_claim([]), cfg, tmp_path / "plain")
    assert merged["t"].equals(plain["t"])  # same rows, seeds and order as one plain run
    assert pd.read_csv(tmp_path / "sharded" / "t.csv").equals(plain["t"])
    assert runner.plan(claim, cfg) == [{"key": f"p{i}", "x": i} for i in range(7)]


def test_a_shard_stops_before_a_grid_built_from_its_partial_tables(tmp_path):
    """Tuning then fresh seeds: the second grid depends on the first one's tables, so a shard
    runs only its share of the first grid; the gather runs the rest, complete."""
    calls: list[str] = []
    claim, cfg = _claim(calls, second=True), {"seed": 1}
    for k in range(2):
        run_claim(claim, cfg, tmp_path, shard=runner.Shard(k, 2))
    assert not (tmp_path / "u.csv").exists()
    assert run_claim(claim, cfg, tmp_path)["u"]["x"].tolist() == [6] and len(calls) == 7


def test_arms_replaced_by_the_runner_key_their_own_caches(tmp_path):
    """The same design run with other arms (an ablation, a user's rule) never reuses the
    claim's own cached points: ``variant`` is in every point's key."""
    seen: list[str] = []
    arm = base.Arm("a", "asgd", lambda at: {"eta": at["eta"]})
    other = base.Arm("a", "clipped_asgd", lambda at: {"eta": at["eta"], "c": 1.0})

    def run_point(run: base.Run, point: dict, seed: int) -> base.Tables:
        seen.append(run.algorithms({"eta": 0.1})[0]["name"])
        return {"t": pd.DataFrame({"x": [1]})}

    claim = base.Claim("toy", "none", reading=lambda cfg, data: None, arms=(arm,),
                       design=base.Design((base.Stage("t", lambda r, _: [{"key": "p"}],
                                                      run_point),)))
    run_claim(claim, {"seed": 1}, tmp_path / "own")
    run_claim(claim, {"seed": 1}, tmp_path / "own", arms=(other,), variant="clipped")
    run_claim(claim, {"seed": 1}, tmp_path / "own")  # the variant's part is not reused
    run_claim(claim, {"seed": 1}, tmp_path / "v", arms=(other,), variant="clipped")
    run_claim(claim, {"seed": 1}, tmp_path / "v", arms=(other,), variant="clipped")  # cached
    assert seen == ["asgd", "clipped_asgd", "asgd", "clipped_asgd"]


def test_shard_argument_is_checked():
    assert pipeline.parse_shard("2/4") == runner.Shard(1, 4)
    for bad in ("0/4", "5/4", "a/b", "3"):
        with pytest.raises(SpecError, match="--shard"):
            pipeline.parse_shard(bad)
    assert pipeline.parse_shard("2/4", "fig2_speedup", "fresh") == runner.Shard(1, 4, "fresh")
    assert pipeline.shard_name(runner.Shard(1, 4, "fresh")) == "fresh-2-of-4.json"
    assert pipeline.shard_name(runner.Shard(1, 4)) == "2-of-4.json"
    for claim, stage in (("fig2_speedup", "select"), ("tau_max", "fresh")):
        with pytest.raises(SpecError, match=f"--stage {stage}: claim .{claim}. has no later stage"):
            pipeline.parse_shard("1/2", claim, stage)
    assert pipeline.main(["simulate", "tau_max", "--scale", "smoke", "--stage", "fresh"]) == 2
    assert pipeline.main(["simulate", "tau_max", "--scale", "smoke", "--ablate", "clipping",
                          "--shard", "1/2"]) == 2  # would have run the whole ablation


def test_shard_count_default_and_override():
    cfg = load_config(CONFIG, SCHEMA)
    assert pipeline.shard_count(cfg, "smoke") * 4 >= 10  # >= 10 simulation jobs at smoke
    assert pipeline.shard_count({**cfg, "shards": 7}, "paper") == 7
    with pytest.raises(SpecError, match="shards"):
        check_config({**cfg, "shards": 0}, SCHEMA)


# ---------------------------------------------------- item 1: stale results, code changes

def _fingerprint_text(tmp_path: Path, source: str) -> str:
    path = tmp_path / "mod.py"
    path.write_text(source)
    return base._code_text(path)


def test_fingerprint_ignores_comments_and_docstrings_but_not_code(tmp_path):
    src = '"""Module."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n'
    same = '"""Other words."""\n# a comment\n\ndef f(x):  # why\n    """New doc."""\n' \
           '    return x + 1\n'
    changed = src.replace("x + 1", "x + 2")
    assert _fingerprint_text(tmp_path, src) == _fingerprint_text(tmp_path, same)
    assert _fingerprint_text(tmp_path, src) != _fingerprint_text(tmp_path, changed)


def test_presentation_modules_are_not_imported_by_results_code():
    """The fingerprint leaves out plots/report/landing/cli/bench: safe only if no module
    that computes results imports them (pipeline.py's summary step writes the landing
    page: its rule tracks the presentation fingerprint; its ``publish`` command runs
    publish.py, which copies finished outputs outside the pipeline: nothing cached reads what
    it writes)."""
    names = {p.removesuffix(".py") for p in base.PRESENTATION}
    allowed = {("pipeline.py", "landing"), ("pipeline.py", "report"), ("pipeline.py", "publish")}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if base._is_presentation(rel):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.ImportFrom):
                mods = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for mod in mods:
                parts = set(mod.replace("clipasgd.", "").split(".")) - {
                    m for f, m in allowed if f == str(rel)}
                assert not parts & names, f"{rel} imports presentation module {mod}"


# ------------------------------------------------------------- item 4: damaged parts

def test_damaged_part_is_recomputed_with_a_message(tmp_path):
    calls, messages = [], []

    def run():
        calls.append(1)
        return {"hits": pd.DataFrame({"a": [1, 2, 3]})}

    base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)
    part = tmp_path / "parts" / "p.hits.csv"
    stamp = json.loads((tmp_path / "parts" / "p.done.json").read_text())
    assert stamp["files"]["hits"]["rows"] == 3 and stamp["seconds"] >= 0
    part.write_text("a\n1\n2\n")  # one row deleted
    again = base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)
    assert len(calls) == 2 and len(again["hits"]) == 3
    assert messages and "do not match" in messages[0]
    base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)  # repaired: reused
    assert len(calls) == 2
    part.unlink()
    base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)
    assert len(calls) == 3


# ------------------------------------------ item 2/3: overrides and claim-section checks

def _cfg(mutate) -> dict:
    cfg = yaml.safe_load(CONFIG.read_text())
    mutate(cfg)
    return cfg


def _set(section: str, key: str, value):
    def mutate(cfg):
        node = cfg["claims"]
        *path, last = f"{section}.{key}".split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return mutate


@pytest.mark.parametrize("mutate, words", [
    (_set("tau_max", "eta", math.nan), "eta"),
    (_set("tau_max", "c", math.inf), "tau_max.c"),
    (_set("high_prob", "noise_rms", math.nan), "noise_rms"),
    (_set("rate_shape", "sigma.grid", [0.1, math.nan]), "sigma.grid.1"),
    (_set("tau_max", "scales.smoke.replications", 0), "scale smoke"),
])
def test_merged_config_is_checked_like_the_file(mutate, words):
    """The Snakefile checks its config after overrides with check_config (before the fix
    it only ran the schema on the unmerged config: NaN and per-scale merges passed)."""
    with pytest.raises(SpecError, match=words):
        check_config(_cfg(mutate), SCHEMA)


@pytest.mark.parametrize("mutate, claim, words", [
    (_set("tau_max", "problem.name", "nope"), "tau_max", "problem"),
    (_set("tau_max", "problem.dim", 0), "tau_max", "problem"),
    (_set("tau_max", "workers.n", 0), "tau_max", "workers"),
    (_set("tau_max", "workers.stragglers", 17), "tau_max", "workers"),  # of n = 16
    (_set("high_prob", "workers.law", "nope"), "high_prob", "workers"),
    (_set("tails", "user_files", ["/nonexistent/noise.npy"]), "tails", "nonexistent"),
    (_set("high_prob", "scales.smoke.replications", 20), "high_prob", "run plan"),
])
def test_claim_sections_are_built_before_any_simulation(mutate, claim, words):
    cfg = _cfg(mutate)
    try:  # some of these the schema already refuses; either way named, before any work
        check_config(cfg, SCHEMA)
    except SpecError as err:
        assert words in str(err) or claim in str(err)
        return
    with pytest.raises(SpecError, match=f"claims.{claim}.*{words}|{words}"):
        check_claims(cfg, "smoke", [claim])


def test_shipped_config_builds_every_claim():
    cfg = load_config(CONFIG, SCHEMA)
    counts = check_claims(cfg, "smoke")
    assert all(counts[c] > 0 for c in ("tau_max", "rate_shape", "tails", "high_prob"))


def test_merged_config_file_is_keyed_by_its_content(tmp_path):
    cfg = load_config(CONFIG, SCHEMA)
    path = pipeline.write_merged_config(cfg, tmp_path)
    assert load_config(path, SCHEMA) == cfg
    other = _cfg(_set("tau_max", "scales.smoke.replications", 5))
    other_path = pipeline.write_merged_config(other, tmp_path)
    assert other_path != path
    assert claim_config(load_config(other_path, SCHEMA), "tau_max", "smoke")["replications"] == 5


# ------------------------------------------------------ item 7: logs kept per attempt

def test_logs_are_kept_per_attempt(tmp_path):
    log = tmp_path / "a dir" / "job.log"
    log.parent.mkdir()
    for word in ("first", "second"):
        cmd = pipeline.logged_shell(f"echo {word}").replace("{log:q}", shlex.quote(str(log)))
        subprocess.run(["bash", "-c", "set -euo pipefail; " + cmd], check=True)
    history = (log.parent / "job.log.history").read_text()
    assert history.count("=== attempt") == 2 and "first" in history and "second" in history
    assert "first" not in log.read_text() and "second" in log.read_text()
    failing = pipeline.logged_shell("exit 3").replace("{log:q}", shlex.quote(str(log)))
    assert subprocess.run(["bash", "-c", "set -euo pipefail; " + failing]).returncode == 3
    assert "{log.txt:q}.history" in pipeline.logged_shell("true", log="log.txt")


def test_progress_lines_reach_the_console_and_the_log(tmp_path):
    """A job's progress lines go to stderr (Snakemake's console) as well as the log; its
    other output only to the log."""
    log = tmp_path / "job.log"
    cmd = pipeline.logged_shell(f"echo chatter; echo '[c:quick]{pipeline.PROGRESS_MARK}1/2 "
                                "points'").replace("{log:q}", shlex.quote(str(log)))
    proc = subprocess.run(["bash", "-c", "set -euo pipefail; " + cmd], capture_output=True,
                          text=True, check=True)
    assert proc.stderr == f"[c:quick]{pipeline.PROGRESS_MARK}1/2 points\n"
    assert proc.stdout == "" and "chatter" in log.read_text() and "1/2 points" in log.read_text()


def test_progress_line_counts_this_shards_points(capsys, monkeypatch):
    """Shard 2 of 3 runs points 2, 5, 8 of 9 (round-robin): 1/3 after its first, with the
    elapsed time and the remaining one extrapolated from it."""
    clock = iter([100.0, 160.0, 220.0])
    monkeypatch.setattr(pipeline.time, "time", lambda: next(clock))
    line = pipeline.ProgressLine("[tau_max:quick shard 2/3]", pipeline.parse_shard("2/3"))
    line("clipped: chunk 1/1 (20/20 runs)")
    line("grid point 2/9 (theta1.0-D4) done")
    line("grid point 5/9 (theta1.0-D64) done")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[tau_max:quick shard 2/3] clipped: chunk 1/1 (20/20 runs)"
    progress = [e for e in err if pipeline.PROGRESS_MARK in e]
    assert progress == [
        "[tau_max:quick shard 2/3] progress: 1/3 points, 0:01:00 elapsed, ~0:02:00 left",
        "[tau_max:quick shard 2/3] progress: 2/3 points, 0:02:00 elapsed, ~0:01:00 left"]


def test_progress_line_takes_the_share_the_runner_says(capsys, monkeypatch, claim_cfg,
                                                      tmp_path):
    """An ablation's points run beside the claim's points they share, not round-robin:
    the runner says how many of each grid the job runs and the line counts to that; in a
    real shard job of fig2_speedup's claim and ablation the last line of each reads n/n."""
    clock = iter(float(t) for t in range(100, 10_000, 60))
    monkeypatch.setattr(pipeline.time, "time", lambda: next(clock))
    line = pipeline.ProgressLine("[x:quick shard 1/2 ablation]", pipeline.parse_shard("1/2"))
    line("select: 3 of 8 points in this job")
    line("select: grid point 2/8 (a) done")
    progress = [e for e in capsys.readouterr().err.splitlines() if pipeline.PROGRESS_MARK in e]
    assert progress == ["[x:quick shard 1/2 ablation] progress: 1/3 points, 0:01:00 elapsed, "
                        "~0:02:00 left"]  # round-robin would say 1/4
    info = get_claim("fig2_speedup")
    cfg = {**claim_cfg("fig2_speedup", "smoke"), "clip": [1.0, 2.0], "lrs": [0.03125, 0.0625]}
    acfg, arms = runner.ablated(info, cfg, "clipping")
    lines = {"claim": pipeline.ProgressLine("[claim]", runner.Shard(0, 2)),
             "ablation": pipeline.ProgressLine("[ablation]", runner.Shard(0, 2))}
    runner.run_variants(info, [
        runner.Variant(cfg, tmp_path, progress=lines["claim"]),
        runner.Variant(acfg, tmp_path / "ablation-clipping", arms, "without-clipping",
                       lines["ablation"])], runner.Shard(0, 2))
    err = capsys.readouterr().err.splitlines()
    for tag in ("[claim]", "[ablation]"):
        last = [e for e in err if e.startswith(tag) and pipeline.PROGRESS_MARK in e][-1]
        done, total = last.split(" progress: ")[1].split(" points")[0].split("/")
        assert done == total, last


# --------------------------------------------- issue 12: estimate, tidy runs, landing

def _stamp(parts, key, cpu):
    parts.mkdir(parents=True, exist_ok=True)
    (parts / f"{key}.done.json").write_text(json.dumps({"seconds": 5 * cpu, "cpu_seconds": cpu}))


def test_estimate_counts_first_grid_later_points_and_work(tmp_path):
    """First-grid points cost their measured mean (CPU, not wall), later points (keys
    outside the first grid) scale with the grid, both with the work keys' ratio."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    first = [p["key"] for p in pipeline.plan_points(quick, "tau_max")]
    n_paper = len(pipeline.plan_points(paper, "tau_max"))
    parts = tmp_path / "data" / "quick" / "tau_max" / "parts"
    for i, key in enumerate(first):
        _stamp(parts, key, 1000.0 + 1000.0 * (i % 2))
    _stamp(parts, "later-stage-point", 7000.0)
    text = pipeline.estimate(cfg, "paper", tmp_path)
    mean = sum(1000.0 + 1000.0 * (i % 2) for i in range(len(first))) / len(first)
    work = paper["replications"] / quick["replications"]
    if "horizon" in paper:
        work *= paper["horizon"] / quick["horizon"]
    expect = (n_paper * mean + 7000.0 * n_paper / len(first)) * work
    row = next(line for line in text.splitlines() if line.startswith("tau_max"))
    assert f"{expect / 3600:.2f}" in row and "quick" in row
    assert "jobs:" in text and "never run at any scale" in text


def test_estimate_adds_ablations_and_reads_a_pilot_at_the_target_scale(tmp_path):
    """Ablations cost their measured share of the claim's CPU; first-grid stamps already at
    the target scale (a pilot shard) replace the reference's mean per point but keep its
    later-stage and ablation shares; a finished claim costs what was stamped."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    first_q = [p["key"] for p in pipeline.plan_points(quick, "tau_max")]
    first_p = [p["key"] for p in pipeline.plan_points(paper, "tau_max")]
    q = tmp_path / "data" / "quick" / "tau_max"
    for key in first_q:
        _stamp(q / "parts", key, 10.0)
    later = 10.0 * len(first_q)  # later stages cost as much as the first grid at quick
    _stamp(q / "parts", "later-stage-point", later)
    for mechanism in ("clipping", "step_rule"):  # two ablations, the same point key
        _stamp(q / f"ablation-{mechanism}" / "parts", "a0", later / 2)  # half the claim

    def row():
        text = pipeline.estimate(cfg, "paper", tmp_path)
        return next(line for line in text.splitlines() if line.startswith("tau_max"))

    work = pipeline._work(paper, quick)
    assert f"{len(first_p) * 10.0 * work * 2 * 1.5 / 3600:.2f}" in row()
    p = tmp_path / "data" / "paper" / "tau_max"
    for key, cost in zip(first_p[:3], (4.0, 40.0, 400.0), strict=True):  # costs disagree
        _stamp(p / "parts", key, cost)
    assert "quick (pilot unused)" in row()  # a slice of a grid with uneven points
    for key in first_p[:3]:  # a pilot: three first-grid points at paper, 40 s each
        _stamp(p / "parts", key, 40.0)
    assert f"{len(first_p) * 40.0 * 2 * 1.5 / 3600:.2f}" in row() and "3 paper+quick" in row()
    for key in first_p:  # the run finished: what its stamps (ablations included) say
        _stamp(p / "parts", key, 40.0)
    _stamp(p / "ablation-clipping" / "parts", "a0", 100.0)
    (p / "meta.json").write_text(json.dumps({"config_hash": "from-another-config"}))
    assert f"{(40.0 * len(first_p) + 100.0) / 3600:.2f}" not in row()  # stale: not finished
    (p / "meta.json").write_text(json.dumps({"config_hash": config_hash(paper)}))
    assert f"{(40.0 * len(first_p) + 100.0) / 3600:.2f}" in row()


def test_estimate_counts_later_stages_when_first_points_cost_nothing(tmp_path, monkeypatch):
    """Later stages count even where the first grid's stamps read 0 s; a pilot alone (no
    other scale measured) gives the first grid at its mean, labelled "grid only" where the
    claim has later stages or ablations it cannot see (a lower bound)."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    q = tmp_path / "data" / "quick" / "tau_max" / "parts"
    for key in (p["key"] for p in pipeline.plan_points(quick, "tau_max")):
        _stamp(q, key, 0.0)
    _stamp(q, "later-stage-point", 3600.0)
    assert pipeline._predict(cfg, "tau_max", "paper", tmp_path)[2] > 3600.0
    alone = tmp_path / "pilot-only"
    first_p = [p["key"] for p in pipeline.plan_points(paper, "tau_max")]
    for key in first_p[:4]:
        _stamp(alone / "data" / "paper" / "tau_max" / "parts", key, 10.0)
    assert pipeline._predict(cfg, "tau_max", "paper", alone) == (
        len(first_p), "4 paper, grid only", 10.0 * len(first_p))  # its ablation not measured
    delay = claim_config(cfg, "delay_sweep", "paper")  # later stages (fresh seeds) too
    monkeypatch.setattr(pipeline, "_missing_data", lambda ccfg: None)  # data need no fetch
    first_d = [p["key"] for p in pipeline.plan_points(delay, "delay_sweep")]
    for key in first_d[:3]:
        _stamp(alone / "data" / "paper" / "delay_sweep" / "parts", key, 30.0)
    got = pipeline._predict(cfg, "delay_sweep", "paper", alone)
    assert got == (len(first_d), "3 paper, grid only", 30.0 * len(first_d))
    assert "grid only': a pilot with no other scale measured" in pipeline.estimate(
        cfg, "paper", alone)


def test_estimate_says_n_a_when_data_are_not_fetched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/raw here
    monkeypatch.setattr("clipasgd.datasets.FASHION_SYSTEM_DIR", tmp_path / "none")
    cfg = load_config(CONFIG, SCHEMA)
    _stamp(tmp_path / "data" / "quick" / "fig2_speedup" / "parts", "k0", 4.0)
    row = next(line for line in pipeline.estimate(cfg, "paper", tmp_path).splitlines()
               if line.startswith("fig2_speedup"))
    assert "n/a" in row and "fashion-mnist not fetched" in row and " 0 " not in row


def test_estimate_work_reads_nested_keys_and_stages():
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "rate_shape", s) for s in ("quick", "paper"))
    sweeps = [k for k, v in paper.items() if isinstance(v, dict) and "horizon" in v]
    horizon = sum(paper[k]["horizon"] / quick[k]["horizon"] for k in sweeps) / len(sweeps)
    assert len(sweeps) >= 2
    assert pipeline._work(paper, quick) == pytest.approx(
        horizon * paper["replications"] / quick["replications"])
    q2, p2 = (claim_config(cfg, "fig2_speedup", s) for s in ("quick", "paper"))
    assert pipeline._stages(p2, q2) == pytest.approx(
        (p2["fresh_seeds"] + p2["control_seeds"]) / (q2["fresh_seeds"] + q2["control_seeds"]))
    assert pipeline._work(p2, q2) == pytest.approx(
        p2["cap"] / q2["cap"] * p2["problem"]["n_eval"] / q2["problem"]["n_eval"]
        * q2["eval_every"] / p2["eval_every"])


def test_estimate_says_how_far_its_last_prediction_was(tmp_path):
    cfg = load_config(CONFIG, SCHEMA)
    parts = tmp_path / "data" / "quick" / "tau_max" / "parts"
    first = [p["key"] for p in pipeline.plan_points(claim_config(cfg, "tau_max", "quick"),
                                                     "tau_max")]
    for key in first:
        _stamp(parts, key, 100.0)
    assert "no earlier prediction" in pipeline.estimate(cfg, "quick", tmp_path)
    assert (tmp_path / "data" / "quick" / "estimate.json").is_file()
    for key in first:  # the run took twice the predicted CPU
        _stamp(parts, key, 200.0)
    assert "measured / predicted = 2.00" in pipeline.estimate(cfg, "quick", tmp_path)


def test_tidy_runs_has_consistent_algorithm_names(tmp_path):
    folder = tmp_path / "data" / "smoke" / "high_prob"
    folder.mkdir(parents=True)
    pd.DataFrame({"algorithm": ["clipped", "vanilla", "vanilla_theory"], "rep": [0, 1, 2]}
                 ).to_csv(folder / "runs.csv", index=False)
    tau = tmp_path / "data" / "smoke" / "tau_max"
    tau.mkdir(parents=True)
    pd.DataFrame({"algorithm": ["clipped"], "rep": [0], "T": [5.0]}
                 ).to_csv(tau / "hits.csv", index=False)
    pd.DataFrame({"algorithm": ["clipped"], "rep": [0], "virtual_max": [1.0]}
                 ).to_csv(tau / "reps.csv", index=False)
    pd.DataFrame({"algorithm": ["clipped"], "rep": [0], "iter": [1], "grad_norm": [1.0]}
                 ).to_csv(tau / "curves.csv", index=False)  # a trajectory: not a run table
    tails = tmp_path / "data" / "smoke" / "tails"
    tails.mkdir(parents=True)
    pd.DataFrame({"method": ["asymptotic"], "rep": [3], "theta_hat": [1.1]}
                 ).to_csv(tails / "calibration.csv", index=False)
    out = pd.read_csv(pipeline.tidy_runs("smoke", tmp_path))
    assert list(out.columns[:4]) == ["claim", "table", "algorithm", "label"]
    assert set(out["algorithm"].dropna()) == {"clipped_asgd", "asgd"}
    assert sorted(set(zip(out["claim"], out["table"], strict=True))) == [
        ("high_prob", "runs"), ("tails", "calibration"), ("tau_max", "hits"),
        ("tau_max", "reps")]


def test_landing_page_falls_back_to_the_claims_own_figure(tmp_path):
    from clipasgd.landing import write_landing

    rec = {"claim": "toy_unlisted", "paper_ref": "none", "statement": "s", "test": "t",
           "verdict": "supported", "statistic": 0.1, "ci": None, "margin": None,
           "control": {"verdict": "refuted", "description": "planted"}}
    claims = tmp_path / "data" / "smoke" / "claims"
    claims.mkdir(parents=True)
    (claims / "toy_unlisted.json").write_text(json.dumps(rec))
    html = write_landing(tmp_path, "smoke", ["toy_unlisted"]).read_text()
    assert "figures/smoke/toy_unlisted.png" in html  # named as missing: the fallback exists
    assert "not evidence" in html  # smoke verdicts are labelled as a plumbing check


def test_only_the_smoke_summary_says_its_verdicts_are_not_evidence():
    row = {"claim": "c", "paper_ref": "p", "verdict": "refuted", "control": "refuted",
           "statistic": 1.0, "ci": None, "margin": None, "figure": "f", "notebook": "n"}
    assert "not evidence" in pipeline.render_summary("smoke", [row])
    assert "not evidence" not in pipeline.render_summary("quick", [row])


def test_real_data_claims_check_before_their_data_is_fetched(tmp_path, monkeypatch):
    """On a fresh machine check-config runs before fetch_data (with one core it may run
    first): a real-data problem whose data set is absent is not loaded, yet its grid is
    declared (a design's grid never needs the data) and its parameters are checked."""
    from clipasgd import datasets

    monkeypatch.setattr(datasets, "FASHION_SYSTEM_DIR", tmp_path / "none")
    cfg = load_config(CONFIG, SCHEMA)
    for claim in ("fig2_speedup", "fig4_federated"):
        section = cfg["claims"][claim]
        section["problem"] = {**section["problem"], "source": "auto",
                              "data_dir": str(tmp_path / "empty")}
        for over in section.get("scales", {}).values():
            over.pop("problem", None)
    counts = check_claims(cfg, "quick", ["fig2_speedup", "fig4_federated"])
    assert counts["fig2_speedup"] > 0 and counts["fig4_federated"] > 0
    cfg["claims"]["fig4_federated"]["problem"]["hidden"] = 0
    with pytest.raises(SpecError, match="hidden"):
        check_claims(cfg, "quick", ["fig4_federated"])


def test_a_stage_shard_says_when_an_earlier_stage_is_not_cached(tmp_path):
    """A later stage's shard reads the earlier stage from its parts silently; a part that
    is missing (deleted after its shard ran) is computed, and the job's log says so."""
    calls: list[str] = []
    claim, cfg = _claim(calls, second=True), {"seed": 1}
    for k in range(2):
        run_claim(claim, cfg, tmp_path, shard=runner.Shard(k, 2))
    (tmp_path / "parts" / "p3.done.json").unlink()
    said: list[str] = []
    done = run_claim(claim, cfg, tmp_path, shard=runner.Shard(0, 2, "u"), progress=said.append)
    assert done.stage == "u" and done.points > 0
    assert calls.count("p3") == 2  # computed again, once
    assert any("1 of 7 points of this earlier stage have no cached part" in m for m in said)
    assert not any(m.startswith("t") and m.endswith(" done") for m in said)
    assert run_claim(claim, cfg, tmp_path)["u"]["x"].tolist() == [6]
