"""Jacobian-level manipulation: PCGrad, GradVac, GradDrop, TrimmedMean."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paretojax.manipulation import METHODS
from paretojax.manipulation._graddrop import graddrop, graddrop_feature_grad, graddrop_update
from paretojax.manipulation._gradvac import GradVacState, gradvac, gradvac_weights
from paretojax.manipulation._pcgrad import PCGradState, pcgrad, pcgrad_weights, row_orders
from paretojax.manipulation._trimmed_mean import trimmed_mean, trimmed_mean_update
from tests.helpers import G_BASE, J_BASE, random_jacobian

F32 = jnp.float32


def _split(j: np.ndarray) -> dict:
    return {"a": jnp.asarray(j[:, :2], F32), "b": jnp.asarray(j[:, 2:], F32)}


def _params(d: int) -> dict:
    return {"a": jnp.zeros(2, F32), "b": jnp.zeros(d - 2, F32)}


def _flat(u: dict) -> np.ndarray:
    return np.concatenate([np.asarray(u["a"]), np.asarray(u["b"])])


def _orders(key, m):
    """The task orders a call with state key ``key`` uses (the key is split first)."""
    _, sub = jax.random.split(key)
    return np.asarray(row_orders(sub, m))


# ---------------------------------------------------------------------------------------------
# PCGrad
# ---------------------------------------------------------------------------------------------


def _pcgrad_reference(j: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Algorithm 1 of the paper on the rows (TorchJD/LibMTL loop), float64."""
    out = np.zeros(j.shape[1])
    for i in range(j.shape[0]):
        g = j[i].copy()
        for k in orders[i]:
            if k == i:
                continue
            dot = g @ j[k]
            if dot < 0:
                g = g - dot / (j[k] @ j[k]) * j[k]
        out += g
    return out


def test_pcgrad_goldens():
    w, _ = pcgrad_weights(jnp.asarray(G_BASE, F32), state=PCGradState(jax.random.key(3)))
    np.testing.assert_allclose(w, [2.2222, 1.5789], atol=1e-4)
    tx = pcgrad()
    u, _ = tx.update(_split(J_BASE), tx.init(_params(3)))
    np.testing.assert_allclose(_flat(u), [0.5848, 3.8012, 3.8012], atol=1e-4)


def test_pcgrad_matches_row_reference_and_keys():
    rng = np.random.default_rng(0)
    m, d = 5, 6
    tx = pcgrad(seed=7, num_tasks=m)
    st = tx.init(_params(d))
    step = jax.jit(tx.update)
    for _ in range(3):  # the key is split on every call: new orders each time
        j = random_jacobian(rng, m, d)
        orders = _orders(st.inner.key, m)
        u, st_new = step(_split(j), st)
        np.testing.assert_allclose(_flat(u), _pcgrad_reference(j, orders), rtol=1e-4, atol=1e-4)
        u_again, _ = step(_split(j), st)  # same key ⇒ same output
        np.testing.assert_array_equal(_flat(u_again), _flat(u))
        st = st_new
    # Seeds: ints (Python or NumPy), typed keys and raw uint32 keys give the same stream.
    k0 = pcgrad(seed=np.int64(7)).init(None).inner.key
    for seed in (7, jax.random.key(7), jax.random.PRNGKey(7)):
        np.testing.assert_array_equal(jax.random.key_data(pcgrad(seed=seed).init(None).inner.key),
                                      jax.random.key_data(k0))
    with pytest.raises(ValueError, match="seed"):
        pcgrad(seed="7")
    # Different seeds give different orders (m = 5: the update depends on the order).
    j = random_jacobian(rng, m, d, rank=2)
    outs = {tuple(np.round(_flat(pcgrad(seed=s).update(_split(j), pcgrad(seed=s).init(None))[0]),
                           4)) for s in range(6)}
    assert len(outs) > 1


def test_pcgrad_linear_under_scaling_and_not_nc():
    rng = np.random.default_rng(1)
    m, d = 4, 6
    js = np.stack([random_jacobian(rng, m, d) for _ in range(4)])
    c1, c2 = rng.uniform(0.1, 2.0, (4, m, 1)), rng.uniform(0.1, 2.0, (4, m, 1))
    a, b = 0.7, 1.9
    key = PCGradState(jax.random.key(0))
    run = jax.jit(jax.vmap(lambda j: j.T @ pcgrad_weights(j @ j.T, state=key)[0]))
    x = np.asarray(run(jnp.asarray(np.concatenate([(a * c1 + b * c2) * js, c1 * js, c2 * js]),
                                   F32)), np.float64).reshape(3, 4, d)
    np.testing.assert_allclose(x[0], a * x[1] + b * x[2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["zero", "zero_row", "duplicate", "collinear", "huge", "tiny",
                                  "single"])
def test_pcgrad_gradvac_degenerate(case):
    rng = np.random.default_rng(2)
    j = random_jacobian(rng, 3, 5)
    if case == "zero":
        j = np.zeros_like(j)
    elif case == "zero_row":
        j[1] = 0.0
    elif case == "duplicate":
        j[1] = j[0]
    elif case == "collinear":
        j[1] = -2.0 * j[0]
    elif case == "huge":
        j = 1e8 * j
    elif case == "tiny":
        j = 1e-8 * j
    else:
        j = j[:1]
    m = j.shape[0]
    for tx in (pcgrad(num_tasks=m), gradvac(num_tasks=m), gradvac(num_tasks=m, groups="leaf")):
        st = tx.init(_params(5))
        for _ in range(2):
            u, st = tx.update(_split(j), st)
            assert np.all(np.isfinite(_flat(u))) and int(st.skipped) == 0
    if case == "single":
        np.testing.assert_allclose(_flat(u), j[0], rtol=1e-6)
    if case == "collinear":  # g₁ = −2g₀: both projected to 0, the third row survives
        uu, _ = pcgrad(num_tasks=m).update(_split(j), pcgrad(num_tasks=m).init(None))
        assert np.all(np.isfinite(_flat(uu)))


# ---------------------------------------------------------------------------------------------
# GradVac
# ---------------------------------------------------------------------------------------------


def _gradvac_reference(j, phi, orders, groups, beta=0.5, eps=1e-8, ema="always"):
    """LibMTL's loop (rows, index groups) with TorchJD's EMA placement (``ema="always"``)."""
    m = j.shape[0]
    pc = j.copy()
    phi = phi.copy()
    for i in range(m):
        for jj in orders[i]:
            if jj == i:
                continue
            for k, (beg, end) in enumerate(groups):
                gi, gj = pc[i, beg:end], j[jj, beg:end]
                rho = gi @ gj / (np.linalg.norm(gi) * np.linalg.norm(gj) + eps)
                hat = phi[i, jj, k]
                if rho < hat:
                    num = hat * np.sqrt(1 - rho**2) - rho * np.sqrt(1 - hat**2)
                    w = np.linalg.norm(gi) * num / (np.linalg.norm(gj) * np.sqrt(1 - hat**2) + eps)
                    pc[i, beg:end] = gi + w * gj
                    if ema == "on_correction":
                        phi[i, jj, k] = (1 - beta) * hat + beta * rho
                if ema == "always":
                    phi[i, jj, k] = (1 - beta) * hat + beta * rho
    return pc.sum(0), phi


@pytest.mark.parametrize(
    "groups,ema,dtype",
    [("whole", "always", "float64"), ("leaf", "always", "float64"),
     ("whole", "on_correction", "float64"), ("leaf", "on_correction", "float64"),
     ("leaf", "always", "float32")],
)
def test_gradvac_matches_reference(groups, ema, dtype):
    """The Gram form against the row loop, over several calls (the EMA state carries over).
    float64 is exact; in float32 the √(1 − φ²) of nearly parallel 2-D groups costs digits."""
    with jax.enable_x64(dtype == "float64"):
        rng = np.random.default_rng(3)
        m, d = 4, 10
        idx = [(0, d)] if groups == "whole" else [(0, 4), (4, d)]
        tx = gradvac(num_tasks=m, groups=groups, ema=ema, seed=5)
        st = tx.init({"a": jnp.zeros(4), "b": jnp.zeros(6)})
        assert st.inner.phi_hat.shape == (m, m, len(idx))
        phi = np.zeros((m, m, len(idx)))
        step = jax.jit(tx.update)
        tol = 1e-10 if dtype == "float64" else 2e-3
        for _ in range(4):
            j = random_jacobian(rng, m, d)
            orders = _orders(st.inner.key, m)
            jac = {"a": jnp.asarray(j[:, :4], dtype), "b": jnp.asarray(j[:, 4:], dtype)}
            st = st._replace(inner=st.inner._replace(phi_hat=st.inner.phi_hat.astype(dtype)))
            u, st = step(jac, st)
            ref, phi = _gradvac_reference(j, phi, orders, idx, ema=ema)
            np.testing.assert_allclose(np.concatenate([u["a"], u["b"]]), ref, rtol=tol, atol=tol)
            np.testing.assert_allclose(st.inner.phi_hat, phi, atol=tol)
        if ema == "always":
            assert np.any(phi > 0)  # targets track the similarities (later calls ≠ PCGrad)
        else:  # LibMTL: updated only when φ < φ̂, so from φ̂ = 0 the targets never turn positive
            assert np.all(phi <= 0) and np.any(phi < 0)


def test_gradvac_cosines_stay_valid_in_float32():
    """Nearly cancelled corrected gradients in 2-D groups: φ̂ stays a cosine, output finite."""
    rng = np.random.default_rng(3)
    m, d = 4, 6
    tx = gradvac(num_tasks=m, groups="leaf", seed=5)
    st = tx.init(_params(d))
    step = jax.jit(tx.update)
    for _ in range(6):
        u, st = step(_split(random_jacobian(rng, m, d)), st)
        assert np.all(np.isfinite(_flat(u)))
        assert np.all(np.abs(np.asarray(st.inner.phi_hat)) <= 1.0)


def test_gradvac_first_call_equals_pcgrad():
    w, st = gradvac_weights(jnp.asarray(G_BASE, F32))
    np.testing.assert_allclose(w[0], [2.2222, 1.5789], atol=1e-4)
    rng = np.random.default_rng(4)
    for m in (5,):
        j = random_jacobian(rng, m, 7)
        tv, tp = gradvac(num_tasks=m, seed=9), pcgrad(seed=9)
        uv, sv = tv.update(_split(j), tv.init(_params(7)))
        up, _ = tp.update(_split(j), tp.init(_params(7)))
        np.testing.assert_allclose(_flat(uv), _flat(up), rtol=1e-4, atol=1e-4)
        uv2, _ = tv.update(_split(j), sv)
        assert not np.allclose(_flat(uv2), _flat(uv), atol=1e-3)


def test_gradvac_group_order_variants():
    """``order="per_group"`` draws one order per group (paper); ``"shared"`` one per task
    (LibMTL/TorchJD). Groups act on disjoint coordinates, so each group of a per-group run equals
    a whole-model run on that group's coordinates with that group's order."""
    rng = np.random.default_rng(5)
    m = 5
    j = random_jacobian(rng, m, 6)
    g_leaf = jnp.stack([jnp.asarray(j[:, :2] @ j[:, :2].T), jnp.asarray(j[:, 2:] @ j[:, 2:].T)])
    key = jax.random.key(11)
    phi0 = np.full((m, m, 2), 0.3)  # positive targets: corrections everywhere, order matters
    state = GradVacState(jnp.asarray(phi0, F32), key)
    w_shared, _ = gradvac_weights(g_leaf, state=state, order="shared")
    w_group, _ = gradvac_weights(g_leaf, state=state, order="per_group")
    _, sub = jax.random.split(key)
    shared = _orders(key, m)
    per = [np.asarray(row_orders(k, m)) for k in jax.random.split(sub, 2)]
    for k in range(2):
        jj = j[:, :2] if k == 0 else j[:, 2:]
        for w, orders in ((w_group, per[k]), (w_shared, shared)):
            ref, _ = _gradvac_reference(jj, phi0[:, :, k : k + 1], orders, [(0, jj.shape[1])])
            np.testing.assert_allclose(jj.T @ np.asarray(w[k]), ref, rtol=1e-4, atol=1e-4)
    assert not np.allclose(w_shared, w_group, atol=1e-4)


def test_gradvac_validation():
    with pytest.raises(ValueError, match="beta"):
        gradvac(2, beta=1.5)
    with pytest.raises(ValueError, match="groups"):
        gradvac(2, groups="layer")
    with pytest.raises(ValueError, match="num_tasks"):
        gradvac(0)
    tx = gradvac(3)
    with pytest.raises(ValueError, match="num_tasks=3"):
        tx.update(_split(J_BASE), tx.init(_params(3)))
    with pytest.raises(ValueError, match="phi_hat"):
        gradvac_weights(jnp.asarray(G_BASE), state=GradVacState(jnp.zeros((3, 3, 1)),
                                                                 jax.random.key(0)))


# ---------------------------------------------------------------------------------------------
# GradDrop
# ---------------------------------------------------------------------------------------------


def _one_sign_per_coordinate(j: np.ndarray, u: np.ndarray) -> None:
    pos = np.where(j > 0, j, 0.0).sum(0)
    neg = np.where(j < 0, j, 0.0).sum(0)
    ok = np.isclose(u, pos, rtol=1e-5, atol=1e-6) | np.isclose(u, neg, rtol=1e-5, atol=1e-6)
    assert np.all(ok), (u, pos, neg)


def test_graddrop_rows_structure_and_leak():
    rng = np.random.default_rng(6)
    m, d = 4, 9
    js = np.stack([random_jacobian(rng, m, d) for _ in range(6)])
    tx = graddrop()
    st = tx.init(_params(d))
    for j in js:
        u, st = tx.update(_split(j), st)
        _one_sign_per_coordinate(j, _flat(u))
    tx1 = graddrop(leak=1.0)
    u, _ = tx1.update(_split(js[0]), tx1.init(None))
    np.testing.assert_allclose(_flat(u), js[0].sum(0), rtol=1e-5, atol=1e-6)
    # Per-task leak: a task with leak 1 always passes, the others keep one sign.
    leak = np.array([1.0, 0.0, 0.0, 0.0])
    u, _ = graddrop(leak=leak).update(_split(js[1]), tx.init(None))
    _one_sign_per_coordinate(js[1][1:], _flat(u) - js[1][0])


def test_graddrop_sign_probability_is_the_purity():
    """P(keep positive) = P = ½(1 + Σ∇/Σ|∇|) (f = identity); with f = P² it is P²."""
    j = jnp.asarray([[3.0, -1.0, 2.0], [-1.0, -1.0, 2.0]], F32)  # P = 0.75, 0, 1
    keys = jax.random.split(jax.random.key(0), 4000)
    for f, expect in ((None, [0.75, 0.0, 1.0]), (lambda p: p**2, [0.5625, 0.0, 1.0])):
        outs = jax.jit(jax.vmap(lambda k, f=f: graddrop_update(j, k, f=f)))(keys)
        freq = np.mean(np.asarray(outs) > 0, axis=0)
        assert np.all(np.abs(freq - expect) < 0.03), freq


def test_graddrop_feature_mode():
    rng = np.random.default_rng(7)
    m, batch, feat = 3, 5, 4
    dz = rng.standard_normal((m, batch, feat)).astype(np.float32)
    z = rng.standard_normal((batch, feat)).astype(np.float32)
    signal = (dz * np.sign(z)[None]).sum(1)  # (m, feat)
    for seed in range(5):
        key = jax.random.key(seed)
        out = np.asarray(graddrop_feature_grad(jnp.asarray(dz), jnp.asarray(z), key))
        assert out.shape == (batch, feat)
        for f in range(feat):  # one task subset per feature, shared across the batch
            keep_pos = dz[signal[:, f] > 0, :, f].sum(0)
            keep_neg = dz[signal[:, f] < 0, :, f].sum(0)
            assert np.allclose(out[:, f], keep_pos, atol=1e-5) or np.allclose(
                out[:, f], keep_neg, atol=1e-5)
    np.testing.assert_allclose(
        graddrop_feature_grad(jnp.asarray(dz), jnp.asarray(z), jax.random.key(0), leak=1.0),
        dz.sum(0), rtol=1e-5, atol=1e-6)
    tx = graddrop(mode="feature")
    st = tx.init(None)
    u, st = jax.jit(tx.update)({"z": jnp.asarray(dz)}, st, features={"z": jnp.asarray(z)})
    assert u["z"].shape == (batch, feat) and int(st.skipped) == 0
    with pytest.raises(ValueError, match="features"):
        tx.update({"z": jnp.asarray(dz)}, st)
    # Rows mode ignores sign(Z) and the batch structure: the two modes differ.
    rows = np.asarray(graddrop_update(jnp.asarray(dz), jax.random.key(1), leak=0.0))
    feat_out = np.asarray(graddrop_feature_grad(jnp.asarray(dz), jnp.asarray(z), jax.random.key(1)))
    assert not np.allclose(rows, feat_out)


@pytest.mark.parametrize("case", ["zero", "duplicate", "collinear", "huge", "tiny", "single"])
def test_graddrop_degenerate_and_keys(case):
    rng = np.random.default_rng(8)
    j = random_jacobian(rng, 3, 5)
    j = {"zero": 0 * j, "duplicate": np.stack([j[0], j[0], j[2]]), "huge": 1e8 * j,
         "collinear": np.stack([j[0], -2 * j[0], j[2]]), "tiny": 1e-8 * j, "single": j[:1]}[case]
    tx = graddrop(seed=3)
    st = tx.init(None)
    u, st1 = tx.update(_split(j), st)
    assert np.all(np.isfinite(_flat(u))) and int(st1.skipped) == 0
    _one_sign_per_coordinate(j, _flat(u))
    u2, _ = tx.update(_split(j), st)
    np.testing.assert_array_equal(_flat(u2), _flat(u))  # same key ⇒ same output
    bad = j.copy()
    bad[0, 0] = np.nan
    u3, st3 = tx.update(_split(bad), st)
    np.testing.assert_array_equal(_flat(u3), 0.0)
    assert int(st3.skipped) == 1


def test_graddrop_validation():
    with pytest.raises(ValueError, match="leak"):
        graddrop(leak=1.5)
    with pytest.raises(ValueError, match="mode"):
        graddrop(mode="layer")
    with pytest.raises(ValueError, match="leak"):
        graddrop(leak=[0.0, 1.0]).update(_split(random_jacobian(np.random.default_rng(0), 3, 4)),
                                         graddrop().init(None))


# ---------------------------------------------------------------------------------------------
# TrimmedMean
# ---------------------------------------------------------------------------------------------


def test_trimmed_mean_golden_and_properties():
    jg = np.array([[1e11, 3.0], [1.0, -1e11], [-1e10, 1e10], [2.0, 2.0]])
    np.testing.assert_allclose(trimmed_mean_update(jnp.asarray(jg, F32), 1), [1.5, 2.5])
    tx = trimmed_mean(trim_number=1)
    u, _ = jax.jit(tx.update)({"w": jnp.asarray(jg, F32)}, tx.init(None))
    np.testing.assert_allclose(u["w"], [1.5, 2.5])
    rng = np.random.default_rng(9)
    j = random_jacobian(rng, 5, 6)
    u, _ = trimmed_mean(2).update(_split(j), tx.init(None))
    np.testing.assert_allclose(_flat(u), np.median(j, axis=0), rtol=1e-5, atol=1e-6)
    for _ in range(3):  # permutation invariant
        up, _ = trimmed_mean(1).update(_split(j[rng.permutation(5)]), tx.init(None))
        u1, _ = trimmed_mean(1).update(_split(j), tx.init(None))
        np.testing.assert_allclose(_flat(up), _flat(u1), rtol=1e-6)
    u0, _ = trimmed_mean(0).update(_split(j), tx.init(None))
    np.testing.assert_allclose(_flat(u0), j.mean(0), rtol=1e-5, atol=1e-6)
    u1, _ = trimmed_mean(0).update(_split(j[:1]), tx.init(None))
    np.testing.assert_allclose(_flat(u1), j[0], rtol=1e-6)
    with pytest.raises(ValueError, match="2·trim_number"):
        trimmed_mean(2).update(_split(j[:4]), tx.init(None))
    with pytest.raises(ValueError, match="trim_number"):
        trimmed_mean(-1)


def test_manipulation_jit_vmap_equals_unbatched():
    rng = np.random.default_rng(10)
    m, d = 3, 5
    js = jnp.asarray(np.stack([random_jacobian(rng, m, d) for _ in range(4)]), F32)
    for tx in (pcgrad(), gradvac(m, groups="leaf"), graddrop()):
        st = tx.init(_params(d))

        @jax.jit
        def one(j, tx=tx, st=st):
            return tx.update({"a": j[:, :2], "b": j[:, 2:]}, st)[0]

        batched = jax.jit(jax.vmap(one))(js)
        for k in range(4):
            for a, b in zip(jax.tree.leaves(one(js[k])), jax.tree.leaves(batched), strict=True):
                np.testing.assert_allclose(b[k], a, rtol=1e-5, atol=1e-6)


def test_family_registry():
    names = [i.name for i in METHODS]
    assert names == ["pcgrad", "graddrop", "gradvac", "trimmed_mean"]
    for info in METHODS:
        assert info.family == "manipulation"
        assert ">>>" in info.factory.__doc__
