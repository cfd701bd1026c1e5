"""Experiment specs, the experiment runner, result frames and the command line."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from clipasgd.cli import main
from clipasgd.experiment import build, run_experiment, schedule_slack
from clipasgd.provenance import config_hash
from clipasgd.results import METRIC_COLUMNS
from clipasgd.spec import SpecError, load_spec

QUIET = {"progress": lambda msg: None}


def tiny_spec(**overrides) -> dict:
    spec = {
        "name": "tiny", "seed": 5, "replications": 6, "chunk": 4, "horizon": 80,
        "problem": {"name": "quadratic", "dim": 4, "condition": 10.0},
        "noise": {"name": "subweibull", "sigma": 0.5, "theta": 1.0},
        "workers": {"n": 4, "stragglers": 1, "D": 10.0, "law": "exponential"},
        "scheduler": "algorithm1",
        "eps": [0.5, 0.05],
        "algorithms": [{"name": "clipped_asgd", "eta": 0.05, "c": 1.0},
                       {"name": "asgd", "eta": 0.05},
                       {"name": "minibatch_sgd", "eta": 0.2}],
    }
    return spec | overrides


# --------------------------------------------------------------------------- specs


def test_load_spec_fills_defaults() -> None:
    spec = load_spec({"problem": {"name": "quadratic"}, "noise": {"name": "none"},
                      "workers": {"n": 2}, "algorithms": [{"name": "asgd", "eta": 0.1}],
                      "horizon": 10})
    assert spec["seed"] == 0 and spec["replications"] == 10 and spec["scheduler"] == "algorithm1"
    assert spec["eps"] == [] and spec["per_replication_schedules"] is False
    assert spec["engine"] == "compiled"


@pytest.mark.parametrize("change, match", [
    ({"bogus": 1}, r"\(top level\).*'bogus'"),
    ({"horizon": "long"}, "horizon"),
    ({"horizon": 0}, "horizon"),
    ({"replications": 2.5}, "replications"),
    ({"seed": -1}, "seed"),
    ({"scheduler": "algorithm9"}, "scheduler"),
    ({"eps": [0.1, -0.2]}, r"eps\.1"),
    ({"algorithms": []}, "algorithms"),
    ({"algorithms": [{"name": "asgd", "eta": 0.1, "gamma": 2}]}, r"algorithms\.0.*'gamma'"),
    ({"algorithms": [{"name": "asgd", "eta": -0.1}]}, r"algorithms\.0\.eta"),
    ({"algorithms": [{"eta": 0.1}]}, r"algorithms\.0.*'name'"),
    ({"algorithms": [{"name": "clipped_asgd", "eta": 0.1}]},
     r"algorithms\.0: 'c' is a required property"),
    ({"algorithms": [{"name": "adam", "eta": 0.1}]}, r"algorithms\.0\.name: 'adam' is not one"),
    ({"algorithms": [{"name": "momentum_asgd", "eta": 0.1, "beta": 1.0}]},
     r"algorithms\.0\.beta"),
    ({"algorithms": [{"name": "ringmaster_asgd", "eta": 0.1, "max_delay": 2.5}]},
     r"algorithms\.0\.max_delay"),
    ({"problem": {"dim": 3}}, r"problem.*'name'"),
    ({"noise": "gaussian"}, "noise"),
    ({"per_replication_schedules": "yes"}, "per_replication_schedules"),
    ({"engine": "jax"}, "engine"),
])
def test_load_spec_errors_name_the_key(change: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_spec(tiny_spec() | change)


@pytest.mark.parametrize("missing", ["problem", "noise", "workers", "algorithms", "horizon"])
def test_load_spec_missing_required_key(missing: str) -> None:
    spec = tiny_spec()
    del spec[missing]
    with pytest.raises(SpecError, match=f"'{missing}' is a required property"):
        load_spec(spec)


def test_load_spec_files(tmp_path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")
    y = tmp_path / "a.yaml"
    y.write_text(yaml.safe_dump(tiny_spec()))
    j = tmp_path / "a.json"
    j.write_text(json.dumps(tiny_spec()))
    assert load_spec(y) == load_spec(j) == load_spec(tiny_spec())
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="not valid json"):
        load_spec(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="top level must be a mapping"):
        load_spec(lst)


@pytest.mark.parametrize("change, match", [
    ({"problem": {"name": "rosenbrock"}}, "unknown problem"),
    ({"problem": {"name": "quadratic", "size": 3}}, "unknown parameter 'size'"),
    ({"noise": {"name": "levy"}}, "unknown noise"),
    ({"workers": {"n": 4, "speed": 2}}, r"unknown key\(s\) \['speed'\]"),
    ({"algorithms": [{"name": "asgd", "eta": 0.1}, {"name": "asgd", "eta": 0.2}]},
     "labels must be unique"),
])
def test_build_errors(change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build(load_spec(tiny_spec() | change))


# --------------------------------------------------------------------------- experiments


@pytest.fixture(scope="module")
def tiny_result():
    return run_experiment(tiny_spec(), **QUIET)


def test_run_experiment_tidy_frames(tiny_result) -> None:
    R, labels = 6, ["clipped_asgd", "asgd", "minibatch_sgd"]
    assert list(tiny_result.runs) == labels
    cp = tiny_result.frame("checkpoints")
    assert list(cp.columns) == ["rep", "iter", *METRIC_COLUMNS.values(), "algorithm"]
    n_cp = tiny_result.runs["asgd"].iters.size
    assert len(cp) == 3 * R * n_cp
    assert cp.groupby("algorithm")["rep"].nunique().eq(R).all()
    assert cp["iter"].max() == 80
    hits = tiny_result.frame("hits")
    assert list(hits.columns) == ["rep", "eps", "T", "wall_clock", "censored", "diverged",
                                  "algorithm"]
    assert len(hits) == 3 * R * 2 and set(hits["eps"]) == {0.5, 0.05}
    assert hits["T"].between(1, 80).all()
    assert hits.loc[~hits["censored"], "wall_clock"].gt(0).all()
    reps = tiny_result.frame("reps")
    assert list(reps.columns) == ["rep", "diverged_at", "virtual_max", "virtual_ratio",
                                  "clip_fraction", "algorithm"]
    clipped = reps[reps["algorithm"] == "clipped_asgd"]
    assert clipped["virtual_ratio"].between(0, 1).all()  # ||x - x~|| <= eta c tau_C
    assert reps.loc[reps["algorithm"] == "asgd", "virtual_ratio"].isna().all()
    summary = tiny_result.summary()
    assert summary["name"] == "tiny" and set(summary["algorithms"]) == set(labels)
    assert tiny_result.schedule["minibatch_sgd"]["kind"] == "synchronous"
    assert tiny_result.schedule["asgd"]["kind"] == "algorithm1"
    assert tiny_result.schedule["asgd"]["events"] == 80


def test_run_experiment_is_reproducible(tiny_result) -> None:
    again = run_experiment(tiny_spec(), **QUIET)
    other = run_experiment(tiny_spec(seed=6), **QUIET)
    for which in ("checkpoints", "hits", "reps"):
        pd.testing.assert_frame_equal(tiny_result.frame(which), again.frame(which))
    assert not tiny_result.frame("checkpoints").equals(other.frame("checkpoints"))


def test_run_experiment_chunks_are_distinct_streams(tiny_result) -> None:
    # chunk = 4 with R = 6: replications 0-3 and 4-5 come from different streams
    gn = tiny_result.runs["asgd"].metrics["gn"][-1]
    assert np.unique(gn).size == 6


def test_algorithms_share_the_schedule(tiny_result) -> None:
    # common random numbers: both asynchronous algorithms saw the same schedule
    a, b = tiny_result.runs["asgd"], tiny_result.runs["clipped_asgd"]
    np.testing.assert_array_equal(a.times, b.times)
    assert a.schedule == b.schedule


def test_schedule_slack() -> None:
    assert schedule_slack(100, 4) == 25 + 40


def test_algorithm2_concurrency_from_spec() -> None:
    res = run_experiment(tiny_spec(scheduler="algorithm2", concurrency=7, replications=2,
                                   algorithms=[{"name": "asgd", "eta": 0.05}]), **QUIET)
    assert res.runs["asgd"].tau_c == 7 and res.schedule["asgd"]["tau_C"] == 7


# --------------------------------------------------------------------------- command line


def test_cli_run_writes_outputs(tmp_path, capsys) -> None:
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(replications=3)))
    out = tmp_path / "out"
    assert main(["run", str(spec_file), "--out", str(out), "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(out) and printed["name"] == "tiny"
    for name in ("checkpoints.csv", "hits.csv", "reps.csv", "summary.json", "meta.json"):
        assert (out / name).is_file(), name
    cp = pd.read_csv(out / "checkpoints.csv")
    assert {"rep", "iter", "grad_norm", "algorithm"} <= set(cp.columns)
    assert set(pd.read_csv(out / "hits.csv")["algorithm"]) == {"clipped_asgd", "asgd",
                                                                "minibatch_sgd"}
    meta = json.loads((out / "meta.json").read_text())
    for key in ("config", "config_hash", "seed", "version", "git_commit"):
        assert key in meta, key
    assert meta["seed"] == 5
    assert meta["config"]["horizon"] == 80
    assert meta["config_hash"] == config_hash(load_spec(spec_file))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["algorithms"]) == {"clipped_asgd", "asgd", "minibatch_sgd"}
    # rerunning gives identical tables
    out2 = tmp_path / "out2"
    assert main(["run", str(spec_file), "--out", str(out2), "--quiet"]) == 0
    for name in ("checkpoints.csv", "hits.csv", "reps.csv"):
        assert (out / name).read_text() == (out2 / name).read_text()


def test_cli_run_engine_flag(tmp_path, capsys) -> None:
    """``--engine numpy`` overrides the spec; both engines write the same numbers."""
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(replications=3)))
    frames = {}
    for engine in ("numpy", "compiled"):
        out = tmp_path / engine
        assert main(["run", str(spec_file), "--out", str(out), "--quiet", "--engine", engine]) == 0
        summary = json.loads((out / "summary.json").read_text())
        ran = {label: a["engine"] for label, a in summary["algorithms"].items()}
        assert ran == dict.fromkeys(("clipped_asgd", "asgd", "minibatch_sgd"), engine)
        assert json.loads((out / "meta.json").read_text())["config"]["engine"] == engine
        frames[engine] = pd.read_csv(out / "checkpoints.csv")
    pd.testing.assert_frame_equal(frames["numpy"], frames["compiled"], rtol=1e-12)


def test_momentum_runs_from_a_spec_on_the_numpy_loop(tmp_path) -> None:
    """momentum_asgd is registered, so a spec names it (its beta included); momentum has no
    compiled form, so the engine runs the numpy loop and says why."""
    algos = [{"name": "momentum_asgd", "eta": 0.05, "beta": 0.5},
             {"name": "clipped_asgd", "eta": 0.05, "c": 1.0}]
    res = run_experiment(tiny_spec(replications=3, algorithms=algos), **QUIET)
    mom = res.runs["momentum_asgd"]
    assert mom.meta["engine"] == "numpy" and "momentum" in mom.meta["engine_note"]
    assert mom.meta["algorithm"]["beta"] == 0.5 and np.isfinite(mom.metrics["avg"][-1]).all()
    assert res.runs["clipped_asgd"].meta["engine"] == "compiled"
    spec_file = tmp_path / "momentum.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(replications=3, algorithms=algos)))
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["algorithms"]["momentum_asgd"]["engine"] == "numpy"
    assert "momentum" in summary["algorithms"]["momentum_asgd"]["engine_note"]


def test_cli_schedule_prints_summary(capsys) -> None:
    assert main(["schedule", "--workers", "n=4,stragglers=1,D=10", "--events", "400"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("tau_C", "tau_max", "tau_avg", "time_per_call", "events"):
        assert key in out, key
    assert out["tau_C"] == 4 and out["events"] == 400
    assert out["tau_max"] == 30  # fixed times: 3 fast events per unit, straggler 10 units


def test_cli_schedule_algorithm2_mva(capsys) -> None:
    argv = ["schedule", "--workers", "n=16,stragglers=8,D=4,law=exponential",
            "--scheduler", "algorithm2", "--events", "2000", "--seed", "3"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["time_per_call_mva"], 3) == 0.372
    assert out["tau_C"] == 16
    assert main([*argv, "--concurrency", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["tau_C"] == 5


def test_cli_schedule_trace_and_delays(tmp_path, capsys) -> None:
    trace = tmp_path / "trace.npy"
    np.save(trace, np.array([[1.0] * 50, [3.0] * 50]))
    assert main(["schedule", "--trace", str(trace), "--events", "40"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tau_C"] == 2 and out["events"] == 40
    delays = tmp_path / "delays.csv"
    delays.write_text("0,1,1,0,2,1")  # models 0, 0, 1, 3, 2, 4
    assert main(["schedule", "--delays", str(delays), "--concurrency", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tau_max"] == 2 and out["events"] == 6 and out["tau_C"] == 2


@pytest.mark.parametrize("argv, match", [
    (["schedule", "--workers", "n=0"], "n must be a positive integer"),
    (["schedule", "--workers", "n=4,bogus=1"], "bogus"),
    (["schedule", "--workers", "n4"], "expected key=value"),
    (["schedule", "--events", "0"], "positive integer"),
    (["schedule", "--scheduler", "algorithm2", "--concurrency", "-1"], "concurrency"),
    (["schedule", "--scheduler", "algorithm2", "--concurrency", "0"], "concurrency"),
    (["schedule", "--scheduler", "algorithm1", "--concurrency", "3"], "algorithm2 only"),
    (["schedule", "--scheduler", "synchronous", "--concurrency", "3"], "algorithm2 only"),
    (["schedule", "--trace", "/nonexistent/trace.npy"], "file not found"),
    (["schedule", "--delays", "/nonexistent/d.csv"], "file not found"),
    (["run", "/nonexistent/spec.yaml"], "spec file not found"),
    (["schedule", "--trace", "t.npy", "--workers", "n=8"], "--trace and --workers: give one"),
    (["schedule", "--delays", "d.csv", "--trace", "t.npy"], "--delays and --trace: give one"),
])
def test_cli_bad_inputs_exit_2(argv: list[str], match: str, capsys) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert match in captured.err and "error" in captured.err


def test_cli_bad_delays_and_spec(tmp_path, capsys) -> None:
    d = tmp_path / "d.txt"
    d.write_text("0 1 2")  # three jobs at x_0, but only two slots
    assert main(["schedule", "--delays", str(d), "--concurrency", "2"]) == 2
    assert "infeasible" in capsys.readouterr().err
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(horizon="many")))
    assert main(["run", str(spec), "--out", str(tmp_path / "o")]) == 2
    assert "horizon" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    ext = tmp_path / "trace.bin"
    ext.write_text("1")
    assert main(["schedule", "--trace", str(ext)]) == 2
    assert "expected a .npy" in capsys.readouterr().err


def test_cli_argparse_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["schedule", "--scheduler", "algorithm9"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def _fit_tail_available() -> bool:
    try:
        if importlib.util.find_spec("clipasgd.tails") is None:
            return False
        from clipasgd.tails import fit_tail  # noqa: F401
    except Exception:  # noqa: BLE001 - the module is being written elsewhere
        return False
    return True


@pytest.mark.skipif(not _fit_tail_available(), reason="clipasgd.tails.fit_tail not importable")
def test_cli_fit_tail(tmp_path, capsys) -> None:
    x = np.random.default_rng(0).standard_exponential(5000)  # theta = 1 exactly
    f = tmp_path / "norms.npy"
    np.save(f, x)
    assert main(["fit-tail", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.8 < out["theta"] < 1.2
    assert main(["fit-tail", str(tmp_path / "missing.npy")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_schedule_delays_must_be_whole_numbers(tmp_path, capsys):
    path = tmp_path / "d.npy"
    np.save(path, np.array([0.0, 0.5, 1.0]))
    assert main(["schedule", "--delays", str(path)]) == 2
    assert "whole numbers" in capsys.readouterr().err


def test_per_replication_schedules_are_shared_across_algorithms():
    spec = {"name": "crn", "seed": 5, "replications": 4, "horizon": 300,
            "problem": {"name": "quadratic", "dim": 3}, "noise": {"name": "gaussian"},
            "workers": {"n": 4, "stragglers": 1, "D": 5, "law": "exponential"},
            "scheduler": "algorithm2", "per_replication_schedules": True,
            "algorithms": [{"name": "asgd", "label": "a", "eta": 0.05},
                           {"name": "asgd", "label": "b", "eta": 0.05}]}
    res = run_experiment(spec, progress=lambda m: None)
    a, b = res.runs["a"], res.runs["b"]
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.metrics["gn"], b.metrics["gn"])


def test_version_flag(capsys) -> None:
    """``clipasgd --version`` prints the installed package's version and exits 0."""
    from clipasgd import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"clipasgd {__version__}"


@pytest.mark.parametrize("user", [None, "OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_cli_run_pins_blas_to_one_thread_unless_the_user_set_it(tmp_path, monkeypatch, user):
    """``clipasgd run`` simulates with one BLAS thread (as the pipeline's jobs do), unless
    the user set OPENBLAS/OMP/MKL_NUM_THREADS: then the library's own setting stays."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import clipasgd.experiment
    from clipasgd.cli import BLAS_THREAD_VARS

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    for var in BLAS_THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    if user:
        monkeypatch.setenv(user, "2")
    seen: list[list[int]] = []
    real = clipasgd.experiment.run_experiment
    monkeypatch.setattr(clipasgd.experiment, "run_experiment",
                        lambda *a, **k: (seen.append(blas()), real(*a, **k))[1])
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(replications=2)))
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas()
        assert main(["run", str(spec_file), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert seen and seen[0] == (outside if user else [1] * len(outside))
