"""Adding a claim takes one module (with its words), one config section (+ its schema
entry) and one notebook: the README's toy claim, verbatim, kept outside the package
(``CLIPASGD_CLAIM_PATH``), runs through the real Snakemake workflow with no edit to any
registry, rule or pipeline file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slow

def _toy_code(root: Path) -> str:
    """The README's "Adding a claim" code block, verbatim."""
    text = (root / "README.md").read_text().split("## Adding a claim", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


NOTEBOOK_CODE = """\
import matplotlib.pyplot as plt
from clipasgd.report import load_table, load_verdict, save_figure
v = load_verdict(root, scale, "toy")
s = load_table(root, scale, "toy", "samples")
fig, ax = plt.subplots()
s.groupby("shift")["x"].mean().plot.bar(ax=ax, title=f"toy: {v['verdict']}")
save_figure(fig, root, scale, "toy")
"""


def _workflow(tmp: Path) -> Path:
    work = tmp / "work"
    work.mkdir()
    for item in ("Snakefile", "rules", "config", "profiles", "envs", "report"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    # 1. one module (outside the package: no registry edit anywhere)
    extra = tmp / "claims_extra"
    extra.mkdir()
    (extra / "toy.py").write_text(_toy_code(ROOT))
    # 2. one config section + its schema entry
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["claims"]["toy"] = {"n": 400, "margin": 0.5, "seed": 7, "scales": {"smoke": {}}}
    cfg_path.write_text(yaml.safe_dump(cfg))
    schema_path = work / "config" / "config.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["$defs"]["toy"] = {"type": "object", "required": ["n", "margin", "seed"]}
    schema_path.write_text(json.dumps(schema))
    # 3. one notebook
    (work / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('scale = "smoke"\nroot = ".."')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy claim"), params,
                nbformat.v4.new_code_cell(NOTEBOOK_CODE)]
    nbformat.write(nb, work / "notebooks" / "toy.ipynb")
    return work


def test_a_toy_claim_is_one_module_one_section_one_notebook(tmp_path):
    work = _workflow(tmp_path)
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
           "CLIPASGD_CLAIM_PATH": str(tmp_path / "claims_extra")}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "claim_toy", "--cores", "1",
                           "--config", "scale=smoke"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rec = json.loads((work / "data" / "smoke" / "claims" / "toy.json").read_text())
    assert rec["verdict"] == "supported" and rec["control"]["verdict"] == "refuted"
    assert rec["falsifier"] == "An interval outside +-0.5." and rec["git_commit"]
    assert rec["ran"] == "400 samples per point, seed 7."
    assert (work / "figures" / "smoke" / "toy.png").stat().st_size > 0
    assert (work / "data" / "smoke" / "toy" / "samples.csv").is_file()

    def dry(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    snakemake = ("snakemake", "claim_toy", "--cores", "1", "-n", "--config", "scale=smoke")
    assert "Nothing to be done" in dry(*snakemake)
    # rerunning on request: `clipasgd rerun toy` forces the claim's jobs
    forced = dry("clipasgd.cli", "rerun", "toy", "--scale", "smoke", "--cores", "1", "-n")
    for job in ("check_claim", "simulate_shard", "verdict", "notebook"):
        assert job in forced
    # the report holds the figure with its caption (claim id, paper ref) and verdict label
    dry("snakemake", "claim_toy", "--config", "scale=smoke", "--report", "report.html")
    report = (work / "report.html").read_text()
    assert "toy.png" in report and '"paper": "none", "verdict": "supported"' in report
    assert "toy</tt> (none), smoke scale" in report
    # deleting the claim's data reruns it (a missing input of an up-to-date job does not)
    shutil.rmtree(work / "data" / "smoke" / "toy")
    missing = dry(*snakemake)
    assert "simulate_shard" in missing and "check_claim" in missing
