"""Input validation (issue 14): finite numbers, YAML reading, memory refusal, clear messages,
safe output paths, the tail check's reported power, and fuzzed specs and schedule options."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from clipasgd.cli import main
from clipasgd.spec import SpecError, check_finite, check_spec, estimate_memory, load_spec, load_yaml

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"


def demo() -> dict:
    return load_yaml(DEMO, "spec")


def write(tmp_path: Path, spec: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.err


# ------------------------------------------------------------------- finite numbers


def test_check_finite_names_the_key_path() -> None:
    check_finite({"a": [1, 2.5, {"b": True}], "c": "nan"})
    with pytest.raises(SpecError, match=r"cfg: a\.2\.b: nan is not a finite number"):
        check_finite({"a": [1, 2, {"b": float("nan")}]}, "cfg")
    with pytest.raises(SpecError, match=r"x: eps\.1: -?inf"):
        check_finite({"eps": [0.1, -np.inf]}, "x")


@pytest.mark.parametrize("text, key", [("diverge_at: .nan", "diverge_at"),
                                       ("eps: [0.5, .inf]", r"eps\.1"),
                                       ("noise: {name: gaussian, sigma: .nan}", r"noise\.sigma")])
def test_spec_nan_rejected_naming_key(tmp_path, capsys, text: str, key: str) -> None:
    base = DEMO.read_text().replace("replications: 50", "replications: 2")
    key_name = text.split(":")[0]
    lines = [ln for ln in base.splitlines() if not ln.startswith(key_name + ":")]
    path = tmp_path / "s.yaml"
    path.write_text("\n".join([*lines, text]) + "\n")
    rc, err = run_cli(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert rc == 2 and "not a finite number" in err
    assert __import__("re").search(key, err)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- YAML


def test_load_yaml_syntax_error_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(SpecError, match=r"config .*c\.yaml: not valid YAML: line \d+"):
        load_yaml(path, "config")


def test_load_yaml_duplicate_key(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb:\n  x: 1\n  x: 2\n")
    with pytest.raises(SpecError, match=r"line 4.*duplicate key 'x' \(first at line 3\)"):
        load_yaml(path)


def test_load_yaml_reads_exponent_floats(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1.0e10\nb: 1e9\nc: -2.5E-3\nd: 10\ne: .5\nf: 1_000\ng: 'x'\nh: .inf\n")
    data = load_yaml(path)
    assert data == {"a": 1e10, "b": 1e9, "c": -2.5e-3, "d": 10, "e": 0.5, "f": 1000, "g": "x",
                    "h": float("inf")}
    assert isinstance(data["d"], int) and isinstance(data["b"], float)


def test_spec_with_exponent_diverge_at(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(DEMO.read_text() + "diverge_at: 1.0e10\n")
    assert check_spec(path)["diverge_at"] == 1e10


def test_cli_yaml_error_is_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(DEMO.read_text() + "seed: 3\n")
    rc, err = run_cli(["run", str(path)], capsys)
    assert rc == 2 and "duplicate key 'seed'" in err and "Traceback" not in err


# -------------------------------------------------------------------------- memory


def test_estimate_memory_scales_with_the_spec() -> None:
    base = load_spec(demo())
    small = estimate_memory(base)
    assert 1e5 < small < 1e8
    assert estimate_memory(base | {"horizon": 50_000}) > 5 * small
    assert estimate_memory(base | {"problem": {"name": "quadratic", "dim": 2000}}) > 10 * small


@pytest.mark.parametrize("change, key", [
    ({"problem": {"name": "quadratic", "dim": 1e9}}, "problem.dim"),
    ({"horizon": 10**9}, "horizon"),  # a larger count stops at MAX_COUNT first
    ({"workers": {"n": 10**8}}, "workers.n"),
])
def test_huge_spec_refused_before_work(change: dict, key: str) -> None:
    with pytest.raises(SpecError, match=rf"{key}.*GiB of memory, over the limit"):
        load_spec(demo() | change)


def test_memory_limit_override(monkeypatch) -> None:
    spec = demo() | {"horizon": 10**6}
    load_spec(spec)
    monkeypatch.setenv("CLIPASGD_MAX_MEMORY_GB", "0.01")
    with pytest.raises(SpecError, match="CLIPASGD_MAX_MEMORY_GB"):
        load_spec(spec)
    monkeypatch.setenv("CLIPASGD_MAX_MEMORY_GB", "lots")
    with pytest.raises(SpecError, match="CLIPASGD_MAX_MEMORY_GB: expected a positive number"):
        load_spec(spec)


@pytest.mark.parametrize("argv, match", [
    (["--events", "1e14"], "--events"),
    (["--events", "100000000000000"], "--events"),
    (["--workers", "n=100000000", "--events", "10"], "--workers n"),
    (["--scheduler", "algorithm2", "--concurrency", "100000000000"], "--concurrency"),
])
def test_cli_schedule_too_big_refused(capsys, argv: list[str], match: str) -> None:
    rc, err = run_cli(["schedule", *argv], capsys)
    assert rc == 2 and match in err and "GiB of memory" in err


def test_cli_schedule_events_in_exponent_form(capsys) -> None:
    assert main(["schedule", "--events", "1e3", "--workers", "n=2"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 1000


# ------------------------------------------------------------------------ messages


@pytest.mark.parametrize("workers, match", [
    ({"n": 0}, "workers: n must be a positive integer"),
    ({"n": "abc"}, "workers: n must be a number, got 'abc'"),
    ({"n": 4, "D": "slow"}, "workers: D must be a number"),
    ({"n": 4, "law": "pareto", "alpha": "x"}, "workers: alpha must be a finite number"),
    ({"means": "abc"}, "workers: means must be a non-empty list"),
    ({"trace": "/nonexistent.npy"}, "workers.trace: file not found: /nonexistent.npy"),
    ({"trace": 3}, "workers.trace: expected a file path or a list"),
    ({"peer": "x", "n": 4}, "workers: peer: unknown setup"),
])
def test_workers_messages_name_the_key(workers: dict, match: str) -> None:
    spec = demo()
    spec["workers"] = workers
    spec["algorithms"][2]["tau_c"] = 0  # a later error must not hide the workers one
    with pytest.raises(SpecError, match=match):
        check_spec(spec)


def test_workers_trace_file(tmp_path) -> None:
    good = tmp_path / "t.npy"
    np.save(good, np.ones((3, 20000)))
    spec = demo() | {"workers": {"trace": str(good)}, "replications": 2, "horizon": 50}
    assert check_spec(spec)["workers"]["trace"] == str(good)
    text = tmp_path / "text.npy"
    text.write_text("1 2 3\n")
    with pytest.raises(SpecError, match="workers.trace: .*not a NumPy .npy array") as err:
        check_spec(spec | {"workers": {"trace": str(text)}})
    assert "pickle" not in str(err.value)


@pytest.mark.parametrize("argv, match", [
    (["schedule", "--workers", "n=abc"], "n must be a number, got 'abc'"),
    (["schedule", "--workers", "n=0"], "n must be a positive integer"),
    (["schedule", "--workers", "n=4,D=NaN"], "D must be positive"),
])
def test_cli_workers_messages(capsys, argv: list[str], match: str) -> None:
    rc, err = run_cli(argv, capsys)
    assert rc == 2 and match in err and "invalid literal" not in err


def test_cli_text_file_named_npy(tmp_path, capsys) -> None:
    path = tmp_path / "t.npy"
    path.write_text("1 2 3\n")
    rc, err = run_cli(["schedule", "--trace", str(path)], capsys)
    assert rc == 2 and "--trace" in err and "not a NumPy .npy array" in err
    assert "pickle" not in err


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
def test_cli_fit_tail_empty_file(tmp_path, capsys, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    rc, err = run_cli(["fit-tail", str(path)], capsys)
    assert rc == 2 and "file:" in err and ("empty file" in err or "no numbers" in err)


# ------------------------------------------------------------------- output safety


def test_cli_run_unwritable_out_fails_before_work(tmp_path, capsys, monkeypatch) -> None:
    import clipasgd.experiment as experiment

    def boom(*a, **k):
        raise AssertionError("simulation started")

    monkeypatch.setattr(experiment, "run_experiment", boom)
    blocker = tmp_path / "file"
    blocker.write_text("")
    spec = write(tmp_path, demo())
    rc, err = run_cli(["run", str(spec), "--out", str(blocker / "out")], capsys)
    assert rc == 2 and "--out" in err and "not writable" in err


def test_cli_run_keeps_finished_chunks_when_a_later_one_fails(tmp_path, monkeypatch) -> None:
    import clipasgd.experiment as experiment

    real, calls = experiment.simulate, []

    def fails_on_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk gone")
        return real(*a, **k)

    monkeypatch.setattr(experiment, "simulate", fails_on_third)
    spec = demo() | {"replications": 4, "chunk": 2, "horizon": 200, "name": "chunks"}
    spec["algorithms"] = spec["algorithms"][:2]
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk gone"):
        main(["run", str(write(tmp_path, spec)), "--out", str(out), "--quiet"])
    kept = sorted(p.name for p in (out / "chunks").iterdir())
    first = spec["algorithms"][0].get("label", spec["algorithms"][0]["name"])
    assert kept == [f"{first}-0.hits.csv", f"{first}-0.reps.csv",
                    f"{first}-2.hits.csv", f"{first}-2.reps.csv"]
    import pandas as pd

    assert pd.read_csv(out / "chunks" / f"{first}-2.reps.csv")["rep"].tolist() == [2, 3]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_cli_run_read_only_out(tmp_path, capsys, monkeypatch) -> None:
    import clipasgd.experiment as experiment

    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: 1 / 0)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    rc, err = run_cli(["run", str(write(tmp_path, demo())), "--out", str(ro)], capsys)
    ro.chmod(0o755)
    assert rc == 2 and "not writable" in err


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "/abs", ".hidden", "", "a\\b"])
def test_spec_name_must_be_a_plain_folder(name: str) -> None:
    with pytest.raises(SpecError, match="name: .* must be a plain folder name"):
        load_spec(demo() | {"name": name})


def test_concurrency_needs_algorithm2() -> None:
    with pytest.raises(SpecError, match="concurrency: applies to scheduler algorithm2 only"):
        load_spec(demo() | {"concurrency": 4})
    assert load_spec(demo() | {"concurrency": 4, "scheduler": "algorithm2"})["concurrency"] == 4


# --------------------------------------------------------------------------- fuzz

_MISSING = object()


def _mutations() -> list[tuple[str, list, object]]:
    """(label, key path, new value or _MISSING to drop the key)."""
    paths = [["name"], ["seed"], ["replications"], ["horizon"], ["problem", "dim"],
             ["problem", "condition"], ["noise", "theta"], ["noise", "sigma"],
             ["workers", "n"], ["workers", "stragglers"], ["workers", "D"],
             ["workers", "law"], ["eps", 0], ["algorithms", 0, "eta"], ["algorithms", 0, "c"],
             ["algorithms", 2, "tau_c"], ["algorithms", 3, "max_delay"],
             ["problem", "name"], ["noise", "name"], ["algorithms", 1, "name"], ["scheduler"]]
    values = {"drop": _MISSING, "string": "abc", "nan": float("nan"), "inf": float("inf"),
              "negative": -3, "zero": 0, "huge": 1e12, "list": [1, 2], "null": None,
              "bool": True, "path": "../../etc/x"}
    return [(f"{'.'.join(map(str, p))}={label}", p, v)
            for p in paths for label, v in values.items()]


@pytest.mark.parametrize("label, path, value", _mutations(), ids=[m[0] for m in _mutations()])
def test_fuzz_spec_validator(label: str, path: list, value: object) -> None:
    spec = copy.deepcopy(demo())
    spec["replications"], spec["horizon"] = 2, 100
    node = spec
    for p in path[:-1]:
        node = node[p]
    if value is _MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    try:
        check_spec(spec)
    except SpecError as err:
        named = [str(p) for p in path if not isinstance(p, int)]
        assert any(k in str(err) for k in named), f"{label}: {err}"
    # any other exception type fails the test


_SCHED_ARGS = [["--workers", w] for w in ["n=abc", "n=-1", "n=2.5", "n=4,stragglers=9",
                                          "n=4,law=cauchy", "n=4,D=0", "n=4,D=inf", "n=",
                                          "=3", "n=4,law=pareto,alpha=1", "n=4,spread=2",
                                          "n=4,law=uniform,spread=nan", "n=[1]", "peer=x"]]
_SCHED_ARGS += [["--events", "-5"], ["--events", "1e300"], ["--concurrency", "0"],
                ["--scheduler", "algorithm2", "--concurrency", "-2"], ["--events", "0"]]


@pytest.mark.parametrize("argv", _SCHED_ARGS, ids=[" ".join(a) for a in _SCHED_ARGS])
def test_fuzz_cli_schedule(capsys, argv: list[str]) -> None:
    try:
        rc = main(["schedule", "--events", "50", *argv])
    except SystemExit as exc:  # argparse's own usage error, also exit 2
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and "error" in err and "Traceback" not in err


def test_readme_example_spec_validates(tmp_path) -> None:
    text = (DEMO.parents[1] / "README.md").read_text()
    block = text.split("### Experiment spec")[1].split("```yaml\n")[1].split("```")[0]
    path = tmp_path / "readme.yaml"
    path.write_text(block)
    assert check_spec(path)["diverge_at"] == 1e10
