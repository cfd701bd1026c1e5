"""Real gradient noise (clipasgd.gradnoise): gradients against finite differences, the noise
has mean zero and the right variance, the fast summaries match the vectors, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from clipasgd import gradnoise as gn


@pytest.fixture(scope="module")
def mlp() -> gn.MLP:
    return gn.make_model("mlp_digits")


@pytest.fixture(scope="module")
def glm() -> gn.PoissonGLM:
    return gn.make_model("poisson_randhie")


def _point(model, seed: int) -> np.ndarray:
    """A generic point: the initial weights moved a little in a random direction."""
    rng = np.random.default_rng(seed)
    return model.init(seed) + 0.1 * rng.standard_normal(model.dim)


def _directional_fd(f, w: np.ndarray, v: np.ndarray, h: float = 1e-5) -> float:
    return (f(w + h * v) - f(w - h * v)) / (2 * h)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradients_match_finite_differences(activation: str) -> None:
    model = gn.make_model("mlp_digits", activation=activation)
    w = _point(model, 1)
    h = 1e-5 if activation == "tanh" else 1e-7  # a smaller step rarely straddles a ReLU kink
    rng = np.random.default_rng(2)
    g = model.full_grad(w)
    for _ in range(4):  # directional derivatives of the mean loss
        v = rng.standard_normal(model.dim)
        assert g @ v == pytest.approx(_directional_fd(model.loss, w, v, h), rel=1e-6, abs=1e-9)
    G = model.per_example_grads(w)
    assert G.shape == (model.n_examples, model.dim)
    np.testing.assert_allclose(G.mean(axis=0), g, rtol=1e-10, atol=1e-13)
    for i in (0, 17, 1796):  # per-example rows against each example's own loss
        v = rng.standard_normal(model.dim)
        fd = _directional_fd(lambda x, i=i: model.example_losses(x)[i], w, v, h)
        assert G[i] @ v == pytest.approx(fd, rel=1e-6, abs=1e-9)
    # single coordinates in every parameter block (W1, b1, W2, b2)
    for j in (5, 64 * 32 + 3, 64 * 32 + 32 + 7, model.dim - 1):
        e = np.zeros(model.dim)
        e[j] = 1.0
        assert g[j] == pytest.approx(_directional_fd(model.loss, w, e, h), rel=1e-5, abs=1e-9)
    loss, grad = model.loss_and_grad(w)
    assert loss == pytest.approx(model.loss(w)) and np.allclose(grad, g)


def test_glm_gradients_match_finite_differences(glm: gn.PoissonGLM) -> None:
    w = 0.1 * np.random.default_rng(3).standard_normal(glm.dim)
    g = glm.full_grad(w)
    for j in range(glm.dim):
        e = np.zeros(glm.dim)
        e[j] = 1.0
        assert g[j] == pytest.approx(_directional_fd(glm.loss, w, e), rel=1e-6, abs=1e-9)
    G = glm.per_example_grads(w)
    np.testing.assert_allclose(G.mean(axis=0), g, rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(4).standard_normal(glm.dim)
    for i in (0, 999, glm.n_examples - 1):
        fd = _directional_fd(lambda x, i=i: glm.example_losses(x)[i], w, v)
        assert G[i] @ v == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert np.all(glm.example_losses(w) >= 0)  # a negative log-likelihood
    assert glm.loss_and_grad(w)[0] == pytest.approx(glm.loss(w))


def test_training_checkpoints(glm: gn.PoissonGLM) -> None:
    tr = gn.train(glm, steps=60, lr=0.1, seed=0)
    assert tr.step["initial"] == 0 < tr.step["middle"] < tr.step["converged"] == 60
    assert tr.loss["initial"] > tr.loss["middle"] > tr.loss["converged"]
    assert tr.loss["middle"] <= np.sqrt(tr.loss["initial"] * tr.loss["converged"])
    assert tr.grad_norm["converged"] < 1e-3 * tr.grad_norm["initial"]
    again = gn.train(glm, steps=60, lr=0.1, seed=0)
    assert all(np.array_equal(tr.weights[k], again.weights[k]) for k in tr.weights)
    with pytest.raises(ValueError, match="diverged"):
        gn.train(glm, steps=20, lr=50.0)


def test_mlp_training_is_seeded(mlp: gn.MLP) -> None:
    a, b = gn.train(mlp, 30, 1.0, seed=5), gn.train(mlp, 30, 1.0, seed=5)
    assert np.array_equal(a.weights["converged"], b.weights["converged"])
    assert not np.array_equal(a.weights["initial"], gn.train(mlp, 30, 1.0, seed=6)
                              .weights["initial"])
    assert a.losses[-1] < a.losses[0]


def test_noise_has_mean_zero_and_variance_over_b(glm: gn.PoissonGLM) -> None:
    w = gn.train(glm, 40, 0.1, seed=0).weights["converged"]
    errors = gn.per_example_errors(glm, w)
    assert np.abs(errors.mean(axis=0)).max() < 1e-10 * np.abs(errors).max()
    b, m = 8, 40_000
    noise = gn.batch_noise(errors, b, m, seed=7)
    assert noise.shape == (m, glm.dim)
    z = noise.mean(axis=0) / (noise.std(axis=0) / np.sqrt(m))
    assert np.all(np.abs(z) < 4.5)  # 10 coordinates, each ~N(0, 1)
    # with replacement: E||mean_B e||^2 = mean_i ||e_i||^2 / b exactly
    sq = np.sum(noise ** 2, axis=1)
    expected = np.mean(np.sum(errors ** 2, axis=1)) / b
    assert abs(sq.mean() - expected) < 5 * sq.std() / np.sqrt(m)


def test_mlp_noise_mean_zero(mlp: gn.MLP) -> None:
    errors = gn.per_example_errors(mlp, mlp.init(0))
    noise = gn.batch_noise(errors, 4, 6000, seed=1)
    z = noise.mean(axis=0) / (noise.std(axis=0) / np.sqrt(noise.shape[0]) + 1e-300)
    assert np.abs(z[noise.std(axis=0) > 0]).max() < 5.5  # 2410 coordinates


@pytest.mark.parametrize("name", ["mlp_digits", "poisson_randhie"])
def test_summary_matches_vectors_and_is_deterministic(name: str, mlp, glm) -> None:
    """The Gram route (MLP, dim > 256) and the vector route (GLM) both reproduce the norms
    and projections of the very batches batch_noise draws with the same seed."""
    model = mlp if name == "mlp_digits" else glm
    errors = gn.per_example_errors(model, _point(model, 0))
    u = gn.random_directions(model.dim, 2, seed=3)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)
    vec = gn.batch_noise(errors, 8, 3000, seed=11)
    norms, proj = gn.batch_noise_summary(errors, 8, 3000, 11, u)
    np.testing.assert_allclose(norms, np.linalg.norm(vec, axis=1), rtol=1e-8)
    np.testing.assert_allclose(proj, vec @ u.T, rtol=1e-8, atol=1e-12)
    again = gn.batch_noise_summary(errors, 8, 3000, 11, u)
    assert np.array_equal(again[0], norms) and np.array_equal(again[1], proj)
    other = gn.batch_noise_summary(errors, 8, 3000, 12, u)
    assert not np.array_equal(other[0], norms)


def test_batch_one_is_the_population(glm: gn.PoissonGLM) -> None:
    errors = gn.per_example_errors(glm, glm.init())
    u = gn.random_directions(glm.dim, 1, seed=0)
    norms, proj = gn.noise_sample(errors, 1, 500, seed=0, directions=u)
    assert norms.shape == (glm.n_examples,)  # all N rows, n_batches ignored
    np.testing.assert_allclose(norms, np.linalg.norm(errors, axis=1))
    np.testing.assert_allclose(proj[:, 0], errors @ u[0])


def test_model_validation() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        gn.make_model("resnet18")
    with pytest.raises(ValueError, match="activation"):
        gn.make_model("mlp_digits", activation="gelu")
    with pytest.raises(ValueError, match="no options"):
        gn.make_model("poisson_randhie", hidden=3)
    with pytest.raises(ValueError, match="parameters"):
        gn.make_model("mlp_digits").loss(np.zeros(5))
    with pytest.raises(ValueError, match="directions"):
        gn.batch_noise_summary(np.ones((10, 3)), 2, 5, 0, np.ones((1, 4)))
