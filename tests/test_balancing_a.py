"""Loss balancing part A (METHODS.md §3): DWA, UW, IMTL-L, GLS — state evolution and edges."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paretojax.balancing import (
    DWAState,
    dwa,
    dwa_epoch_end,
    dwa_init,
    dwa_loss,
    dwa_weights,
    geometric_mean_loss,
    gls,
    gls_weights,
    imtl_l,
    imtl_l_loss,
    imtl_l_params,
    uw,
    uw_loss,
    uw_params,
)

EYE2 = {"w": jnp.eye(2)}


def _weights(u):
    return np.asarray(u["w"])


# ------------------------------------------------------------------------------------ DWA


def _dwa_reference(epoch_losses, T=2.0):
    """Independent NumPy DWA (MTAN / LibMTL): weights used during each epoch."""
    means = [np.mean(e, axis=0) for e in epoch_losses]
    out = []
    for e in range(len(epoch_losses)):
        if e < 2:
            out.append(np.ones(2))
        else:
            r = means[e - 1] / means[e - 2]
            ex = np.exp(r / T)
            out.append(2 * ex / ex.sum())
    return out


def test_dwa_weights_over_epochs():
    """Epochs 0/1: weights 1; epoch e ≥ 2: m·softmax((L̄(e−1)/L̄(e−2))/T) of epoch means."""
    epochs = [
        np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 2.0]]),   # means (2, 2)
        np.array([[1.0, 1.5], [1.0, 2.5]]),               # means (1, 2)
        np.array([[0.5, 1.0], [1.5, 3.0], [0.4, 2.0]]),   # means (0.8, 2)
        np.array([[0.2, 1.0]]),
    ]
    ref = _dwa_reference(epochs)
    tx = optax.chain(dwa(num_tasks=2), optax.sgd(1.0))
    params = {"w": jnp.zeros(2)}
    state = tx.init(params)
    upd = jax.jit(lambda s, lo: tx.update(EYE2, s, params, task_losses=lo))
    end = jax.jit(dwa_epoch_end)
    for e, batch in enumerate(epochs):
        for lo in batch:
            u, state = upd(state, jnp.asarray(lo, jnp.float32))
            np.testing.assert_allclose(-_weights(u), ref[e], rtol=1e-6, err_msg=f"epoch {e}")
            np.testing.assert_allclose(state[0].weights, ref[e], rtol=1e-6)
        state = end(state)
    inner = state[0].inner
    assert isinstance(inner, DWAState)
    assert int(inner.epoch) == 4
    np.testing.assert_allclose(inner.prev, [0.2, 1.0])
    np.testing.assert_allclose(inner.prev2, [0.8, 2.0], rtol=1e-6)
    # Epoch 2 favours the task whose loss fell least (task 2: ratio 1 vs 0.5).
    assert ref[2][1] > ref[2][0]


def test_dwa_temperature_and_loss_form():
    st = dwa_init(2)
    st = st._replace(epoch=jnp.asarray(2, jnp.int32), prev=jnp.array([1.0, 3.0]),
                     prev2=jnp.array([2.0, 1.0]))
    r = np.array([0.5, 3.0])
    for T in (0.5, 2.0, 10.0):
        w, st2 = dwa_weights(None, jnp.array([1.0, 1.0]), st, temperature=T)
        np.testing.assert_allclose(w, 2 * np.exp(r / T) / np.exp(r / T).sum(), rtol=1e-6)
        np.testing.assert_allclose(jnp.sum(w), 2.0, rtol=1e-6)
    # dwa_loss: Σ w L with w held constant, and the running sum advances.
    lo = jnp.array([0.7, 1.3])
    (s, st3), g = jax.value_and_grad(lambda x: dwa_loss(x, st), has_aux=True)(lo)
    w, _ = dwa_weights(None, lo, st)
    np.testing.assert_allclose(s, jnp.sum(w * lo), rtol=1e-6)
    np.testing.assert_allclose(g, w, rtol=1e-6)
    np.testing.assert_allclose(st3.loss_sum, lo)
    assert float(st3.count) == 1.0


def test_dwa_epoch_end_edges_and_errors():
    st = dwa_init(3)
    st = dwa_epoch_end(st)  # empty epoch: repeats the last mean (ones), no NaN
    assert np.all(np.isfinite(st.prev)) and int(st.epoch) == 1
    with pytest.raises(ValueError, match="no DWAState"):
        dwa_epoch_end({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match="num_tasks"):
        dwa(num_tasks=0)
    with pytest.raises(ValueError, match="temperature"):
        dwa(num_tasks=2, temperature=0.0)
    with pytest.raises(ValueError, match="task_losses"):
        tx = dwa(num_tasks=2)
        tx.update(EYE2, tx.init(None))
    # zero previous mean: floored, weights finite
    st = dwa_init(2)._replace(epoch=jnp.asarray(3, jnp.int32), prev=jnp.array([1.0, 0.0]),
                              prev2=jnp.array([0.0, 0.0]))
    w, _ = dwa_weights(None, jnp.ones(2), st)
    assert np.all(np.isfinite(w))


def test_dwa_nonfinite_losses_skip_and_keep_state():
    tx = dwa(num_tasks=2)
    upd = jax.jit(lambda s, lo: tx.update(EYE2, s, task_losses=lo))
    s0 = tx.init(None)
    _, s1 = upd(s0, jnp.array([1.0, 2.0]))
    u, s2 = upd(s1, jnp.array([jnp.nan, 2.0]))
    np.testing.assert_array_equal(_weights(u), 0.0)
    assert int(s2.skipped) == 1
    np.testing.assert_array_equal(s2.inner.loss_sum, s1.inner.loss_sum)


# --------------------------------------------------------------------------- UW / IMTL-L


@pytest.mark.parametrize(
    "factory,loss_fn,params_fn,dS_ds,w_of_s",
    [
        (uw, uw_loss, uw_params, lambda s, L: 0.5 - 0.5 * np.exp(-s) * L,
         lambda s: 0.5 * np.exp(-s)),
        (imtl_l, imtl_l_loss, imtl_l_params, lambda s, L: np.exp(s) * L - 1.0, np.exp),
    ],
    ids=["uw", "imtl_l"],
)
def test_learned_scales_state_evolution(factory, loss_fn, params_fn, dS_ds, w_of_s):
    """s follows s ← s − lr·∂S/∂s (own SGD); weights use the s before the step."""
    lr = 0.1
    seq = np.array([[1.0, 3.0], [0.5, 2.0], [2.0, 0.2], [1.0, 1.0], [0.3, 4.0]], np.float32)
    tx = factory(num_tasks=2, optimizer=optax.sgd(lr))

    @jax.jit
    def run(state, losses):
        def body(st, lo):
            u, st = tx.update(EYE2, st, task_losses=lo)
            return st, (u["w"], st.inner.s)

        return jax.lax.scan(body, state, losses)

    _, (ws, ss) = run(tx.init(None), jnp.asarray(seq))
    s = np.zeros(2)
    for t, L in enumerate(seq.astype(np.float64)):
        np.testing.assert_allclose(ws[t], w_of_s(s), rtol=1e-5)
        s = s - lr * dS_ds(s, L)
        np.testing.assert_allclose(ss[t], s, rtol=1e-5, atol=1e-6)
    # The pure loss gives the same weights (∂S/∂L) and the s-gradient used above (∂S/∂s).
    s0 = params_fn(2, init=0.3)
    L = jnp.array([0.8, 2.5])
    gL, gs = jax.grad(loss_fn, argnums=(0, 1))(L, s0)
    np.testing.assert_allclose(gL, w_of_s(np.asarray(s0)), rtol=1e-6)
    np.testing.assert_allclose(gs, dS_ds(np.asarray(s0), np.asarray(L)), rtol=1e-5)


def test_learned_scales_fixed_points():
    """Constant losses: UW → s = log L (weights 1/(2L)); IMTL-L → s = −log L (e^s L = 1)."""
    L = jnp.array([0.5, 4.0])

    def converge(tx):
        def body(st, _):
            return tx.update(EYE2, st, task_losses=L)[1], None

        st, _ = jax.lax.scan(body, tx.init(None), None, length=3000)
        return st.inner.s

    s_uw, s_im = jax.jit(lambda: (converge(uw(2, optimizer=optax.sgd(0.5))),
                                  converge(imtl_l(2, optimizer=optax.sgd(0.1)))))()
    np.testing.assert_allclose(s_uw, np.log(L), atol=1e-4)
    np.testing.assert_allclose(s_im, -np.log(L), atol=1e-4)


def test_learned_scales_defaults_and_validation():
    tx = uw(num_tasks=2, init=-0.5)  # LibMTL's s₀; default optimizer adam(1e-3)
    st = tx.init(None)
    np.testing.assert_allclose(st.inner.s, [-0.5, -0.5])
    u, st = tx.update(EYE2, st, task_losses=jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(_weights(u), 0.5 * np.exp(0.5), rtol=1e-6)
    assert np.all(np.abs(np.asarray(st.inner.s) + 0.5) > 5e-4)  # Adam moved s by ≈ lr
    np.testing.assert_allclose(uw_params(3), np.zeros(3))
    np.testing.assert_allclose(uw_loss(jnp.array([1.0, 3.0]), jnp.zeros(2)), 2.0)
    np.testing.assert_allclose(imtl_l_loss(jnp.array([1.0, 3.0]), jnp.zeros(2)), 4.0)
    with pytest.raises(ValueError, match="num_tasks"):
        uw(num_tasks=None)
    with pytest.raises(ValueError, match="init"):
        imtl_l(num_tasks=2, init=jnp.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        uw_loss(jnp.ones(2), jnp.zeros(3))
    with pytest.raises(ValueError, match="optimizer"):
        uw(num_tasks=2, optimizer="adam")


# ------------------------------------------------------------------------------------ GLS


def test_gls_values_weights_and_validation():
    L = jnp.array([0.5, 2.0, 8.0])
    np.testing.assert_allclose(geometric_mean_loss(L), 2.0, rtol=1e-6)
    g = jax.grad(geometric_mean_loss)(L)
    w, _ = gls_weights(None, L)
    np.testing.assert_allclose(w, 2.0 / (3 * L), rtol=1e-6)
    np.testing.assert_allclose(g, w, rtol=1e-6)
    tx = gls()
    u, _ = tx.update({"w": jnp.eye(3)}, tx.init(None), task_losses=L)
    np.testing.assert_allclose(u["w"], w, rtol=1e-6)
    # m = 1: the loss itself
    np.testing.assert_allclose(gls_weights(None, jnp.array([3.0]))[0], [1.0])
    # L ≤ 0 at the API edge
    for bad in ([1.0, 0.0], [1.0, -2.0]):
        with pytest.raises(ValueError, match="strictly positive"):
            geometric_mean_loss(jnp.array(bad))
        with pytest.raises(ValueError, match="strictly positive"):
            tx.update(EYE2, tx.init(None), task_losses=jnp.array(bad))


def test_gls_nonpositive_inside_jit_is_skipped():
    tx = gls(num_tasks=2)
    upd = jax.jit(lambda lo: tx.update(EYE2, tx.init(None), task_losses=lo))
    for bad in ([1.0, 0.0], [1.0, -2.0]):
        u, st = upd(jnp.array(bad))
        np.testing.assert_array_equal(_weights(u), 0.0)
        assert int(st.skipped) == 1
    u, st = upd(jnp.array([1.0, 4.0]))
    np.testing.assert_allclose(_weights(u), [1.0, 0.25], rtol=1e-6)
    assert int(st.skipped) == 0
    # the pure loss returns NaN inside jit (documented), never raises
    assert np.isnan(jax.jit(geometric_mean_loss)(jnp.array([1.0, -2.0])))


def test_gls_scale_equivariance():
    """Scaling one task's loss by c leaves the other tasks' relative weights unchanged and
    multiplies the scaled task's weight by c^{1/m − 1}."""
    L = jnp.array([0.3, 1.7, 4.0])
    c = 10.0
    w1, _ = gls_weights(None, L)
    w2, _ = gls_weights(None, L * jnp.array([c, 1.0, 1.0]))
    np.testing.assert_allclose(w2[1:] / w1[1:], c ** (1 / 3), rtol=1e-5)
    np.testing.assert_allclose(w2[0] / w1[0], c ** (1 / 3 - 1), rtol=1e-5)
