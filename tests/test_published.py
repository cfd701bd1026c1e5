"""The published paper-scale results (published/paper/, README: "the results") agree with the
current config: each verdict's recorded hash is its own config section's and the config's
today, its commit is recorded, every file is there and every claim is accounted for."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from conftest import ROOT

from clipasgd.landing import render_landing
from clipasgd.pipeline import claim_config, load_config
from clipasgd.provenance import config_hash
from clipasgd.publish import (
    check_published,
    current_claims,
    main,
    render_rule_cpu,
    rule_cpu,
    tables_line,
    write_published_landing,
)


def test_the_published_paper_results_match_the_config():
    cfg = load_config(ROOT / "config" / "config.yaml")
    assert check_published(ROOT, cfg, "paper") == []


def test_a_verdict_from_another_config_is_not_current(tmp_path):
    cfg = load_config(ROOT / "config" / "config.yaml")
    claims = tmp_path / "data" / "quick" / "claims"
    claims.mkdir(parents=True)

    good = claim_config(cfg, "tau_max", "quick")
    (claims / "tau_max.json").write_text(json.dumps({"config_hash": config_hash(good)}))
    (claims / "virtual.json").write_text(json.dumps({"config_hash": "0" * 16}))
    (tmp_path / "data" / "quick" / "tails" / "shards").mkdir(parents=True)
    (tmp_path / "data" / "quick" / "tails" / "shards" / "3-of-4.json").write_text("{}")
    have, left = current_claims(tmp_path, cfg, "quick")
    assert have == ["tau_max"]
    assert "stale" in left["virtual"] and left["rate_shape"] == "not run at this scale"
    assert left["tails"].startswith("started, not finished: 1 of its shard jobs")


def test_rule_cpu_sums_benchmark_files_per_rule(tmp_path):
    """Jobs, wall and CPU per rule from Snakemake's benchmark TSVs, the scale-free fetch_data
    folder included; a CPU never sampled (NA) counts in jobs and wall, not CPU; files older
    than the run are left out."""
    head = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
    bench = tmp_path / "logs" / "quick" / "bench"
    for rule, name, wall, cpu in (("simulate_shard", "a_1-of-2", 10.0, "9.5"),
                                  ("simulate_shard", "a_2-of-2", 12.0, "11.5"),
                                  ("verdict", "a", 2.0, "NA")):
        (bench / rule).mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{name}.tsv").write_text(
            f"{head}\n{wall}\t0:00:10\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    (tmp_path / "logs" / "bench" / "fetch_data").mkdir(parents=True)  # no scale: any run's
    (tmp_path / "logs" / "bench" / "fetch_data" / "x.tsv").write_text(f"{head}\n1\t0\t1\t1\t1"
                                                                    "\t1\t0\t0\t5\t0.5\n")
    assert rule_cpu(tmp_path, "quick").pop("fetch_data") == {"jobs": 1, "wall_s": 1.0,
                                                             "cpu_s": 0.5}
    (tmp_path / "logs" / "bench" / "fetch_data" / "x.tsv").unlink()
    got = rule_cpu(tmp_path, "quick")
    assert got == {"simulate_shard": {"jobs": 2, "wall_s": 22.0, "cpu_s": 21.0},
                   "verdict": {"jobs": 1, "wall_s": 2.0, "cpu_s": 0.0}}
    table = render_rule_cpu(got)
    assert table.splitlines()[2].startswith("| simulate_shard | 2 | 22 | 21 |")
    assert "lower bound" in table.splitlines()[0]
    assert rule_cpu(tmp_path, "quick", since=time.time() + 60) == {}  # all older than the run
    assert table.splitlines()[-1] == "| total | 3 | 24 | 21 |"
    assert rule_cpu(tmp_path, "paper") == {}


def test_the_readme_names_the_commits_that_simulated_re_read_tables():

    rows = [{"claim": "a", "git_commit": "1" * 40, "tables_commit": "1" * 40},
            {"claim": "b", "git_commit": "1" * 40, "tables_commit": "2" * 40},
            {"claim": "c", "git_commit": "1" * 40}]  # older records: no field
    assert tables_line(rows[:1] + rows[2:]) == []
    assert tables_line(rows) == ["* Tables simulated by another commit than their verdict's "
                                 "(the verdict re-read from them): `b` 2222222"]


def test_the_published_landing_page_links_its_committed_figures(tmp_path):
    """The publication's page links the PNGs it publishes (tens of kB, not megabytes of
    base64 in git); apart from the images' src it is the page the pipeline writes, and
    check_published names an embedded page and a link to a figure that is not there."""
    cfg = load_config(ROOT / "config" / "config.yaml")
    pub = tmp_path / "published" / "paper"
    shutil.copytree(ROOT / "published" / "paper", pub)
    page = write_published_landing(pub, "paper").read_text()
    links = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert links and all(src.startswith("../../figures/paper/") for src in links)
    assert len(page) < 200_000 and check_published(tmp_path, cfg, "paper") == []
    committed = (ROOT / "published" / "paper" / "data" / "paper" / "index.html").read_text()
    assert page == committed, ("published/paper's landing page is not this code's: rewrite "
                               "it with python -m clipasgd.publish --relink paper")
    run = json.loads((pub / "RUN.json").read_text())
    rows = [json.loads((pub / "data" / "paper" / "claims" / f"{c}.json").read_text())
            for c in run["claims"]]
    embedded = render_landing(pub, "paper", rows, run["not_run"])
    assert embedded.count("data:image/png;base64,") == len(links)

    def no_src(s):
        return re.sub(r'src="[^"]*"', 'src=""', s)

    assert no_src(embedded) == no_src(page)
    (pub / "data" / "paper" / "index.html").write_text(embedded)
    assert check_published(tmp_path, cfg, "paper") == [
        "the landing page embeds its figures: rewrite it with python -m clipasgd.publish "
        "--relink paper"]
    (pub / "data" / "paper" / "index.html").write_text(page)
    (pub / "figures" / "paper" / "virtual.png").unlink()
    assert check_published(tmp_path, cfg, "paper") == [
        "missing figures/paper/virtual.png",
        "the landing page links ../../figures/paper/virtual.png, which is not a published "
        "file"]
    # links out of the publication do not count, even to a file that exists
    (pub / "figures" / "paper").mkdir(exist_ok=True)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"png")
    for src in (str(outside), "../../../../elsewhere.png", "file:///etc/hostname"):
        (pub / "data" / "paper" / "index.html").write_text(
            page.replace("../../figures/paper/virtual.png", src))
        assert f"the landing page links {src}, which is not a published file" in \
            check_published(tmp_path, cfg, "paper")
    (pub / "data" / "paper" / "index.html").unlink()
    assert check_published(tmp_path, cfg, "paper") == [
        "missing data/paper/index.html", "missing figures/paper/virtual.png"]


def test_relink_rewrites_the_page_and_refuses_a_missing_publication(tmp_path, monkeypatch,
                                                                     capsys):
    """``python -m clipasgd.publish --relink SCALE``: the cheap mend check_published names
    (no pipeline run, no data); a scale with nothing published is an error naming it."""
    pub = tmp_path / "published" / "paper"
    shutil.copytree(ROOT / "published" / "paper", pub)
    page = pub / "data" / "paper" / "index.html"
    page.write_text("stale")
    monkeypatch.chdir(tmp_path)
    assert main(["--relink", "paper"]) == 0
    assert page.read_text() == (ROOT / "published" / "paper" / "data" / "paper"
                                / "index.html").read_text()
    with pytest.raises(SystemExit):
        main(["--relink", "quick"])
    assert "holds no publication" in capsys.readouterr().err
