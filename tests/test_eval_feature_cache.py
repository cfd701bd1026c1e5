"""Cached evaluation features (``SoftmaxNetwork._eval_blocks``) change no number: the
evaluation, and a whole smoke-scale point of each Fashion time-to-target claim, equal the
old path (features recomputed in every pass) bit for bit, in the same process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clipasgd.claims import _speedup
from clipasgd.claims.base import Run
from clipasgd.pipeline import claim_config, load_config
from clipasgd.problems import make_problem, network
from clipasgd.time_to_target import settings


def _old_blocks(self, idx):
    """The old path: every pass computes its blocks' features."""
    return [(idx[s:s + network.CHUNK], None) for s in range(0, len(idx), network.CHUNK)]


def _old_eval_pass(p, x, idx):
    """The evaluation pass as it was written before the cache (a verbatim copy)."""
    loss, hits = np.zeros(x.shape[0]), np.zeros(x.shape[0])
    for s in range(0, len(idx), network.CHUNK):
        blk = idx[s:s + network.CHUNK]
        lb, _, logits = p._loss_grad(x, blk, np.full(len(blk), 1.0 / len(idx)), False)
        loss += lb
        hits += (logits.argmax(axis=-1) == p._targets(blk)).sum(axis=1)
    return loss, hits / len(idx)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cached_evaluation_is_bit_identical(monkeypatch, dtype):
    monkeypatch.setattr(network, "CHUNK", 37)  # several blocks, the last one short
    p = make_problem("fashion_mlp", source="synthetic", hidden=6, n_eval=150, dtype=dtype)
    rng = np.random.default_rng(3)
    for R in (1, 3):
        x = p.x0() + 0.5 * rng.standard_normal((R, p.dim))
        want = _old_eval_pass(p, x, p.eval_idx)
        for _ in range(2):  # computes the cache, then reads it
            got = p.evaluate(x)
            assert np.array_equal(got["test_loss"], want[0])
            assert np.array_equal(got["test_accuracy"], want[1])
    feats = p._eval_cache[1]
    assert len(feats) == 5 and not feats[0].flags.writeable
    other = p.eval_idx[::-1].copy()  # another evaluation set: its own features
    x = p.x0()[None, :]
    assert np.array_equal(p._eval_pass(x, other)[0], _old_eval_pass(p, x, other)[0])
    assert p._eval_cache[1] is not feats


def test_no_cache_where_features_depend_on_parameters():
    p = make_problem("shakespeare_mlp", source="synthetic", context=4, embed=3, hidden=7,
                     n_eval=100)
    assert all(h is None for _, h in p._eval_blocks(p.eval_idx))
    x = p.x0()[None, :]
    assert np.array_equal(p._eval_pass(x, p.eval_idx)[0], _old_eval_pass(p, x, p.eval_idx)[0])


@pytest.mark.parametrize("claim", ["fig2_speedup", "fig4_federated"])
def test_smoke_point_tables_identical(monkeypatch, claim):
    """Every setting of the claim's smoke grid, first fresh seed, through ``_speedup._run``:
    the tables with the cache equal those of the old path exactly."""
    cfg = claim_config(load_config(), claim, "smoke")
    run = Run(cfg, _speedup.ARMS, progress=lambda _: None)
    points = [p for s in settings(cfg, [a.label for a in run.arms])
              for p in _speedup._points("fresh", cfg["D"][0], s, 1)]
    problem = _speedup._problem(json.dumps(cfg["problem"], sort_keys=True))
    problem.__dict__.pop("_eval_cache", None)
    new = [_speedup._run(run, p, 0)["fresh"] for p in points]
    assert hasattr(problem, "_eval_cache")
    monkeypatch.setattr(type(problem), "_eval_blocks", _old_blocks)
    old = [_speedup._run(run, p, 0)["fresh"] for p in points]
    assert len(new) == len(cfg["algorithms"]) + len(cfg["clip"]) - 1
    for a, b in zip(new, old, strict=True):
        assert len(a) > 0 and a[cfg["metric"]].notna().all()
        pd.testing.assert_frame_equal(a, b, check_exact=True)
