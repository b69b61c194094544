"""Loss-level balancing, part B: GradNorm, DB-MTL, FAMO, Auto-λ, MOML, FORUM."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize

from paretojax.balancing._auto_lambda import (
    AutoLambdaState,
    auto_lambda,
    auto_lambda_hypergrad,
    auto_lambda_init,
    auto_lambda_step,
    auto_lambda_weights,
)
from paretojax.balancing._db_mtl import db_mtl, db_mtl_init, db_mtl_update
from paretojax.balancing._famo import famo, famo_init, famo_loss, famo_update, famo_weights
from paretojax.balancing._forum import (
    FORUMState,
    forum,
    forum_epoch_end,
    forum_init,
    forum_step,
    forum_weights,
)
from paretojax.balancing._gradnorm import (
    gradnorm,
    gradnorm_epoch_end,
    gradnorm_init,
    gradnorm_weights,
)
from paretojax.balancing._moml import moml, moml_hypergrads, moml_init, moml_step, moml_weights
from paretojax.core.jacobian import gram, value_and_jacobian

# ---------------------------------------------------------------------------------------------
# helpers


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _torch_adam(x, g, state, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.Adam(lr, weight_decay) written out by hand."""
    mu, nu, t = state
    g = g + wd * x
    t = t + 1
    mu = b1 * mu + (1 - b1) * g
    nu = b2 * nu + (1 - b2) * g * g
    mhat, vhat = mu / (1 - b1**t), nu / (1 - b2**t)
    return x - lr * mhat / (np.sqrt(vhat) + eps), (mu, nu, t)


def _mlp_params(key, d_in=3, h=4, m=3, dtype=jnp.float64):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": jax.random.normal(k1, (d_in, h), dtype) * 0.7,
        "b1": jax.random.normal(k2, (h,), dtype) * 0.1,
        "w2": jax.random.normal(k3, (h, m), dtype) * 0.7,
    }


def _mlp_losses(params, batch):
    x, y = batch
    out = jnp.tanh(x @ params["w1"] + params["b1"][None, :]) @ params["w2"]
    return jnp.mean((out - y) ** 2, axis=0)


def _batches(key, n=6, d_in=3, m=3, dtype=jnp.float64):
    ks = jax.random.split(key, 4)
    tr = (jax.random.normal(ks[0], (n, d_in), dtype), jax.random.normal(ks[1], (n, m), dtype))
    va = (jax.random.normal(ks[2], (n, d_in), dtype), jax.random.normal(ks[3], (n, m), dtype))
    return tr, va


def _tree_axpy(a, x, y):
    return jax.tree_util.tree_map(lambda u, v: v + a * u, x, y)


# ---------------------------------------------------------------------------------------------
# GradNorm


def _gradnorm_reference_grad(theta, norms, losses, l0, alpha, paper):
    """∂L_grad/∂θ by autodiff of the literal objective (targets held constant)."""
    m = theta.shape[0]

    def weights(t):
        return t if paper else m * jax.nn.softmax(t)

    w = weights(theta)
    ratio = losses / l0
    r = ratio / ratio.mean()
    target = jnp.mean(w * norms) * r**alpha

    def lgrad(t):
        return jnp.sum(jnp.abs(weights(t) * norms - target))

    return np.asarray(jax.jit(jax.grad(lgrad))(theta)), np.asarray(w)


def test_gradnorm_libmtl_several_steps_against_hand_computation(x64):
    rng = np.random.default_rng(0)
    m, lr, alpha = 3, 0.3, 1.5
    opt = optax.sgd(lr)
    st = gradnorm_init(m, optimizer=opt)
    step = jax.jit(functools.partial(gradnorm_weights, alpha=alpha, optimizer=opt))
    grams = [(lambda j: j @ j.T)(rng.standard_normal((m, 5))) for _ in range(6)]
    losses = [np.abs(rng.standard_normal(m)) + 0.5 for _ in range(6)]
    # epoch 0: equal weights 1, θ untouched, losses averaged
    for k in range(2):
        w, st = step(grams[k], losses[k], st)
        np.testing.assert_allclose(w, np.ones(m))
        np.testing.assert_allclose(st.theta, np.ones(m))
    st = gradnorm_epoch_end(st)
    l0 = (losses[0] + losses[1]) / 2
    np.testing.assert_allclose(st.initial_losses, l0, rtol=1e-12)
    theta = np.ones(m)
    for k in range(2, 6):
        norms = np.sqrt(np.diag(grams[k]))
        g_ref, w_ref = _gradnorm_reference_grad(
            jnp.asarray(theta),
            jnp.asarray(norms),
            jnp.asarray(losses[k]),
            jnp.asarray(l0),
            alpha,
            False,
        )
        w, st = step(grams[k], losses[k], st)
        np.testing.assert_allclose(w, w_ref, rtol=1e-10)
        np.testing.assert_allclose(np.sum(w), m, rtol=1e-12)
        theta = theta - lr * g_ref
        np.testing.assert_allclose(st.theta, theta, rtol=1e-10, atol=1e-12)
    assert not np.allclose(theta, 1.0)  # the weights did move


def test_gradnorm_paper_renormalises_and_uses_first_batch(x64):
    rng = np.random.default_rng(1)
    m, lr, alpha = 3, 0.05, 1.5
    opt = optax.sgd(lr)
    st = gradnorm_init(m, paper=True, optimizer=opt)
    step = jax.jit(functools.partial(gradnorm_weights, alpha=alpha, paper=True, optimizer=opt))
    w_hand = np.ones(m)
    l0 = None
    for _ in range(4):
        j = rng.standard_normal((m, 4)) * np.array([[3.0], [1.0], [0.3]])
        G = j @ j.T
        f = np.abs(rng.standard_normal(m)) + 0.5
        l0 = f if l0 is None else l0
        g_ref, _ = _gradnorm_reference_grad(
            jnp.asarray(w_hand),
            jnp.asarray(np.sqrt(np.diag(G))),
            jnp.asarray(f),
            jnp.asarray(l0),
            alpha,
            True,
        )
        w, st = step(G, f, st)
        np.testing.assert_allclose(w, w_hand, rtol=1e-10)
        w_hand = np.maximum(w_hand - lr * g_ref, 0.0)
        w_hand = m * w_hand / w_hand.sum()
        np.testing.assert_allclose(st.theta, w_hand, rtol=1e-10)
        np.testing.assert_allclose(np.sum(st.theta), m, rtol=1e-12)
    np.testing.assert_allclose(st.initial_losses, l0)
    assert st.theta[0] < 1.0 < st.theta[2]  # large-gradient task down-weighted


def test_gradnorm_default_optimizer_is_torch_adam_with_weight_decay(x64):
    m = 2
    G = np.array([[4.0, 1.0], [1.0, 1.0]])
    tx = gradnorm(num_tasks=m, initial_loss="first_batch")
    st = tx.init({"w": jnp.zeros(2)})
    jac = {"w": jnp.asarray(np.linalg.cholesky(G))}  # rows with this Gram
    theta, adam = np.ones(m), (np.zeros(m), np.zeros(m), 0)
    l0 = np.array([1.0, 2.0])
    for f in (l0, np.array([0.5, 1.9])):
        g_ref, w_ref = _gradnorm_reference_grad(
            jnp.asarray(theta),
            jnp.asarray(np.sqrt(np.diag(G))),
            jnp.asarray(f),
            jnp.asarray(l0),
            1.5,
            False,
        )
        u, st = jax.jit(lambda j, s, f: tx.update(j, s, task_losses=f))(jac, st, jnp.asarray(f))
        np.testing.assert_allclose(st.weights, w_ref, rtol=1e-6)  # the glue logs in float32
        np.testing.assert_allclose(u["w"], w_ref @ np.asarray(jac["w"]), rtol=1e-10)
        theta, adam = _torch_adam(theta, g_ref, adam, 1e-4, 1e-5)
        np.testing.assert_allclose(st.inner.theta, theta, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# DB-MTL


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_db_mtl_ema_and_rescale_hand_computed(x64, sigma):
    beta = 0.9
    params = {"a": jnp.zeros((2,)), "b": jnp.zeros((1, 2))}
    tx = db_mtl(num_tasks=2, beta=beta, sigma=sigma)
    st = tx.init(params)
    assert st.inner.buffer["a"].shape == (2, 2) and st.inner.buffer["b"].shape == (2, 1, 2)
    steps = [
        (np.array([[3.0, 0.0, 0.0, 4.0], [0.0, 1.0, 0.0, 0.0]]), np.array([2.0, 0.5])),
        (np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0]]), np.array([1.0, 1.0])),
        (np.array([[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0]]), np.array([4.0, 0.25])),
    ]
    b = np.zeros((2, 4))
    for k, (g, f) in enumerate(steps, start=1):
        jac = {"a": jnp.asarray(g[:, :2]), "b": jnp.asarray(g[:, 2:].reshape(2, 1, 2))}
        beta_k = beta / k**sigma
        glog = g / (f[:, None] + 1e-8)
        b = beta_k * b + (1 - beta_k) * glog
        norms = np.linalg.norm(b, axis=1)
        alpha = norms.max() / (norms + 1e-8)
        u_ref = alpha @ b
        u, st = tx.update(jac, st, task_losses=jnp.asarray(f))
        got = np.concatenate([np.asarray(u["a"]), np.asarray(u["b"]).ravel()])
        np.testing.assert_allclose(got, u_ref, rtol=1e-10)
        np.testing.assert_allclose(st.inner.alpha, alpha, rtol=1e-10)
        buf = np.concatenate([st.inner.buffer["a"], st.inner.buffer["b"].reshape(2, 2)], axis=1)
        np.testing.assert_allclose(buf, b, rtol=1e-12)
        assert int(st.inner.step) == k
    # first update of a fresh state uses (1 − β) g / L (b₀ = 0, as LibMTL)
    u1, st1 = db_mtl_update(
        {"a": jnp.array([[2.0], [0.0]])}, jnp.array([1.0, 1.0]), db_mtl_init({"a": jnp.zeros(1)}, 2)
    )
    np.testing.assert_allclose(st1.buffer["a"], [[0.2], [0.0]], rtol=1e-7)
    np.testing.assert_allclose(u1["a"], [0.2], rtol=1e-7)  # zero task: α·0 = 0, no NaN


# ---------------------------------------------------------------------------------------------
# FAMO


def test_famo_two_steps_against_hand_adam(x64):
    m, lr, wd = 3, 0.025, 1e-3
    st = famo_init(m)
    rng = np.random.default_rng(3)
    xi, adam = np.zeros(m), (np.zeros(m), np.zeros(m), 0)
    for _ in range(2):
        before = np.abs(rng.standard_normal(m)) + 0.5
        after = before * rng.uniform(0.5, 1.0, m)
        # one-backward scalar: ∂S/∂L = z / (c D)
        z = _softmax(xi)
        d = before + 1e-8
        w_ref = (z / d) / np.sum(z / d)
        w = jax.grad(lambda f, st=st: famo_loss(f, st)[0])(jnp.asarray(before))
        np.testing.assert_allclose(w, w_ref, rtol=1e-10)
        s, st = famo_loss(jnp.asarray(before), st)
        np.testing.assert_allclose(s, np.sum(z / np.sum(z / d) * np.log(d)), rtol=1e-12)
        st = famo_update(st, jnp.asarray(after))
        delta = np.log(before + 1e-8) - np.log(after + 1e-8)
        jsm = np.diag(z) - np.outer(z, z)
        xi, adam = _torch_adam(xi, jsm.T @ delta, adam, lr, wd)
        np.testing.assert_allclose(st.logits, xi, rtol=1e-6, atol=1e-12)
    assert not bool(st.has_prev)
    # a second update without a new step is a no-op
    np.testing.assert_allclose(famo_update(st, jnp.ones(m)).logits, st.logits)
    assert float(famo_init(m, official=True).weight_decay) == pytest.approx(1e-5)


def test_famo_transform_matches_loss_path_under_jit():
    m = 3
    tx = optax.chain(famo(num_tasks=m), optax.sgd(0.1))
    cs = tx.init({"w": jnp.zeros(4)})
    jac = {"w": jnp.arange(12.0).reshape(3, 4) / 10}
    f0, f1 = jnp.array([1.0, 2.0, 0.5]), jnp.array([0.9, 1.0, 0.45])
    upd = jax.jit(lambda j, c, f: tx.update(j, c, task_losses=f))
    u, cs = upd(jac, cs, f0)
    w_loss = jax.grad(lambda f: famo_loss(f, famo_init(m))[0])(f0)
    np.testing.assert_allclose(cs[0].weights, w_loss, rtol=1e-6)
    np.testing.assert_allclose(u["w"], -0.1 * (w_loss @ jac["w"]), rtol=1e-5)
    cs = jax.jit(famo_update)(cs, f1)
    _, st = famo_loss(f0, famo_init(m))
    np.testing.assert_allclose(cs[0].inner.logits, famo_update(st, f1).logits, rtol=1e-6)
    w, _ = famo_weights(None, f0, famo_init(m))
    np.testing.assert_allclose(jnp.sum(w), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Auto-λ


def _auto_lambda_outer(params, raw, use_softmax, primary, tr, va, lr, momentum, wd):
    """F(r) = Σ_t p_t L_t^val(θ'(r)) with the virtual step written out."""

    def weighted(p):
        lam = jax.nn.softmax(raw) if use_softmax else raw
        return jnp.sum(lam * _mlp_losses(p, tr))

    g = jax.grad(weighted)(params)
    step = jax.tree_util.tree_map(lambda a, mo, p: a + mo + wd * p, g, momentum, params)
    pv = _tree_axpy(-lr, step, params)
    return jnp.sum(primary * _mlp_losses(pv, va))


@functools.partial(jax.jit, static_argnums=(2,))
def _outer_batch(params, rs, use_softmax, primary, tr, va, lr, momentum, wd):
    return jax.vmap(
        lambda r: _auto_lambda_outer(params, r, use_softmax, primary, tr, va, lr, momentum, wd)
    )(rs)


@functools.partial(jax.jit, static_argnums=(7,))
def _hypergrad(params, st, tr, va, momentum, lr, wd, exact):
    return auto_lambda_hypergrad(
        _mlp_losses,
        params,
        st,
        tr,
        va,
        inner_lr=lr,
        momentum=momentum,
        weight_decay=wd,
        exact_hvp=exact,
    )


@pytest.mark.parametrize("libmtl", [False, True])
def test_auto_lambda_hypergradient_against_finite_differences(x64, libmtl):
    params = _mlp_params(jax.random.key(0))
    tr, va = _batches(jax.random.key(1))
    momentum = jax.tree_util.tree_map(lambda p: 0.05 * jnp.cos(p), params)
    wd, lr = 1e-2, 0.2
    primary = None if libmtl else jnp.array([1.0, 0.0, 1.0])
    st = auto_lambda_init(3, primary=primary, libmtl=libmtl)
    st = st._replace(raw=st.raw + jnp.array([0.05, -0.02, 0.01]))

    h, E = 1e-5, jnp.eye(3)
    r_pm = jnp.concatenate([st.raw[None] + h * E, st.raw[None] - h * E])
    vals = _outer_batch(params, r_pm, libmtl, st.primary, tr, va, lr, momentum, wd)
    fd = np.asarray((vals[:3] - vals[3:]) / (2 * h))
    exact, aux = _hypergrad(params, st, tr, va, momentum, lr, wd, True)
    approx, _ = _hypergrad(params, st, tr, va, momentum, lr, wd, False)
    np.testing.assert_allclose(exact, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(approx, fd, rtol=1e-3, atol=1e-6)  # DARTS finite difference
    np.testing.assert_allclose(aux.train_losses, _mlp_losses(params, tr), rtol=1e-12)
    assert np.max(np.abs(fd)) > 1e-4  # a non-trivial case


def test_auto_lambda_step_adam_and_transform_under_jit():
    params = _mlp_params(jax.random.key(2), dtype=jnp.float32)
    tr, va = _batches(jax.random.key(3), dtype=jnp.float32)
    tx = auto_lambda(num_tasks=3, primary=[1.0, 0.0, 0.0])
    ts = tx.init(params)
    step = jax.jit(lambda p, s: auto_lambda_step(_mlp_losses, p, s, tr, va, inner_lr=0.1))
    ts2, aux = step(params, ts)
    assert isinstance(ts2.inner, AutoLambdaState)
    # first Adam step: r − lr·g/(|g| + ε) = r − lr·sign(g)
    expect = 0.1 - 1e-4 * np.sign(np.asarray(aux.hypergrad))
    np.testing.assert_allclose(ts2.inner.raw, expect, rtol=1e-5)
    np.testing.assert_allclose(auto_lambda_weights(ts2), expect, rtol=1e-5)
    _, jac = jax.jit(value_and_jacobian(_mlp_losses))(params, tr)
    u, _ = jax.jit(tx.update)(jac, ts2)
    np.testing.assert_allclose(u["w2"], jnp.tensordot(ts2.inner.raw, jac["w2"], 1), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# MOML


def test_moml_hypergradients_against_finite_differences(x64):
    params = _mlp_params(jax.random.key(4))
    inner, outer = _batches(jax.random.key(5))
    st = moml_init(3)._replace(logits=jnp.array([0.3, -0.2, 0.1]))
    eta = 0.1
    H, (l_in, l_out) = jax.jit(
        lambda s: moml_hypergrads(_mlp_losses, params, s, inner, outer, inner_lr=eta)
    )(st)

    def outer_losses(xi):
        g = jax.jacrev(_mlp_losses)(params, inner)  # g^in at θ (independent of ξ)
        step = jax.tree_util.tree_map(lambda x: jnp.tensordot(jax.nn.softmax(xi), x, 1), g)
        return _mlp_losses(_tree_axpy(-eta, step, params), outer)

    h, E = 1e-5, jnp.eye(3)
    vals = jax.jit(jax.vmap(outer_losses))(
        jnp.concatenate([st.logits[None] + h * E, st.logits[None] - h * E])
    )
    fd = np.asarray((vals[:3] - vals[3:]) / (2 * h)).T  # fd[t, j] = ∂L_t^out/∂ξ_j
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(l_in, _mlp_losses(params, inner), rtol=1e-12)
    np.testing.assert_allclose(np.sum(H, axis=1), 0.0, atol=1e-12)  # softmax: rows ⟂ 1


def test_moml_step_mgda_and_adam(x64):
    params = _mlp_params(jax.random.key(6))
    inner, outer = _batches(jax.random.key(7))
    st = moml_init(3)._replace(logits=jnp.array([0.4, -0.1, 0.0]))
    step = jax.jit(
        lambda s, solver: moml_step(
            _mlp_losses, params, s, inner, outer, inner_lr=0.1, solver=solver
        ),
        static_argnums=1,
    )
    new, aux = step(st, "active_set")
    H = np.asarray(aux.hypergrads)
    Hn = H / np.linalg.norm(H, axis=1, keepdims=True)
    G = Hn @ Hn.T
    w = np.asarray(aux.mgda_weights)
    # KKT of min_{w ∈ Δ} wᵀGw: w ≥ 0, Σw = 1, (Gw)_i ≥ wᵀGw with equality on the support
    assert np.all(w >= -1e-12) and abs(w.sum() - 1) < 1e-12
    gw, f = G @ w, w @ G @ w
    assert np.all(gw >= f - 1e-9) and np.all(np.abs((gw - f)[w > 1e-9]) < 1e-9)
    xi, _ = _torch_adam(np.asarray(st.logits), Hn.T @ w, (np.zeros(3), np.zeros(3), 0), 1e-3, 0.0)
    np.testing.assert_allclose(new.logits, xi, rtol=1e-9)
    assert np.max(np.abs(xi - np.asarray(st.logits))) > 5e-4  # a real step
    np.testing.assert_allclose(moml_weights(new), _softmax(xi), rtol=1e-9)

    # m = 2 closed form for the min-norm weights, through a callable solver
    def two_task(g):
        gam = jnp.clip((g[1, 1] - g[0, 1]) / (g[0, 0] + g[1, 1] - 2 * g[0, 1]), 0.0, 1.0)
        return jnp.stack([gam, 1.0 - gam])

    G2 = jnp.asarray(G[:2, :2])
    np.testing.assert_allclose(two_task(G2), _min_norm_exact(G[:2, :2]), atol=1e-9)


def _min_norm_exact(G):
    from paretojax.core.qp import min_norm

    return np.asarray(min_norm(jnp.asarray(G), solver="exact"))


# ---------------------------------------------------------------------------------------------
# FORUM


def _forum_slsqp(Ghat, cos_q, s, phi):
    """The FORUM QP in LibMTL's variables (w_1..w_m, w_{m+1}) by SLSQP, from the unit Gram."""
    m = Ghat.shape[0] - 1
    D = np.diag(np.r_[np.ones(m), s])
    AAT = D @ Ghat @ D
    pi = phi - cos_q * s / (s**2 + 1e-8)

    def obj(w):
        return w @ AAT @ w - phi * s**2 * w[m]

    r = minimize(
        obj,
        np.r_[np.full(m, 1 / m), 1.0],
        jac=lambda w: 2 * AAT @ w - phi * s**2 * np.eye(m + 1)[m],
        constraints=[
            {"type": "eq", "fun": lambda w: np.sum(w[:m]) - 1},
            {"type": "ineq", "fun": lambda w: w[m] - pi @ w[:m]},
        ],
        bounds=[(0, None)] * (m + 1),
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 500},
    )
    return r.x, obj(r.x), obj, pi


_forum_weights = jax.jit(forum_weights, static_argnames=("phi",))


def test_forum_qp_constraint_simplex_and_ema(x64):
    rng = np.random.default_rng(8)
    m, phi = 3, 0.1
    for trial in range(4):
        rows = rng.standard_normal((m + 1, 5))
        rows[m] *= [0.05, 1.0, 20.0, 0.3][trial]  # ‖g_q‖ from small to large
        G = rows @ rows.T
        st = forum_init(m)
        row_w, st = _forum_weights(G, None, st, phi=phi)
        w = np.asarray(st.qp_weights)
        assert bool(st.qp_converged)
        n = np.sqrt(np.diag(G))
        Ghat = G / np.outer(n, n)
        x_ref, f_ref, obj, pi = _forum_slsqp(Ghat, Ghat[:m, m], n[m], phi)
        assert np.all(w >= -1e-10)
        np.testing.assert_allclose(np.sum(w[:m]), 1.0, atol=1e-10)
        assert w[m] >= pi @ w[:m] - 1e-9  # the side constraint
        assert obj(w) <= f_ref + 1e-8 * (1 + abs(f_ref))  # at least as good as SLSQP
        # epoch 0: Λ = w; ν = max(Λ·π, 0); row weights (Λ_t/‖∇F_t‖, ν)
        np.testing.assert_allclose(st.ema, w[:m], rtol=1e-12)
        nu = max(w[:m] @ pi, 0.0)
        np.testing.assert_allclose(row_w, np.r_[w[:m] / n[:m], nu], rtol=1e-8, atol=1e-12)
    # EMA with rate (e + 1)^(-3/4) after an epoch boundary
    st = forum_epoch_end(st)
    prev = np.asarray(st.ema)
    _, st2 = _forum_weights(G, None, st, phi=phi)
    rate = 2.0**-0.75
    np.testing.assert_allclose(
        st2.ema, prev + rate * (np.asarray(st2.qp_weights[:m]) - prev), rtol=1e-12
    )


@functools.partial(jax.jit, static_argnames=("steps",))
def _forum_step_jit(params, state, inner, outer, lr, steps=3):
    return forum_step(_mlp_losses, params, state, inner, outer, inner_lr=lr, inner_steps=steps)


@functools.partial(jax.jit, static_argnames=("steps",))
def _forum_reference_pieces(params, xi, inner, outer, lr, steps=3):
    """g_q (ξ and θ parts) and the outer Jacobian, written out with plain jax.grad."""

    def f(x, p):
        return jnp.sum(jax.nn.softmax(x) * _mlp_losses(p, inner))

    gx, gth = jax.grad(f, argnums=(0, 1))(xi, params)
    p_t = params
    for _ in range(steps):
        p_t = _tree_axpy(-lr, jax.grad(f, argnums=1)(xi, p_t), p_t)
    return gx - jax.grad(f)(xi, p_t), gth, jax.jacrev(_mlp_losses)(params, outer)


def test_forum_step_assembles_the_direction_and_guards_the_inner_loop(x64):
    params = _mlp_params(jax.random.key(9))
    inner, outer = _batches(jax.random.key(10))
    inner = (inner[0], 10.0 * inner[1])  # large inner gradients: π > 0, the constraint is active
    st = forum_init(3)._replace(logits=jnp.array([0.2, -0.3, 0.1]))
    d, new, aux = _forum_step_jit(params, st, inner, outer, 0.1)
    # independent assembly
    gq_xi, gth, jo = _forum_reference_pieces(params, st.logits, inner, outer, 0.1)
    keys = ("b1", "w1", "w2")
    rows = np.concatenate([np.asarray(jo[k]).reshape(3, -1) for k in keys], axis=1)
    gq_th = np.concatenate([np.asarray(gth[k]).ravel() for k in keys])
    full = np.concatenate([np.c_[np.zeros((3, 3)), rows], np.r_[gq_xi, gq_th][None]], axis=0)
    row_w, ref_state = _forum_weights(full @ full.T, None, st)
    d_ref = row_w[:3] @ rows + row_w[3] * gq_th
    got = np.concatenate([np.asarray(d[k]).ravel() for k in keys])
    np.testing.assert_allclose(got, d_ref, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(new.ema, ref_state.ema, rtol=1e-8)
    xi_ref, _ = _torch_adam(
        np.asarray(st.logits),
        float(row_w[3]) * np.asarray(gq_xi),
        (np.zeros(3), np.zeros(3), 0),
        1e-3,
        0.0,
    )
    np.testing.assert_allclose(new.logits, xi_ref, rtol=1e-9)
    assert int(aux.inner_steps) == 3
    np.testing.assert_allclose(np.sum(new.qp_weights[:3]), 1.0, atol=1e-9)
    assert float(aux.nu) > 0  # the constraint gradient is active in this case
    # a huge inner learning rate blows the inner loss past 1e5: the loop stops early, no NaN
    d, st2, aux = _forum_step_jit(params, st, inner, outer, 1e4)
    assert int(aux.inner_steps) < 3
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves((d, st2)))


def test_forum_transform_and_epoch_end(x64):
    # transform over m + 1 rows; the state can be advanced with forum_epoch_end
    tx = optax.chain(forum(num_tasks=3), optax.sgd(1.0))
    cs = tx.init({"z": jnp.zeros(4)})
    rows = {"z": jnp.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0.5, 0.5, 0.5, 1.0]])}
    u, cs = tx.update(rows, cs)
    assert isinstance(cs[0].inner, FORUMState)
    np.testing.assert_allclose(cs[0].inner.ema, [1 / 3] * 3, atol=1e-6)
    row_w, _ = _forum_weights(rows["z"] @ rows["z"].T, None, forum_init(3))
    np.testing.assert_allclose(u["z"], -(row_w @ rows["z"]), rtol=1e-10)
    assert int(forum_epoch_end(cs)[0].inner.epoch) == 1
    with pytest.raises(ValueError, match="m outer task gradients"):
        forum_weights(jnp.eye(2), None, forum_init(2))


def test_forum_zero_constraint_gradient_is_finite(x64):
    rows = jnp.array(
        [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    )  # g_q = 0
    w, st = _forum_weights(rows @ rows.T, None, forum_init(3), phi=0.1)
    assert bool(jnp.all(jnp.isfinite(w))) and bool(st.qp_converged)
    np.testing.assert_allclose(st.qp_weights[:3], [1 / 3] * 3, atol=1e-6)  # MGDA of unit rows
    # π = φ when g_q = 0, so ν = φ; it multiplies a zero row
    np.testing.assert_allclose(w[3], 0.1, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Numerics shared by all: zero gradients, m = 1, jit


def _transforms(m):
    return {
        "gradnorm": gradnorm(num_tasks=m, initial_loss="first_batch"),
        "gradnorm_paper": gradnorm(num_tasks=m, paper=True),
        "db_mtl": db_mtl(num_tasks=m),
        "famo": famo(num_tasks=m),
        "auto_lambda": auto_lambda(num_tasks=m),
        "moml": moml(num_tasks=m),
    }


def _all_finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("m", [1, 3])
def test_zero_gradients_and_single_task_no_nan(x64, m):
    params = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(3)}
    txs = _transforms(m)
    scales = jnp.array([0.0, 1e-8, 1.0, 1e8])
    loss_sets = jnp.array([[0.5] * m, [0.0] * m])  # ordinary and zero losses

    @jax.jit
    def run_all(scales, loss_sets):
        out = {}
        for name, tx in txs.items():

            def one(scale, losses, tx=tx):
                jac = jax.tree_util.tree_map(lambda p: scale * jnp.ones((m, *p.shape)), params)
                st = tx.init(params)
                u, st = tx.update(jac, st, task_losses=losses)
                u, st = tx.update(jac, st, task_losses=losses)  # a second (stateful) step
                return u, st

            out[name] = jax.vmap(jax.vmap(one, (None, 0)), (0, None))(scales, loss_sets)
        return out

    for name, (u, st) in run_all(scales, loss_sets).items():
        assert _all_finite(u) and _all_finite(st), name
        assert int(jnp.sum(st.skipped)) == 0, name
    # FORUM: m outer rows + g_q, all zero, then all equal
    tx = forum(num_tasks=m)
    for rows in (jnp.zeros((m + 1, 3)), jnp.ones((m + 1, 3))):
        u, st = tx.update({"w": rows}, tx.init({"w": jnp.zeros(3)}))
        assert _all_finite((u, st)) and int(st.skipped) == 0


def test_bilevel_steps_single_task_and_zero_gradients(x64):
    def const(params, batch):
        return jnp.stack([jnp.sum(params["w"] * 0.0) + 1.0])

    params = {"w": jnp.ones(3)}
    st, aux = auto_lambda_step(const, params, auto_lambda_init(1), None, None, inner_lr=0.1)
    assert bool(jnp.all(jnp.isfinite(st.raw)))
    st, aux = moml_step(const, params, moml_init(1), None, None)
    assert bool(jnp.all(jnp.isfinite(st.logits)))
    d, st, aux = forum_step(const, params, forum_init(1), None, None)
    assert bool(jnp.all(jnp.isfinite(d["w"]))) and bool(jnp.all(jnp.isfinite(st.ema)))


def test_validation_errors():
    with pytest.raises(ValueError, match="num_tasks"):
        famo(num_tasks=0)
    with pytest.raises(ValueError, match="initial_loss"):
        gradnorm(num_tasks=2, initial_loss="bad")
    with pytest.raises(ValueError, match="beta"):
        db_mtl(num_tasks=2, beta=1.5)
    with pytest.raises(ValueError, match="parameter pytree"):
        db_mtl(num_tasks=2).init(None)
    with pytest.raises(ValueError, match="primary"):
        auto_lambda_init(2, primary=[0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        famo_loss(jnp.ones(3), famo_init(2))
    with pytest.raises(ValueError, match="FAMOState"):
        famo_update({"not": jnp.ones(2)}, jnp.ones(2))
    with pytest.raises(ValueError, match="gram must have shape"):
        gradnorm_weights(jnp.eye(3), jnp.ones(2), gradnorm_init(2))
    with pytest.raises(ValueError, match="phi"):
        forum(num_tasks=2, phi=-1.0)
    _ = gram  # imported for completeness of the public API used in docs
