"""The workflow on a (fake) cluster and under change, with the toy claim of
``test_toy_claim.py`` so it stays short: the shipped ``profiles/cluster-generic`` submits
each job to a fake ``sbatch`` (runs it in the background) and polls a fake ``sacct``;
a ``--configfile`` override reaches the jobs; a comment does not rerun anything, a code
change does; a bad override is refused before any job; ``snakemake --lint`` is clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_toy_claim import _workflow

pytestmark = pytest.mark.slow

SBATCH = r"""#!/usr/bin/env bash
# fake sbatch: record the call, run the job script in the background, print a job id
dir="$(cd "$(dirname "$0")" && pwd)"
echo "$*" >> "$dir/sbatch.log"
mkdir -p "$dir/jobs"
id=$(( $(cat "$dir/counter" 2>/dev/null || echo 1000) + 1 ))
echo "$id" > "$dir/counter"
script="${@: -1}"
( bash "$script" > "$dir/jobs/$id.out" 2>&1; echo $? > "$dir/jobs/$id.rc" ) \
    < /dev/null > /dev/null 2>&1 &
echo "$id"
"""

SACCT = r"""#!/usr/bin/env bash
# fake sacct: the state of the job after -j, from the fake sbatch's files
dir="$(cd "$(dirname "$0")" && pwd)"
echo "$*" >> "$dir/sacct.log"
while [ $# -gt 0 ]; do [ "$1" = "-j" ] && id="$2"; shift; done
if [ -f "$dir/jobs/$id.rc" ]; then
  if [ "$(cat "$dir/jobs/$id.rc")" = 0 ]; then echo COMPLETED; else echo FAILED; fi
else
  echo RUNNING
fi
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    work = _workflow(tmp)
    shutil.copytree(ROOT / "profiles", work / "profiles", dirs_exist_ok=True)
    src = tmp / "src"  # a private copy of the package: this test edits its code
    shutil.copytree(ROOT / "src" / "clipasgd", src / "clipasgd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    fake = tmp / "fakebin"
    fake.mkdir()
    for name, text in (("sbatch", SBATCH), ("sacct", SACCT)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    (work / "override.yaml").write_text(yaml.safe_dump({"claims": {"toy": {"n": 500}}}))
    env = {**os.environ, "PYTHONPATH": str(src), "CLIPASGD_CLAIM_PATH": str(tmp / "claims_extra"),
           "PATH": os.pathsep.join([str(fake), str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    return work, src, fake, env


ARGS = ["data/smoke/toy/meta.json", "--configfile", "override.yaml",
        "--config", "scale=smoke", "shards=2"]


def _snakemake(work: Path, env: dict, *args: str, timeout: int = 600):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cluster_generic_profile_runs_shard_jobs(cluster):
    work, _, fake, env = cluster
    proc = _snakemake(work, env, *ARGS, "--profile", "profiles/cluster-generic", "--jobs", "2",
                      "--latency-wait", "5")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    calls = (fake / "sbatch.log").read_text().splitlines()
    # check_claim, two shards, the gather: each submitted with its declared resources
    assert len(calls) == 4, calls
    assert all("--mem=1000" in c and "--cpus-per-task=1" in c and "--time=" in c
               for c in calls)  # the smoke scale's declared memory (rules/common.smk)
    assert (fake / "sacct.log").read_text().strip(), "the status command was never polled"
    assert all((fake / "jobs" / f"{1001 + i}.rc").read_text().strip() == "0" for i in range(4))
    for k in (1, 2):
        assert (work / "data" / "smoke" / "toy" / "shards" / f"{k}-of-2.json").is_file()
    meta = json.loads((work / "data" / "smoke" / "toy" / "meta.json").read_text())
    assert meta["config"]["n"] == 500  # the --configfile override reached the job
    history = (work / "logs" / "smoke" / "simulate_toy_1-of-2.log.history").read_text()
    assert history.count("=== attempt") == 1


def test_rerun_after_cluster_run_is_a_no_op(cluster):
    work, _, _, env = cluster
    proc = _snakemake(work, env, *ARGS, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_a_comment_reruns_nothing_a_code_change_reruns_the_claim(cluster):
    work, src, _, env = cluster
    engine = src / "clipasgd" / "engine.py"
    original = engine.read_text()
    try:
        engine.write_text(original + "\n# a comment only\n")
        proc = _snakemake(work, env, *ARGS, "-n")
        assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]
        engine.write_text(original + "\n_CHANGED = 1\n")
        proc = _snakemake(work, env, *ARGS, "-n")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "simulate_shard" in out and "params" in out.lower()
    finally:
        engine.write_text(original)


@pytest.mark.parametrize("override, words", [
    ({"shards": 0}, "shards"),
    ({"claims": {"toy": {"n": float("nan")}}}, "not a finite number"),
    ({"claims": {"toy": {"scales": {"smoke": {"n": float("inf")}}}}}, "finite"),
])
def test_bad_override_is_refused_before_any_job(cluster, override, words):
    work, _, _, env = cluster
    path = work / "bad.yaml"
    path.write_text(textwrap.dedent(yaml.safe_dump(override)))
    proc = _snakemake(work, env, "data/smoke/toy/meta.json", "--configfile", "bad.yaml",
                      "--config", "scale=smoke", "-n")
    assert proc.returncode != 0 and words in proc.stdout + proc.stderr


def test_lint_is_clean(cluster):
    work, _, _, env = cluster
    proc = _snakemake(work, env, "--lint", "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr
