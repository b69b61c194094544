"""RLW (random weighting), the CR-MOGM smoothing wrapper and the speed-up wrappers (periodic
weights, random task subsets, feature-level weights)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paretojax.core.jacobian import gram, value_and_jacobian
from paretojax.transforms import Weighting
from paretojax.weighting._cr_mogm import cr_mogm, cr_mogm_weighting
from paretojax.weighting._imtl_g import imtl_g_weighting, imtl_g_weights
from paretojax.weighting._rlw import RLWState, rlw, rlw_init, rlw_loss, rlw_weighting, rlw_weights
from paretojax.weighting._speedups import (
    feature_level_weights,
    periodic,
    periodic_weighting,
    sample_task_subset,
    task_subsets,
    task_subsets_weighting,
)
from tests.helpers import G_BASE, random_jacobian

IMTL = jax.jit(lambda g: imtl_g_weights(g)[0])


def _grams(seed, n, m=3, d=6):
    rng = np.random.default_rng(seed)
    js = np.stack([random_jacobian(rng, m, d) for _ in range(n)])
    return jnp.asarray(js @ js.transpose(0, 2, 1), jnp.float32)


# ------------------------------------------------------------------------------------------
# RLW
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dist", ["normal", "dirichlet", "dirichlet_softmax"])
def test_rlw_simplex_fresh_keys_and_reproducible(dist):
    wt = rlw_weighting(dist, key=jax.random.key(3))
    step = jax.jit(lambda s: wt.weights(jnp.zeros((4, 0)), None, s, None))
    state = wt.init()
    ws = []
    for _ in range(5):
        w, state = step(state)
        ws.append(np.asarray(w))
    ws = np.stack(ws)
    assert np.all(ws >= 0)
    np.testing.assert_allclose(ws.sum(1), 1.0, atol=1e-6)
    assert len({tuple(w) for w in ws.round(7)}) == 5  # fresh weights every step
    # same key ⇒ same sequence
    np.testing.assert_array_equal(step(wt.init())[0], ws[0])
    other = rlw_weighting(dist, key=jax.random.key(4))
    assert not np.allclose(other.weights(jnp.zeros((4, 0)), None, other.init(), None)[0], ws[0])


def test_rlw_distributions():
    keys = jax.random.split(jax.random.key(0), 4000)

    @jax.jit
    def draw_normal(keys):
        return jax.vmap(lambda k: rlw_weights(jnp.eye(3), state=RLWState(k))[0])(keys)

    @jax.jit
    def draw_dirichlet(keys, conc):
        return jax.vmap(lambda k: rlw_weights(
            jnp.eye(3), state=RLWState(k), dist="dirichlet", concentration=conc)[0])(keys)

    normal = np.asarray(draw_normal(keys))
    dirichlet = np.asarray(draw_dirichlet(keys, 1.0))
    for w in (normal, dirichlet):
        np.testing.assert_allclose(w.mean(0), 1 / 3, atol=0.015)  # exchangeable ⇒ mean 1/m
    # Dirichlet(1) is uniform on the simplex: each coordinate ~ Beta(1, 2), variance 1/18
    np.testing.assert_allclose(dirichlet.var(0), 1 / 18, rtol=0.1)
    # softmax(N(0, I)) is more concentrated than that
    assert normal.var(0).max() < 1 / 18
    # a large concentration concentrates Dirichlet draws at 1/m
    assert np.asarray(draw_dirichlet(keys, 200.0)).var(0).max() < 1e-3


def test_rlw_transform_and_loss_form():
    j = jnp.asarray(random_jacobian(np.random.default_rng(1), 3, 5), jnp.float32)
    tx = rlw(key=jax.random.key(7), num_tasks=3)
    state = tx.init({"w": jnp.zeros(5)})
    upd, state2 = jax.jit(tx.update)({"w": j}, state)
    w = state2.weights
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(upd["w"], w @ j, rtol=1e-5, atol=1e-6)
    # the loss form with the same key gives the same weights: ∇(wᵀL) = Jᵀw
    losses_fn = lambda p: j @ p  # linear losses: Jacobian j
    s, _ = rlw_loss(losses_fn(jnp.ones(5)), rlw_init(jax.random.key(7)))
    grad = jax.grad(lambda p: rlw_loss(losses_fn(p), rlw_init(jax.random.key(7)))[0])(jnp.ones(5))
    np.testing.assert_allclose(grad, upd["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, w @ losses_fn(jnp.ones(5)), rtol=1e-5)
    with pytest.raises(ValueError, match="dist"):
        rlw(dist="uniform")
    with pytest.raises(ValueError, match="concentration"):
        rlw_weighting("dirichlet", 0.0)


def test_rlw_linear_under_scaling():
    """RLW's weights ignore J, so the aggregation is linear under row scaling (same key)."""
    rng = np.random.default_rng(2)
    j = random_jacobian(rng, 3, 6)
    c1, c2 = rng.uniform(0.1, 2.0, 3), rng.uniform(0.1, 2.0, 3)
    w = np.asarray(rlw_weights(jnp.eye(3), state=rlw_init(jax.random.key(5)))[0], np.float64)
    agg = lambda jj: w @ jj
    lhs = agg((0.7 * c1 + 1.9 * c2)[:, None] * j)
    np.testing.assert_allclose(lhs, 0.7 * agg(c1[:, None] * j) + 1.9 * agg(c2[:, None] * j))


# ------------------------------------------------------------------------------------------
# CR-MOGM
# ------------------------------------------------------------------------------------------


def test_cr_mogm_recurrence():
    gs = _grams(0, 4)
    hats = [np.asarray(IMTL(g)) for g in gs]
    wt = cr_mogm_weighting(imtl_g_weighting(), num_tasks=3, alpha=0.9)
    step = jax.jit(wt.weights)
    state = wt.init()
    lam_prev = None
    for k, g in enumerate(gs):
        lam, state = step(g, None, state, None)
        expected = hats[0] if k == 0 else 0.9 * lam_prev + 0.1 * hats[k]  # λ₀ = λ̂₁
        np.testing.assert_allclose(lam, expected, rtol=1e-5, atol=1e-7)
        lam_prev = expected
    assert int(state.count) == 4


def test_cr_mogm_initial_weights_schedule_and_extremes():
    gs = _grams(1, 3)
    hats = [np.asarray(IMTL(g)) for g in gs]
    init = np.array([0.2, 0.3, 0.5])
    # initial_weights: λ₁ = α·λ₀ + (1 − α)·λ̂₁
    wt = cr_mogm_weighting(imtl_g_weighting(), 3, alpha=0.5, initial_weights=init)
    lam, _ = wt.weights(gs[0], None, wt.init(), None)
    np.testing.assert_allclose(lam, 0.5 * init + 0.5 * hats[0], rtol=1e-5)
    # schedule: α_k = 1 − 1/(k + 2) (k = call count)
    sched = lambda k: 1.0 - 1.0 / (k + 2.0)
    wt = cr_mogm_weighting(imtl_g_weighting(), 3, alpha=sched)
    state = wt.init()
    lam_prev = None
    for k, g in enumerate(gs):
        lam, state = jax.jit(wt.weights)(g, None, state, None)
        a = sched(k)
        expected = hats[0] if k == 0 else a * lam_prev + (1 - a) * hats[k]
        np.testing.assert_allclose(lam, expected, rtol=1e-5, atol=1e-7)
        lam_prev = expected
    # α = 0: the wrapped weights; α = 1 with λ₀: frozen
    for alpha, check in ((0.0, lambda lam, k: hats[k]), (1.0, lambda lam, k: init)):
        wt = cr_mogm_weighting(imtl_g_weighting(), 3, alpha=alpha, initial_weights=init)
        state = wt.init()
        for k, g in enumerate(gs):
            lam, state = wt.weights(g, None, state, None)
            np.testing.assert_allclose(lam, check(lam, k), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="alpha"):
        cr_mogm_weighting(imtl_g_weighting(), 3, alpha=1.5)
    with pytest.raises(TypeError, match="Weighting"):
        cr_mogm(optax.sgd(0.1), num_tasks=3)


def test_cr_mogm_transform_carries_wrapped_state():
    """Wrapping a stateful weighting (RLW): its key advances inside the CR-MOGM state."""
    j = jnp.asarray(random_jacobian(np.random.default_rng(3), 3, 5), jnp.float32)
    tx = cr_mogm(rlw_weighting(key=jax.random.key(0)), alpha=0.5, num_tasks=3)
    state = tx.init({"w": jnp.zeros(5)})
    step = jax.jit(tx.update)
    _, state = step({"w": j}, state)
    w1 = np.asarray(state.weights)
    _, state = step({"w": j}, state)
    base = rlw_weighting(key=jax.random.key(0))
    r1, s = base.weights(jnp.zeros((3, 0)), None, base.init(), None)
    r2, _ = base.weights(jnp.zeros((3, 0)), None, s, None)
    np.testing.assert_allclose(w1, r1, rtol=1e-6)
    np.testing.assert_allclose(state.weights, 0.5 * r1 + 0.5 * r2, rtol=1e-5)


# ------------------------------------------------------------------------------------------
# Periodic weights
# ------------------------------------------------------------------------------------------


def test_periodic_reuses_weights_between_recomputations():
    gs = _grams(4, 7)
    hats = [np.asarray(IMTL(g)) for g in gs]
    wt = periodic_weighting(imtl_g_weighting(), every=3, num_tasks=3)
    step = jax.jit(wt.weights)
    state = wt.init()
    for k, g in enumerate(gs):
        w, state = step(g, None, state, None)
        np.testing.assert_allclose(w, hats[3 * (k // 3)], rtol=1e-6)  # recomputed at 0, 3, 6
    assert int(state.step) == 7
    with pytest.raises(ValueError, match="every"):
        periodic(imtl_g_weighting(), every=0, num_tasks=3)


def test_periodic_wrapped_state_only_advances_on_recompute():
    j = jnp.asarray(random_jacobian(np.random.default_rng(5), 3, 5), jnp.float32)
    tx = periodic(rlw_weighting(key=jax.random.key(1)), every=2, num_tasks=3)
    state = tx.init({"w": jnp.zeros(5)})
    step = jax.jit(tx.update)
    ws = []
    for _ in range(4):
        upd, state = step({"w": j}, state)
        ws.append(np.asarray(state.weights))
        np.testing.assert_allclose(upd["w"], ws[-1] @ j, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ws[0], ws[1])
    np.testing.assert_array_equal(ws[2], ws[3])
    base = rlw_weighting(key=jax.random.key(1))
    r1, s = base.weights(jnp.zeros((3, 0)), None, base.init(), None)
    r2, _ = base.weights(jnp.zeros((3, 0)), None, s, None)  # the 2nd draw, not the 3rd
    np.testing.assert_allclose(ws[0], r1, rtol=1e-6)
    np.testing.assert_allclose(ws[2], r2, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Random task subsets
# ------------------------------------------------------------------------------------------


def test_task_subsets_zero_outside_and_scaled():
    m, s = 5, 2
    rng = np.random.default_rng(6)
    j = random_jacobian(rng, m, 8)
    g = jnp.asarray(j @ j.T, jnp.float32)
    key = jax.random.key(2)
    wt = task_subsets_weighting(imtl_g_weighting(), size=s, key=key)
    step = jax.jit(wt.weights)
    state = wt.init()
    subsets = set()
    for _ in range(6):
        k_next, sub = jax.random.split(state.key)
        idx = np.asarray(sample_task_subset(sub, m, s))
        w, state = step(g, None, state, None)
        w = np.asarray(w)
        outside = np.setdiff1d(np.arange(m), idx)
        np.testing.assert_array_equal(w[outside], 0.0)
        ref = np.asarray(IMTL(jnp.asarray((j @ j.T)[np.ix_(idx, idx)], jnp.float32)))
        np.testing.assert_allclose(w[idx], ref * m / s, rtol=1e-5)
        assert len(set(idx)) == s
        subsets.add(tuple(idx))
    assert len(subsets) > 1  # a fresh subset each step
    # same key ⇒ same first subset
    w_again, _ = wt.weights(g, None, wt.init(), None)
    w_first, _ = step(g, None, wt.init(), None)
    np.testing.assert_allclose(w_again, w_first, rtol=1e-6)
    with pytest.raises(ValueError, match="exceeds"):
        wt.weights(jnp.eye(1), None, wt.init(), None)


def test_task_subsets_transform_with_losses_and_pref():
    m = 4
    j = jnp.asarray(random_jacobian(np.random.default_rng(7), m, 6), jnp.float32)
    seen = {}

    def spy(gram_, losses, state, pref):  # records what the wrapped weighting receives
        seen.update(shape=gram_.shape, losses=losses, pref=pref)
        return jnp.full((gram_.shape[0],), 0.5), state

    tx = task_subsets(Weighting(None, spy, "spy", needs_losses=True), size=2,
                      key=jax.random.key(0), num_tasks=m)
    upd, state = tx.update({"w": j}, tx.init({"w": jnp.zeros(6)}),
                           task_losses=jnp.arange(1.0, 5.0), pref=jnp.array([0.1, 0.2, 0.3, 0.4]))
    assert seen["shape"] == (2, 2) and seen["losses"].shape == (2,)
    np.testing.assert_allclose(np.sum(seen["pref"]), 1.0, rtol=1e-6)  # renormalised p_S
    w = np.asarray(state.weights)
    assert (w > 0).sum() == 2 and np.allclose(w[w > 0], 0.5 * m / 2)
    np.testing.assert_allclose(upd["w"], w @ np.asarray(j), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="task_losses"):
        tx.update({"w": j}, tx.init({"w": jnp.zeros(6)}))


# ------------------------------------------------------------------------------------------
# Feature-level (MGDA-UB) weights
# ------------------------------------------------------------------------------------------


def test_feature_level_weights_use_the_feature_jacobian():
    rng = np.random.default_rng(8)
    z = jnp.asarray(rng.standard_normal((5, 3)), jnp.float32)  # batch × features
    heads = jnp.asarray(rng.standard_normal((3, 3)), jnp.float32)  # one linear head per task

    def head_fn(z, heads):
        return jnp.mean((z @ heads.T - 1.0) ** 2, axis=0)  # [m]

    w, losses, _ = feature_level_weights(imtl_g_weighting(), head_fn, z, heads)
    jz = jax.jacrev(head_fn)(z, heads)  # (m, 5, 3)
    ref = IMTL(gram(jz))
    np.testing.assert_allclose(w, ref, rtol=1e-5)
    np.testing.assert_allclose(losses, head_fn(z, heads), rtol=1e-6)
    # recipe: one backward of Σ w_i L_i through the encoder
    params = {"enc": jnp.asarray(rng.standard_normal((4, 3)), jnp.float32), "heads": heads}
    x = jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)
    loss_vec = lambda p: head_fn(jnp.tanh(x @ p["enc"]), p["heads"])
    z = jnp.tanh(x @ params["enc"])
    w, _, _ = feature_level_weights(imtl_g_weighting(), head_fn, z, params["heads"])
    g_enc = jax.grad(lambda p: jnp.dot(w, loss_vec(p)))(params)["enc"]
    _, jac = value_and_jacobian(loss_vec)(params)
    np.testing.assert_allclose(g_enc, jnp.tensordot(w, jac["enc"], axes=1), rtol=1e-4, atol=1e-6)
    # stateful weighting: the state is initialised and returned
    w, _, st = feature_level_weights(rlw_weighting(key=jax.random.key(0)), head_fn, z, heads)
    assert isinstance(st, RLWState) and np.isclose(float(w.sum()), 1.0, atol=1e-6)


def test_wrappers_reject_non_weightings():
    for fn in (lambda: periodic(optax.sgd(1.0), every=2, num_tasks=2),
               lambda: task_subsets(optax.sgd(1.0), size=1)):
        with pytest.raises(TypeError, match="Weighting"):
            fn()
    with pytest.raises(ValueError, match="size"):
        task_subsets_weighting(imtl_g_weighting(), size=0)
    assert G_BASE.shape == (2, 2)
