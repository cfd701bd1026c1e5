"""The published paper-scale results (published/paper/, README: "the results") agree with the
current config: each verdict's recorded hash is its own config section's and the config's
today, its commit is recorded, every file is there and every claim is accounted for."""

from __future__ import annotations

import json

from conftest import ROOT

from clipasgd.pipeline import load_config
from clipasgd.provenance import config_hash
from clipasgd.publish import check_published, current_claims


def test_the_published_paper_results_match_the_config():
    cfg = load_config(ROOT / "config" / "config.yaml")
    assert check_published(ROOT, cfg, "paper") == []


def test_a_verdict_from_another_config_is_not_current(tmp_path):
    cfg = load_config(ROOT / "config" / "config.yaml")
    claims = tmp_path / "data" / "quick" / "claims"
    claims.mkdir(parents=True)
    from clipasgd.pipeline import claim_config

    good = claim_config(cfg, "tau_max", "quick")
    (claims / "tau_max.json").write_text(json.dumps({"config_hash": config_hash(good)}))
    (claims / "virtual.json").write_text(json.dumps({"config_hash": "0" * 16}))
    (tmp_path / "data" / "quick" / "tails" / "shards").mkdir(parents=True)
    (tmp_path / "data" / "quick" / "tails" / "shards" / "3-of-4.json").write_text("{}")
    have, left = current_claims(tmp_path, cfg, "quick")
    assert have == ["tau_max"]
    assert "stale" in left["virtual"] and left["rate_shape"] == "not run at this scale"
    assert left["tails"].startswith("started, not finished: 1 of its shard jobs")
