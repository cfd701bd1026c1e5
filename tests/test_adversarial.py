"""Adversarial harness (issue 23): a deterministic sample of config mutations generated from
the shipped config (wrong types, negative numbers, unknown keys, NaN/inf, huge counts) and
of bad command-line inputs, each replayed in a forked child with a time and memory limit.
Every one must be refused cleanly: exit code 2, one error line naming the key or option,
no traceback, no hang.

``python tests/test_adversarial.py [--root DIR] [--all]`` prints the table
``category | tried | caught cleanly | silently wrong | traceback | unnamed | hang`` (run it
with ``PYTHONPATH`` at another checkout's ``src`` and ``--root`` at that checkout to
measure that code; ``--all`` replays every config mutation, not the sample).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import multiprocessing
import os
import resource
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = 100  # config mutations replayed by the test
TIMEOUT_S = 20  # per case: longer is a hang
EXTRA_MEMORY = 2 * 2**30  # address space a case may add to the parent's
# Values that may legitimately take any sign (signed positions) and keys whose size is free.
SIGNED = {("clip_radius", "offsets")}
UNBOUNDED = {"seed"}


@dataclass(frozen=True)
class Case:
    category: str
    label: str
    run: Callable[[], int]  # returns the exit code (or raises SystemExit)
    names: tuple[str, ...]  # the error line must contain one of these


# --------------------------------------------------------------------- config mutations


def _nodes(value: object, path: tuple) -> Iterator[tuple[tuple, object]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def mutations(cfg: dict) -> list[tuple[str, tuple, object]]:
    """Every (kind, path, value) mutation of the config's claim sections that must be
    refused, in a fixed order."""
    out = []
    for path, v in _nodes(cfg["claims"], ("claims",)):
        keys = [p for p in path if isinstance(p, str)]
        if isinstance(v, bool):
            out.append(("wrong type", path, "yes"))
        elif isinstance(v, int | float):
            out += [("wrong type", path, "abc"), ("non-finite", path, math.nan),
                    ("non-finite", path, -math.inf)]
            if tuple(keys[-3:-1]) not in SIGNED:
                out.append(("negative", path, -abs(v) - 1))
            if isinstance(v, int) and keys[-1] not in UNBOUNDED:
                out.append(("huge", path, 10**12))
        elif isinstance(v, str):
            out.append(("wrong type", path, 7))
        elif isinstance(v, list):
            out.append(("wrong type", path, "abc"))
        elif isinstance(v, dict) and len(path) > 2 and path[2] != "scales":
            out.append(("unknown key", path, None))
    return out


def _apply(cfg: dict, path: tuple, kind: str, value: object) -> dict:
    cfg = copy.deepcopy(cfg)
    node = cfg
    for p in path[:-1]:
        node = node[p]
    if kind == "unknown key":
        node[path[-1]]["bogus_key"] = 1
    else:
        node[path[-1]] = value
    return cfg


def _effective_scale(cfg: dict, path: tuple) -> str:
    """A scale at which the mutated value is used (not masked by a scale override)."""
    section = cfg["claims"][path[1]]
    if len(path) > 3 and path[2] == "scales":
        return path[3]
    for scale in [cfg["scale"], *cfg["scales"]]:
        node = section.get("scales", {}).get(scale, {})
        for p in path[2:]:
            if not isinstance(node, dict) or p not in node:
                return scale
            node = node[p]
    return cfg["scale"]


def config_cases(tmp: Path, sample: int | None = SAMPLE) -> list[Case]:
    from clipasgd import pipeline
    from clipasgd.claims import CLAIM_IDS

    cfg = yaml.safe_load((Path.cwd() / "config" / "config.yaml").read_text())
    found = mutations(cfg)
    if sample is not None and sample < len(found):
        rng = np.random.default_rng(np.random.SeedSequence(23))
        found = [found[i] for i in sorted(rng.choice(len(found), sample, replace=False))]
    cases = []
    for i, (kind, path, value) in enumerate(found):
        file = tmp / f"config-{i}.yaml"
        file.write_text(yaml.safe_dump(_apply(cfg, path, kind, value), sort_keys=False))
        claim = [path[1]] if path[1] in CLAIM_IDS else []
        argv = ["check-config", *claim, "--config", str(file),
                "--scale", _effective_scale(cfg, path)]
        keys = [str(p) for p in path if isinstance(p, str)]
        # a wrong ``name`` may be reported as the section it names (noise: unknown noise 7)
        names = ("bogus_key",) if kind == "unknown key" else \
            (keys[-1], keys[-2]) if keys[-1] == "name" else (keys[-1],)
        label = f"{'.'.join(map(str, path))} = {value!r}"
        cases.append(Case(f"config: {kind}", label,
                          lambda argv=argv: pipeline.main(argv), names))
    return cases


# ---------------------------------------------------------------------- command line


def _npy_declaring(path: Path, shape: tuple) -> Path:
    """A .npy file whose header declares ``shape`` but holds no data."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return path


def _write(path: Path, text: str | bytes) -> str:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


SPEC = {"problem": {"name": "quadratic", "dim": 2}, "noise": {"name": "gaussian", "sigma": 0.1},
        "workers": {"n": 2, "stragglers": 1, "D": 2}, "horizon": 20, "replications": 2,
        "algorithms": [{"name": "clipped_asgd", "eta": 0.1, "c": 1.0}]}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def _spec_with(**change: object) -> str:
    return yaml.safe_dump({**SPEC, **change})


def cli_cases(tmp: Path) -> list[Case]:
    from clipasgd import cli

    def case(category: str, argv: list[str], *names: str) -> Case:
        return Case(f"cli: {category}", " ".join(argv), lambda: cli.main(argv), names)

    out = []
    bad = {"--events": ["-1", "0", "nan", "inf", "abc", "1.5", "1e30"],
           "--seed": ["-1", "abc", "1.5"],
           "--seeds": ["0", "-1", "abc", "1000000000"],
           "--time-cap": ["0", "-1", "nan", "inf", "1e9", "1e7", "abc"],
           "--concurrency": ["0", "-1", "abc"]}
    for opt, values in bad.items():
        extra = ["--scheduler", "algorithm2"] if opt == "--concurrency" else []
        out += [case("schedule", ["schedule", *extra, opt, v], opt.lstrip("-")) for v in values]
    for workers, key in [("n=0", "n"), ("n=-1", "n"), ("n=1e12", "n"), ("n=nan", "n"),
                         ("D=-1", "D"), ("D=nan", "D"), ("stragglers=-1", "stragglers"),
                         ("n=4,stragglers=9", "stragglers"), ("law=bogus", "law"),
                         ("bogus=1", "bogus"), ("n4", "key=value"), ("means=[]", "means"),
                         ("means=[-1,1]", "means"), ("means=[nan,1]", "means"),
                         ("shift=-1", "shift"), ("law=pareto,alpha=-1", "alpha"),
                         ("law=uniform,spread=-1", "spread")]:
        out.append(case("schedule", ["schedule", "--workers", workers], key, "workers"))
    arrays = {"huge-header.npy": None, "one-d.npy": np.ones(5), "nan.npy": np.array([[1, np.nan]]),
              "complex.npy": np.ones((2, 2), complex), "empty.csv": "", "garbage.csv": "a,b\nc",
              "text.npy": "1 2 3", "negative.csv": "-1,2\n3,4"}
    for name, content in arrays.items():
        path = tmp / f"trace-{name}"
        if content is None:
            _npy_declaring(path, (10**9, 1))
        elif isinstance(content, np.ndarray):
            np.save(path, content)
        else:
            _write(path, content)
        out.append(case("arrays", ["schedule", "--trace", str(path)], "--trace"))
        if name != "negative.csv":  # a negative noise norm is data, not an error
            out.append(case("arrays", ["fit-tail", str(path)], "file"))
    for name, text in [("neg.csv", "0,-3,1"), ("frac.csv", "0,0.5"), ("garbage.csv", "x")]:
        out.append(case("arrays", ["schedule", "--delays", _write(tmp / f"delays-{name}", text)],
                        "--delays"))
    out.append(case("arrays", ["fit-tail", str(tmp / "missing.npy")], "file"))
    sample = tmp / "sample.npy"
    np.save(sample, np.random.default_rng(0).exponential(size=500))
    out += [case("arrays", ["fit-tail", str(sample), "--k", v], "--k") for v in ("-1", "0", "x")]
    out += [case("arrays", ["fit-tail", str(sample), "--seed", v], "--seed") for v in ("-1", "x")]
    specs = {"empty.yaml": ("", "spec"), "list.yaml": ("- 1\n- 2\n", "spec"),
             "scalar.yaml": ("3\n", "spec"), "alias.yaml": (ALIAS_BOMB, "alias"),
             "dup.yaml": (_spec_with() + "horizon: 5\n", "horizon"),
             "huge.yaml": ("# " + "x" * (9 * 2**20) + "\n" + _spec_with(), "MiB"),
             "nan.yaml": (_spec_with(horizon=float("nan")), "horizon"),
             "neg.yaml": (_spec_with(horizon=-5), "horizon"),
             "big.yaml": (_spec_with(horizon=10**12), "horizon"),
             "unknown.yaml": (_spec_with(bogus=1), "bogus"),
             "reps.yaml": (_spec_with(replications=0), "replications"),
             "problem.yaml": (_spec_with(problem={"name": "nope"}), "problem"),
             "noise.yaml": (_spec_with(noise={"name": "gaussian", "sigma": -1}), "noise"),
             "algos.yaml": (_spec_with(algorithms=[]), "algorithms"),
             "eta.yaml": (_spec_with(algorithms=[{"name": "asgd", "eta": -1}]), "eta"),
             "name.yaml": (_spec_with(name="../x"), "name"),
             "chunk.yaml": (_spec_with(chunk=0), "chunk"),
             "workers.yaml": (_spec_with(workers={"n": 0}), "workers"),
             "syntax.yaml": ("a: [1, 2\n", "line"), "bad.json": ("{", "json"),
             "missing.yaml": (None, "not found"),
             "seed.yaml": (_spec_with(seed=-1), "seed"),
             "sched.yaml": (_spec_with(scheduler="fifo"), "scheduler"),
             "conc.yaml": (_spec_with(concurrency=3), "concurrency"),
             "eps.yaml": (_spec_with(eps=[0.1, -0.1]), "eps"),
             "diverge.yaml": (_spec_with(diverge_at=0), "diverge_at"),
             "flag.yaml": (_spec_with(stop_when_hit="yes"), "stop_when_hit"),
             "many.yaml": (_spec_with(workers={"n": 10**12, "stragglers": 1, "D": 2}), "workers"),
             "labels.yaml": (_spec_with(algorithms=[{"name": "asgd", "eta": 0.1}] * 2), "labels"),
             "horizon.yaml": (_spec_with(horizon="many"), "horizon"),
             "tau.yaml": (_spec_with(algorithms=[{"name": "clipped_asgd", "tau_c": 0}]),
                          "algorithms.0")}
    for name, (text, word) in specs.items():
        path = tmp / f"spec-{name}"
        if text is not None:
            _write(path, text)
        out.append(case("run", ["run", str(path), "--out", str(tmp / "out"), "--quiet"], word))
    out.append(case("run", ["run", _write(tmp / "ok.yaml", _spec_with()), "--engine", "x"],
                    "--engine"))
    out += [case("bench", ["bench", "--repeats", v], "--repeats") for v in ("-1", "0", "x")]
    out.append(case("fetch-data", ["fetch-data", "nope"], "dataset"))
    out.append(case("schedule", ["schedule", "--scheduler", "fifo"], "--scheduler"))
    return out


# ------------------------------------------------------------------------- replaying


def _child(case: Case, conn) -> None:  # noqa: ANN001 (a multiprocessing connection)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + EXTRA_MEMORY, hard))
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = case.run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - the harness records what escaped
        code, err = "traceback", io.StringIO(err.getvalue() + traceback.format_exc())
    conn.send((code, err.getvalue()))
    conn.close()


def replay(case: Case) -> tuple[str, str]:
    """``(outcome, stderr)``; outcome: clean, silently wrong, traceback, unnamed or hang."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(case, child))
    proc.start()
    child.close()
    if not parent.poll(TIMEOUT_S):
        proc.kill()
        proc.join()
        return "hang", ""
    try:
        code, err = parent.recv()
    except EOFError:  # killed (memory)
        code, err = "traceback", "child died"
    proc.join()
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    if code == "traceback" or "Traceback" in err:
        return "traceback", err
    if code == 0:
        return "silently wrong", err
    if code != 2 or not errors or not any(n in errors[-1] for n in case.names):
        return "unnamed", err
    usage = [line for line in lines if line is not errors[-1]]
    if usage and not usage[0].startswith("usage:"):  # only argparse adds its usage lines
        return "unnamed", err
    return "clean", err


OUTCOMES = ("clean", "silently wrong", "traceback", "unnamed", "hang")


def table(results: list[tuple[Case, str]]) -> str:
    rows = ["| category | tried | caught cleanly | silently wrong | traceback | unnamed | hang |",
            "|---|---|---|---|---|---|---|"]
    cats = sorted({c.category for c, _ in results})
    for cat in [*cats, "all"]:
        got = Counter(o for c, o in results if cat in ("all", c.category))
        rows.append(f"| {cat} | {sum(got.values())} | "
                    + " | ".join(str(got[o]) for o in OUTCOMES) + " |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[Case]:
    tmp = tmp_path_factory.mktemp("adversarial")
    old = Path.cwd()
    os.chdir(ROOT)
    try:
        return config_cases(tmp) + cli_cases(tmp)
    finally:
        os.chdir(old)


def test_sample_sizes(cases) -> None:
    assert sum(c.category.startswith("config") for c in cases) == SAMPLE
    assert sum(c.category.startswith("cli") for c in cases) >= 100


def test_every_bad_input_is_refused_cleanly(cases, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CLIPASGD_MAX_MEMORY_GB", "2")
    bad = []
    for case in cases:
        outcome, err = replay(case)
        if outcome != "clean":
            bad.append(f"{outcome}: [{case.category}] {case.label}: {err.strip()[-300:]}")
    assert not bad, f"{len(bad)} of {len(cases)} not refused cleanly:\n" + "\n".join(bad)


# ------------------------------------------------- issue 23, item by item (each failed before)


def _load_cfg() -> dict:
    from clipasgd.pipeline import load_config

    return load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "config.schema.json")


def test_1_input_fingerprint_follows_the_content_of_named_files(tmp_path) -> None:
    from clipasgd.provenance import config_hash, input_fingerprint, with_inputs

    (tmp_path / "u.npy").write_bytes(b"one")
    (tmp_path / "rule.py").write_text("def step(x):\n    return x\n")
    section = {"user_files": ["u.npy"], "update": "rule.py:step", "eta": 0.1}
    first = input_fingerprint(section, tmp_path)
    (tmp_path / "u.npy").write_bytes(b"two")
    second = input_fingerprint(section, tmp_path)
    (tmp_path / "rule.py").write_text("def step(x):\n    return 2 * x\n")
    third = input_fingerprint(section, tmp_path)
    assert len({first, second, third}) == 3
    plain = {"eta": 0.1, "name": "fashion-mnist"}
    assert input_fingerprint(plain, tmp_path) == "" and with_inputs(plain) == plain
    assert config_hash(with_inputs(plain)) == config_hash(plain)  # old hashes stay valid


def test_1_section_hash_changes_when_a_user_file_is_overwritten(tmp_path, monkeypatch) -> None:
    from clipasgd import pipeline

    cfg = _load_cfg()
    cfg["claims"]["tails"]["user_files"] = ["noise.npy"]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.save("noise.npy", rng.exponential(size=500))
    before = pipeline.section_hash(cfg, "tails", "smoke")
    np.save("noise.npy", rng.pareto(1.5, size=500))
    assert pipeline.section_hash(cfg, "tails", "smoke") != before
    common = (ROOT / "rules" / "common.smk").read_text()
    assert "_section_hash(config, wildcards.claim, wildcards.scale)" in common


def test_1_cached_point_reruns_when_a_named_file_changes(tmp_path, monkeypatch) -> None:
    from clipasgd.claims import base

    monkeypatch.chdir(tmp_path)
    Path("data.csv").write_text("1\n")
    calls = []

    def run():
        calls.append(1)
        return {"t": __import__("pandas").DataFrame({"a": [len(calls)]})}

    base.cached_point(tmp_path / "out", "k", {"path": "data.csv"}, run)
    base.cached_point(tmp_path / "out", "k", {"path": "data.csv"}, run)
    assert len(calls) == 1
    Path("data.csv").write_text("2\n")
    base.cached_point(tmp_path / "out", "k", {"path": "data.csv"}, run)
    assert len(calls) == 2


def test_1_code_fingerprint_covers_claim_path_modules(tmp_path, monkeypatch) -> None:
    from clipasgd.claims import base

    (tmp_path / "mine.py").write_text("THRESHOLD = 1e9\n")
    monkeypatch.setenv("CLIPASGD_CLAIM_PATH", str(tmp_path))
    try:
        base.code_fingerprint.cache_clear()
        first = base.code_fingerprint()
        (tmp_path / "mine.py").write_text("THRESHOLD = 10\n")
        base.code_fingerprint.cache_clear()
        assert base.code_fingerprint() != first
        (tmp_path / "mine.py").write_text('"""A docstring only."""\nTHRESHOLD = 10  # note\n')
        base.code_fingerprint.cache_clear()
        second = base.code_fingerprint()
        (tmp_path / "mine.py").write_text("THRESHOLD = 10\n")
        base.code_fingerprint.cache_clear()
        assert base.code_fingerprint() == second  # comments and docstrings still free
    finally:
        monkeypatch.delenv("CLIPASGD_CLAIM_PATH")
        base.code_fingerprint.cache_clear()


@pytest.mark.parametrize("argv, option", [
    (["schedule", "--time-cap", "1e7"], "--time-cap"),
    (["schedule", "--time-cap", "1e9"], "--time-cap"),
    (["schedule", "--time-cap", "inf"], "--time-cap"),
])
def test_2_schedule_time_cap_refused_before_work(argv, option, capsys) -> None:
    from clipasgd.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert option in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["fit-tail"], ["schedule", "--trace"]])
def test_2_array_header_checked_before_reading(tmp_path, capsys, monkeypatch, args) -> None:
    from clipasgd.cli import main

    path = _npy_declaring(tmp_path / "big.npy", (10**9, 1))
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("read before the check"))
    assert main([*args, str(path)]) == 2
    assert "declares 1e+09 numbers" in capsys.readouterr().err


def test_2_yaml_aliases_and_size_refused(tmp_path) -> None:
    from clipasgd.guard import MAX_YAML_BYTES
    from clipasgd.spec import SpecError, load_yaml

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    with pytest.raises(SpecError, match="alias"):
        load_yaml(bomb)
    big = tmp_path / "big.yaml"
    big.write_text("a: 1\n" + "#" * MAX_YAML_BYTES)
    with pytest.raises(SpecError, match="over the limit"):
        load_yaml(big)


def test_2_shard_count_bounded() -> None:
    from clipasgd.pipeline import check_config
    from clipasgd.spec import SpecError

    cfg = _load_cfg()
    with pytest.raises(SpecError, match="shards: 100000"):
        check_config({**cfg, "shards": 100_000}, ROOT / "config" / "config.schema.json")


@pytest.mark.parametrize("text", ["", "{tru", "[]", '{"hash": 3}'])
def test_3_damaged_stamp_is_named_and_recomputed(tmp_path, text) -> None:
    from clipasgd.claims import base

    calls, messages = [], []

    def run():
        calls.append(1)
        return {"t": __import__("pandas").DataFrame({"a": [1]})}

    base.cached_point(tmp_path, "p", {"x": 1}, run)
    stamp = tmp_path / "parts" / "p.done.json"
    stamp.write_text(text)
    base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)
    assert len(calls) == 2 and str(stamp) in messages[0] and "recomputing" in messages[0]
    base.cached_point(tmp_path, "p", {"x": 1}, run, messages.append)
    assert len(calls) == 2  # the rewritten stamp is trusted again


def test_3_damaged_merged_table_is_named_and_regathered(tmp_path, monkeypatch) -> None:
    import pandas as pd

    from clipasgd import claims, pipeline
    from clipasgd.claims import base
    from clipasgd.tables import TableMismatch, read_tables

    runs = []

    def point(run, p, seed):
        runs.append(p["key"])
        return {"hits": pd.DataFrame({"k": [p["key"]] * 3, "v": [1, 2, 3]})}

    def verdict(cfg, data):
        hits = read_tables(data, ("hits",))["hits"]
        ok = "supported" if len(hits) == 6 else "inconclusive"
        return base.Verdict(ok, float(len(hits)), None, None, base.Control("c", "refuted"))

    stage = base.Stage("grid", lambda run, _: [{"key": "a"}, {"key": "b"}], point)
    info = base.Claim("fake", "", reading=verdict, design=base.Design((stage,)),
                      words={"statement": "s", "test": "t", "falsifier": "f"})
    monkeypatch.setitem(claims.REGISTRY, "fake", info)
    monkeypatch.setattr(pipeline, "get_claim", lambda claim: info)
    monkeypatch.setattr(pipeline, "ROOT", tmp_path)
    cfg = {"scale": "smoke", "scales": {"smoke": ""}, "claims": {"fake": {"seed": 1}}}
    pipeline.run_simulate(cfg, "fake", "smoke")
    data = tmp_path / "data" / "smoke" / "fake"
    hits = data / "hits.csv"
    hits.write_text("\n".join(hits.read_text().splitlines()[:-2]) + "\n")  # 2 rows deleted
    assert pipeline.tables_state("smoke", "fake") == "damaged: hits"
    with pytest.raises(TableMismatch, match="hits.csv"):
        read_tables(data, ("hits",))
    out = pipeline.run_verdict(cfg, "fake", "smoke")
    assert __import__("json").loads(out.read_text())["verdict"] == "supported"
    assert runs == ["a", "b"] and pipeline.tables_state("smoke", "fake") == "ok"
    claims_smk = (ROOT / "rules" / "claims.smk").read_text()
    assert "tables=merged_tables" in claims_smk  # damage alone reruns the verdict


def test_3_a_table_removed_on_purpose_is_not_damage(tmp_path) -> None:
    import pandas as pd

    from clipasgd.tables import damaged_tables, remove_tables, write_tables

    write_tables(tmp_path, {"select": pd.DataFrame({"a": [1]}), "curves": pd.DataFrame({"b": [2]})})
    (tmp_path / "select.csv").unlink()
    assert damaged_tables(tmp_path) == ["select"]
    remove_tables(tmp_path, ("select",))
    assert damaged_tables(tmp_path) == [] and (tmp_path / "curves.csv").is_file()


@pytest.mark.parametrize("claim, key, value, words", [
    ("fig2_speedup", "target", -1, "target"),
    ("fig2_speedup", "target", 1.5, "target"),
    ("fig3_speedup", "target", 0.5, "target"),
    ("fig2_speedup", "paper", [{"D": 4, "vanilla": -1.8}], "paper.0.vanilla"),
    ("fig4_federated", "paper", [{"D": 4, "bogus": 1.0}], "bogus"),
])
def test_4_figure_targets_and_paper_entries_bounded(claim, key, value, words) -> None:
    from clipasgd.pipeline import check_config
    from clipasgd.spec import SpecError

    cfg = _load_cfg()
    cfg["claims"][claim][key] = value
    with pytest.raises(SpecError, match=words):
        check_config(cfg, ROOT / "config" / "config.schema.json")


def test_4_federated_high_prob_noise_checked_naming_the_key() -> None:
    from clipasgd.pipeline import check_claims
    from clipasgd.spec import SpecError

    cfg = _load_cfg()
    cfg["claims"]["federated_high_prob"]["noise"] = {"name": "subweibull", "theta": -2.0}
    with pytest.raises(SpecError, match="federated_high_prob.*noise"):
        check_claims(cfg, "smoke", ["federated_high_prob"])


def test_4_duplicate_keys_in_a_configfile_refused(tmp_path) -> None:
    from clipasgd.pipeline import check_configfiles
    from clipasgd.spec import SpecError

    dup = tmp_path / "over.yaml"
    dup.write_text("shards: 2\nshards: 3\n")
    with pytest.raises(SpecError, match="duplicate key 'shards'"):
        check_configfiles([str(ROOT / "config" / "config.yaml"), str(dup)])
    assert "check_configfiles(workflow.configfiles)" in (ROOT / "rules" / "common.smk").read_text()


def test_5_run_on_an_empty_or_list_spec(tmp_path, capsys) -> None:
    from clipasgd.cli import main

    for text in ("", "- 1\n"):
        (tmp_path / "s.yaml").write_text(text)
        assert main(["run", str(tmp_path / "s.yaml")]) == 2
        err = capsys.readouterr().err
        assert "top level must be a mapping" in err and len(err.strip().splitlines()) == 1


def _fail_replace(code: int):
    def replace(src, dst):
        raise OSError(code, os.strerror(code))
    return replace


@pytest.mark.parametrize("code, words", [(28, "disk is full"), (30, "read-only")])
def test_5_full_or_read_only_disk_in_run_out(tmp_path, capsys, monkeypatch, code, words) -> None:
    from clipasgd import provenance
    from clipasgd.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(_spec_with())
    import types

    fake_os = types.ModuleType("os")  # only the pipeline's writes fail, not numba's cache
    fake_os.__dict__.update(os.__dict__)
    fake_os.replace = _fail_replace(code)
    monkeypatch.setattr(provenance, "os", fake_os)
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and str(tmp_path / "o") in err and ".tmp" not in err
    assert len(err.strip().splitlines()) == 1


def test_5_pipeline_write_on_a_full_disk(tmp_path, capsys, monkeypatch) -> None:
    from clipasgd import pipeline, provenance

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(provenance.os, "replace", _fail_replace(28))
    stamp = tmp_path / "checked.json"
    argv = ["check-config", "virtual", "--scale", "smoke", "--stamp", str(stamp)]
    assert pipeline.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{stamp}: the disk is full" in err and len(err.strip().splitlines()) == 1


def test_5_fetch_data_on_a_read_only_dest(tmp_path, capsys, monkeypatch) -> None:
    from clipasgd import datasets
    from clipasgd.cli import main

    def mkdir(self, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(datasets, "find_fashion_mnist", lambda dest: None)
    monkeypatch.setattr(datasets.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert main(["fetch-data", "fashion-mnist", "--dest", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'ro'}: the file system is read-only" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, option", [(["schedule", "--seed", "-1"], "--seed"),
                                          (["bench", "--repeats", "-1"], "--repeats")])
def test_5_errors_name_the_option(argv, option, capsys) -> None:
    from clipasgd.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and f"argument {option}" in capsys.readouterr().err


def test_5_reused_out_folder_keeps_only_this_runs_chunks(tmp_path, capsys) -> None:
    from clipasgd.cli import main

    spec = tmp_path / "s.yaml"
    two = [{"name": "clipped_asgd", "eta": 0.1, "c": 1.0, "label": "A"},
           {"name": "asgd", "eta": 0.1, "label": "B"}]
    spec.write_text(_spec_with(algorithms=two))
    out = tmp_path / "o"
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    assert any(p.name.startswith("B-") for p in (out / "chunks").iterdir())
    spec.write_text(_spec_with(algorithms=two[:1]))
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    assert sorted({p.name.split("-")[0] for p in (out / "chunks").iterdir()}) == ["A"]


@pytest.mark.parametrize("sacct, expected", [
    (None, "failed"), ("", "failed"), ("SPECIAL_EXIT", "failed"), ("REVOKED", "failed"),
    ("SOMETHING_NEW", "failed"), ("CANCELLED by 0", "failed"), ("TIMEOUT", "failed"),
    ("RUNNING", "running"), ("PENDING", "running"), ("COMPLETED", "success")])
def test_6_cluster_status_fails_closed(tmp_path, sacct, expected) -> None:
    import shutil
    import subprocess

    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("head", "sleep"):
        (fake / tool).symlink_to(shutil.which(tool))
    if sacct is not None:
        (fake / "sacct").write_text(f"#!/bin/sh\nprintf '%s' '{sacct}'\n")
        (fake / "sacct").chmod(0o755)
    env = {"PATH": str(fake), "CLIPASGD_STATUS_TRIES": "2", "CLIPASGD_STATUS_WAIT": "0"}
    proc = subprocess.run(["/bin/bash", str(ROOT / "profiles/cluster-generic/status.sh"), "42"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == expected, proc.stderr


def test_7_every_wildcard_in_a_shell_command_is_quoted_and_constrained() -> None:
    import re

    for smk in (ROOT / "rules").glob("*.smk"):
        for shell in re.findall(r"shell:\n(.*?)(?:\n\n|\Z)", smk.read_text(), re.S):
            assert not re.findall(r"\{wildcards\.\w+\}", shell), (smk, shell)
    snakefile = (ROOT / "Snakefile").read_text()
    assert "wildcard_constraints:\n    **WILDCARDS" in snakefile
    common = (ROOT / "rules" / "common.smk").read_text()
    for name in ("scale", "claim", "k", "n"):
        assert f'"{name}":' in common


@pytest.mark.slow
def test_7_a_crafted_scale_matches_no_rule() -> None:
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    target = "notebooks/executed/smoke;touch pwned/tau_max.html"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", target], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "No rule to produce" in out, out[-2000:]


if __name__ == "__main__":  # the before/after table for a checkout
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--all", action="store_true", help="every config mutation, not the sample")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    os.chdir(args.root)
    os.environ["CLIPASGD_MAX_MEMORY_GB"] = "2"
    with tempfile.TemporaryDirectory() as tmpdir:
        everything = config_cases(Path(tmpdir), None if args.all else SAMPLE) \
            + cli_cases(Path(tmpdir))
        results = []
        for c in everything:
            outcome, err = replay(c)
            results.append((c, outcome))
            if args.verbose and outcome != "clean":
                print(f"{outcome}: [{c.category}] {c.label}: {err.strip()[-200:]}",
                      file=sys.stderr)
    print(table(results))
