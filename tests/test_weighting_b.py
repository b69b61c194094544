"""Gradient-balancing catalogue, part B: UPGrad, DualProj, MoDo, SDMGrad, MoCo, ExcessMTL."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quadprog
from scipy.optimize import minimize_scalar

from paretojax.manipulation._pcgrad import pcgrad_weights
from paretojax.weighting._cagrad import cagrad
from paretojax.weighting._dualproj import dualproj, dualproj_weights
from paretojax.weighting._excess_mtl import excess_mtl
from paretojax.weighting._moco import moco
from paretojax.weighting._modo import cross_matrix, modo, modo_weights
from paretojax.weighting._sdmgrad import sdmgrad, sdmgrad_weights
from paretojax.weighting._upgrad import upgrad, upgrad_weights
from tests.helpers import G3, G_BASE, J_BASE, random_jacobian

F32 = jnp.float32


def _split(j: np.ndarray) -> dict:
    """An (m, d) matrix as a two-leaf pytree (exercises the leaf-by-leaf code paths)."""
    return {"a": jnp.asarray(j[:, :2], F32), "b": jnp.asarray(j[:, 2:], F32)}


def _params(d: int) -> dict:
    return {"a": jnp.zeros(2, F32), "b": jnp.zeros(d - 2, F32)}


def _flat(u: dict) -> np.ndarray:
    return np.concatenate([np.asarray(u["a"]), np.asarray(u["b"])])


def _proj_simplex(v: np.ndarray) -> np.ndarray:
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1.0), 0.0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


# ---------------------------------------------------------------------------------------------
# UPGrad / DualProj
# ---------------------------------------------------------------------------------------------

GOLDEN = {
    "upgrad": (upgrad_weights, upgrad, [1.1109, 0.7894], [0.2929, 1.9004, 1.9004],
               [0.6749, 1.0125, 0.5209]),
    "dualproj": (dualproj_weights, dualproj, [0.6109, 0.5], [0.5563, 1.1109, 1.1109],
                 [0.33333, 0.50391, 0.33333]),
}


@pytest.mark.parametrize("name", list(GOLDEN))
@pytest.mark.parametrize("solver", ["active_set", "exact"])
def test_dual_cone_goldens(name, solver):
    weights_fn, factory, w_base, a_base, w3 = GOLDEN[name]
    np.testing.assert_allclose(weights_fn(jnp.asarray(G_BASE, F32), solver=solver)[0], w_base,
                               atol=1e-4)
    np.testing.assert_allclose(weights_fn(jnp.asarray(G3, F32), solver=solver)[0], w3, atol=1e-4)
    tx = factory(solver=solver)
    u, _ = tx.update(_split(J_BASE), tx.init(_params(3)))
    np.testing.assert_allclose(_flat(u), a_base, atol=1e-4)


@pytest.mark.usefixtures("x64")
def test_dual_cone_goldens_without_ridge():
    np.testing.assert_allclose(upgrad_weights(jnp.asarray(G_BASE), reg_eps=0.0)[0],
                               [10 / 9, 15 / 19], atol=1e-10)
    np.testing.assert_allclose(upgrad_weights(jnp.asarray(G3), reg_eps=0.0)[0],
                               [0.67537, 1.01334, 0.52117], atol=1e-5)
    np.testing.assert_allclose(dualproj_weights(jnp.asarray(G3), reg_eps=0.0)[0],
                               [0.33333, 0.50407, 0.33333], atol=1e-5)


def test_upgrad_equals_pcgrad_for_two_tasks():
    rng = np.random.default_rng(0)
    key = jax.random.key(0)
    from paretojax.manipulation._pcgrad import PCGradState

    for _ in range(6):
        j = random_jacobian(rng, 2, 5)
        g = jnp.asarray(j @ j.T, F32)
        w_up = upgrad_weights(g, pref_vector=jnp.ones(2), reg_eps=0.0)[0]
        w_pc = pcgrad_weights(g, state=PCGradState(key))[0]
        np.testing.assert_allclose(w_up, w_pc, rtol=1e-4, atol=1e-5)


def _random_batch(rng, n, m, d, rank=None):
    return np.stack([random_jacobian(rng, m, d, rank=rank) for _ in range(n)])


_RUNS: dict = {}


def _nc_updates(weights_fn, js, reg_eps=1e-4):
    """Batched ``(Jᵀw, w)``; one jitted function per (method, ridge), reused across tests."""
    if (weights_fn, reg_eps) not in _RUNS:

        @jax.jit
        def run(js):
            g = jnp.einsum("nid,njd->nij", js, js)
            w = jax.vmap(lambda g: weights_fn(g, reg_eps=reg_eps)[0])(g)
            return jnp.einsum("nm,nmd->nd", w, js), w

        _RUNS[weights_fn, reg_eps] = run
    u, w = _RUNS[weights_fn, reg_eps](jnp.asarray(js))
    return np.asarray(u, np.float64), np.asarray(w, np.float64)


@pytest.mark.parametrize("name", ["upgrad", "dualproj"])
def test_non_conflicting_permutation_invariant_and_nonzero(name):
    """NC as the KKT conditions of the ridged QP imply it exactly:
    ``(G/tr G + εI)v ≥ 0 ⇒ Ju = Gw ≥ −ε·tr(G)·w``. Because of TorchJD's ridge, ``Ju ≥ −4e-4``
    (and TorchJD's own ``‖(Ju)₊‖ ≈ ‖Ju‖`` criterion) fail on rank-1 Jacobians with opposite rows,
    for TorchJD's quadprog solution as well (see the reference test below); without the ridge the
    projection is exactly non-conflicting (next test)."""
    weights_fn = GOLDEN[name][0]
    rng = np.random.default_rng(1)
    m, d = 5, 8
    js = np.concatenate([_random_batch(rng, 8, m, d, rank=r) for r in (1, 2, 3, 5)])
    perms = np.stack([rng.permutation(m) for _ in js])
    js_p = np.stack([j[p] for j, p in zip(js, perms, strict=True)])
    u, w = _nc_updates(weights_fn, js.astype(np.float32))
    u_p, _ = _nc_updates(weights_fn, js_p.astype(np.float32))
    for j, uu, ww in zip(js, u, w, strict=True):
        ju = j @ uu
        bound = -1e-4 * np.trace(j @ j.T) * ww - 1e-4 * np.abs(j).max() ** 2 * ww.max()
        assert np.all(ju >= bound), f"{name}: {ju} < {bound}"
    np.testing.assert_allclose(u_p, u, rtol=1e-3, atol=1e-4)
    # SS: full-row-rank Jacobians (d ≥ m) are not strongly stationary ⇒ non-zero update.
    assert np.all(np.linalg.norm(u[-8:], axis=1) > 5e-3 * np.abs(js[-8:]).max(axis=(1, 2)))


def _torchjd_reference(j, name, p=None):
    """TorchJD's formulation with quadprog (``_utils/dual_cone.py``), float64."""
    m = j.shape[0]
    p = np.full(m, 1.0 / m) if p is None else np.asarray(p, np.float64)
    g = j @ j.T
    gn = g / np.trace(g) + 1e-4 * np.eye(m)

    def qp(u):
        return quadprog.solve_qp(gn, np.zeros(m), np.eye(m), u)[0]

    if name == "upgrad":
        return sum(qp(np.eye(m)[i] * p[i]) for i in range(m))
    return qp(p)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", ["upgrad", "dualproj"])
def test_matches_torchjd_quadprog_formulation(name):
    weights_fn = GOLDEN[name][0]
    rng = np.random.default_rng(12)
    for m, ranks in ((2, (1, 2)), (5, (1, 3, 5))):
        js = np.concatenate([_random_batch(rng, 8, m, 7, rank=r) for r in ranks])
        _, ws = _nc_updates(weights_fn, js)
        for j, w in zip(js, ws, strict=True):
            np.testing.assert_allclose(w, _torchjd_reference(j, name), rtol=1e-6, atol=1e-8)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", ["upgrad", "dualproj"])
def test_exactly_non_conflicting_without_ridge(name):
    weights_fn = GOLDEN[name][0]
    rng = np.random.default_rng(11)
    js = np.concatenate([_random_batch(rng, 6, 4, 6, rank=r) for r in (1, 2, 4)])
    u, _ = _nc_updates(weights_fn, js, reg_eps=0.0)
    for j, uu in zip(js, u, strict=True):
        assert np.all(j @ uu >= -1e-9 * np.abs(j).max() ** 2 * max(1.0, np.abs(uu).max())), name


def _lus_errors(js, rng, reg_eps=1e-4, c_min=0.1):
    """max |A(diag(αc₁+βc₂)J) − αA(diag(c₁)J) − βA(diag(c₂)J)| per J (one batched call)."""
    n, m, _ = js.shape
    c1, c2 = rng.uniform(c_min, 2.0, (n, m, 1)), rng.uniform(c_min, 2.0, (n, m, 1))
    a, b = rng.uniform(0.2, 2.0, (2, n, 1, 1))
    batch = np.concatenate([(a * c1 + b * c2) * js, c1 * js, c2 * js])
    run = jax.jit(jax.vmap(lambda jj: jj.T @ upgrad_weights(jj @ jj.T, reg_eps=reg_eps)[0]))
    x = np.asarray(run(jnp.asarray(batch)), np.float64).reshape(3, n, -1)
    err = np.abs(x[0] - a[:, :, 0] * x[1] - b[:, :, 0] * x[2]).max(axis=1)
    return err / np.maximum(1.0, np.abs(x[0]).max(axis=1))


def test_upgrad_linear_under_scaling():
    """LUS holds exactly without the ridge (next test); TorchJD's ridge ε = 1e-4 perturbs it by
    O(ε/λ_min(G/tr G)) — 7e-2 for TorchJD's own quadprog solution on a random 3×7 Jacobian with
    λ_min(G/tr G) = 3e-4 — so with the default ridge it is checked on conflicting Jacobians with
    λ_min(G/tr G) ≥ 0.02 and row scalings in [0.5, 2]."""
    rng = np.random.default_rng(2)
    js = []
    while len(js) < 6:
        j = random_jacobian(rng, 3, 7)
        g = j @ j.T
        if np.linalg.eigvalsh(g / np.trace(g))[0] >= 0.02 and np.any(g < 0):
            js.append(j)
    assert np.all(_lus_errors(np.stack(js).astype(np.float32), rng, c_min=0.5) < 2e-3)


@pytest.mark.usefixtures("x64")
def test_upgrad_exactly_linear_under_scaling_without_ridge():
    rng = np.random.default_rng(13)
    js = np.stack([random_jacobian(rng, 4, 6, rank=r) for r in (1, 2, 3, 4, 4, 4)])
    assert np.all(_lus_errors(js, rng, reg_eps=0.0) < 1e-8)


def _split_traced(j):
    return {"a": j[:, :2], "b": j[:, 2:]}


@pytest.mark.parametrize("factory", [upgrad, dualproj])
def test_dual_cone_degenerate_inputs(factory):
    """zero / duplicate / collinear / 1e8 / 1e-8 Jacobians (one batched call) and m = 1."""
    rng = np.random.default_rng(3)
    j = random_jacobian(rng, 3, 5)
    dup, col = j.copy(), j.copy()
    dup[1], col[1] = j[0], -2.0 * j[0]
    cases = np.stack([np.zeros_like(j), dup, col, 1e8 * j, 1e-8 * j, j])
    tx = factory(num_tasks=3)
    st = tx.init(_params(5))

    @jax.jit
    def run(js):
        return jax.vmap(lambda jj: tx.update(_split_traced(jj), st))(js)

    u, sts = run(jnp.asarray(cases, F32))
    u = np.concatenate([u["a"], u["b"]], axis=1)
    w = np.asarray(sts.weights)
    assert np.all(np.isfinite(u)) and np.all(np.asarray(sts.skipped) == 0)
    # G/tr G → 0 when tr < norm_eps (zero, tiny): weights = p (TorchJD).
    np.testing.assert_allclose(w[[0, 4]], np.full((2, 3), 1 / 3), rtol=1e-5)
    np.testing.assert_allclose(w[3], w[5], rtol=1e-3, atol=1e-5)  # scale invariant weights
    g = cases[1:3] @ np.transpose(cases[1:3], (0, 2, 1))
    assert np.all(np.einsum("nij,nj->ni", g, w[1:3]) >= -1e-3 * np.abs(g).max())
    tx1 = factory(num_tasks=1)
    u1, st1 = tx1.update(_split(j[:1]), tx1.init(_params(5)))
    np.testing.assert_allclose(st1.weights, [1.0], rtol=1e-6)
    np.testing.assert_allclose(_flat(u1), j[0], rtol=1e-6)


@pytest.mark.parametrize("factory,name", [(upgrad, "upgrad"), (dualproj, "dualproj")])
def test_dual_cone_jit_vmap_over_prefs(factory, name):
    """vmap over Jacobians and preferences (``update(..., pref=p)``) against TorchJD's
    quadprog formulation with ``pref_vector = p``."""
    rng = np.random.default_rng(4)
    js = _random_batch(rng, 5, 3, 4)
    prefs = rng.dirichlet(np.ones(3), 5)
    tx = factory()
    st = tx.init(_params(4))
    batched = jax.jit(jax.vmap(lambda j, p: tx.update(_split_traced(j), st, pref=p)[0]))(
        jnp.asarray(js, F32), jnp.asarray(prefs, F32))
    u = np.concatenate([batched["a"], batched["b"]], axis=1)
    for j, p, uu in zip(js, prefs, u, strict=True):
        np.testing.assert_allclose(uu, j.T @ _torchjd_reference(j, name, p), rtol=2e-4, atol=2e-4)
    # The pref extra arg overrides pref_vector, and pref_vector is used otherwise.
    w = upgrad_weights(jnp.asarray(G3, F32), pref=jnp.array([1.0, 0.0, 0.0]))[0]
    w2 = upgrad_weights(jnp.asarray(G3, F32), pref_vector=jnp.array([1.0, 0.0, 0.0]))[0]
    np.testing.assert_allclose(w, w2)
    assert w[0] >= 1.0 - 1e-6




def test_dual_cone_validation():
    with pytest.raises(ValueError, match="solver"):
        upgrad(solver="qp")
    with pytest.raises(ValueError, match="reg_eps"):
        dualproj(reg_eps=-1.0)
    with pytest.raises(ValueError, match="pref_vector"):
        upgrad(pref_vector=[1.0, -1.0])
    tx = upgrad(pref_vector=[0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="shape"):
        tx.update(_split(J_BASE), tx.init(_params(3)))


# ---------------------------------------------------------------------------------------------
# MoDo
# ---------------------------------------------------------------------------------------------


def test_modo_goldens():
    np.testing.assert_allclose(modo_weights(jnp.asarray(G_BASE, F32))[0], [0.505, 0.495], atol=1e-4)
    j = _split(J_BASE)
    tx = modo(num_tasks=2)
    u, st = tx.update(j, tx.init(_params(3)), jac1=j, jac2=j)
    np.testing.assert_allclose(st.inner.weights, [0.505, 0.495], atol=1e-4)
    np.testing.assert_allclose(_flat(u), [0.95, 1.0, 1.0], atol=1e-4)
    tx = modo(num_tasks=2, gamma=0.1)
    u, st = tx.update(j, tx.init(_params(3)), jac1=j, jac2=j)
    np.testing.assert_allclose(st.inner.weights, [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(_flat(u), J_BASE[0], atol=1e-5)
    # TorchJD variant: softmax instead of the projection.
    tx = modo(num_tasks=2, gamma=0.1, simplex="softmax")
    _, st = tx.update(j, tx.init(_params(3)), jac1=j, jac2=j)
    lam = np.full(2, 0.5)
    np.testing.assert_allclose(st.inner.weights, _softmax(lam - 0.1 * (G_BASE @ lam + 0.1 * lam)),
                               rtol=1e-5)


def test_cross_matrix_leaf_by_leaf_and_three_batches():
    rng = np.random.default_rng(5)
    m, d = 3, 6
    j1, j2, j3 = (random_jacobian(rng, m, d) for _ in range(3))
    mat = cross_matrix(_split(j1), _split(j2))
    np.testing.assert_allclose(mat, j1 @ j2.T, rtol=1e-5, atol=1e-5)
    assert not np.allclose(mat, np.asarray(mat).T)
    gamma, rho = 0.05, 0.1
    tx = modo(num_tasks=m, gamma=gamma, rho=rho)
    st = tx.init(_params(d))
    step = jax.jit(tx.update)
    lam = np.full(m, 1.0 / m)
    for _ in range(3):  # the state carries λ across calls
        u, st = step(_split(j3), st, jac1=_split(j1), jac2=_split(j2))
        lam = _proj_simplex(lam - gamma * (j1 @ j2.T @ lam + rho * lam))
        np.testing.assert_allclose(st.inner.weights, lam, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_flat(u), j3.T @ lam, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(st.weights, lam, rtol=1e-5, atol=1e-6)
        assert np.all(lam >= 0) and abs(lam.sum() - 1) < 1e-6
    # Missing batches default to the update batch: only jac1 ⇒ M = J₁J₃ᵀ.
    _, st2 = tx.update(_split(j3), tx.init(_params(d)), jac1=_split(j1))
    lam2 = _proj_simplex(np.full(m, 1 / m) - gamma * (j1 @ j3.T @ np.full(m, 1 / m) + rho / m))
    np.testing.assert_allclose(st2.inner.weights, lam2, rtol=1e-5, atol=1e-6)


def test_modo_skips_nonfinite_and_validates():
    j = random_jacobian(np.random.default_rng(6), 2, 4)
    bad = j.copy()
    bad[0, 1] = np.inf
    tx = modo(num_tasks=2)
    st = tx.init(_params(4))
    u, st2 = jax.jit(tx.update)(_split(j), st, jac1=_split(bad), jac2=_split(j))
    np.testing.assert_array_equal(_flat(u), 0.0)
    assert int(st2.skipped) == 1
    np.testing.assert_array_equal(st2.inner.weights, st.inner.weights)
    with pytest.raises(ValueError, match="num_tasks"):
        modo(num_tasks=0)
    with pytest.raises(ValueError, match="gamma"):
        modo(num_tasks=2, gamma=-1.0)
    with pytest.raises(ValueError, match="simplex"):
        modo(num_tasks=2, simplex="sparsemax")
    with pytest.raises(ValueError, match="structure"):
        tx.update(_split(j), st, jac1={"a": jnp.zeros((2, 4))})


# ---------------------------------------------------------------------------------------------
# SDMGrad
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [modo, sdmgrad])
def test_cross_batch_degenerate_inputs(factory):
    """zero / duplicate / collinear / 1e8 / 1e-8 batches (one vmapped call) and m = 1."""
    rng = np.random.default_rng(14)
    j = random_jacobian(rng, 3, 5)
    dup, col = j.copy(), j.copy()
    dup[1], col[1] = j[0], -2.0 * j[0]
    cases = np.stack([np.zeros_like(j), dup, col, 1e8 * j, 1e-8 * j])
    tx = factory(num_tasks=3)
    st = tx.init(_params(5))

    @jax.jit
    def run(js, j1s):
        return jax.vmap(lambda a, b: tx.update(_split_traced(a), st, jac1=_split_traced(b)))(
            js, j1s)

    u, sts = run(jnp.asarray(cases, F32), jnp.asarray(cases[::-1], F32))
    u = np.concatenate([u["a"], u["b"]], axis=1)
    w = np.asarray(sts.weights)
    assert np.all(np.isfinite(u)) and np.all(np.asarray(sts.skipped) == 0)
    assert np.all(w >= -1e-6) and np.allclose(w.sum(1), 1.0, atol=1e-5)
    tx1 = factory(num_tasks=1)
    u1, st1 = tx1.update(_split(j[:1]), tx1.init(_params(5)))
    np.testing.assert_allclose(st1.weights, [1.0], rtol=1e-6)
    np.testing.assert_allclose(_flat(u1), j[0], rtol=1e-5)


def _sdmgrad_reference(a, w, lr, mom, n_iter, lam, p):
    """LibMTL ``SDMGrad.backward`` in float64 (torch SGD-with-momentum semantics)."""
    diag = np.maximum(np.diag(a), 0.0)
    scale = np.mean(np.sqrt(diag))
    a = a / (scale**2 + 1e-8)
    ap = a @ p
    buf = None
    for _ in range(n_iter):
        grad = a @ w + lam * ap
        buf = grad if buf is None else mom * buf + grad
        w = _proj_simplex(w - lr * buf)
    return w, (w + lam * p) / (1 + lam)


def test_sdmgrad_golden_regression():
    j = _split(J_BASE)
    tx = sdmgrad(num_tasks=2)
    u, st = tx.update(j, tx.init(_params(3)), jac1=j, jac2=j)
    np.testing.assert_allclose(st.inner.weights, [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(_flat(u), [4.8462, 1.0, 1.0], atol=1e-4)
    w_ref, _ = _sdmgrad_reference(G_BASE, np.full(2, 0.5), 5.0, 0.5, 20, 0.3, np.full(2, 0.5))
    np.testing.assert_allclose(w_ref, [0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("variant,lr", [("libmtl", 5.0), ("torchjd", 10.0)])
def test_sdmgrad_matches_reference_recurrence(variant, lr):
    rng = np.random.default_rng(7)
    m, d = 4, 6
    jz, jx, jx2 = (random_jacobian(rng, m, d) for _ in range(3))
    pref = rng.dirichlet(np.ones(m))
    tx = sdmgrad(num_tasks=m, variant=variant)
    st = tx.init(_params(d))
    w = np.full(m, 1.0 / m)
    for k in range(3):
        p = np.full(m, 1.0 / m) if k < 2 else pref
        kw = {} if k < 2 else {"pref": jnp.asarray(pref, F32)}
        u, st = tx.update(_split(jz), st, jac1=_split(jx), jac2=_split(jx2), **kw)
        w, out = _sdmgrad_reference(jx @ jx2.T, w, lr, 0.5, 20, 0.3, p)
        np.testing.assert_allclose(st.inner.weights, w, atol=2e-4)
        np.testing.assert_allclose(st.weights, out, atol=2e-4)
        np.testing.assert_allclose(_flat(u), jz.T @ out, rtol=1e-3, atol=1e-3)
        assert abs(float(st.weights.sum()) - 1.0) < 1e-5 and np.all(np.asarray(st.weights) >= 0)


def test_sdmgrad_validation_and_zero():
    with pytest.raises(ValueError, match="variant"):
        sdmgrad(num_tasks=2, variant="official")
    with pytest.raises(ValueError, match="momentum"):
        sdmgrad(num_tasks=2, momentum=1.0)
    with pytest.raises(ValueError, match="n_iter"):
        sdmgrad(num_tasks=2, n_iter=0)
    w, st = sdmgrad_weights(jnp.zeros((3, 3)))
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(st.weights))


# ---------------------------------------------------------------------------------------------
# MoCo
# ---------------------------------------------------------------------------------------------


def _moco_reference(js, losses, beta=0.5, bs=0.5, gamma=0.1, gs=0.5, rho=0.0, simplex="softmax",
                    normalize="loss"):
    """LibMTL ``MoCo.backward`` in float64 over a sequence of steps."""
    m, d = js[0].shape
    y, lam, outs = np.zeros((m, d)), np.full(m, 1.0 / m), []
    for k, (j, loss) in enumerate(zip(js, losses, strict=True), start=1):
        if normalize == "loss":
            g = j / (np.linalg.norm(j, axis=1, keepdims=True) + 1e-8) * loss[:, None]
        else:
            g = j
        y = y - beta / k**bs * (y - g)
        z = lam - gamma / k**gs * ((y @ y.T + rho * np.eye(m)) @ lam)
        lam = _softmax(z) if simplex == "softmax" else _proj_simplex(z)
        outs.append(y.T @ lam)
    return outs, lam


@pytest.mark.parametrize(
    "kw", [{}, {"simplex": "projection", "rho": 0.1}, {"normalize": "none", "gamma": 0.01}]
)
def test_moco_matches_reference_recurrence(kw):
    rng = np.random.default_rng(8)
    m, d = 3, 5
    js = [random_jacobian(rng, m, d) for _ in range(4)]
    losses = [rng.uniform(0.5, 2.0, m) for _ in range(4)]
    outs, lam = _moco_reference(js, losses, **kw)
    tx = moco(num_tasks=m, **kw)
    st = tx.init(_params(d))
    assert st.inner.y["b"].shape == (m, d - 2)
    step = jax.jit(tx.update)
    for j, loss, out in zip(js, losses, outs, strict=True):
        u, st = step(_split(j), st, task_losses=jnp.asarray(loss, F32))
        np.testing.assert_allclose(_flat(u), out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(st.inner.weights, lam, rtol=1e-5)
    assert int(st.inner.count) == 4


def _cagrad_reference(g, c=0.5):
    """CAGrad (official/LibMTL, rescale = 1) weights for m = 2 by a bounded scalar search."""
    p = np.full(2, 0.5)
    g0 = np.sqrt(p @ g @ p)

    def obj(t):
        w = np.array([t, 1 - t])
        return w @ g @ p + c * g0 * np.sqrt(w @ g @ w + 1e-8)

    t = minimize_scalar(obj, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-12}).x
    w = np.array([t, 1 - t])
    gw = np.sqrt(w @ g @ w)
    return (p + c * g0 / gw * w) / (1 + c**2)


def test_moco_differs_from_cagrad():
    """LibMTL issue #56: identical CAGrad/MoCo curves came from a harness bug."""
    j = np.asarray(J_BASE)
    w_ca = _cagrad_reference(j @ j.T)
    np.testing.assert_allclose(j.T @ w_ca, 0.8 * np.array([0.18350, 1.20412, 1.20412]), atol=1e-4)
    losses = np.array([1.0, 2.0])
    tx = moco(num_tasks=2)
    u, _ = tx.update(_split(j), tx.init(_params(3)), task_losses=jnp.asarray(losses, F32))
    assert np.linalg.norm(_flat(u) - j.T @ w_ca) > 0.1
    # The library's CAGrad transform on the same inputs: equal to the reference, not to MoCo.
    txc = cagrad()
    uc, _ = txc.update(_split(j), txc.init(_params(3)), task_losses=jnp.asarray(losses, F32))
    np.testing.assert_allclose(_flat(uc), j.T @ w_ca, atol=1e-4)
    assert np.linalg.norm(_flat(u) - _flat(uc)) > 0.1
    # Along a short trajectory on a quadratic problem as well.
    a = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, -1.0]])
    theta_mo = theta_ca = np.ones(3)
    st = tx.init(_params(3))
    for _ in range(5):
        jm = a * theta_mo[None, :] * 2.0
        u, st = tx.update(_split(jm), st, task_losses=jnp.asarray((a * theta_mo**2).sum(1), F32))
        theta_mo = theta_mo - 0.1 * _flat(u)
        jc = a * theta_ca[None, :] * 2.0
        theta_ca = theta_ca - 0.1 * jc.T @ _cagrad_reference(jc @ jc.T)
    assert np.linalg.norm(theta_mo - theta_ca) > 1e-2


def test_moco_needs_losses_and_handles_degenerate():
    tx = moco(num_tasks=2)
    with pytest.raises(ValueError, match="task_losses"):
        tx.update(_split(J_BASE), tx.init(_params(3)))
    for j in (np.zeros((2, 3)), 1e8 * J_BASE, 1e-8 * J_BASE, np.stack([J_BASE[0], J_BASE[0]])):
        u, st = tx.update(_split(j), tx.init(_params(3)), task_losses=jnp.ones(2))
        assert np.all(np.isfinite(_flat(u))) and int(st.skipped) == 0
    tx1 = moco(num_tasks=1)
    u, _ = tx1.update(_split(J_BASE[:1]), tx1.init(_params(3)), task_losses=jnp.ones(1))
    assert np.all(np.isfinite(_flat(u)))


# ---------------------------------------------------------------------------------------------
# ExcessMTL
# ---------------------------------------------------------------------------------------------


def _excess_reference_libmtl(js, eta=1e-2):
    m = js[0].shape[0]
    lw, sq, init, outs = np.ones(m), None, None, []
    for j in js:
        sq = j**2 if sq is None else sq + j**2
        w = np.sum(j**2 / np.sqrt(sq + 1e-7), axis=1)
        if init is None:
            init = w
        else:
            lw = lw * np.exp(w / init * eta)
            lw = lw / lw.sum() * m
        outs.append((lw.copy(), j.T @ lw))
    return outs


def _excess_reference_torchjd(js, eta=1.0, n_warmup=2):
    m = js[0].shape[0]
    weights, sq, warm, init, outs = np.full(m, 1 / m), 0.0, np.zeros(m), None, []
    for step, j in enumerate(js):
        sq = sq + j**2
        w = np.sum(j**2 / np.sqrt(sq + 1e-7), axis=1)
        if step < n_warmup:
            warm = warm + w
        else:
            if init is None:
                init = warm / n_warmup
            weights = weights * np.exp(w / (init + 1e-7) * eta)
            weights = weights / weights.sum()
        outs.append((weights.copy(), j.T @ weights))
    return outs


@pytest.mark.parametrize("variant", ["libmtl", "torchjd"])
def test_excess_mtl_matches_reference(variant):
    rng = np.random.default_rng(9)
    m, d = 3, 5
    js = [random_jacobian(rng, m, d) * rng.uniform(0.2, 3.0, (m, 1)) for _ in range(5)]
    if variant == "libmtl":
        refs, tx = _excess_reference_libmtl(js), excess_mtl(num_tasks=m)
    else:
        refs = _excess_reference_torchjd(js)
        tx = excess_mtl(num_tasks=m, variant="torchjd", n_warmup_steps=2)
    st = tx.init(_params(d))
    step = jax.jit(tx.update)
    for j, (w_ref, u_ref) in zip(js, refs, strict=True):
        u, st = step(_split(j), st)
        np.testing.assert_allclose(st.inner.weights, w_ref, rtol=1e-4)
        np.testing.assert_allclose(_flat(u), u_ref, rtol=1e-4, atol=1e-5)
        assert np.all(np.asarray(st.inner.weights) > 0)
    total = m if variant == "libmtl" else 1.0
    np.testing.assert_allclose(float(st.inner.weights.sum()), total, rtol=1e-5)


def test_excess_mtl_extreme_ratios_and_degenerate():
    tx = excess_mtl(num_tasks=2, robust_step_size=50.0)
    st = tx.init(_params(3))
    j0 = np.array([[1e-6, 0.0, 0.0], [1.0, 1.0, 1.0]])
    _, st = tx.update(_split(j0), st)
    u, st = tx.update(_split(np.array([[1e3, 1e3, 1e3], [1.0, 1.0, 1.0]])), st)  # ratio ~1e9
    assert np.all(np.isfinite(_flat(u))) and int(st.skipped) == 0
    assert np.all(np.isfinite(st.inner.weights)) and np.all(np.asarray(st.inner.weights) >= 0)
    for j in (np.zeros((2, 3)), 1e8 * J_BASE, 1e-8 * J_BASE):
        st = tx.init(_params(3))
        for _ in range(2):
            u, st = tx.update(_split(j), st)
            assert np.all(np.isfinite(_flat(u))) and int(st.skipped) == 0
    with pytest.raises(ValueError, match="n_warmup_steps"):
        excess_mtl(num_tasks=2, n_warmup_steps=0)
    with pytest.raises(ValueError, match="variant"):
        excess_mtl(num_tasks=2, variant="paper")


def test_stateful_methods_jit_vmap_match_references():
    """One jitted ``vmap`` over a batch of Jacobians per method, each row against the float64
    reference of its first step."""
    rng = np.random.default_rng(10)
    m, d = 3, 5
    js = _random_batch(rng, 4, m, d)
    losses = rng.uniform(0.5, 2.0, m)
    p = np.full(m, 1.0 / m)
    refs = {
        "modo": lambda j: j.T @ _proj_simplex(p - 1e-3 * (j @ j.T @ p + 0.1 * p)),
        "sdmgrad": lambda j: j.T @ _sdmgrad_reference(j @ j.T, p, 5.0, 0.5, 20, 0.3, p)[1],
        "moco": lambda j: _moco_reference([j], [losses])[0][0],
        "excess_mtl": lambda j: j.sum(0),
    }
    for name, tx, extra in (
        ("modo", modo(num_tasks=m), lambda j: {"jac1": j, "jac2": j}),
        ("sdmgrad", sdmgrad(num_tasks=m), lambda j: {"jac1": j, "jac2": j}),
        ("moco", moco(num_tasks=m), lambda j: {"task_losses": jnp.asarray(losses, F32)}),
        ("excess_mtl", excess_mtl(num_tasks=m), lambda j: {}),
    ):
        st = tx.init(_params(d))

        def one(j, tx=tx, st=st, extra=extra):
            jj = _split_traced(j)
            return tx.update(jj, st, **extra(jj))[0]

        batched = jax.jit(jax.vmap(one))(jnp.asarray(js, F32))
        u = np.concatenate([batched["a"], batched["b"]], axis=1)
        for j, uu in zip(js, u, strict=True):
            np.testing.assert_allclose(uu, refs[name](j), rtol=2e-4, atol=2e-4, err_msg=name)
