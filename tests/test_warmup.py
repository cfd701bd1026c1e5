"""A process's warm-up (numba, data sets, evaluation features) is recorded apart from a grid
point's own work, and the estimate scales only the latter."""

import contextlib
import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from clipasgd import pipeline, warmup
from clipasgd.claims import _speedup, base
from clipasgd.pipeline import claim_config, load_config
from clipasgd.problems import make_problem, network

CONFIG, SCHEMA = "config/config.yaml", "config/config.schema.json"


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_warming_counts_a_nested_block_once():
    before = warmup.spent()
    with warmup.warming():
        _burn(0.05)
        with warmup.warming():
            _burn(0.05)
    assert 0.1 <= warmup.spent() - before < 0.2


def test_warm_cache_counts_its_first_call_and_caches():
    calls = []

    @warmup.warm_cache(maxsize=2)
    def load(name: str) -> str:
        calls.append(name)
        _burn(0.1)
        return name.upper()

    before = warmup.spent()
    assert load("a") == "A" and load("a") == "A"
    assert calls == ["a"] and load.cache_info().hits == 1
    assert 0.1 <= warmup.spent() - before < 0.15  # the hit costs microseconds


def test_cached_point_stamps_the_warmup_paid_inside_the_point(tmp_path):
    """The first point pays the warm-up (in its cpu_seconds too), the second does not."""
    @warmup.warm_cache(maxsize=1)
    def data() -> int:
        _burn(0.2)
        return 1

    def run() -> dict:
        _burn(0.05)
        return {"t": pd.DataFrame({"x": [data()]})}

    for key in ("p0", "p1"):
        base.cached_point(tmp_path, key, {"key": key}, run)
    first, second = (json.loads((tmp_path / "parts" / f"{k}.done.json").read_text())
                     for k in ("p0", "p1"))
    assert 0.2 <= first["warmup_cpu_seconds"] <= first["cpu_seconds"]
    assert first["cpu_seconds"] - first["warmup_cpu_seconds"] == pytest.approx(0.05, abs=0.04)
    assert second["warmup_cpu_seconds"] < 0.01 <= second["cpu_seconds"]


def _stamp(parts, key, cpu, warm=None, compile_cpu=None):
    parts.mkdir(parents=True, exist_ok=True)
    extra = {} if warm is None else {"warmup_cpu_seconds": warm}
    if compile_cpu is not None:
        extra["compile_cpu_seconds"] = compile_cpu
    (parts / f"{key}.done.json").write_text(json.dumps({"cpu_seconds": cpu, **extra}))


def test_estimate_scales_a_points_own_work_and_adds_warmup_per_shard(tmp_path):
    """Known answer: the first point of each of quick's shards carries 1 s of warm-up on
    top of 2 s of work. Paper costs the work scaled, plus 1 s per paper shard job; the
    same stamps without the field read the warm-up as work (the old model)."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    first = [p["key"] for p in pipeline.plan_points(quick, "tau_max")]
    n_paper = len(pipeline.plan_points(paper, "tau_max"))
    shards = {s: pipeline.shard_count(cfg, s) for s in ("quick", "paper")}
    assert len(first) >= shards["quick"]  # every quick shard owns a point
    parts = tmp_path / "data" / "quick" / "tau_max" / "parts"
    firsts = {key for i, key in enumerate(first) if i < shards["quick"]}
    for key in first:
        _stamp(parts, key, 3.0 if key in firsts else 2.0, 1.0 if key in firsts else 0.0)
    work = pipeline._work(paper, quick)
    expect = n_paper * 2.0 * work + shards["quick"] * 1.0 * shards["paper"] / shards["quick"]
    assert pipeline._predict(cfg, "tau_max", "paper", tmp_path)[2] == pytest.approx(expect)
    for key in first:  # stamps from before the field: the warm-up reads as work
        _stamp(parts, key, 3.0 if key in firsts else 2.0)
    mean = (2.0 * len(first) + len(firsts)) / len(first)
    assert pipeline._predict(cfg, "tau_max", "paper", tmp_path)[2] == pytest.approx(
        n_paper * mean * work)


def test_a_compile_in_the_reference_is_not_repeated_per_shard(tmp_path):
    """Known answer: as above, and one quick point also compiled the kernels (30 s of
    warm-up, 29 of them compiling: once per machine and code). Paper pays each shard's
    1 s of loading per paper shard job, and the compile not at all (the old model added it
    times the shard ratio, 4 x 29 s: high_prob_tau_max's 0.37 in session 29)."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    first = [p["key"] for p in pipeline.plan_points(quick, "tau_max")]
    n_paper = len(pipeline.plan_points(paper, "tau_max"))
    shards = {s: pipeline.shard_count(cfg, s) for s in ("quick", "paper")}
    parts = tmp_path / "data" / "quick" / "tau_max" / "parts"
    firsts = set(first[:shards["quick"]])
    for key in first:
        if key == first[0]:
            _stamp(parts, key, 32.0, 30.0, 29.0)
        else:
            _stamp(parts, key, 3.0 if key in firsts else 2.0, 1.0 if key in firsts else 0.0,
                   0.0)
    expect = (n_paper * 2.0 * pipeline._work(paper, quick)
              + shards["quick"] * 1.0 * shards["paper"] / shards["quick"])
    assert pipeline._predict(cfg, "tau_max", "paper", tmp_path)[2] == pytest.approx(expect)
    assert pipeline._warmup(tmp_path, "quick", "tau_max") == pytest.approx(shards["quick"])


def test_a_pilot_is_read_less_its_warmup(tmp_path):
    """A pilot's mean per point is its own work: 40 s each, one of them with 30 s of
    warm-up on top, against quick's 10 s points."""
    cfg = load_config(CONFIG, SCHEMA)
    quick, paper = (claim_config(cfg, "tau_max", s) for s in ("quick", "paper"))
    for key in (p["key"] for p in pipeline.plan_points(quick, "tau_max")):
        _stamp(tmp_path / "data" / "quick" / "tau_max" / "parts", key, 10.0, 0.0)
    first_p = [p["key"] for p in pipeline.plan_points(paper, "tau_max")]
    for i, key in enumerate(first_p[:3]):
        _stamp(tmp_path / "data" / "paper" / "tau_max" / "parts", key,
               70.0 if i == 0 else 40.0, 30.0 if i == 0 else 0.0)
    n, where, secs = pipeline._predict(cfg, "tau_max", "paper", tmp_path)
    assert where == "3 paper+quick" and secs == pytest.approx(len(first_p) * 40.0)


FIRST_CALLS = """
import json, time
import numpy as np
from clipasgd import engine, schedules, warmup
from clipasgd.algorithms import make_algorithm
from clipasgd.compute_times import make_compute_times
from clipasgd.noise import Gaussian
from clipasgd.problems import make_problem

prob = make_problem("quadratic", dim=1, condition=1.0)
times = make_compute_times({"n": 4, "law": "exponential"})
rule = make_algorithm("clipped_asgd", 4, eta=0.1, c=1.0).rule
out = []
for i in range(2):
    cpu, warm = time.process_time(), warmup.spent()
    sched = schedules.algorithm1(times, 500, np.random.default_rng(i))
    engine.simulate(prob, Gaussian(1.0), rule, sched, 2, np.random.default_rng(i))
    out.append([time.process_time() - cpu, warmup.spent() - warm])
print(json.dumps(out))
"""


def test_a_fresh_process_counts_numbas_loading_as_warmup():
    """In a new process the first schedule and simulation load numba and the kernels'
    machine code (or compile them): most of the first call's excess over the second is
    counted as warm-up, and nothing (microseconds) of the second call."""
    done = subprocess.run([sys.executable, "-c", FIRST_CALLS], capture_output=True,
                          text=True, check=True)
    (first, warm1), (second, warm2) = json.loads(done.stdout.splitlines()[-1])
    assert warm2 < 1e-3  # the cached import statement: microseconds
    assert warm1 >= 0.8 * (first - second) > 0


COMPILES = """
import json, time
from numba import njit
from clipasgd import warmup

warmup.watch_numba()


@njit(cache=True)
def total(n):
    s = 0.0
    for i in range(n):
        s += i * 0.5
    return s


out = []
for n in (10, 20):  # the first call compiles or loads the cache, the second neither
    cpu, warm, comp = time.process_time(), warmup.spent(), warmup.compiled()
    total(n)
    out.append([time.process_time() - cpu, warmup.spent() - warm, warmup.compiled() - comp])
print(json.dumps(out))
"""


def test_numbas_compiling_is_counted_apart_from_loading_its_cache(tmp_path):
    """A new cache: the first call sets numba up and compiles (both in ``spent``, the
    compiling also in ``compiled``: 0.70 and 0.17 CPU-s here); the same code in a second
    process loads the cache (0.55 CPU-s of warm-up, no compiling); a call with known types
    costs neither."""
    (tmp_path / "kern.py").write_text(COMPILES)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run() -> list:
        done = subprocess.run([sys.executable, str(tmp_path / "kern.py")], env=env,
                              capture_output=True, text=True, check=True, cwd=tmp_path)
        return json.loads(done.stdout.splitlines()[-1])

    (cpu1, warm1, comp1), (_, warm2, comp2) = run()
    assert warm1 >= comp1 > 0 and warm1 >= 0.8 * cpu1  # numba's set-up, then compiling
    assert warm2 < 1e-3 and comp2 == 0.0
    (_, warm3, comp3), (_, warm4, comp4) = run()  # the cache: loaded, not compiled
    assert comp3 == 0.0 < warm3 and warm4 < 1e-3 and comp4 == 0.0


def test_a_pilot_over_several_problems_is_read_per_problem(tmp_path, monkeypatch):
    """Known answer: quick's fig2 points cost 1 s and fig3's 3 s (half the grid each); at
    paper fig2's cost 10x, fig3's 20x, and the pilot holds 5 fig2 and 3 fig3 points (not
    the grid's mix, which is not quick's either). The first grid costs each problem's
    paper points at the pilot's mean for it; the later points (a fresh-stage point) scale
    by 17.5x, the ratios weighted by the problems' shares of quick's CPU (12 and 36 s); an
    ablation's own CPU is its share of the claim's, its warm-up added per shard job."""
    cfg = load_config(CONFIG, SCHEMA)
    monkeypatch.setattr(pipeline, "_missing_data", lambda ccfg: None)  # no data fetch
    qcfg, pcfg = (claim_config(cfg, "delay_sweep", s) for s in ("quick", "paper"))
    quick, paper = (pipeline.plan_points(c, "delay_sweep") for c in (qcfg, pcfg))
    cost, ratio = {"fig2": 1.0, "fig3": 3.0}, {"fig2": 10.0, "fig3": 20.0}
    q = tmp_path / "data/quick/delay_sweep"
    for p in quick:
        _stamp(q / "parts", p["key"], cost[p["problem_name"]], 0)
    assert sum(p["problem_name"] == "fig2" for p in quick) * 2 == len(quick) == 24
    _stamp(q / "parts", "fresh-point", 24.0, 0)
    _stamp(q / "ablation-clipping/parts", "a0", 12.0, 2.0)
    n2 = sum(p["problem_name"] == "fig2" for p in paper)
    assert n2 != len(paper) - n2  # the paper grid's mix is not quick's
    grow, work = pipeline._stages(pcfg, qcfg), pipeline._work(pcfg, qcfg)
    shards = pipeline.shard_count(cfg, "paper") / pipeline.shard_count(cfg, "quick")
    alone = ((n2 * 1.0 + (len(paper) - n2) * 3.0) * work + 24.0 * grow * work) * (
        1 + 10.0 / 72.0) + 2.0 * shards  # from quick alone: each problem at its own mean
    assert pipeline._predict(cfg, "delay_sweep", "paper", tmp_path)[2] == pytest.approx(alone)
    pilot = [p for p in paper if p["problem_name"] == "fig2"][:5] + [
        p for p in paper if p["problem_name"] == "fig3"][:3]
    for p in pilot:
        name = p["problem_name"]
        _stamp(tmp_path / "data/paper/delay_sweep/parts", p["key"], cost[name] * ratio[name], 0)
    grid = n2 * 10.0 + (len(paper) - n2) * 60.0
    later = 24.0 * grow * (12 * 10.0 + 36 * 20.0) / 48
    expect = (grid + later) * (1 + 10.0 / 72.0) + 2.0 * shards
    n, where, secs = pipeline._predict(cfg, "delay_sweep", "paper", tmp_path)
    assert where == "8 paper+quick" and secs == pytest.approx(expect)
    pooled = (5 * 10.0 + 3 * 60.0) / 8  # the pilot's mean over both problems
    assert abs(secs - len(paper) * pooled * (1 + 10.0 / 72.0)) > 0.05 * secs
    for p in pilot[5:]:  # a problem missing from the pilot: the pilot is not used
        (tmp_path / "data/paper/delay_sweep/parts" / f"{p['key']}.done.json").unlink()
    assert pipeline._predict(cfg, "delay_sweep", "paper", tmp_path)[1] == "quick (pilot unused)"


def test_evaluation_features_and_the_figure_problems_are_counted_as_warmup(monkeypatch):
    """The paths that fill per-process caches run inside ``warming``: an evaluation set's
    input features (once per instance), and building a figure claim's problem (data
    loaded) through ``warm_cache``."""
    entered = []

    @contextlib.contextmanager
    def spy():
        entered.append(1)
        yield

    monkeypatch.setattr(network, "warming", spy)
    p = make_problem("fashion_mlp", source="synthetic", hidden=4, n_eval=60)
    x = p.x0()[None, :]
    p.evaluate(x)
    assert len(entered) == 1
    p.evaluate(x)  # features cached on the instance: no warm-up
    assert len(entered) == 1
    monkeypatch.setattr(warmup, "warming", spy)
    spec = json.dumps({"name": "fashion_mlp", "source": "synthetic", "hidden": 5,
                       "n_eval": 40}, sort_keys=True)
    assert _speedup._problem(spec).hidden == 5
    assert len(entered) == 3  # the problem's warm_cache, and its data set's inside it
    _speedup._problem(spec)  # a hit: warming entered once, for microseconds
    assert len(entered) == 4


def test_a_problem_never_stamped_at_the_reference_reads_pooled(tmp_path, monkeypatch):
    """A quick run stopped before any fig3 point: every paper point, fig3's included, is
    priced at the stamped mean (pooled), not left out."""
    cfg = load_config(CONFIG, SCHEMA)
    monkeypatch.setattr(pipeline, "_missing_data", lambda ccfg: None)
    qcfg, pcfg = (claim_config(cfg, "delay_sweep", s) for s in ("quick", "paper"))
    for p in pipeline.plan_points(qcfg, "delay_sweep"):
        if p["problem_name"] == "fig2":
            _stamp(tmp_path / "data/quick/delay_sweep/parts", p["key"], 2.0, 0)
    n = len(pipeline.plan_points(pcfg, "delay_sweep"))
    assert pipeline._predict(cfg, "delay_sweep", "paper", tmp_path)[2] == pytest.approx(
        n * 2.0 * pipeline._work(pcfg, qcfg))
