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
            if tuple(keys[-2:]) not in SIGNED:
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
           "--seed": ["-1", "abc", "1.5", str(2**64)],
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
             "missing.yaml": (None, "not found")}
    for name, (text, word) in specs.items():
        path = tmp / f"spec-{name}"
        if text is not None:
            _write(path, text)
        out.append(case("run", ["run", str(path), "--out", str(tmp / "out"), "--quiet"], word))
    out.append(case("run", ["run", _write(tmp / "ok.yaml", _spec_with()), "--engine", "x"],
                    "--engine"))
    out += [case("bench", ["bench", "--repeats", v], "--repeats") for v in ("-1", "0", "x")]
    out.append(case("fetch-data", ["fetch-data", "nope"], "dataset"))
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
