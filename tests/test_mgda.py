"""MGDA end to end: goldens, common descent, stationarity, normalisations, optax chain, vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import paretojax as pj
from tests.helpers import G3, G_BASE, J3, J_BASE, random_jacobian


def _jac(j):
    return {"w": jnp.asarray(j, jnp.float32)}


def test_golden_torchjd_base():
    w, _ = pj.mgda_weights(jnp.asarray(G_BASE, jnp.float32))
    np.testing.assert_allclose(w, [0.6, 0.4], atol=1e-4)
    tx = pj.mgda()
    upd, _ = tx.update(_jac(J_BASE), tx.init(None))
    np.testing.assert_allclose(upd["w"], [0.0, 1.0, 1.0], atol=1e-4)


def test_golden_j3(x64):
    w, _ = pj.mgda_weights(jnp.asarray(G3))
    np.testing.assert_allclose(w, [0.32249, 0.47847, 0.19904], atol=1e-4)
    w, _ = pj.mgda_weights(jnp.asarray(G3), solver="exact")
    np.testing.assert_allclose(w, [0.32249, 0.47847, 0.19904], atol=1e-4)
    w, _ = pj.mgda_weights(jnp.asarray(G3), solver="frank_wolfe")
    np.testing.assert_allclose(w, [0.3199, 0.4760, 0.2041], atol=5e-3)


def test_l2_normalisation_golden():
    # l2 on G_base: γ = 0.5, update ½g₁ + ½g₂ = [1, 1, 1] (raw combine, the default)
    tx = pj.mgda(normalization="l2")
    upd, _ = tx.update(_jac(J_BASE), tx.init(None))
    np.testing.assert_allclose(upd["w"], [1.0, 1.0, 1.0], atol=1e-4)
    # LibMTL parameter mode combines the normalised gradients: [0.0153, 0.1990, 0.1990]
    tx = pj.mgda(normalization="l2", combine="normalized")
    upd, _ = tx.update(_jac(J_BASE), tx.init(None))
    np.testing.assert_allclose(upd["w"], [0.0153, 0.1990, 0.1990], atol=1e-4)


def test_loss_normalisations_need_losses():
    tx = pj.mgda(normalization="loss")
    with pytest.raises(ValueError, match="needs the loss vector"):
        tx.update(_jac(J_BASE), tx.init(None))
    losses = jnp.array([2.0, 0.5])
    w, _ = pj.mgda_weights(jnp.asarray(G_BASE, jnp.float32), losses, normalization="loss")
    n = np.array([2.0, 0.5])
    ref, _ = pj.mgda_weights(jnp.asarray(G_BASE / np.outer(n, n), jnp.float32))
    np.testing.assert_allclose(w, ref, atol=1e-5)
    w2, _ = pj.mgda_weights(jnp.asarray(G_BASE, jnp.float32), losses, normalization="loss+")
    n2 = n * np.sqrt(np.diag(G_BASE))
    ref2, _ = pj.mgda_weights(jnp.asarray(G_BASE / np.outer(n2, n2), jnp.float32))
    np.testing.assert_allclose(w2, ref2, atol=1e-5)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="normalization"):
        pj.mgda(normalization="l3")
    with pytest.raises(ValueError, match="solver"):
        pj.mgda(solver="cvxpy")


@pytest.mark.parametrize("m", [2, 3, 5, 10])
def test_common_descent_direction(m):
    rng = np.random.default_rng(m)
    tx = pj.mgda()
    for _ in range(10):
        j = random_jacobian(rng, m, 20)
        d = np.asarray(tx.update(_jac(j), tx.init(None))[0]["w"], np.float64)
        # KKT of the min-norm problem: g_i·d ≥ ‖d‖² for every task
        assert np.all(j @ d >= d @ d - 1e-3 * (1 + np.abs(j).max() ** 2))


def test_zero_exactly_at_pareto_stationary_point(x64):
    # g₂ = −2 g₁: 0 is in the convex hull (w = (2/3, 1/3)), the direction must vanish.
    g = np.array([[1.0, 2.0, -1.0], [-2.0, -4.0, 2.0]])
    tx = pj.mgda()
    d = tx.update({"w": jnp.asarray(g)}, tx.init(None))[0]["w"]
    np.testing.assert_allclose(d, 0.0, atol=1e-10)
    # three gradients surrounding the origin in 2-D
    g = np.array([[1.0, 0.0], [-0.5, 0.8], [-0.5, -0.8]])
    d = tx.update({"w": jnp.asarray(g)}, tx.init(None))[0]["w"]
    np.testing.assert_allclose(d, 0.0, atol=1e-10)


def test_single_task_is_gradient_descent():
    g = jnp.array([[0.3, -1.2, 4.0]])
    tx = pj.mgda()
    np.testing.assert_allclose(tx.update({"w": g}, tx.init(None))[0]["w"], g[0], rtol=1e-6)


def _problem(params, x):
    # Two conflicting quadratic tasks on a tiny linear model.
    pred = x @ params["w"] + params["b"]
    return jnp.stack([jnp.mean((pred - 1.0) ** 2), jnp.mean((pred + 1.0) ** 2 + params["w"][0] ** 2)])


def test_optax_chain_with_adam_under_jit():
    x = jax.random.normal(jax.random.key(0), (32, 4))
    params = {"w": jnp.ones(4), "b": jnp.zeros(())}
    tx = optax.chain(pj.mgda(num_tasks=2), optax.adam(1e-2))
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        losses, jac = pj.value_and_jacobian(_problem)(params, x)
        upd, state = tx.update(jac, state, params, task_losses=losses)
        return optax.apply_updates(params, upd), state, losses

    first = None
    for _ in range(200):
        params, state, losses = step(params, state)
        first = losses if first is None else first
    # MGDA converges to a Pareto-stationary point: the min-norm direction vanishes there.
    losses, jac = pj.value_and_jacobian(_problem)(params, x)
    d = pj.mgda().update(jac, pj.mgda().init(None))[0]
    assert float(jnp.linalg.norm(d["w"])) < 0.05 * float(jnp.linalg.norm(jac["w"]))
    assert float(losses.max()) < float(first.max())
    mgda_state = state[0]
    np.testing.assert_allclose(float(mgda_state.weights.sum()), 1.0, atol=1e-5)


def test_vmap_training_step_over_64_solutions():
    x = jax.random.normal(jax.random.key(0), (16, 4))
    keys = jax.random.split(jax.random.key(1), 64)
    params = jax.vmap(lambda k: {"w": jax.random.normal(k, (4,)), "b": jnp.zeros(())})(keys)
    tx = optax.chain(pj.mgda(), optax.sgd(0.05))
    state = jax.vmap(tx.init)(params)

    def step(params, state):
        losses, jac = pj.value_and_jacobian(_problem)(params, x)
        upd, state = tx.update(jac, state, params, task_losses=losses)
        return optax.apply_updates(params, upd), state, losses

    vstep = jax.jit(jax.vmap(step))
    p1, s1, l1 = vstep(params, state)
    assert l1.shape == (64, 2)
    one = jax.tree.map(lambda a: a[17], params)
    p_one, _, l_one = step(one, tx.init(one))
    np.testing.assert_allclose(p1["w"][17], p_one["w"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(l1[17], l_one, rtol=1e-5)
    for _ in range(20):
        p1, s1, l2 = vstep(p1, s1)
    # every solution made common progress: no task got worse by more than noise
    assert bool(jnp.all(l2 <= l1 + 1e-4))


def test_nan_loss_inside_jit_skips():
    tx = pj.mgda(normalization="loss", num_tasks=2)
    st = tx.init(None)
    upd, st = jax.jit(tx.update)(_jac(J_BASE), st, task_losses=jnp.array([1.0, jnp.nan]))
    np.testing.assert_array_equal(upd["w"], 0.0)
    assert int(st.skipped) == 1


def test_float64_inputs_keep_float64(x64):
    tx = pj.mgda()
    upd, _ = tx.update({"w": jnp.asarray(J3)}, tx.init(None))
    assert upd["w"].dtype == jnp.float64
