"""Model merging: task arithmetic, TIES, AdaMerging, Pareto Merging (paretojax.merging)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paretojax import merging


def test_task_arithmetic_and_vectors_hand_computed():
    theta0 = {"w": jnp.array([1.0, 2.0])}
    thetas = {"w": jnp.array([[2.0, 2.0], [1.0, 0.0]])}
    taus = merging.task_vectors(theta0, thetas)
    np.testing.assert_allclose(taus["w"], [[1.0, 0.0], [0.0, -2.0]])
    np.testing.assert_allclose(merging.task_arithmetic(theta0, taus, 0.5)["w"], [1.5, 1.0])
    g = jnp.array([0.25, 0.75])  # λ·K·γ = [0.15, 0.45]
    np.testing.assert_allclose(
        merging.preference_task_arithmetic(theta0, taus, g)["w"], [1.15, 2.0 - 0.9], rtol=1e-6)


def test_ties_hand_computed():
    # τ1 = [4, -1, 2, 0.1], τ2 = [-3, -2, 1, 0.2]; density 0.5 keeps the 2 largest per task:
    # τ1 → [4, 0, 2, 0], τ2 → [-3, -2, 0, 0]; elected sign(Σ) = [+, −, +, 0];
    # disjoint mean → [4, -2, 2, 0].
    taus = {"w": jnp.array([[4.0, -1.0, 2.0, 0.1], [-3.0, -2.0, 1.0, 0.2]])}
    out = merging.ties_merging({"w": jnp.zeros(4)}, taus, density=0.5, lam=0.5)
    np.testing.assert_allclose(out["w"], [2.0, -1.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        merging.ties_merging({"w": jnp.zeros(4)}, taus, density=0.0)


def test_delta_shapes_and_param_count():
    theta = {"w0": jnp.zeros((7, 5)), "b0": jnp.zeros(5), "w1": jnp.zeros((5, 3))}
    k, r = 3, 2
    pm = merging.init_pareto_merging(jax.random.key(0), theta, k, rank=r)
    assert sorted(pm.a) == ["w0", "w1"]
    for n, (d_in, d_out) in {"w0": (7, 5), "w1": (5, 3)}.items():
        count = pm.a[n].size + pm.b[n].size + pm.g[n].size
        assert count == r * (d_out + d_in) + r * r * k
    pm = pm._replace(b={n: jax.random.normal(jax.random.key(1), v.shape) for n, v in pm.b.items()})
    gam = jnp.array([0.2, 0.3, 0.5])
    delta = merging.pareto_delta(pm, gam)
    assert delta["w0"].shape == (7, 5) and delta["w1"].shape == (5, 3)
    # Δ(γ) = Σ_k γ_k A G_k Bᵀ is linear in γ and of rank ≤ r.
    parts = [merging.pareto_delta(pm, jnp.eye(3)[i])["w0"] for i in range(3)]
    np.testing.assert_allclose(delta["w0"], sum(g * p for g, p in zip(gam, parts, strict=True)), atol=1e-5)
    assert np.linalg.matrix_rank(np.asarray(delta["w0"]), tol=1e-4) <= r
    merged = merging.pareto_merge(theta, pm, gam)
    assert merged["b0"] is theta["b0"]


def test_bad_inputs():
    theta = {"w": jnp.zeros((4, 3))}
    pm = merging.init_pareto_merging(jax.random.key(0), theta, 2, rank=2)
    with pytest.raises(ValueError, match="simplex"):
        merging.pareto_delta(pm, jnp.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="shape"):
        merging.pareto_delta(pm, jnp.array([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="non-negative"):
        merging.pareto_merge(theta, pm, jnp.array([1.5, -0.5]))
    with pytest.raises(ValueError):
        merging.init_pareto_merging(jax.random.key(0), theta, 1)
    with pytest.raises(ValueError):
        merging.init_pareto_merging(jax.random.key(0), theta, 2, rank=0)
    with pytest.raises(ValueError):
        merging.task_vectors({"w": jnp.zeros(3)}, {"v": jnp.zeros((2, 3))})


def test_one_hot_recovers_task_model_data_free():
    """γ = e_k approaches θ_k: task vectors of rank 2, so the rank-r optimum is exact."""
    kk, d_in, d_out, r = 3, 12, 10, 6
    keys = jax.random.split(jax.random.key(0), 3)
    u = jax.random.normal(keys[0], (kk, d_in, 2))
    v = jax.random.normal(keys[1], (kk, 2, d_out))
    theta0 = {"w": jax.random.normal(keys[2], (d_in, d_out)), "b": jnp.zeros(d_out)}
    thetas = {"w": theta0["w"][None] + u @ v, "b": jnp.zeros((kk, d_out))}
    taus = merging.task_vectors(theta0, thetas)
    base = merging.task_arithmetic(theta0, taus, 0.3)
    pm = merging.init_pareto_merging(jax.random.key(1), base, kk, rank=r)

    def f(th):
        return merging.pareto_merging_losses(th, thetas, theta0)

    pm, hist = merging.train_pareto_merging(jax.random.key(2), base, pm, f, steps=200,
                                            lr=3e-2, num_prefs=8)
    assert np.all(np.isfinite(hist))
    before = np.asarray(f(base))
    after = np.array([float(f(merging.pareto_merge(base, pm, jnp.eye(kk)[i]))[i])
                      for i in range(kk)])
    # Measured: after ≈ 0.01–0.05 of the normalised distance, before ≈ 1.1–1.4.
    print(after / before)
    assert np.all(after < 0.15 * before), (after, before)


def test_adamerging_decreases_entropy_surrogate():
    theta0 = {"w": jnp.zeros(2)}
    taus = {"w": jnp.array([[1.0, 0.0], [0.0, 1.0]])}

    def f(p):
        return jnp.sum((p["w"] - jnp.array([0.8, -0.2])) ** 2)

    merged, lam = merging.adamerging(theta0, taus, f, steps=300, lr=0.05)
    np.testing.assert_allclose(lam["w"], [0.8, -0.2], atol=1e-2)
    np.testing.assert_allclose(merged["w"], [0.8, -0.2], atol=1e-2)


def test_zoo_small():
    zoo = merging.model_zoo(jax.random.key(0), ("identity", "parity"), hidden=8,
                            pretrain_steps=3, finetune_steps=4)
    assert zoo.thetas["w1"].shape == (2, 8, 8) and zoo.heads["w"].shape == (2, 8, 10)
    assert zoo.x_test.shape[:2] == zoo.y_test.shape and zoo.tasks == ("identity", "parity")
    assert int(zoo.y_test[1].max()) == 1  # parity labels
    acc = merging.zoo_accuracies(zoo, zoo.thetas)
    assert acc.shape == (2,) and bool(jnp.all((acc >= 0) & (acc <= 1)))
    with pytest.raises(ValueError):
        merging.model_zoo(jax.random.key(0), ("identity",))
    with pytest.raises(ValueError):
        merging.model_zoo(jax.random.key(0), ("identity", "nope"))


@pytest.mark.slow
def test_pareto_merging_front_vs_preference_task_arithmetic():
    """Zoo experiment (≈3 min on a busy CPU). Measured (3 tasks, hidden 64, r = 32, 800 steps,
    data-free objective): HV 0.816 vs 0.831 for preference-weighted TA — PM does NOT dominate
    here; the assertion is the measured parity (≥ 95 % of the baseline's HV)."""
    zoo = merging.model_zoo(jax.random.key(0), ("identity", "parity", "gt4"), hidden=64)
    r = merging.merging_fronts(zoo, jax.random.key(1), objective="data_free", steps=800,
                               rank=32)
    assert r.hv_pareto >= 0.95 * r.hv_pwta, (r.hv_pareto, r.hv_pwta)
