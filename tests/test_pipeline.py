"""Pipeline: config validation, the claim pattern's verdict logic, resumption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CONFIG, SCHEMA

from clipasgd import stats
from clipasgd.claims import base, get_claim
from clipasgd.claims.virtual import bound_check
from clipasgd.pipeline import claim_config, load_config
from clipasgd.runner import run_claim
from clipasgd.spec import SpecError


def _write_config(tmp_path: Path, mutate) -> Path:
    cfg = yaml.safe_load(CONFIG.read_text())
    mutate(cfg)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_shipped_config_validates_at_every_scale():
    cfg = load_config(CONFIG, SCHEMA)
    for scale in cfg["scales"]:
        for claim in ("tau_max", "virtual", "rate_shape"):
            assert claim_config(cfg, claim, scale)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["claims"]["tau_max"].update(etaa=0.1), "etaa"),
    (lambda c: c["claims"]["tau_max"].update(ratio_margin=0.5), "claims.tau_max.ratio_margin"),
    (lambda c: c.update(scale="huge"), "scale"),
    (lambda c: c["claims"]["tau_max"]["scales"]["smoke"].update(replications=0),
     "scale smoke"),
    (lambda c: c["claims"]["rate_shape"].pop("K"), "K"),
    (lambda c: c.update(engine="jax"), "engine"),
])
def test_bad_config_names_the_key(tmp_path, mutate, key):
    path = _write_config(tmp_path, mutate)
    with pytest.raises(SpecError, match=key):
        load_config(path, SCHEMA)


class _Called(Exception):
    """Raised by the recording stand-in for the engine once a claim has called it."""


@pytest.mark.parametrize("claim", ["tau_max", "rate_shape", "high_prob", "federated",
                                   "federated_high_prob"])
@pytest.mark.parametrize("name", ["numpy", "compiled"])
def test_the_configs_engine_reaches_every_simulation(tmp_path, monkeypatch, claim, name):
    """``engine: numpy`` in the pipeline config is what the claims' engine calls receive
    (the before/after CPU comparison of issue 13 runs the pipeline both ways), and it is
    part of the section's hash, so switching engines reruns the simulations."""
    import clipasgd.claims._federated as fed
    import clipasgd.experiment as experiment
    from clipasgd.provenance import config_hash

    seen = []

    def record(*args, engine="compiled", **kwargs):
        seen.append(engine)
        raise _Called

    monkeypatch.setattr(experiment, "simulate", record)
    monkeypatch.setattr(fed, "simulate", record)
    cfg = load_config(CONFIG, SCHEMA) | {"engine": name}
    ccfg = claim_config(cfg, claim, "smoke")
    assert ccfg["engine"] == name
    other = claim_config(cfg | {"engine": "numpy" if name == "compiled" else "compiled"},
                         claim, "smoke")
    assert config_hash(ccfg) != config_hash(other)
    with pytest.raises(_Called):
        run_claim(get_claim(claim), ccfg, tmp_path)
    assert seen == [name]


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_config(tmp_path / "nope.yaml", SCHEMA)


def test_unknown_claim_and_scale():
    cfg = load_config(CONFIG, SCHEMA)
    with pytest.raises(ValueError, match="unknown claim"):
        get_claim("nope")
    with pytest.raises(SpecError, match="unknown scale"):
        claim_config(cfg, "tau_max", "huge")


def test_scale_overrides_merge_deeply():
    cfg = load_config(CONFIG, SCHEMA)
    smoke = claim_config(cfg, "rate_shape", "smoke")
    quick = claim_config(cfg, "rate_shape", "quick")
    assert smoke["eps"]["grid"] != quick["eps"]["grid"]
    assert smoke["eps"]["horizon"] == quick["eps"]["horizon"]  # untouched sibling key kept


def _samples(slope: float, rng: np.random.Generator, censor_at: float = np.inf
             ) -> tuple[list[np.ndarray], list[float]]:
    """Per tau_max, 20 runs of ``log T = 8 + slope log tau_max + noise``; censored ``+inf``."""
    grid = [8.0, 32.0, 128.0, 512.0, 2048.0]
    T = [np.exp(8 + slope * np.log(t) + 0.05 * rng.standard_normal(20)) for t in grid]
    return [np.where(t >= censor_at, np.inf, t) for t in T], grid


def _slope_test(slope: float, rng: np.random.Generator, censor_at: float = np.inf):
    samples, grid = _samples(slope, rng, censor_at)
    return stats.growth_test(samples, grid, 1.25, 0.05, alpha=0.05,
                             floors=[min(censor_at, 1e300)] * len(grid))


def test_growth_test_tobit_slope_known_answers():
    rng = np.random.default_rng(0)
    flat = _slope_test(0.0, rng)
    assert flat.slope_ci[0] < 0 < flat.slope_ci[1] < 0.1 and flat.verdict == "supported"
    grows = _slope_test(0.5, rng)
    assert grows.slope_ci[0] > 0.1 and grows.verdict == "refuted"
    falls = _slope_test(-0.5, rng)  # an upper bound is never refuted by getting better
    assert falls.slope_ci[1] < -0.1 and falls.verdict == "supported"
    # Censoring at the budget must not hide growth: the Tobit fit still sees the slope.
    cens = _slope_test(0.5, rng, censor_at=np.exp(8 + 0.5 * np.log(128)))
    assert cens.slope_ci[0] > 0.1 and abs(cens.slope - 0.5) < 0.1 and cens.verdict == "refuted"


def test_all_censored_has_no_slope_and_no_support():
    samples, grid = _samples(0.0, np.random.default_rng(1))
    out = stats.growth_test([np.full(s.size, np.inf) for s in samples], grid, 1.25, 0.05,
                            floors=[1e9] * len(grid))
    assert out.slope_ci is None and "uncensored" in out.slope_note
    assert out.verdict != "supported"


def test_growth_test_takes_a_supplied_slope():
    samples, grid = _samples(0.0, np.random.default_rng(2))
    out = stats.growth_test(samples, grid, 1.25, 0.05, slope=(0.5, (0.3, 0.7), "planted"))
    assert out.verdict == "refuted" and out.slope_method == "planted"


def test_virtual_bound_check():
    assert bound_check(np.array([0.2, 0.999, 1.0]))[0] == "supported"
    assert bound_check(np.array([0.2, 1.001]))[0] == "refuted"


@pytest.mark.parametrize("ci, bound, expected", [
    ((1.0, 1.9), 2.0, "supported"), ((2.5, 3.0), 2.0, "refuted"),
    ((1.5, 2.5), 2.0, "inconclusive"), ((1.9, 2.25), 2.0, "supported"),
])
def test_one_sided_rate_verdict(ci, bound, expected):
    assert base.upper_bound_verdict(ci, bound, 0.25) == expected


def test_verdict_downgraded_when_control_not_refuted():
    ctrl = base.Control("planted", "inconclusive")
    v = base.Verdict("supported", 0.0, (0.0, 0.0), 0.1, ctrl)
    assert v.verdict == "inconclusive" and "negative control" in v.note
    ok = base.Verdict("supported", 0.0, (0.0, 0.0), 0.1, base.Control("planted", "refuted"))
    assert ok.verdict == "supported" and ok.to_dict()["control"]["refuted"]


def test_combine_and_control_outcome():
    assert base.combine(["supported", "supported"]) == "supported"
    assert base.combine(["supported", "refuted"]) == "refuted"
    assert base.combine(["supported", "inconclusive"]) == "inconclusive"
    assert base.control_outcome(["refuted", "refuted"]) == "refuted"
    assert base.control_outcome(["refuted", "supported"]) == "supported"
    assert base.control_outcome(["refuted", "inconclusive"]) == "inconclusive"


def test_cached_point_resumes(tmp_path):
    calls = []

    def run():
        calls.append(1)
        return {"hits": pd.DataFrame({"a": [1, 2]})}

    first = base.cached_point(tmp_path, "p", {"x": 1}, run)
    again = base.cached_point(tmp_path, "p", {"x": 1}, run)
    assert len(calls) == 1 and again["hits"].equals(first["hits"])
    base.cached_point(tmp_path, "p", {"x": 2}, run)  # settings changed: recomputed
    assert len(calls) == 2
    stamp = json.loads((tmp_path / "parts" / "p.done.json").read_text())
    assert stamp["tables"] == ["hits"]


def test_sigma_for_second_moment_matches_sampling():
    from clipasgd.noise import SubWeibull

    for theta in (0.5, 1.0, 2.0):
        s = base.sigma_for_second_moment(theta, 0.1)
        xi = SubWeibull(sigma=s, theta=theta).sample(np.random.default_rng(3), (200_000, 3))
        assert np.mean(np.sum(xi**2, axis=1)) == pytest.approx(0.01, rel=0.1)


def test_cached_point_invalidated_by_code_change(tmp_path, monkeypatch):
    calls = []

    def run():
        calls.append(1)
        return {"hits": pd.DataFrame({"a": [1]})}

    base.cached_point(tmp_path, "p", {"x": 1}, run)
    monkeypatch.setattr(base, "code_fingerprint", lambda: "changed-code")
    base.cached_point(tmp_path, "p", {"x": 1}, run)
    assert len(calls) == 2


# ------------------------------------------------------------ one source of words


def test_every_claims_words_render_at_every_scale(shipped_config):
    from clipasgd.claims import CLAIM_IDS, words

    for claim in CLAIM_IDS:
        for scale in shipped_config["scales"]:
            said = words.render(claim, claim_config(shipped_config, claim, scale))
            assert all(said[f] for f in words.REQUIRED) and "{" not in said["falsifier"]


def test_words_name_a_placeholder_the_section_lacks(monkeypatch):
    from clipasgd import claims
    from clipasgd.claims import base, words

    toy = base.Claim("toy", "none", reading=lambda cfg, data: None, data_from="tau_max",
                     words={"statement": "s {nope}", "test": "t", "falsifier": "f"})
    monkeypatch.setitem(claims.REGISTRY, "toy", toy)
    with pytest.raises(ValueError, match="'statement'.*'nope'"):
        words.render("toy", {"seed": 1})
    monkeypatch.setitem(claims.REGISTRY, "toy", base.Claim(
        "toy", "none", reading=lambda cfg, data: None, data_from="tau_max",
        words={"statement": "s", "test": "t"}))
    with pytest.raises(ValueError, match=r"missing \['falsifier'\]"):
        words.render("toy", {})


def test_claim_words_live_only_in_words_yaml(root, shipped_config):
    """Each claim's statement is rendered from words.yaml, never retyped in code or
    notebooks (the README's table is generated and checked below)."""
    from clipasgd.claims import CLAIM_IDS, words

    texts = [p.read_text() for p in (root / "src").rglob("*.py")]
    texts += [p.read_text() for p in (root / "notebooks").glob("*.ipynb")]
    for claim in CLAIM_IDS:
        said = words.render(claim, claim_config(shipped_config, claim, "quick"))
        probe = said["statement"][:60]
        assert not any(probe in t for t in texts), f"{claim}'s statement is retyped"


def test_readme_claims_table_is_generated_from_the_words(root, shipped_config):
    from clipasgd.pipeline import update_readme

    assert update_readme(shipped_config, shipped_config["scale"], root / "README.md",
                         check=True), "run `python -m clipasgd.pipeline readme`"


def test_no_machine_paths_or_missing_files_cited(root):
    for folder in ("src", "config", "notebooks", "rules"):
        for path in (root / folder).rglob("*"):
            if "executed" in path.parts or "__pycache__" in path.parts:
                continue  # generated by a pipeline run in this clone, not source
            if path.is_file() and path.suffix in (".py", ".yaml", ".json", ".ipynb", ".smk"):
                text = path.read_text()
                assert "/work/" not in text and "DESIGN.md" not in text, path
    assert "/work/" not in (root / "README.md").read_text()
