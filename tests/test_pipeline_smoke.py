"""Smoke run of the whole Snakemake pipeline at the tiny `smoke` scale, in a copy of
the workflow (so the repository's data/ and figures/ are untouched) inside a folder whose
name holds a space (every path in the rules must be quoted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

FIELDS = {"claim", "paper_ref", "statement", "test", "verdict", "statistic", "ci", "margin",
          "control", "details", "inputs", "config_hash", "config_section", "seed", "version",
          "git_commit", "scale"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("pipeline") / "a folder with spaces"
    work.mkdir()
    for item in ("Snakefile", "rules", "config", "notebooks", "profiles", "envs"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    shutil.rmtree(work / "notebooks" / "executed", ignore_errors=True)
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2",
                          "--config", "scale=smoke"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stdout[-4000:] + dry.stderr[-4000:]
    (work / "dry-run.txt").write_text(dry.stdout)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2",
                           "--config", "scale=smoke"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work


def _claims(work: Path) -> list[str]:
    summary = json.loads((work / "data" / "smoke" / "summary.json").read_text())
    return [row["claim"] for row in summary["claims"]]


def test_every_verdict_file_has_all_fields(smoke_run):
    claims = _claims(smoke_run)
    assert {"tau_max", "virtual", "rate_shape"} <= set(claims)
    for claim in claims:
        rec = json.loads((smoke_run / "data" / "smoke" / "claims" / f"{claim}.json").read_text())
        assert FIELDS <= set(rec), FIELDS - set(rec)
        assert rec["verdict"] in ("supported", "refuted", "inconclusive") or \
            rec["verdict"].startswith("holds without ")
        assert rec["verdict_of_the_test"] in ("supported", "refuted", "inconclusive")
        assert rec["control"]["verdict"] in ("supported", "refuted", "inconclusive")
        assert set(rec["mechanism"]["ablations"]) == set(rec["mechanism"]["credits"])
        assert rec["inputs"], "a verdict must name its input files"


# Time-to-target claims run on tiny synthetic data with 1-2 seeds at smoke scale: a plumbing
# check of their pipeline; their control reading is tested on planted tables in
# tests/test_time_to_target.py (and has power only from quick scale on).
PLUMBING_ONLY = {"fig2_speedup", "fig3_speedup", "fig4_federated", "delay_sweep"}


def test_every_negative_control_is_refuted(smoke_run):
    for claim in sorted(set(_claims(smoke_run)) - PLUMBING_ONLY):
        rec = json.loads((smoke_run / "data" / "smoke" / "claims" / f"{claim}.json").read_text())
        assert rec["control"]["refuted"], f"{claim}: negative control not refuted: the check " \
                                          "has no power"


def test_a_claim_without_power_is_not_supported(smoke_run):
    for claim in _claims(smoke_run):
        rec = json.loads((smoke_run / "data" / "smoke" / "claims" / f"{claim}.json").read_text())
        if not rec["control"]["refuted"]:
            assert rec["verdict"] != "supported", f"{claim}: supported without a refuted control"


def test_figures_and_notebooks_exist(smoke_run):
    for claim in _claims(smoke_run):
        for path in (f"figures/smoke/{claim}.pdf", f"figures/smoke/{claim}.png",
                     f"notebooks/executed/smoke/{claim}.ipynb",
                     f"notebooks/executed/smoke/{claim}.html"):
            assert (smoke_run / path).stat().st_size > 0, path
    assert (smoke_run / "data" / "smoke" / "summary.md").is_file()


def test_grid_points_are_jobs(smoke_run):
    """At least 10 simulation jobs (shards), so --cores 2 or a cluster runs them at once."""
    stats = (smoke_run / "dry-run.txt").read_text()
    count = next(int(line.split()[-1]) for line in stats.splitlines()
                 if line.startswith("simulate_shard "))
    assert count >= 10


def test_landing_page_and_tidy_runs(smoke_run):
    import pandas as pd

    html = (smoke_run / "data" / "smoke" / "index.html").read_text()
    for claim in _claims(smoke_run):
        assert f'id="{claim}"' in html
    assert html.count("data:image/png;base64,") >= len(_claims(smoke_run))
    runs = pd.read_csv(smoke_run / "data" / "smoke" / "runs.csv")
    assert {"claim", "table", "algorithm", "label"} <= set(runs.columns)
    assert not {"clipped", "vanilla"} & set(runs["algorithm"].dropna())


def test_notebook_html_hides_the_parameters_cells(smoke_run):
    for claim in _claims(smoke_run):
        page = (smoke_run / "notebooks" / "executed" / "smoke" / f"{claim}.html").read_text()
        assert "injected-parameters" not in page and "celltag_parameters" not in page


def test_rerun_is_a_no_op(smoke_run):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n",
                           "--config", "scale=smoke"], cwd=smoke_run, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_landing_page_numbers_match_the_verdict_files(smoke_run):
    """Nothing on the page contradicts a verdict file: each claim's section shows its
    verdict, control outcome, statistic and interval, and its mechanism facts (fraction
    clipped, ablation outcomes, broken conditions), as the verdict file has them."""
    import json
    import re
    from html import escape

    from clipasgd.report import fmt, mechanism_lines

    html = (smoke_run / "data" / "smoke" / "index.html").read_text()
    summary = (smoke_run / "data" / "smoke" / "summary.md").read_text()
    for claim in _claims(smoke_run):
        rec = json.loads((smoke_run / "data" / "smoke" / "claims" / f"{claim}.json")
                         .read_text())
        section = re.search(f'<section id="{claim}">(.*?)</section>', html, re.S).group(1)
        badges = re.findall(r'<span class="badge [a-z]+"[^>]*>([^<]*)</span>', section)
        assert badges[0] == escape(rec["verdict"]) and badges[1] == rec["control"]["verdict"]
        assert escape(f"statistic {fmt(rec.get('statistic'))}") in section
        if rec.get("ci"):
            assert escape(fmt(rec["ci"])) in section
        for line in mechanism_lines(rec):
            assert escape(line) in section
        row = next(r for r in summary.splitlines() if r.startswith(f"| {claim} "))
        assert f"**{rec['verdict']}**" in row


def test_publish_copies_the_small_outputs_with_the_run_record(smoke_run):
    """`make publish`' two steps at smoke scale: a timed (no-op) run, then publish:
    every claim's verdict, figure and notebook under published/smoke/, checked against the
    config; a tampered verdict is found; `only` selects a subset, unknown ids refused."""
    from clipasgd.pipeline import load_config
    from clipasgd.publish import check_published, rule_cpu

    record = smoke_run / "run.json"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep
           + os.environ.get("PATH", "")}
    for cmd in (["-m", "clipasgd.publish", "--record", str(record), "--", sys.executable,
                 "-m", "snakemake", "--cores", "1", "--config", "scale=smoke"],
                ["-m", "clipasgd.pipeline", "publish", "--scale", "smoke", "--run-record",
                 str(record)]):
        proc = subprocess.run([sys.executable, *cmd], cwd=smoke_run, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads((smoke_run / "published" / "smoke" / "RUN.json").read_text())
    assert run["claims"] == _claims(smoke_run) and not run["not_run"]
    assert run["run"]["returncode"] == 0 and run["run"]["wall_s"] > 0
    # the timed run was a no-op: the fixture's jobs wrote their benchmarks before it started
    assert "simulate_shard" not in run["run"]["per_rule"]
    per_rule = rule_cpu(smoke_run, "smoke")  # every job of the fixture's run
    assert {"check_claim", "simulate_shard", "simulate", "verdict", "notebook",
            "summary"} <= set(per_rule)
    assert per_rule["verdict"]["jobs"] == len(_claims(smoke_run))
    assert per_rule["simulate_shard"]["cpu_s"] > 0
    cfg = load_config(smoke_run / "config" / "config.yaml")
    assert check_published(smoke_run, cfg, "smoke") == []
    path = smoke_run / "published" / "smoke" / "data" / "smoke" / "claims" / "tau_max.json"
    rec = json.loads(path.read_text())
    meta = json.loads((smoke_run / "data" / "smoke" / "tau_max" / "meta.json").read_text())
    assert rec["tables_commit"] == meta["git_commit"]  # who simulated what it reads
    path.write_text(json.dumps({**rec, "config_section": {**rec["config_section"], "seed": 1}}))
    assert any("tau_max" in p for p in check_published(smoke_run, cfg, "smoke"))
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-F",
                          "--config", "scale=smoke", "only=[tau_max]"], cwd=smoke_run, env=env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "claims/tau_max.json" in dry.stdout
    assert "claims/rate_shape.json" not in dry.stdout
    bad = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                          "--config", "scale=smoke", "only=[tau_maxx]"], cwd=smoke_run,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "tau_maxx" in bad.stdout + bad.stderr
