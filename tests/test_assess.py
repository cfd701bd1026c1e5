"""``clipasgd assess``: a user's rule through the claims' designs, from the README."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from clipasgd import algorithms, cli
from clipasgd.assess import AssessError, assess, assessable, load_rule


@pytest.fixture
def work(tmp_path: Path, root: Path, monkeypatch) -> Path:
    shutil.copytree(root / "config", tmp_path / "config")
    shutil.copytree(root / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    saved = dict(algorithms.REGISTRY)
    yield tmp_path
    algorithms.REGISTRY.clear()
    algorithms.REGISTRY.update(saved)


def test_assessable_claims_are_those_with_a_clipped_arm() -> None:
    claims = assessable()
    assert "tau_max" in claims and "fig2_speedup" in claims
    assert not {"tails", "scheduler_caption", "virtual"} & set(claims)


def test_bad_rules_are_named_before_any_run(work: Path) -> None:
    bad = work / "bad.py"
    bad.write_text(
        "import numpy as np\nfrom clipasgd import updates\nfrom clipasgd.algorithms import "
        "Positive\n\nclass Nan(updates.Transform):\n    def init(self, x):\n        return "
        "None\n    def update(self, g, s, d):\n        return g * np.nan, s\n\nclass Boom("
        "updates.Transform):\n    def init(self, x):\n        return None\n    def update("
        "self, g, s, d):\n        raise RuntimeError('boom')\n\nclass Shape(updates."
        "Transform):\n    def init(self, x):\n        return None\n    def update(self, g, "
        "s, d):\n        return g[:, :1], s\n\ndef nan_rule(eta: Positive):\n    return Nan()"
        "\n\ndef boom(eta: Positive):\n    return Boom()\n\ndef shape(eta: Positive):\n    "
        "return Shape()\n\ndef needs_beta(eta: Positive, beta: Positive):\n    return "
        "updates.scale(eta)\n")
    for rule, why in (("nan_rule", "non-finite"), ("boom", "raised RuntimeError: boom"),
                      ("shape", r"shape \(2, 1\)"), ("needs_beta", r"requires \['beta'\]")):
        with pytest.raises(AssessError, match=f"claim 'tau_max'.*{why}"):
            assess(f"bad.py:{rule}", claims=["tau_max"])
    assert not (work / "assess").exists()  # refused before any run
    for target, why in (("nope.py:f", "not found"), ("bad.py:missing", "no function"),
                        ("bad", "expected path")):
        with pytest.raises(AssessError, match=why):
            load_rule(target)
    assert cli.main(["assess", "bad.py:boom", "--claims", "tau_max"]) == 2
    rule = "examples/my_rules.py:normalised_sgd"
    for claims, scale, why in ((["tau_mx"], "smoke", "unknown claim 'tau_mx'; registered"),
                               (["tails"], "smoke", r"cannot be assessed \(no clipped arm\)"),
                               (None, "big", "unknown scale 'big'; configured")):
        with pytest.raises(AssessError, match=why):
            assess(rule, scale, claims)
    assert not (work / "assess").exists()


@pytest.mark.slow
def test_readme_assess_example_and_two_rules_come_out_differently(work: Path, root: Path,
                                                                   capsys) -> None:
    """The README's commands, verbatim (smoke scale), then plain SGD against a clipping
    rule where the claim says clipping matters: high_prob's heavy-noise quantile ratio."""
    text = (root / "README.md").read_text().split("## Assess your own rule", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    for line in block.strip().splitlines():
        args = shlex.split(line)
        assert args[0].endswith("clipasgd") and args[1] == "assess"
        assert cli.main(args[1:]) == 0
    for rule in ("normalised_sgd", "clipped_momentum"):
        table = work / "assess" / rule / "data" / "smoke" / "assess.md"
        assert "| tau_max |" in table.read_text()
        assert (work / "assess" / rule / "data" / "smoke" / "index.html").is_file()
    verdicts = {}
    for rule in ("plain_sgd", "clipped_momentum"):
        assess(f"examples/my_rules.py:{rule}", claims=["high_prob"])
        rec = json.loads((work / "assess" / rule / "data" / "smoke" / "claims" /
                          "high_prob.json").read_text())
        verdicts[rule] = rec["verdict"]
    assert verdicts["plain_sgd"] != "supported"  # vanilla against vanilla: no win
    assert verdicts["clipped_momentum"] == "supported"
