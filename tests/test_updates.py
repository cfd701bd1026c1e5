"""Tests for update rules, the algorithm registry and the theory's parameter rules."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipasgd import algorithms
from clipasgd.algorithms import Scheduler, make_algorithm, names
from clipasgd.spec import SpecError, load_spec
from clipasgd.theory import (
    clipped_params,
    vanilla_step,
)
from clipasgd.updates import (
    Transform,
    chain,
    check_transform,
    clip,
    delay_adaptive,
    drop_stale,
    momentum,
    row_norms,
    scale,
)


def once(t: Transform, g: np.ndarray, delay) -> np.ndarray:
    """One update from a fresh state."""
    return t.update(g, t.init(g), delay)[0]


# --------------------------------------------------------------------------- clip


def test_clip_known_answers() -> None:
    g = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [0.6, 0.8]])
    out = once(clip(1.0), g.copy(), 0)
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-15)  # norm 5 -> norm 1
    np.testing.assert_array_equal(out[1], [0.3, 0.4])  # small: unchanged
    np.testing.assert_array_equal(out[2], [0.0, 0.0])  # zero: unchanged, no NaN
    np.testing.assert_allclose(out[3], [0.6, 0.8], rtol=1e-15)  # norm exactly c
    assert row_norms(out)[0] == pytest.approx(1.0, rel=1e-15)


def test_clip_per_row_and_direction() -> None:
    rng = np.random.default_rng(0)
    g = rng.standard_normal((200, 7)) * rng.exponential(3.0, (200, 1))
    out = once(clip(2.0), g.copy(), np.arange(200))
    norms_in, norms_out = row_norms(g), row_norms(out)
    np.testing.assert_allclose(norms_out, np.minimum(norms_in, 2.0), rtol=1e-12)
    cos = np.einsum("ij,ij->i", g, out) / (norms_in * norms_out)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)


def test_clip_single_vector_and_3d() -> None:
    out = once(clip(1.0), np.array([0.0, 5.0]), 0)
    np.testing.assert_allclose(out, [0.0, 1.0])
    batch = np.full((2, 3, 4), 1.0)  # each row norm 2
    np.testing.assert_allclose(row_norms(once(clip(0.5), batch, 0)), 0.5)


@pytest.mark.parametrize("c", [0.0, -1.0, float("inf"), float("nan")])
def test_clip_rejects_bad_radius(c: float) -> None:
    with pytest.raises(ValueError, match="radius c"):
        clip(c)


# --------------------------------------------------------------------------- scale and delays


def test_scale() -> None:
    np.testing.assert_allclose(once(scale(0.25), np.array([[4.0, -8.0]]), 3), [[1.0, -2.0]])
    for eta in (0.0, -0.1, float("inf")):
        with pytest.raises(ValueError, match="step size eta"):
            scale(eta)


def test_delay_adaptive_factor() -> None:
    eta, tau_c = 0.1, 4
    delays = np.array([0, 1, 4, 5, 8, 40, 1000])
    g = np.ones((delays.size, 3))
    out = once(delay_adaptive(eta, tau_c), g, delays)
    expected = eta * np.minimum(1.0, tau_c / np.maximum(delays, 1))
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-15)
    np.testing.assert_allclose(out[:, 0], [0.1, 0.1, 0.1, 0.08, 0.05, 0.01, 0.0004])
    # a scalar delay applies to every row
    np.testing.assert_allclose(once(delay_adaptive(eta, tau_c), np.ones((2, 2)), 8), 0.05)
    with pytest.raises(ValueError, match="tau_c must be >= 1"):
        delay_adaptive(0.1, 0)
    with pytest.raises(ValueError, match="step size eta"):
        delay_adaptive(-1.0, 3)


def test_drop_stale() -> None:
    rule = drop_stale(5)
    delays = np.array([0, 4, 5, 6, 100])
    out = once(rule, np.ones((5, 2)), delays)
    np.testing.assert_array_equal(out[:, 0], [1, 1, 0, 0, 0])  # delay >= R is dropped
    np.testing.assert_array_equal(once(rule, np.ones((2, 2)), 4), 1.0)
    np.testing.assert_array_equal(once(rule, np.ones((2, 2)), 5), 0.0)
    with pytest.raises(ValueError, match="max_delay must be >= 1"):
        drop_stale(0)


def test_chain_order_matters() -> None:
    g = np.array([[3.0, 4.0]])
    clip_then_scale = once(chain(clip(1.0), scale(10.0)), g.copy(), 0)
    scale_then_clip = once(chain(scale(10.0), clip(1.0)), g.copy(), 0)
    np.testing.assert_allclose(row_norms(clip_then_scale), 10.0)
    np.testing.assert_allclose(row_norms(scale_then_clip), 1.0)
    np.testing.assert_array_equal(once(chain(), g.copy(), 0), g)  # empty chain: identity


def test_chain_passes_delay_to_each() -> None:
    rule = chain(drop_stale(3), delay_adaptive(1.0, 2))
    out = once(rule, np.ones((4, 1)), np.array([1, 2, 3, 4]))
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 0.0, 0.0])


def test_radius() -> None:
    assert clip(2.5).radius == 2.5
    assert chain(clip(2.5), scale(0.1)).radius == 2.5
    assert chain(scale(0.1), chain(clip(3.0), clip(1.5))).radius == 1.5
    assert scale(0.1).radius == np.inf
    assert chain().radius == np.inf
    assert delay_adaptive(0.1, 3).radius == np.inf
    assert Transform().radius == np.inf


# --------------------------------------------------------------------------- algorithms


def test_make_algorithm_rules() -> None:
    g = np.array([[30.0, 40.0]])
    a = make_algorithm("clipped_asgd", eta=0.1, c=1.0)
    assert a.scheduler is None and a.rule.radius == 1.0
    np.testing.assert_allclose(once(a.rule, g.copy(), 7), [[0.06, 0.08]])
    asgd = make_algorithm("asgd", eta=0.1).rule
    np.testing.assert_allclose(once(asgd, g.copy(), 7), [[3.0, 4.0]])
    da = make_algorithm("delay_adaptive_asgd", eta=0.1, tau_c=2).rule
    np.testing.assert_allclose(once(da, g.copy(), 8), [[0.75, 1.0]])
    rm = make_algorithm("ringmaster_asgd", eta=0.1, max_delay=3).rule
    np.testing.assert_allclose(once(rm, g.copy(), 3), [[0.0, 0.0]])
    np.testing.assert_allclose(once(rm, g.copy(), 2), [[3.0, 4.0]])
    mb = make_algorithm("minibatch_sgd", n_workers=4, eta=0.4)
    assert mb.scheduler == "synchronous" and mb.params == {"eta": 0.4}
    np.testing.assert_allclose(once(mb.rule, g.copy(), 0), [[3.0, 4.0]])  # eta / n = 0.1
    assert make_algorithm("sgd", eta=0.1).scheduler == "single"
    assert set(names()) >= {"clipped_asgd", "asgd", "delay_adaptive_asgd",
                            "ringmaster_asgd", "minibatch_sgd", "sgd"}
    assert a.describe() == {"name": "clipped_asgd", "scheduler": None, "eta": 0.1, "c": 1.0}


@pytest.mark.parametrize("name, params, match", [
    ("adam", {"eta": 0.1}, "unknown algorithm 'adam'"),
    ("asgd", {"eta": 0.1, "c": 1.0}, "algorithm 'asgd': bad parameters"),
    ("clipped_asgd", {"eta": 0.1}, "algorithm 'clipped_asgd': bad parameters"),
    ("clipped_asgd", {"eta": 0.1, "c": -1.0}, "radius c"),
])
def test_make_algorithm_errors(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_algorithm(name, **params)


# --------------------------------------------------------------------------- theory


def test_clipped_params_known_answer() -> None:
    # eps=1, L=1, sigma=1, tau_C=4, theta=1/2, zeta=0, K=8, K_theta=1 by hand:
    # W = 1, q = sqrt(ln 10) = 1.517427, c = 1 + 4 q + sqrt(8) = 9.898135,
    # R = 1 + q^2 = 1 + ln 10 = 3.302585,
    # eta = min(1/32, 1/(8 R), 1/(8 c 4)) = 1/(32 c) = 0.0031572
    p = clipped_params(eps=1.0, L=1.0, sigma=1.0, tau_c=4)
    assert p.W == 1.0
    assert p.q == pytest.approx(1.517427, abs=1e-6)
    assert p.c == pytest.approx(9.898135, abs=1e-6)
    assert p.R == pytest.approx(3.302585, abs=1e-6)
    assert p.eta == pytest.approx(0.0031572, abs=1e-7)


def test_clipped_params_heterogeneous_known_answer() -> None:
    # eps=1, L=2, sigma=0, zeta=1/2, tau_C=1, K=8: W = 2 zeta^2 = 0.5,
    # q = sqrt(ln(2 + 8 * 0.5)) = sqrt(ln 6) = 1.338566, c = 1 + 1 + 0 + sqrt(4) = 4,
    # R = 1 + 0.25 ln 6 = 1.447940, eta = min(1/16, 1/(16 R), 1/(16 c)) = 1/64
    p = clipped_params(eps=1.0, L=2.0, sigma=0.0, tau_c=1, zeta=0.5)
    assert p.W == 0.5
    assert p.q == pytest.approx(1.338566, abs=1e-6)
    assert p.c == pytest.approx(4.0, rel=1e-12)
    assert p.R == pytest.approx(1.447940, abs=1e-6)
    assert p.eta == pytest.approx(1 / 64, rel=1e-12)


def test_clipped_params_floor_and_shape() -> None:
    # large eps: log(2 + 8/100)^(1/2) < 1, so q = 1; c = 10 + 4 + sqrt(8)
    p = clipped_params(eps=10.0, L=1.0, sigma=1.0, tau_c=3)
    assert p.q == 1.0
    assert p.c == pytest.approx(14 + math.sqrt(8))
    assert p.R == pytest.approx(101.0)
    assert p.eta == pytest.approx(min(1 / 24, 100 / 808, 10 / (8 * p.c * 3)))
    # c does not shrink with eps, eta scales like 1/tau_C once that term binds
    small = clipped_params(eps=1e-3, L=1.0, sigma=1.0, tau_c=3)
    assert small.c > 4.0
    a, b = clipped_params(0.1, 1.0, 1.0, 10), clipped_params(0.1, 1.0, 1.0, 100)
    assert a.c == b.c and b.eta <= a.eta


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": 0.0}, "eps must be positive"),
    ({"L": -1.0}, "L must be positive"),
    ({"sigma": -1.0}, "sigma >= 0"),
    ({"tau_c": 0}, "tau_c >= 1"),
    ({"theta": 0.0}, "theta must be positive"),
])
def test_clipped_params_errors(kwargs: dict, match: str) -> None:
    args = {"eps": 1.0, "L": 1.0, "sigma": 1.0, "tau_c": 4} | kwargs
    with pytest.raises(ValueError, match=match):
        clipped_params(**args)


def test_vanilla_step() -> None:
    assert vanilla_step(L=2.0, tau_max=10) == pytest.approx(1 / 20)
    assert vanilla_step(L=2.0, tau_max=10, K=4.0) == pytest.approx(1 / 80)
    assert vanilla_step(L=0.5, tau_max=0) == pytest.approx(2.0)  # tau_max 0 counts as 1
    with pytest.raises(ValueError, match="L must be positive"):
        vanilla_step(L=0.0, tau_max=3)


# --------------------------------------------------------------------------- state


def test_momentum_matches_heavy_ball() -> None:
    beta, rng = 0.7, np.random.default_rng(0)
    gs = rng.standard_normal((6, 3, 2))
    rule = momentum(beta)
    state, v = rule.init(np.zeros((3, 2))), np.zeros((3, 2))
    for g in gs:
        u, state = rule.update(g.copy(), state, 0)
        v = beta * v + g
        np.testing.assert_allclose(u, v, rtol=1e-15)
    # a later transform working in place must not corrupt the state
    rule = chain(momentum(beta), scale(10.0))
    state = rule.init(np.zeros((3, 2)))
    u1, state = rule.update(gs[0].copy(), state, 0)
    u2, state = rule.update(gs[1].copy(), state, 0)
    np.testing.assert_allclose(u2, 10.0 * (beta * gs[0] + gs[1]), rtol=1e-14)
    with pytest.raises(ValueError, match="beta must lie"):
        momentum(1.0)


def test_clip_counts_per_replication_and_chain_forwards() -> None:
    g = np.array([[3.0, 4.0], [0.3, 0.4]])
    rule = chain(scale(1.0), clip(1.0))
    state = rule.init(g)
    for _ in range(3):
        _, state = rule.update(g.copy(), state, 0)
    np.testing.assert_array_equal(rule.clipped(state), [3, 0])
    assert scale(1.0).clipped(()) is None and chain(scale(1.0)).clipped(((),)) is None
    # two clips: the smaller radius is the one reported
    two = chain(clip(10.0), clip(0.45))
    _, st2 = two.update(g.copy(), two.init(g), 0)
    np.testing.assert_array_equal(two.clipped(st2), [1, 1])


# --------------------------------------------------------------------------- registry


def test_make_algorithm_signature_and_scheduler() -> None:
    mb = make_algorithm("minibatch_sgd", n_workers=5, eta=1.0)
    assert mb.scheduler is Scheduler.SYNCHRONOUS and mb.rule == scale(1.0 / 5)
    assert make_algorithm("sgd", eta=0.1).scheduler is Scheduler.SINGLE
    m = make_algorithm("momentum_asgd", eta=0.1, beta=0.5)
    assert m.rule == chain(momentum(0.5), scale(0.1)) and m.scheduler is None
    with pytest.raises(ValueError, match=r"'clipped_asgd'.*missing \['c'\]"):
        make_algorithm("clipped_asgd", eta=0.1)
    with pytest.raises(ValueError, match=r"'ringmaster_asgd'.*unknown \['tau_c'\]"):
        make_algorithm("ringmaster_asgd", eta=0.1, max_delay=3, tau_c=2)


@pytest.fixture
def registry():
    """The algorithm registry, restored after the test."""
    saved = dict(algorithms.REGISTRY)
    yield algorithms
    algorithms.REGISTRY.clear()
    algorithms.REGISTRY.update(saved)


def test_readme_algorithm_example_runs(registry) -> None:
    """The README's "Adding an algorithm" snippet, verbatim: registered from user code, run
    from a spec on the numpy loop (saying why), the stateful step as documented."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"## Adding an algorithm.*?```python\n(.*?)```", text, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102
    res = ns["res"]
    assert res.c == 1.0 and 0 < res.clip_fraction.mean() < 1
    assert res.meta["engine"] == "numpy" and "'decaying'" in res.meta["engine_note"]
    assert algorithms.name_of("decaying") == "clipped_decaying"
    rule = make_algorithm("clipped_decaying", eta=0.5, c=1.0).rule
    # the stateful step: after k jobs the counter is k, so the next step is eta/sqrt(1+k)
    state = rule.init(np.zeros((2, 3)))
    for k in range(4):
        u, state = rule.update(np.full((2, 3), 0.1), state, 0)
        np.testing.assert_allclose(u, 0.1 * 0.5 / np.sqrt(1 + k))
    with pytest.raises(SpecError, match=r"algorithms\.0\.c"):  # the schema has its bounds
        load_spec({**ns["spec"], "algorithms": [{"name": "clipped_decaying", "eta": 1,
                                                  "c": -1}]})


def _plain(eta: float, steps: int = 2) -> Transform:
    return scale(eta)


def test_registered_signature_is_the_spec_schema(registry) -> None:
    e = registry.register("plain", _plain)
    assert e.label == "plain" and e.scheduler is None and "plain" in registry.names()
    assert {p.name: (p.schema, p.required) for p in e.params.values()} == {
        "eta": ({"type": "number"}, True), "steps": ({"type": "integer"}, False)}
    spec = {"problem": {"name": "quadratic", "dim": 3}, "noise": {"name": "none"},
            "workers": {"n": 2}, "horizon": 10,
            "algorithms": [{"name": "plain", "label": "p", "eta": 0.1, "steps": 3}]}
    assert load_spec(spec)["algorithms"][0]["steps"] == 3
    for bad, match in ((3.5, r"algorithms\.0\.steps"), ("x", r"algorithms\.0\.steps")):
        with pytest.raises(SpecError, match=match):
            load_spec({**spec, "algorithms": [{"name": "plain", "eta": 0.1, "steps": bad}]})
    assert make_algorithm("plain", eta=0.1).params == {"eta": 0.1}


def _untyped(eta):
    return scale(eta)


def _star(eta: float, *rest: float):
    return scale(eta)


def _named(eta: float, label: float):
    return scale(eta)


@pytest.mark.parametrize("args, kwargs, error, match", [
    (("asgd", _plain), {}, ValueError, "'asgd' is taken by registered algorithm 'asgd'"),
    (("mine", _plain), {"label": "vanilla"}, ValueError, "'vanilla' is taken.*'asgd'"),
    (("my rule", _plain), {}, ValueError, "name must be an identifier"),
    (("mine", "scale"), {}, TypeError, "builder must be callable"),
    (("mine", _untyped), {}, TypeError, "parameter 'eta' needs the type int or float"),
    (("mine", _star), {}, TypeError, r"\*args and \*\*kwargs are not allowed"),
    (("mine", _named), {}, TypeError, "'label' clashes with a spec key"),
    (("mine", _plain), {"scheduler": "algorithm9"}, ValueError, "scheduler must be"),
])
def test_register_refuses_bad_input(registry, args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        registry.register(*args, **kwargs)
    assert "mine" not in registry.names()


def test_register_replace_and_transform_protocol(registry) -> None:
    registry.register("asgd", _plain, label="vanilla", replace=True)
    assert registry.entry("asgd").build is _plain

    def not_a_rule(eta: float):
        return lambda g: g

    registry.register("broken", not_a_rule)
    with pytest.raises(TypeError, match="algorithm 'broken': its builder: function is not a "
                                        "transform: no method init"):
        make_algorithm("broken", eta=0.1)


class _NoUpdateArgs(Transform):
    def update(self, g):
        return g, ()


class _NoRadius:
    def init(self, x):
        return ()

    def update(self, g, state, delay):
        return g, state

    def clipped(self, state):
        return None


@pytest.mark.parametrize("t, match", [
    (object(), "no method init"), (_NoUpdateArgs(), "update must take 3"),
    (_NoRadius(), "radius must be a number")])
def test_check_transform_names_what_is_missing(t, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        check_transform(t, "mine")
    with pytest.raises(TypeError, match="chain: part 1"):
        chain(scale(0.1), t)
    assert check_transform(scale(0.1)) == scale(0.1)


def test_name_of_maps_labels_and_their_variants() -> None:
    assert algorithms.name_of("clipped_asgd") == "clipped_asgd"
    assert algorithms.name_of("vanilla") == "asgd"
    assert algorithms.name_of("vanilla_theory") == algorithms.name_of("vanilla_fixed") == "asgd"
    assert algorithms.name_of("clipped_theory") == "clipped_asgd"
    assert algorithms.name_of("delay_adaptive") == "delay_adaptive_asgd"
    assert algorithms.name_of("planted") is None
    assert algorithms.labels()["momentum"] == "momentum_asgd"


@pytest.mark.slow
def test_readme_rule_runs_through_a_claims_design(registry, tmp_path, monkeypatch, root):
    """The README's second snippet, verbatim: the registered rule replaces tau_max's
    clipped arm and the runner runs the claim's design and reading on it (smoke scale),
    leaving the package and the claim's own caches alone."""
    import shutil

    text = (root / "README.md").read_text().split("## Adding an algorithm", 1)[1]
    first, second = re.findall(r"```python\n(.*?)```", text.split("\n## ", 1)[0], re.S)[:2]
    shutil.copytree(root / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(first, "README.md", "exec"), ns)  # noqa: S102
    exec(compile(second, "README.md", "exec"), ns)  # noqa: S102
    hits = pd.read_csv(tmp_path / "runs" / "decaying" / "hits.csv")
    assert set(hits["algorithm"]) == {a.label for a in ns["claim"].arms}
    assert ns["v"].verdict in ("supported", "refuted", "inconclusive")
    assert not (root / "runs").exists()
