"""Pareto-manifold layers: COSMOS/FiLM conditioning, PaMaL, LORPMAN, PWE-MoE, Panacea, PBLoRA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from paretojax.manifold import (
    CosmosMLP,
    FiLM,
    FiLMMLP,
    LowRankParetoBase,
    LowRankParetoConv,
    LowRankParetoDense,
    LowRankParetoMLP,
    PaMaL,
    PanaceaDense,
    PBLoRADense,
    PWEMoE,
    cosmos_condition,
    lorpman_optimizer,
    low_rank_gram,
    make_window_step,
    multi_forward_regularizer,
    orthogonality_regularizer,
    pamal_loss,
)

P3 = jnp.array([0.2, 0.3, 0.5])
P3N = np.array([0.2, 0.3, 0.5])


def _randn(seed: int, shape: tuple[int, ...]) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _nparams(module: nnx.Module) -> int:
    return sum(int(v.size) for v in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _mlp(rngs: nnx.Rngs) -> nnx.Module:
    return nnx.Sequential(nnx.Linear(5, 8, rngs=rngs), jax.nn.relu, nnx.Linear(8, 4, rngs=rngs))


class _Net(nnx.Module):
    def __init__(self, seed: int) -> None:
        r = nnx.Rngs(seed)
        self.l1 = nnx.Linear(5, 8, rngs=r)
        self.l2 = nnx.Linear(8, 4, rngs=r)

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.l1(x)))


def _builders():
    return {
        "cosmos": lambda: CosmosMLP((5, 8, 4), 3, rngs=nnx.Rngs(0)),
        "film": lambda: FiLMMLP((5, 8, 8, 4), 3, rngs=nnx.Rngs(0)),
        "lorpman": lambda: LowRankParetoMLP((5, 8, 4), 2, 3, rngs=nnx.Rngs(0)),
        "pamal": lambda: PaMaL(_mlp, 3, rngs=nnx.Rngs(0)),
        "pwe_moe": lambda: PWEMoE(_Net(0), [_Net(1), _Net(2), _Net(3)], rngs=nnx.Rngs(0)),
        "panacea": lambda: PanaceaDense(nnx.Linear(5, 4, rngs=nnx.Rngs(0)), 2, 3,
                                        rngs=nnx.Rngs(1)),
        "pblora": lambda: PBLoRADense(nnx.Linear(5, 4, rngs=nnx.Rngs(0)), 3, rngs=nnx.Rngs(1)),
    }


@pytest.mark.parametrize("name", list(_builders()))
def test_shapes_vmap_jit(name):
    model = _builders()[name]()
    if name in ("panacea", "pblora", "film"):  # move off the zero inits so that p matters
        leaf = (model.lora_b if name == "pblora" else model.lora_u if name == "panacea"
                else model.gen_out.kernel)
        leaf[...] = 0.3 * _randn(5, leaf.shape)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    prefs = jnp.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    both = nnx.jit(lambda mdl, x, ps: (jax.vmap(mdl, in_axes=(None, 0))(x, ps), mdl(x, ps[1])))
    batched, single = both(model, x, prefs)
    assert batched.shape == (3, 6, 4)
    np.testing.assert_allclose(batched[1], single, atol=1e-5)
    assert float(jnp.max(jnp.abs(batched[0] - batched[2]))) > 1e-4  # p actually matters
    with pytest.raises(ValueError, match="shape"):
        model(x, jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        model(x, jnp.array([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="non-negative"):
        model(x, jnp.array([1.5, -0.5, 0.0]))
    with pytest.raises(ValueError, match="non-finite"):
        model(x, jnp.array([jnp.nan, 0.5, 0.5]))


def test_cosmos_condition_values():
    x = jnp.arange(6.0).reshape(2, 3)
    out = cosmos_condition(x, jnp.array([0.25, 0.75]))
    np.testing.assert_array_equal(out, [[0, 1, 2, 0.25, 0.75], [3, 4, 5, 0.25, 0.75]])
    img = cosmos_condition(jnp.zeros((2, 4, 4, 1)), jnp.array([0.25, 0.75]), image=True)
    np.testing.assert_array_equal(img[..., 1], 0.25)
    np.testing.assert_array_equal(img[..., 2], 0.75)
    with pytest.raises(ValueError, match="images"):
        cosmos_condition(jnp.zeros((2, 4)), jnp.array([0.5, 0.5]), image=True)
    with pytest.raises(ValueError, match="≥ 2"):
        cosmos_condition(x, jnp.array([1.0]))


def test_film_identity_at_init_and_formula():
    film = FiLM(4, 3, rngs=nnx.Rngs(0))
    h = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(film(h, P3), h)
    film.out.kernel[...] = 0.5 * _randn(2, film.out.kernel.shape)
    hid = np.maximum(P3N @ np.asarray(film.hidden.kernel[...]) + np.asarray(film.hidden.bias[...]),
                     0.0)
    z = hid @ np.asarray(film.out.kernel[...])
    gamma, beta = 1.0 + z[:4], z[4:]
    np.testing.assert_allclose(film(h, P3), gamma[None] * h + beta[None], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        film(jnp.ones((2, 5)), P3)
    with pytest.raises(ValueError, match="≥ 2"):
        FiLM(4, 1, rngs=nnx.Rngs(0))


# ----------------------------------------------------------------------------- LORPMAN
def test_lorpman_dense_formula_merge_and_param_count():
    m, r, d_in, d_out, s = 3, 2, 5, 8, 0.7
    layer = LowRankParetoDense(d_in, d_out, r, m, s, rngs=nnx.Rngs(0))
    layer.lora_b[...] = _randn(3, layer.lora_b.shape)
    a, b = np.asarray(layer.lora_a[...]), np.asarray(layer.lora_b[...])
    w = np.asarray(layer.kernel[...]).T + s * sum(P3N[i] * b[i] @ a[i] for i in range(m))
    x = np.random.default_rng(1).standard_normal((5, d_in)).astype(np.float32)
    want = x @ w.T + np.asarray(layer.bias[...])[None]
    np.testing.assert_allclose(layer(x, P3), want, rtol=1e-4, atol=1e-5)
    merged = layer.merge(P3)
    assert type(merged) is nnx.Linear
    np.testing.assert_allclose(merged(x), layer(x, P3), rtol=1e-5, atol=1e-5)
    plain = _nparams(nnx.Linear(d_in, d_out, rngs=nnx.Rngs(0)))
    assert _nparams(layer) - plain == m * r * (d_in + d_out)
    assert _nparams(merged) == plain
    with pytest.raises(ValueError, match="features"):
        layer(jnp.ones((2, 6)), P3)
    with pytest.raises(ValueError, match="≥ 2"):
        LowRankParetoDense(3, 2, 2, 1, rngs=nnx.Rngs(0))


def test_lorpman_conv_merge_and_param_count():
    m, r = 3, 2
    conv = LowRankParetoConv(2, 5, 3, r, m, strides=2, rngs=nnx.Rngs(0))
    conv.lora_b[...] = _randn(3, conv.lora_b.shape)
    x = np.random.default_rng(1).standard_normal((2, 7, 7, 2)).astype(np.float32)
    merged = conv.merge(P3)
    assert type(merged) is nnx.Conv
    np.testing.assert_allclose(merged(x), conv(x, P3), rtol=1e-5, atol=1e-5)
    # The kernel is the d_out × (k·k·d_in) matrix W⁰ + Σ p_i B_i A_i.
    a, b = np.asarray(conv.lora_a[...]), np.asarray(conv.lora_b[...])
    k_mat = np.asarray(conv.kernel[...]).reshape(-1, 5).T + sum(
        P3N[i] * b[i] @ a[i] for i in range(m)
    )
    np.testing.assert_allclose(np.asarray(merged.kernel[...]).reshape(-1, 5).T, k_mat, rtol=1e-5,
                               atol=1e-5)
    plain = _nparams(nnx.Conv(2, 5, (3, 3), rngs=nnx.Rngs(0)))
    assert _nparams(conv) - plain == m * r * (5 + 3 * 3 * 2)


def test_lorpman_mlp_merge_equality():
    net = LowRankParetoMLP((5, 8, 4), 2, 3, 0.5, rngs=nnx.Rngs(0))
    for layer in net.layers:
        layer.lora_b[...] = _randn(3, layer.lora_b.shape)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    for p in (P3, jnp.array([0.0, 1.0, 0.0])):
        np.testing.assert_allclose(net.merge(p)(x), net(x, p), rtol=1e-4, atol=1e-5)


def _explicit_ortho(a, b):
    mats = np.stack([(np.asarray(b[i]) @ np.asarray(a[i])).ravel() for i in range(a.shape[0])])
    g = mats @ mats.T
    c = g / np.sqrt(np.outer(np.diag(g), np.diag(g)))
    return float(np.sum(c**2) - np.sum(np.diag(c) ** 2)), g


def test_orthogonality_regularizer_matches_explicit_and_is_scale_free():
    layer = LowRankParetoDense(5, 8, 2, 3, rngs=nnx.Rngs(0))
    layer.lora_b[...] = _randn(3, layer.lora_b.shape)
    a, b = layer.lora_a[...], layer.lora_b[...]
    want, g = _explicit_ortho(a, b)
    np.testing.assert_allclose(low_rank_gram(a, b), g, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(orthogonality_regularizer(layer), want, rtol=1e-4)
    # Rescaling any factor leaves the cosine regulariser unchanged.
    a2, b2 = np.array(a), np.array(b)
    a2[0] *= 3.0
    b2[1] *= 0.1
    layer.lora_a[...] = jnp.asarray(a2)
    layer.lora_b[...] = jnp.asarray(b2)
    np.testing.assert_allclose(orthogonality_regularizer(layer), want, rtol=1e-4)
    # Orthogonal task updates give R_o = 0.
    eye = jnp.eye(3)
    layer2 = LowRankParetoDense(3, 3, 1, 3, rngs=nnx.Rngs(0))
    layer2.lora_a[...] = eye[:, None, :]
    layer2.lora_b[...] = eye[:, :, None]
    assert float(orthogonality_regularizer(layer2)) < 1e-10


def test_orthogonality_regularizer_samples_three_tasks_with_key():
    net = LowRankParetoDense(5, 8, 2, 5, rngs=nnx.Rngs(0))
    net.lora_b[...] = _randn(3, net.lora_b.shape)
    key = jax.random.key(7)
    idx = np.asarray(jax.random.choice(key, 5, (3,), replace=False))
    want = _explicit_ortho(np.asarray(net.lora_a[...])[idx], np.asarray(net.lora_b[...])[idx])[0]
    np.testing.assert_allclose(orthogonality_regularizer(net, key=key), want, rtol=1e-4)
    full = orthogonality_regularizer(net, key=None, num_sampled=5)
    want_full = _explicit_ortho(net.lora_a[...], net.lora_b[...])[0]
    np.testing.assert_allclose(full, want_full, rtol=1e-4)
    with pytest.raises(ValueError, match="key"):
        orthogonality_regularizer(net)
    with pytest.raises(ValueError, match="no LowRankPareto"):
        orthogonality_regularizer(nnx.Linear(2, 2, rngs=nnx.Rngs(0)))


# ------------------------------------------------------------------------------- PaMaL
def test_pamal_one_hot_is_member_and_weights_are_convex_combination():
    net = PaMaL(_mlp, 3, rngs=nnx.Rngs(0))
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    outs = [net.member(i)(x) for i in range(3)]
    for i in range(3):
        np.testing.assert_allclose(net(x, jnp.eye(3)[i]), outs[i], rtol=1e-6)
    assert float(jnp.max(jnp.abs(outs[0] - outs[1]))) > 1e-3  # independent inits
    merged = jax.tree.leaves(nnx.state(net.merge(P3), nnx.Param))
    members = [[np.asarray(v) for v in jax.tree.leaves(nnx.state(net.member(i), nnx.Param))]
               for i in range(3)]
    for k, u in enumerate(merged):
        want = sum(P3N[i] * members[i][k] for i in range(3))
        np.testing.assert_allclose(u, want, rtol=1e-5, atol=1e-6)
    assert _nparams(net) == 3 * _nparams(_mlp(nnx.Rngs(0)))
    with pytest.raises(ValueError, match="member index"):
        net.member(3)


def test_multi_forward_regularizer_orders_toy():
    prefs = jnp.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1]])
    right = jnp.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])  # larger α_t ⇒ smaller L_t
    wrong = right[::-1]
    assert float(multi_forward_regularizer(prefs, right)) == 0.0
    # Row order of the window is irrelevant (it is sorted by α_t per task).
    perm = jnp.array([2, 0, 1])
    assert float(multi_forward_regularizer(prefs[perm], right[perm])) == 0.0
    # Wrong order: every consecutive Δ = +1 for both tasks ⇒ 2·log(mean(e, e)) = 2.
    np.testing.assert_allclose(multi_forward_regularizer(prefs, wrong), 2.0, rtol=1e-6)
    np.testing.assert_allclose(multi_forward_regularizer(prefs, wrong, 3.0), 6.0, rtol=1e-6)
    # Its gradient pushes the violating losses toward the right order.
    g = jax.grad(lambda f: multi_forward_regularizer(prefs, f))(wrong)
    assert float(g[0, 0]) < 0 < float(g[2, 0])
    with pytest.raises(ValueError, match="W ≥ 2"):
        multi_forward_regularizer(prefs[:1], right[:1])
    with pytest.raises(ValueError, match="W, m"):
        multi_forward_regularizer(prefs, right[:, :1])


def test_pamal_loss_adds_rp_only_when_smaller_than_loss():
    prefs = jnp.array([[0.1, 0.9], [0.9, 0.1]])
    wrong = jnp.array([[1.0, 3.0], [3.0, 1.0]])  # ℓ = 0.1+2.7+2.7+0.1 = 5.6, R_p = 2·2 = 4
    total, ls, rp = pamal_loss(prefs, wrong, lam=1.0)
    np.testing.assert_allclose([ls, rp, total], [5.6, 4.0, 9.6], rtol=1e-6)
    total, _, _ = pamal_loss(prefs, wrong, lam=2.0)  # λR_p = 8 ≥ ℓ ⇒ not added
    np.testing.assert_allclose(total, 5.6, rtol=1e-6)


# ------------------------------------------------------------------------- adapters
def test_pblora_zero_at_init_and_formula():
    base = nnx.Linear(6, 5, rngs=nnx.Rngs(0))
    ad = PBLoRADense(base, 3, r1=2, r2=3, lora_alpha=6.0, rngs=nnx.Rngs(1))
    assert ad.lora_a.shape == (5, 6) and ad.lora_b.shape == (5, 5)
    assert ad.w1.shape == (2, 2) and ad.w2.shape == (3, 9)
    np.testing.assert_array_equal(ad.delta(P3), 0.0)
    assert float(jnp.max(jnp.abs(ad.lora_a[...]))) <= 1 / np.sqrt(6)  # Kaiming-uniform bound
    ad.lora_b[...] = _randn(2, ad.lora_b.shape)
    a, b, w1, w2 = (np.asarray(v[...]) for v in (ad.lora_a, ad.lora_b, ad.w1, ad.w2))
    want = (6.0 / 3) * (b[:, :2] @ w1 @ a[:2] + b[:, 2:] @ (P3N @ w2).reshape(3, 3) @ a[2:])
    np.testing.assert_allclose(ad.delta(P3), want, rtol=1e-5, atol=1e-5)
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(ad(x, P3), base(x) + x @ want.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ad.merge(P3)(x), ad(x, P3), rtol=1e-4, atol=1e-4)


def test_panacea_zero_at_init_and_formula():
    base = nnx.Linear(6, 5, rngs=nnx.Rngs(0))
    ad = PanaceaDense(base, 2, 3, lora_alpha=4.0, rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(ad.delta(P3), 0.0)
    ad.lora_u[...] = _randn(2, ad.lora_u.shape)
    u, vt, sig, s = (np.asarray(v[...]) for v in (ad.lora_u, ad.lora_v, ad.sigma, ad.pref_scale))
    want = (4.0 / 2) * u @ np.diag(np.concatenate([sig, s * P3N])) @ vt
    np.testing.assert_allclose(ad.delta(P3), want, rtol=1e-5, atol=1e-5)
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(ad(x, P3), base(x) + x @ want.T, rtol=1e-4, atol=1e-4)
    # p is injected, not trained: it enters affinely through the last m singular values.
    e = np.eye(3, dtype=np.float32)
    mixed = sum(P3N[i] * np.asarray(ad.delta(e[i])) for i in range(3))
    np.testing.assert_allclose(ad.delta(P3), mixed, atol=1e-5)
    grads = nnx.grad(lambda mdl: mdl(x, P3).sum())(ad)
    assert set(grads.keys()) == {"base", "lora_u", "lora_v", "sigma", "pref_scale"}
    with pytest.raises(ValueError, match="nnx.Linear"):
        PanaceaDense(nnx.Conv(1, 1, 3, rngs=nnx.Rngs(0)), 2, 3, rngs=nnx.Rngs(0))


# ------------------------------------------------------------------------------ PWE-MoE
def test_pwe_moe_routing_task_arithmetic_and_router_only_training():
    base, experts = _Net(0), [_Net(1), _Net(2), _Net(3)]
    moe = PWEMoE(base, experts, select=lambda path: path[0] == "l1", rngs=nnx.Rngs(0))
    np.testing.assert_allclose(moe.router_weights(P3), 0.3, atol=0.05)  # ≈ init_λ at init
    # Router set to w(p) = p: the routed module becomes θ₀ + Σ p_k τ_k, the rest task arithmetic.
    moe.w1[...] = jnp.concatenate([jnp.eye(3), jnp.zeros((3, 3))], axis=1)[None]
    moe.w2[...] = jnp.concatenate([jnp.eye(3), jnp.zeros((3, 3))], axis=0)[None]
    moe.b2[...] = jnp.zeros_like(moe.b2[...])
    fused = moe.merge(jnp.eye(3)[1])
    np.testing.assert_allclose(fused.l1.kernel[...], experts[1].l1.kernel[...], rtol=1e-6)
    k0 = np.asarray(base.l2.kernel[...])
    ta = k0 + 0.3 * sum(np.asarray(e.l2.kernel[...]) - k0 for e in experts)
    np.testing.assert_allclose(fused.l2.kernel[...], ta, rtol=1e-5, atol=1e-6)
    # All modules routed ⇒ a one-hot preference reproduces that expert exactly.
    moe_all = PWEMoE(base, experts, rngs=nnx.Rngs(0))
    assert len(moe_all.module_paths) == 2
    moe_all.w1[...] = jnp.broadcast_to(moe.w1[...], moe_all.w1.shape)
    moe_all.w2[...] = jnp.broadcast_to(moe.w2[...], moe_all.w2.shape)
    moe_all.b2[...] = jnp.zeros_like(moe_all.b2[...])
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(moe_all(x, jnp.eye(3)[2]), experts[2](x), rtol=1e-5, atol=1e-5)
    grads = nnx.grad(lambda mdl: mdl(x, P3).sum())(moe)
    assert set(grads.keys()) == {"w1", "b1", "w2", "b2"}  # θ₀ and τ are frozen
    with pytest.raises(ValueError, match="structure"):
        PWEMoE(base, [experts[0], nnx.Linear(5, 4, rngs=nnx.Rngs(0))], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="≥ 2"):
        PWEMoE(base, [experts[0]], rngs=nnx.Rngs(0))


# ------------------------------------------------------------------- fast digits run
def test_lorpman_digits_run_learns_and_freezes_w0():
    """LORPMAN MLP on 3 many-task-digits tasks, 200 window steps (R_p and R_o on), W⁰ frozen at
    step 150. Every one-hot member classifies its own task (measured, seed 0: own-task test
    accuracies 0.936 / 0.922 / 0.953; chance ≈ 0.5–0.6; threshold 0.85), and W⁰ is
    bit-identical after the freeze while the factors keep moving."""
    import paretojax as pj

    data = pj.datasets.many_task_digits(3, flatten=True)
    xtr, ytr = np.asarray(data.x_train), np.asarray(data.y_train, np.float32)
    net = LowRankParetoMLP((64, 32, 3), 2, 3, rngs=nnx.Rngs(0))

    def loss_fn(model, batch, p):
        x, y = batch
        return jnp.mean(optax.sigmoid_binary_cross_entropy(model(x, p), y), axis=0)

    step = make_window_step(loss_fn, num_objectives=3, window=2, lam_p=1.0,
                            regularizer=lambda mdl, k: orthogonality_regularizer(mdl), lam_reg=0.1)
    opt = nnx.Optimizer(net, lorpman_optimizer(net, optax.adam(5e-3), freeze_step=150),
                        wrt=nnx.Param)

    def snapshot():
        return ([np.array(v) for v in jax.tree.leaves(nnx.state(net, LowRankParetoBase))],
                [np.array(ly.lora_a[...]) for ly in net.layers])

    rng = np.random.default_rng(0)
    snaps = {0: snapshot()}
    for t in range(200):
        idx = rng.integers(0, xtr.shape[0], 128)
        metrics = step(net, opt, (xtr[idx], ytr[idx]), jax.random.key(t))
        if t + 1 in (150, 200):
            snaps[t + 1] = snapshot()
    assert np.isfinite(float(metrics.total)) and float(metrics.extra) >= 0.0
    for u, v in zip(snaps[0][0], snaps[150][0], strict=True):
        assert not np.array_equal(u, v)  # W⁰ trained before the freeze step
    for u, v in zip(snaps[150][0], snaps[200][0], strict=True):
        np.testing.assert_array_equal(u, v)  # and frozen after it
    for u, v in zip(snaps[150][1], snaps[200][1], strict=True):
        assert not np.array_equal(u, v)  # the factors still train
    logits = nnx.jit(lambda mdl, x: jax.vmap(mdl, in_axes=(None, 0))(x, jnp.eye(3)))(
        net, jnp.asarray(data.x_test)
    )  # [3, n, 3]
    acc = np.mean((np.asarray(logits) > 0) == np.asarray(data.y_test)[None].astype(bool), axis=1)
    own = np.diagonal(acc)
    assert own.min() > 0.85, own
