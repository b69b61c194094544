"""Scalarizations (METHODS.md §3): golden values, ∂s/∂f = transform weights, edge cases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paretojax.scalarization import (
    aasf,
    aasf_loss,
    cosmos,
    cosmos_cosine,
    cosmos_loss,
    ls,
    ls_loss,
    mtch,
    mtch_loss,
    pbi,
    pbi_distances,
    pbi_loss,
    pnorm,
    pnorm_loss,
    stch,
    stch_loss,
    stch_mtl,
    stch_mtl_epoch_end,
    stch_mtl_init,
    stch_mtl_loss,
    tch,
    tch_loss,
)

F = np.array([0.6, 0.3])
P = np.array([0.3, 0.7])

# (pure loss, transform factory, hyperparameters shared by both)
CASES = {
    "ls": (ls_loss, ls, {}),
    "tch": (tch_loss, tch, {}),
    "tch_unweighted": (tch_loss, tch, {"gradient": "unweighted"}),
    "mtch": (mtch_loss, mtch, {}),
    "stch": (stch_loss, stch, {"mu": 0.1}),
    "stch_small_mu": (stch_loss, stch, {"mu": 0.01}),
    "mstch": (stch_loss, stch, {"mu": 0.1, "inverse": True}),
    "pbi": (pbi_loss, pbi, {"theta": 5.0}),
    "cosmos": (cosmos_loss, cosmos, {"lam": 8.0}),
    "cosmos_unit": (cosmos_loss, cosmos, {"lam": 2.0, "linear": "unit"}),
    "aasf": (aasf_loss, aasf, {}),
    "pnorm": (pnorm_loss, pnorm, {}),
}


def _weights_from_transform(factory, kw, losses, pref):
    """Read the transform's weights through the update of an identity Jacobian."""
    tx = factory(**kw)
    m = losses.shape[0]
    u, _ = tx.update({"w": jnp.eye(m, dtype=losses.dtype)}, tx.init(None), task_losses=losses,
                     pref=pref)
    return u["w"]


# ------------------------------------------------------------------------------------ goldens


def test_golden_values(x64):
    f, p = jnp.asarray(F), jnp.asarray(P)
    np.testing.assert_allclose(tch_loss(f, p), 0.21, atol=1e-6)
    np.testing.assert_allclose(mtch_loss(f, p), 2.0, atol=1e-6)
    np.testing.assert_allclose(stch_loss(f, p, mu=0.1), 0.265436, atol=1e-6)
    np.testing.assert_allclose(stch_loss(f, p, mu=0.01), 0.210486, atol=1e-6)
    np.testing.assert_allclose(stch_loss(f, p, mu=1.0), 0.888260, atol=1e-6)
    np.testing.assert_allclose(stch_loss(f, p), 0.210486, atol=1e-6)  # default μ = 0.01
    d1, d2 = pbi_distances(f, p)
    np.testing.assert_allclose([d1, d2], [0.512095, 0.433311], atol=1e-6)
    np.testing.assert_allclose(pbi_loss(f, p), 2.678651, atol=1e-6)  # default θ = 5
    np.testing.assert_allclose(pbi_loss(f, p, theta=1.0), 0.945406, atol=1e-6)
    np.testing.assert_allclose(cosmos_cosine(f, p), 0.763386, atol=1e-6)
    np.testing.assert_allclose(cosmos_loss(f, p, lam=8.0), -5.717090, atol=1e-6)
    np.testing.assert_allclose(ls_loss(f, p), 0.39, atol=1e-12)
    # LibMOON 'Tche': the selected objective itself.
    np.testing.assert_allclose(tch_loss(f, p, gradient="unweighted"), 0.3, atol=1e-12)


def test_golden_values_float32_match():
    """Same goldens at the METHODS tolerance (1e-4) in the default float32."""
    f, p = jnp.asarray(F, jnp.float32), jnp.asarray(P, jnp.float32)
    vals = jnp.stack([
        tch_loss(f, p), mtch_loss(f, p), stch_loss(f, p, mu=0.1), stch_loss(f, p, mu=0.01),
        stch_loss(f, p, mu=1.0), pbi_loss(f, p), pbi_loss(f, p, theta=1.0),
        cosmos_cosine(f, p), cosmos_loss(f, p),
    ])
    ref = [0.21, 2.0, 0.265436, 0.210486, 0.888260, 2.678651, 0.945406, 0.763386, -5.717090]
    np.testing.assert_allclose(vals, ref, atol=1e-4)
    assert vals.dtype == jnp.float32


# ------------------------------------------------------------------ gradients = weights


def _closed_form_grads(f, p):
    """Independent float64 NumPy formulas for ∂s/∂f on the fixture."""
    out = {}
    out["ls"] = p
    u = p * f
    i = int(np.argmax(u))
    out["tch"] = np.eye(2)[i] * p[i]
    out["tch_unweighted"] = np.eye(2)[i]
    q = 1.0 / p
    j = int(np.argmax(q * f))
    out["mtch"] = np.eye(2)[j] * q[j]
    for name, mu in (("stch", 0.1), ("stch_small_mu", 0.01)):
        e = np.exp((u - u.max()) / mu)
        out[name] = p * e / e.sum()
    e = np.exp((q * f - (q * f).max()) / 0.1)
    out["mstch"] = q * e / e.sum()
    nf, npn = np.linalg.norm(f), np.linalg.norm(p)
    dcos = p / (nf * npn) - (f @ p) * f / (nf**3 * npn)
    out["cosmos"] = p - 8.0 * dcos
    out["cosmos_unit"] = p / npn - 2.0 * dcos
    e = np.exp((q * f - (q * f).max()) / 0.1)
    out["aasf"] = q * e / e.sum() + 0.1 * p
    out["pnorm"] = p**2 * f / np.linalg.norm(p * f)
    # PBI by central finite differences of an independent NumPy implementation.
    def pbi_np(x):
        unit = p / np.linalg.norm(p)
        d1 = x @ unit
        return d1 + 5.0 * np.sqrt(np.sum((x - d1 * unit) ** 2) + 1e-12)

    h = 1e-6
    out["pbi"] = np.array([(pbi_np(f + h * e_) - pbi_np(f - h * e_)) / (2 * h) for e_ in np.eye(2)])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_matches_closed_form(name, x64):
    """∂s/∂f on the fixture against independent float64 formulas (the transform's weights
    are compared with jax.grad in the jit/vmap battery below)."""
    loss, factory, kw = CASES[name]
    f, p = jnp.asarray(F), jnp.asarray(P)
    g = jax.grad(lambda x: loss(x, p, **kw))(f)
    assert g.dtype == jnp.float64
    np.testing.assert_allclose(g, _closed_form_grads(F, P)[name], rtol=1e-6, atol=1e-8)


def _battery_inputs():
    """Random (losses, pref) pairs plus edge cases: one-hot and zero-entry preferences, zero,
    tiny (1e-8), huge (1e8) and tied losses."""
    rng = np.random.default_rng(0)
    losses = jnp.asarray(rng.uniform(0.05, 3.0, (24, 3)), jnp.float32)
    prefs = jnp.asarray(rng.dirichlet(np.ones(3), 24), jnp.float32)
    edge_p = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]])
    edge_l = jnp.array([[0.5, 1.0, 2.0], [0.0, 0.0, 0.0], [1e-8, 1e8, 1.0], [2.0, 2.0, 2.0]])
    # every edge loss with every edge preference
    el = jnp.repeat(edge_l, 4, axis=0)
    ep = jnp.tile(edge_p, (4, 1))
    return jnp.concatenate([losses, el]), jnp.concatenate([prefs, ep])


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_equals_weights_random_and_edge_cases_under_jit_vmap(name):
    """Values and ∂s/∂f finite for random and edge inputs; transform weights = jax.grad."""
    loss, factory, kw = CASES[name]
    losses, prefs = _battery_inputs()

    @jax.jit
    def battery(lo, pr):
        vals, grads = jax.vmap(jax.value_and_grad(lambda x, q: loss(x, q, **kw)))(lo, pr)
        ws = jax.vmap(lambda a, q: _weights_from_transform(factory, kw, a, q))(lo, pr)
        return vals, grads, ws

    vals, grads, ws = battery(losses, prefs)
    assert np.all(np.isfinite(vals)) and np.all(np.isfinite(grads))
    keep = np.ones(losses.shape[0], bool)
    if name == "pbi":
        # Exactly on the ray, ∇d₂ = r/√(‖r‖² + 1e-12) with r at rounding level: any bounded
        # vector is a valid answer, so only finiteness is checked there.
        d2 = jax.vmap(lambda a, q: pbi_distances(a, q)[1])(losses, prefs)
        keep = np.asarray(d2) > 1e-4
        assert 0 < np.sum(~keep) < 8
    np.testing.assert_allclose(ws[keep], grads[keep], rtol=1e-5, atol=1e-5)


def test_update_is_gradient_of_scalarized_loss():
    """Σ_i w_i ∇f_i (transform on the Jacobian) = ∇_θ s(f(θ)) (one backward pass)."""
    from paretojax.core.jacobian import value_and_jacobian

    def fvec(theta):
        return jnp.stack([jnp.sum((theta - 1.0) ** 2), jnp.sum((theta + 2.0) ** 2) / 3.0])

    theta = jnp.array([0.3, -0.4, 1.2])
    p = jnp.array([0.25, 0.75])

    @jax.jit
    def both(theta, p):
        losses, jac = value_and_jacobian(fvec)(theta)
        out = []
        for loss, factory, kw in CASES.values():
            direct = jax.grad(lambda t, loss=loss, kw=kw: loss(fvec(t), p, **kw))(theta)
            tx = factory(**kw)
            u, _ = tx.update(jac, tx.init(theta), task_losses=losses, pref=p)
            out.append((u, direct))
        return out

    for u, direct in both(theta, p):
        np.testing.assert_allclose(u, direct, rtol=2e-5, atol=1e-6)


# ------------------------------------------------------------------------ properties


def test_stch_bounds_and_limit():
    rng = np.random.default_rng(1)
    f = jnp.asarray(rng.uniform(0.0, 2.0, (64, 4)), jnp.float32)
    p = jnp.asarray(rng.dirichlet(np.ones(4), 64), jnp.float32)
    mus = (1.0, 0.1, 0.01, 1e-4)

    @jax.jit
    def run(f, p):
        t = jax.vmap(tch_loss)(f, p)
        return t, [jax.vmap(lambda a, b, mu=mu: stch_loss(a, b, mu=mu))(f, p) for mu in mus]

    t, ss = run(f, p)
    for mu, s in zip(mus, ss, strict=False):
        assert np.all(s >= t - 1e-6)
        assert np.all(s <= t + mu * np.log(4) + 1e-6)
    np.testing.assert_allclose(ss[-1], t, atol=2e-4)


def test_stch_huge_and_tiny_losses_finite():
    f = jnp.array([[1.0, 3.0, 2.0]]) * jnp.array([[1e8], [1e-8]])
    run = jax.jit(jax.vmap(lambda x: jnp.stack(
        [jax.grad(lambda y, mu=mu: stch_loss(y, None, mu=mu))(x) for mu in (0.01, 0.1, 1.0)])))
    g = run(f)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(jnp.sum(g, axis=-1), 1.0 / 3.0, rtol=1e-5)  # Σ p_i softmax_i


def test_tch_ties_first_argmax():
    g = jax.grad(lambda x: tch_loss(x, None))(jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(g, [0.5, 0.0])
    g = jax.grad(lambda x: mtch_loss(x, None))(jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(g, [2.0, 0.0])


def test_permutation_invariance_of_smooth_scalarizations():
    rng = np.random.default_rng(2)
    f = jnp.asarray(rng.uniform(0.1, 2.0, 3), jnp.float32)
    p = jnp.asarray(rng.dirichlet(np.ones(3)), jnp.float32)
    perm = jnp.array([2, 0, 1])
    names = ("stch", "pbi", "cosmos")

    @jax.jit
    def run(f, p):
        out = []
        for name in names:
            loss, _, kw = CASES[name]
            vg = jax.value_and_grad(lambda x, q, loss=loss, kw=kw: loss(x, q, **kw))
            out.append((vg(f, p), vg(f[perm], p[perm])))
        return out

    for (v, g), (vp, gp) in run(f, p):
        np.testing.assert_allclose(vp, v, rtol=1e-5)
        np.testing.assert_allclose(gp, g[perm], rtol=1e-5, atol=1e-7)


def test_pref_semantics_at_optimum():
    """On the linear front f₂ = 1 − f₁: TCH gives f ∝ 1/p, mTCH and PBI give f ∝ p."""
    p = jnp.array([0.2, 0.8])
    t = jnp.linspace(0.0, 1.0, 20001)
    front = jnp.stack([t, 1.0 - t], axis=1)
    best = lambda s: front[jnp.argmin(jax.vmap(lambda x: s(x, p))(front))]
    f_tch = best(tch_loss)
    np.testing.assert_allclose(f_tch[0] * p[0], f_tch[1] * p[1], atol=1e-4)
    f_mtch = best(mtch_loss)
    np.testing.assert_allclose(f_mtch[0] / p[0], f_mtch[1] / p[1], atol=1e-3)
    f_pbi = best(pbi_loss)
    np.testing.assert_allclose(f_pbi, p, atol=1e-3)


# ----------------------------------------------------- normalisation and reference point


def test_ideal_nadir_and_reference_point():
    f = jnp.array([3.0, 10.0])
    p = jnp.array([0.4, 0.6])
    ideal, nadir, z = jnp.array([1.0, 0.0]), jnp.array([5.0, 20.0]), jnp.array([0.1, 0.2])
    fhat = (f - ideal) / (nadir - ideal)
    for name, (loss, _, kw) in CASES.items():
        a = loss(f, p, ideal=ideal, nadir=nadir, z=z, **kw)
        if name == "tch_unweighted":  # z only selects; value is f̂_{i*}
            b = fhat[jnp.argmax(p * (fhat - z))]
        else:
            b = loss(fhat - z, p, **kw)
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    # ideal alone shifts, nadir alone divides; scalars broadcast.
    np.testing.assert_allclose(ls_loss(f, p, ideal=1.0), ls_loss(f - 1.0, p), rtol=1e-6)
    np.testing.assert_allclose(ls_loss(f, p, nadir=2.0), ls_loss(f / 2.0, p), rtol=1e-6)
    with pytest.raises(ValueError, match="nadir must exceed ideal"):
        ls_loss(f, p, ideal=ideal, nadir=ideal)
    with pytest.raises(ValueError, match="z must be"):
        ls_loss(f, p, z=jnp.zeros(3))


# ------------------------------------------------------------------- preference edges


def test_pref_validation_outside_jit():
    f = jnp.array([0.6, 0.3])
    for _name, (loss, _, kw) in CASES.items():
        with pytest.raises(ValueError, match="sum to 1"):
            loss(f, jnp.array([0.3, 0.3]), **kw)
        with pytest.raises(ValueError, match="non-negative"):
            loss(f, jnp.array([1.5, -0.5]), **kw)
        with pytest.raises(ValueError, match="shape"):
            loss(f, jnp.array([0.2, 0.3, 0.5]), **kw)
        with pytest.raises(ValueError, match="1-D"):
            loss(jnp.ones((2, 2)), None, **kw)
    # A normalised preference (p / p.sum()) is accepted.
    np.testing.assert_allclose(tch_loss(f, jnp.array([3.0, 7.0]) / 10.0), 0.21, rtol=1e-6)


def test_transform_skips_off_simplex_pref_under_jit():
    tx = tch()

    @jax.jit
    def run(p):
        return tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.6, 0.3]),
                         pref=p)

    u, st = run(jnp.array([0.3, 0.3]))
    np.testing.assert_array_equal(u["w"], 0.0)
    assert int(st.skipped) == 1
    u, st = run(jnp.array([0.3, 0.7]))
    np.testing.assert_allclose(u["w"], [0.0, 0.7])
    assert int(st.skipped) == 0


def test_transform_pref_sources_and_uniform_default():
    f = jnp.array([0.6, 0.3])
    # default: uniform preference (TorchJD)
    w = _weights_from_transform(stch, {"mu": 0.1}, f, None)
    ref = jax.grad(lambda x: stch_loss(x, jnp.array([0.5, 0.5]), mu=0.1))(f)
    np.testing.assert_allclose(w, ref)
    # fixed at construction
    w = _weights_from_transform(stch, {"mu": 0.1, "pref": P}, f, None)
    np.testing.assert_allclose(w, jax.grad(lambda x: stch_loss(x, P, mu=0.1))(f), rtol=1e-6)
    # update-level pref overrides the fixed one
    w = _weights_from_transform(stch, {"mu": 0.1, "pref": P}, f, jnp.array([0.9, 0.1]))
    ref = jax.grad(lambda x: stch_loss(x, jnp.array([0.9, 0.1]), mu=0.1))(f)
    np.testing.assert_allclose(w, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="sum to 1"):
        stch(pref=jnp.array([0.5, 0.6]))


def test_vmap_transform_over_preferences_in_chain():
    prefs = jnp.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1]])
    tx = optax.chain(tch(), optax.sgd(1.0))
    params = {"w": jnp.zeros(2)}
    jac = {"w": jnp.eye(2)}

    @jax.jit
    @jax.vmap
    def one(p):
        u, _ = tx.update(jac, tx.init(params), params, task_losses=jnp.array([1.0, 1.0]), pref=p)
        return u["w"]

    np.testing.assert_allclose(one(prefs), [[0.0, -0.9], [-0.5, 0.0], [-0.9, 0.0]])


def test_hyperparameter_validation():
    with pytest.raises(ValueError, match="mu"):
        stch(mu=0.0)
    with pytest.raises(ValueError, match="mu"):
        stch_loss(jnp.ones(2), None, mu=-1.0)
    with pytest.raises(ValueError, match="gradient"):
        tch(gradient="libmoon")
    with pytest.raises(ValueError, match="theta"):
        pbi(theta=-1.0)
    with pytest.raises(ValueError, match="lam"):
        cosmos(lam=float("nan"))
    with pytest.raises(ValueError, match="linear"):
        cosmos_loss(jnp.ones(2), None, linear="l2")


def test_single_task_defined():
    @jax.jit
    def run(f):
        return [jax.value_and_grad(lambda x, loss=loss, kw=kw: loss(x, None, **kw))(f)
                for loss, _, kw in CASES.values()]

    for v, g in run(jnp.array([0.7])):
        assert np.isfinite(v) and np.all(np.isfinite(g))


def test_special_points_finite():
    # PBI exactly on the ray (d₂ = 0) and COSMOS at f = z: gradients stay finite.
    g = jax.grad(lambda x: pbi_loss(x, jnp.array([0.5, 0.5])))(jnp.array([1.0, 1.0]))
    assert np.all(np.isfinite(g))
    g = jax.grad(lambda x: cosmos_loss(x, jnp.array([0.5, 0.5])))(jnp.zeros(2))
    assert np.all(np.isfinite(g))
    g = jax.grad(lambda x: pnorm_loss(x, None))(jnp.zeros(2))
    np.testing.assert_array_equal(g, 0.0)


# ------------------------------------------------------------------------- STCH-MTL


def test_stch_mtl_state_evolution():
    """Warm-up log loss for epochs 0…E, nadir = mean of epoch E, then m·μ·LSE(log(L/z)/μ)."""
    E, mu = 1, 0.5
    st = stch_mtl_init(2)
    step = jax.jit(lambda lo, s: stch_mtl_loss(lo, s, mu=mu, warmup_epochs=E))
    grad = jax.jit(jax.grad(lambda lo, s: stch_mtl_loss(lo, s, mu=mu, warmup_epochs=E)[0]))
    end = jax.jit(lambda s: stch_mtl_epoch_end(s, warmup_epochs=E))
    # epoch 0: log loss, no accumulation
    lo = jnp.array([0.5, 2.0])
    v, st1 = step(lo, st)
    np.testing.assert_allclose(v, np.log(0.5) + np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(grad(lo, st), [2.0, 0.5], rtol=1e-6)
    assert float(st1.count) == 0.0
    st = end(st1)
    # epoch 1 (= E): log loss and accumulation
    for lo in ([1.0, 4.0], [3.0, 2.0]):
        v, st = step(jnp.array(lo), st)
    np.testing.assert_allclose(st.loss_sum, [4.0, 6.0])
    assert float(st.count) == 2.0
    np.testing.assert_allclose(st.nadir, [1.0, 1.0])
    st = end(st)
    np.testing.assert_allclose(st.nadir, [2.0, 3.0])
    assert int(st.epoch) == 2
    # epoch 2: STCH on log(L/z)
    lo = np.array([1.0, 6.0])
    v, st2 = step(jnp.asarray(lo), st)
    a = np.log(lo / np.array([2.0, 3.0]) + 1e-20)
    ref = 2 * mu * np.log(np.sum(np.exp(a / mu)))
    np.testing.assert_allclose(v, ref, rtol=1e-5)
    sm = np.exp(a / mu) / np.sum(np.exp(a / mu))
    np.testing.assert_allclose(grad(jnp.asarray(lo), st), 2 * sm / lo, rtol=1e-5)
    assert float(st2.count) == 2.0  # no more accumulation


def test_stch_mtl_transform_and_epoch_end_on_chain():
    tx = optax.chain(stch_mtl(num_tasks=2, warmup_epochs=0), optax.sgd(1.0))
    params = {"w": jnp.zeros(2)}
    state = tx.init(params)
    upd = jax.jit(lambda s, lo: tx.update({"w": jnp.eye(2)}, s, params, task_losses=lo))
    u, state = upd(state, jnp.array([2.0, 4.0]))
    np.testing.assert_allclose(u["w"], [-0.5, -0.25])  # −1/L
    state = stch_mtl_epoch_end(state, warmup_epochs=0)
    u, state = upd(state, jnp.array([2.0, 4.0]))  # at the nadir: 2·softmax(0)/L
    np.testing.assert_allclose(u["w"], [-0.5, -0.25], rtol=1e-6)
    np.testing.assert_allclose(state[0].weights, [0.5, 0.25], rtol=1e-6)
    with pytest.raises(ValueError, match="no STCHMTLState"):
        stch_mtl_epoch_end({"a": jnp.zeros(2)})
    with pytest.raises(ValueError, match="num_tasks"):
        stch_mtl(num_tasks=0)


# ------------------------------------------------------------ mTCH balanced step (LP, paretojax)
@pytest.mark.parametrize("gradient", ["unweighted", "weighted"])
def test_mtch_balanced_step_solves_its_lp(x64, gradient):
    """λ minimises max_i h_i − η s_i (G diag(c) λ)_i over the simplex (HiGHS reference)."""
    from scipy.optimize import linprog

    from paretojax.scalarization import mtch_balanced_weights

    rng = np.random.default_rng(3)
    for _ in range(6):
        m = 3
        jac = rng.normal(size=(m, 5))
        g = jac @ jac.T
        f = rng.uniform(0.2, 1.0, m)
        p = rng.dirichlet(np.ones(m))
        eta = 10.0 ** rng.uniform(-2, 0)
        w = np.asarray(mtch_balanced_weights(jnp.asarray(g), jnp.asarray(f), jnp.asarray(p),
                                             step_size=eta, gradient=gradient))
        h, s = f / p, 1.0 / p
        c = s if gradient == "weighted" else np.ones(m)
        dec = eta * s[:, None] * g * c[None, :]
        lam = w / c
        assert abs(lam.sum() - 1.0) < 1e-8 and lam.min() > -1e-9
        ours = np.max(h - dec @ lam)
        # variables (λ, t): min t s.t. h_i − (dec λ)_i ≤ t
        res = linprog(np.r_[np.zeros(m), 1.0], A_ub=np.c_[-dec, -np.ones(m)], b_ub=-h,
                      A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0],
                      bounds=[(0, None)] * m + [(None, None)], method="highs")
        assert res.status == 0
        assert ours <= res.fun + 1e-7 * (1 + abs(res.fun)), (ours, res.fun)
        # never worse than LibMOON's subgradient step (a feasible point of the LP)
        i = int(np.argmax(h))
        assert ours <= np.max(h - dec[:, i]) + 1e-9


def test_mtch_balanced_step_far_from_ray_is_the_subgradient_and_tied_stays_tied():
    from paretojax.scalarization import mtch_balanced_weights

    g = jnp.array([[1.0, -0.3], [-0.3, 0.8]])
    p = jnp.array([0.3, 0.7])
    far = mtch_balanced_weights(g, jnp.array([0.9, 0.2]), p, step_size=0.05,
                                gradient="unweighted")
    np.testing.assert_allclose(far, [1.0, 0.0], atol=1e-5)
    f = jnp.array([0.3, 0.7])  # on the ray: h = (1, 1)
    lam = mtch_balanced_weights(g, f, p, step_size=0.05, gradient="unweighted")
    after = f / p - 0.05 * (g @ lam) / p
    assert abs(float(after[0] - after[1])) < 1e-5, after
    assert float(jnp.max(after)) < 1.0  # and the tied objective still decreases


def test_mtch_balanced_step_bad_input_and_transform():
    from paretojax.scalarization import mtch_balanced_weights

    g = jnp.eye(2)
    with pytest.raises(ValueError, match="step_size"):
        mtch_balanced_weights(g, jnp.ones(2), None, step_size=0.0)
    with pytest.raises(ValueError, match="gram"):
        mtch_balanced_weights(jnp.eye(3), jnp.ones(2), None, step_size=0.1)
    with pytest.raises(ValueError, match="step_size"):
        mtch(step_size=-1.0)
    tx = mtch(step_size=0.1, gradient="unweighted")
    u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.5, 0.5]),
                     pref=jnp.array([0.5, 0.5]))
    np.testing.assert_allclose(u["w"], [0.5, 0.5], atol=1e-5)  # ties → both rows, balanced
