"""The data-set problems on their synthetic sources: gradients, shards, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from clipasgd.problems import make_problem


@pytest.fixture(scope="module")
def fashion():
    return make_problem("fashion_mlp", source="synthetic", hidden=6, n_parts=3,
                        split="dirichlet", n_eval=50)


@pytest.fixture(scope="module")
def chars():
    return make_problem("shakespeare_mlp", source="synthetic", context=4, embed=3, hidden=7,
                        n_parts=3, n_eval=100)


def _rows(p, R=2, seed=1):
    rng = np.random.default_rng(seed)
    return p.x0() + 0.3 * rng.standard_normal((R, p.dim))


def _fd_check(loss, grad, x, coords, h=1e-5):
    for k in coords:
        e = np.zeros(x.shape[1])
        e[k] = h
        fd = (loss(x + e) - loss(x - e)) / (2 * h)
        np.testing.assert_allclose(grad[:, k], fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["fashion", "chars"])
def test_full_gradient_matches_finite_differences(name, request):
    p = request.getfixturevalue(name)
    x = _rows(p)
    rng = np.random.default_rng(2)
    coords = np.concatenate([rng.integers(0, p.n_prefix, 4) if p.n_prefix else [],
                             rng.integers(p.n_prefix, p.dim, 8)]).astype(int)
    _fd_check(p.value, p.grad(x), x, coords)


@pytest.mark.parametrize("name", ["fashion", "chars"])
def test_minibatch_gradient_is_the_gradient_of_its_batch(name, request):
    p = request.getfixturevalue(name)
    x = _rows(p)
    parts = np.array([0, 2])
    g = p.minibatch_grad(x, np.random.default_rng(5), 9, parts)
    idx = p.shards.draw(np.random.default_rng(5), parts, 2, 9)  # the same draw
    for r in range(2):  # every sample of row r lies in its worker's shard
        s, n = p.shards.starts[parts[r]], p.shards.sizes[parts[r]]
        assert np.isin(idx[r], p.shards.order[s:s + n]).all()
    w = np.full(9, 1 / 9)
    coords = np.random.default_rng(3).integers(0, p.dim, 10)
    _fd_check(lambda z: p._loss_grad(z, idx, w, False)[0], g, x, coords)


def test_objective_is_the_mean_of_shard_losses(fashion):
    x = _rows(fashion, R=1)
    sh = fashion.shards
    shard_means = [fashion._loss_grad(x, sh.order[s:s + n], np.full(n, 1 / n), False)[0]
                   for s, n in zip(sh.starts, sh.sizes, strict=True)]
    np.testing.assert_allclose(fashion.value(x), np.mean(shard_means), rtol=1e-12)


def _label_skew(p):
    """Mean total-variation distance between each shard's label mix and the overall one."""
    y = p.labels[: len(p.shards.weights)]
    overall = np.bincount(y, minlength=10) / len(y)
    tv = []
    for s, n in zip(p.shards.starts, p.shards.sizes, strict=True):
        mix = np.bincount(y[p.shards.order[s:s + n]], minlength=10) / n
        tv.append(0.5 * np.abs(mix - overall).sum())
    return float(np.mean(tv))


def test_dirichlet_split_skews_labels_and_fills_every_worker():
    def build(split, alpha=0.5, seed=0):
        return make_problem("fashion_mlp", source="synthetic", hidden=2, n_parts=8,
                            split=split, alpha=alpha, seed=seed)

    skewed, mild, iid = build("dirichlet", 0.1), build("dirichlet", 100.0), build("iid")
    for p in (skewed, mild, iid):
        assert p.shards.sizes.min() >= 1 and p.shards.sizes.sum() == 600
        assert np.array_equal(np.sort(p.shards.order), np.arange(600))
    assert _label_skew(skewed) > 0.4 > 0.15 > _label_skew(mild)
    assert _label_skew(iid) < 0.15
    np.testing.assert_array_equal(build("dirichlet", 0.1).shards.order, skewed.shards.order)
    assert not np.array_equal(build("dirichlet", 0.1, seed=1).shards.order, skewed.shards.order)


def test_role_split_keeps_each_role_on_one_worker(chars):
    sh = chars.shards
    assert sorted(k for g in chars.shard_roles for k in g) == sorted(chars.role_names)
    assert np.array_equal(np.sort(sh.order), np.arange(len(chars.role_of)))
    for i, (s, n) in enumerate(zip(sh.starts, sh.sizes, strict=True)):
        held = {chars.role_names[r] for r in np.unique(chars.role_of[sh.order[s:s + n]])}
        assert held == set(chars.shard_roles[i])


def test_evaluate_shapes_and_ranges(fashion, chars):
    x = _rows(fashion, R=3)
    ev = fashion.evaluate(x)
    assert set(ev) == {"test_accuracy", "test_loss"}
    assert all(v.shape == (3,) for v in ev.values())
    assert np.all((ev["test_accuracy"] >= 0) & (ev["test_accuracy"] <= 1))
    ev = chars.evaluate(_rows(chars, R=2))
    assert set(ev) == {"val_perplexity", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(ev["val_perplexity"], np.exp(ev["val_loss"]))
    assert np.all(ev["val_perplexity"] >= 1) and ev["val_loss"].shape == (2,)
    assert len(fashion.eval_idx) == 50 and len(chars.eval_idx) == 100


def test_sgd_learns_the_synthetic_images():
    p = make_problem("fashion_mlp", source="synthetic", hidden=16, n_eval=200)
    x = p.x0()[None]
    before = p.evaluate(x)["test_accuracy"][0]
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = x - 0.05 * p.minibatch_grad(x, rng, 16)
    assert before < 0.4 and p.evaluate(x)["test_accuracy"][0] > 0.9


@pytest.mark.parametrize("name, params, match", [
    ("fashion_mlp", {"split": "role"}, "unknown split"),
    ("fashion_mlp", {"source": "web"}, "unknown source"),
    ("shakespeare_mlp", {"split": "dirichlet", "source": "synthetic"}, "unknown split"),
    ("shakespeare_mlp", {"context": 0, "source": "synthetic"}, "context"),
    ("shakespeare_mlp", {"width": 3}, "unknown parameter 'width'"),
])
def test_bad_parameters_are_named(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_problem(name, **params)


def test_real_data_missing_points_to_fetch(tmp_path):
    from clipasgd.datasets import DataUnavailable
    with pytest.raises(DataUnavailable, match="clipasgd fetch-data shakespeare"):
        make_problem("shakespeare_mlp", data_dir=str(tmp_path))


def test_engine_drives_the_federated_network():
    """Clipped ASGD under Algorithm 2 on the Dirichlet-split synthetic images, one shard per
    worker: the training loss falls by half."""
    from clipasgd.compute_times import make_compute_times
    from clipasgd.engine import simulate
    from clipasgd.noise import Minibatch
    from clipasgd.schedules import algorithm2
    from clipasgd.updates import chain, clip, scale

    p = make_problem("fashion_mlp", source="synthetic", hidden=8, n_parts=4, split="dirichlet",
                     n_eval=200)
    times = make_compute_times({"n": 4, "stragglers": 2, "D": 4})
    sched = algorithm2(times, 150, np.random.default_rng(0))
    res = simulate(p, Minibatch(16), chain(clip(2.0), scale(0.1)), sched, R=2, rng=1)
    sub = res.metrics["subopt"]
    assert np.all(sub[-1] < 0.5 * sub[0])


def test_pixel_standardisation_is_exact_and_built_once():
    """The integer moments match numpy's float64 mean and std of ``x / 255`` (to rounding),
    the feature table gives ``(p / 255 - mean) / sd`` per pixel, and the prepared data
    are built once per process and read-only (shared by every instance)."""
    from clipasgd.problems.fashion import pixel_moments, prepared

    x = np.random.default_rng(4).integers(0, 256, (300, 784)).astype(np.uint8)
    mu, sd = pixel_moments(x, chunk=77)
    scaled = x / 255.0
    np.testing.assert_allclose([mu, sd], [scaled.mean(), scaled.std()], rtol=1e-14)
    a = make_problem("fashion_mlp", source="synthetic", hidden=3, n_eval=10)
    b = make_problem("fashion_mlp", source="synthetic", hidden=4, n_parts=2, n_eval=20)
    assert a.pixels is b.pixels and prepared("synthetic", "data/raw") is \
        prepared("synthetic", "data/raw")
    assert not a.pixels.flags.writeable and not a._table.flags.writeable
    n_train = prepared("synthetic", "data/raw").n_train
    mu, sd = pixel_moments(a.pixels[:n_train])
    idx = np.array([0, 5, n_train + 3])
    assert np.array_equal(a._features(None, idx), (a.pixels[idx] / 255.0 - mu) / sd)


@pytest.mark.parametrize("name", ["fashion", "chars"])
def test_gradient_blocks_match_a_direct_backward_pass(name, request):
    """The in-place gradient layout equals the textbook backward pass block by block, for
    one shared batch and for one batch per row."""
    p = request.getfixturevalue(name)
    x = _rows(p, R=3)
    rng = np.random.default_rng(6)
    for idx in (p.shards.order[rng.integers(0, 40, 8)],
                p.shards.order[rng.integers(0, 40, (3, 8))]):
        w = np.full(8, 1 / 8)
        loss, g, _ = p._loss_grad(x, idx, w)
        for r in range(3):
            ids = idx if idx.ndim == 1 else idx[r]
            pre, w1, b1, w2, b2 = (a[0] for a in p._unpack(x[r:r + 1]))
            h = np.asarray(p._features(pre[None], ids)).reshape(len(ids), p.n_in)
            z = np.tanh(h @ w1 + b1)
            s = z @ w2 + b2
            e = np.exp(s - s.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
            y = p._targets(ids)
            np.testing.assert_allclose(loss[r], -np.log(prob[np.arange(8), y]).mean(),
                                       rtol=1e-12)
            d = prob.copy()
            d[np.arange(8), y] -= 1.0
            d /= 8
            da = (d @ w2.T) * (1 - z * z)
            want = np.concatenate([(h.T @ da).ravel(), da.sum(0), (z.T @ d).ravel(),
                                   d.sum(0)])
            np.testing.assert_allclose(g[r, p.n_prefix:], want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["fashion_mlp", "shakespeare_mlp"])
def test_float32_option_is_single_precision_of_the_same_network(name):
    """``dtype: float32`` (declared by a claim, recorded by describe): gradients and
    evaluations agree with float64 to single precision; the gradient stays float64."""
    small = {"fashion_mlp": {"hidden": 6}, "shakespeare_mlp": {"context": 4, "embed": 3,
                                                                "hidden": 7}}[name]
    p64, p32 = (make_problem(name, source="synthetic", n_eval=50, dtype=dt, **small)
                for dt in ("float64", "float32"))
    x = _rows(p64)
    g64, g32 = (p.minibatch_grad(x, np.random.default_rng(8), 16) for p in (p64, p32))
    assert g32.dtype == np.float64 and not np.array_equal(g32, g64)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6 * np.abs(g64).max())
    for k, v in p64.evaluate(x).items():
        np.testing.assert_allclose(p32.evaluate(x)[k], v, rtol=1e-4, atol=1e-4)
    assert p32.describe()["dtype"] == "float32" and p64.describe()["dtype"] == "float64"
    with pytest.raises(ValueError, match="unknown dtype"):
        make_problem(name, source="synthetic", dtype="float16", **small)
