"""Gradient-balancing catalogue, part A: CAGrad, IMTL-G, Nash-MTL, FairGrad, Aligned-MTL, ConFIG,
Krum — golden values (METHODS.md §4/§5), independent numpy references, claimed properties, the
flags where references disagree, and numerics on degenerate inputs."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from paretojax.core.jacobian import combine, gram
from paretojax.weighting._aligned_mtl import aligned_mtl, aligned_mtl_weights
from paretojax.weighting._cagrad import cagrad, cagrad_weights
from paretojax.weighting._config import config, config_weights
from paretojax.weighting._fairgrad import fairgrad, fairgrad_weights
from paretojax.weighting._imtl_g import imtl_g, imtl_g_weights
from paretojax.weighting._krum import krum, krum_weights
from paretojax.weighting._nash_mtl import NashMTLState, nash_mtl, nash_mtl_weights
from tests.helpers import G3, G_BASE, J3, J_BASE, random_jacobian

# Jitted entry points (compiled once per shape/dtype for the whole file; eager calls of the
# solvers' loops are slow).
_cagrad = jax.jit(cagrad_weights, static_argnames=("rescale", "torchjd"))  # c traced
_imtl = jax.jit(imtl_g_weights)
_nash = jax.jit(
    nash_mtl_weights, static_argnames=("max_norm", "update_weights_every", "libmtl", "num_iters")
)
_fair = jax.jit(fairgrad_weights)  # α traced
_aligned = jax.jit(aligned_mtl_weights, static_argnames=("scale_mode", "libmtl"))
_config = jax.jit(config_weights)
_krum = jax.jit(krum_weights, static_argnames=("n_byzantine", "n_selected", "squared"))

J_KRUM = np.array([[1, 1, 1], [1, 0, 1], [75, -666, 23], [1, 2, 3], [2, 0, 1]], float)

# Pure weight functions with fixed hyperparameters (name -> (gram, losses, state) -> weights).
WEIGHTS = {
    "cagrad": lambda g: cagrad_weights(g)[0],
    "imtl_g": lambda g: imtl_g_weights(g)[0],
    "nash_mtl": lambda g: nash_mtl_weights(g)[0],
    "fairgrad": lambda g: fairgrad_weights(g, alpha=2.0)[0],
    "aligned_mtl": lambda g: aligned_mtl_weights(g)[0],
    "aligned_mtl_median": lambda g: aligned_mtl_weights(g, scale_mode="median")[0],
    "aligned_mtl_rmse": lambda g: aligned_mtl_weights(g, scale_mode="rmse", libmtl=True)[0],
    "config": lambda g: config_weights(g)[0],
    "krum": lambda g: krum_weights(g, n_byzantine=0, n_selected=1)[0],
}
# Compiled once: unbatched on (4, 4) and vmapped on (6, 4, 4) float32 (shared by several tests).
JITTED = {k: jax.jit(f) for k, f in WEIGHTS.items()}
# c and α traced so that one compilation serves several values (non-conflict tests).
_VM_CAGRAD = jax.jit(jax.vmap(lambda g, c: cagrad_weights(g, c=c)[0]))
_VM_FAIR = jax.jit(jax.vmap(lambda g, a: fairgrad_weights(g, alpha=a)[0]))
VMAPPED = {k: jax.jit(jax.vmap(f)) for k, f in WEIGHTS.items() if k not in ("cagrad", "fairgrad")}
VMAPPED["cagrad"] = lambda gs: _VM_CAGRAD(gs, jnp.full(gs.shape[:1], 0.5, gs.dtype))
VMAPPED["fairgrad"] = lambda gs: _VM_FAIR(gs, jnp.full(gs.shape[:1], 2.0, gs.dtype))
M, D, N = 4, 7, 6


def _tx_update(tx, j):
    jac = {"w": jnp.asarray(j)}
    upd, state = jax.jit(tx.update)(jac, tx.init({"w": jnp.zeros(j.shape[1])}))
    return np.asarray(upd["w"]), state


# ------------------------------------------------------------------------------------------
# Golden values (float64, atol 1e-4)
# ------------------------------------------------------------------------------------------


def test_cagrad_goldens(x64):
    g, g3 = jnp.asarray(G_BASE), jnp.asarray(G3)
    w0 = np.asarray(_cagrad(g, rescale=0)[0])
    np.testing.assert_allclose(w0, [0.70412, 0.5], atol=1e-4)
    np.testing.assert_allclose(w0 @ J_BASE, [0.18350, 1.20412, 1.20412], atol=1e-4)
    np.testing.assert_allclose(_cagrad(g)[0], 0.8 * w0, atol=1e-4)  # rescale 1: ÷(1 + c²)
    np.testing.assert_allclose(_cagrad(g, rescale=2)[0], w0 / 1.5, atol=1e-4)
    np.testing.assert_allclose(_cagrad(g, torchjd=True)[0], w0, atol=1e-4)
    u, _ = _tx_update(cagrad(torchjd=True), J_BASE)
    np.testing.assert_allclose(u, [0.18350, 1.20412, 1.20412], atol=1e-4)
    u, _ = _tx_update(cagrad(), J_BASE)
    np.testing.assert_allclose(u, 0.8 * np.array([0.18350, 1.20412, 1.20412]), atol=1e-4)
    # w* itself: w = (p + λ w*) ⇒ w* ∝ w − p
    np.testing.assert_allclose((w0 - 0.5) / (w0 - 0.5).sum(), [1.0, 0.0], atol=1e-4)
    w3 = np.asarray(_cagrad(g3, rescale=0)[0])
    np.testing.assert_allclose(w3, [0.3333, 0.4759, 0.3333], atol=1e-4)
    np.testing.assert_allclose((w3 - 1 / 3) / (w3 - 1 / 3).sum(), [0.0, 1.0, 0.0], atol=1e-4)


def test_imtl_g_goldens(x64):
    np.testing.assert_allclose(_imtl(jnp.asarray(G_BASE))[0], [0.5923, 0.4077], atol=1e-4)
    np.testing.assert_allclose(_tx_update(imtl_g(), J_BASE)[0], [0.0767, 1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(
        _imtl(jnp.asarray(G3))[0], [0.3371, 0.4867, 0.1762], atol=1e-4
    )


def test_nash_mtl_goldens(x64):
    w, state = _nash(jnp.asarray(G_BASE))
    np.testing.assert_allclose(state.alpha, [0.59146, 0.40707], atol=1e-4)
    np.testing.assert_allclose(np.sqrt(state.alpha @ G_BASE @ state.alpha), np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(w @ J_BASE, [0.0542, 0.7061, 0.7061], atol=1e-4)  # TorchJD output
    assert int(state.step) == 1
    _, state3 = _nash(jnp.asarray(G3))
    np.testing.assert_allclose(state3.alpha, [0.9120, 1.3692, 0.6742], atol=1e-4)


def test_fairgrad_goldens(x64):
    g = jnp.asarray(G_BASE)
    np.testing.assert_allclose(_fair(g)[0], [0.59146, 0.40707], atol=1e-4)
    np.testing.assert_allclose(_fair(g, alpha=2.0)[0], [0.47136, 0.31945], atol=1e-4)
    np.testing.assert_allclose(_fair(g, alpha=0.5)[0], [0.74283, 0.52539], atol=1e-4)
    np.testing.assert_allclose(_fair(g, alpha=0.0)[0], [0.5, 0.5], atol=1e-12)
    u, _ = _tx_update(fairgrad(alpha=0.0), J_BASE)
    np.testing.assert_allclose(u, [1.0, 1.0, 1.0], atol=1e-12)  # α = 0 ⇒ mean gradient


def test_aligned_mtl_goldens(x64):
    g = jnp.asarray(G_BASE)
    np.testing.assert_allclose(_aligned(g)[0], [0.5591, 0.4083], atol=1e-4)
    np.testing.assert_allclose(_aligned(g, libmtl=True)[0], [1.1181, 0.8165], atol=1e-4)
    u, _ = _tx_update(aligned_mtl(), J_BASE)
    np.testing.assert_allclose(u, [0.2133, 0.9673, 0.9673], atol=1e-4)
    np.testing.assert_allclose(
        _aligned(jnp.asarray(G3))[0], [0.2841, 0.4049, 0.2195], atol=1e-4
    )


def test_config_goldens(x64):
    np.testing.assert_allclose(_config(jnp.asarray(G_BASE))[0], [1.22648, 0.84412], atol=1e-4)
    np.testing.assert_allclose(_tx_update(config(), J_BASE)[0], [0.1588, 2.0706, 2.0706], atol=1e-4)
    np.testing.assert_allclose(
        _config(jnp.asarray(G3))[0], [0.96714, 1.39615, 0.50560], atol=1e-4
    )


def test_krum_golden(x64):
    w, _ = _krum(jnp.asarray(J_KRUM @ J_KRUM.T), n_byzantine=1, n_selected=4)
    np.testing.assert_allclose(w, [0.25, 0.25, 0.0, 0.25, 0.25], atol=1e-12)
    u, _ = _tx_update(krum(n_byzantine=1, n_selected=4), J_KRUM)
    np.testing.assert_allclose(u, [1.25, 0.75, 1.5], atol=1e-12)


# ------------------------------------------------------------------------------------------
# Independent numpy references (TorchJD / LibMTL formulas on the Jacobian rows)
# ------------------------------------------------------------------------------------------


def _np_imtl_g(j):
    g = j @ j.T
    v = np.linalg.pinv(g) @ np.sqrt(np.diag(g))
    return v / v.sum()


def _np_aligned(j, mode="min", p=None):
    g = j @ j.T
    m = len(g)
    lam, vec = np.linalg.eigh(g)
    keep = lam > lam.max() * m * np.finfo(float).eps
    lam, vec = lam[keep], vec[:, keep]
    s = {"min": lam.min(), "median": np.sort(lam)[(len(lam) - 1) // 2], "rmse": lam.mean()}[mode]
    p = np.full(m, 1 / m) if p is None else p
    return np.sqrt(s) * vec @ np.diag(1 / np.sqrt(lam)) @ vec.T @ p


def _np_config_update(j):
    norms = np.linalg.norm(j, axis=1, keepdims=True)
    units = np.nan_to_num(j / norms, nan=0.0)
    v = np.linalg.pinv(units) @ np.ones(len(j))
    u = v / np.linalg.norm(v)
    return np.sum(j @ u) * u


def _np_krum(j, f, n_sel, squared):
    m = len(j)
    d = np.linalg.norm(j[:, None] - j[None], axis=-1)
    d = d**2 if squared else d
    scores = [np.sort(np.delete(d[i], i))[: m - f - 2].sum() for i in range(m)]
    w = np.zeros(m)
    w[np.argsort(scores, kind="stable")[:n_sel]] = 1 / n_sel
    return w


def _np_cagrad(j, c, rescale):
    """LibMTL CAGrad.py (SLSQP from 1/m), its direction divided back into weights."""
    m = len(j)
    gg = j @ j.T
    g0 = np.sqrt(gg.mean() + 1e-8)
    b = np.full(m, 1 / m)
    cc = c * g0 + 1e-8
    obj = lambda x: x @ gg @ b + cc * np.sqrt(x @ gg @ x + 1e-8)
    x = minimize(
        obj, b, method="SLSQP", bounds=[(0, 1)] * m,
        constraints=({"type": "eq", "fun": lambda x: 1 - x.sum()},), options={"ftol": 1e-14},
    ).x
    lam = cc / (np.sqrt(x @ gg @ x) + 1e-8)
    return (b + lam * x) / {0: 1.0, 1: 1 + c**2, 2: 1 + c}[rescale]


@jax.jit
def _cheap_all(g):
    """IMTL-G, Aligned-MTL (3 scale modes + libmtl), ConFIG in one compilation per shape."""
    al = [aligned_mtl_weights(g, scale_mode=k)[0] for k in ("min", "median", "rmse")]
    return imtl_g_weights(g)[0], al, aligned_mtl_weights(g, libmtl=True)[0], config_weights(g)[0]


def test_against_numpy_references(x64):
    rng = np.random.default_rng(0)
    modes = ("min", "median", "rmse")
    for m, d in ((2, 5), (4, 7), (4, 3)):  # d < m: rank-deficient Gram
        js = np.stack([random_jacobian(rng, m, d) for _ in range(3)])
        gs = jnp.asarray(js @ js.transpose(0, 2, 1))
        w_imtl, w_al, w_al_lib, w_cfg = jax.vmap(_cheap_all)(gs)
        w_cag = jax.vmap(lambda g: _cagrad(g)[0])(gs)
        for k, j in enumerate(js):
            if d >= m:  # IMTL-G's normalisation Σv is ill-posed on rank-deficient input
                np.testing.assert_allclose(w_imtl[k], _np_imtl_g(j), rtol=1e-7, atol=1e-9)
            for i, mode in enumerate(modes):
                np.testing.assert_allclose(w_al[i][k], _np_aligned(j, mode), rtol=1e-7)
            np.testing.assert_allclose(w_al_lib[k], _np_aligned(j, p=np.ones(m)), rtol=1e-7)
            u = np.asarray(w_cfg[k]) @ j
            np.testing.assert_allclose(u, _np_config_update(j), rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(w_cag[k], _np_cagrad(j, 0.5, 1), rtol=2e-5, atol=2e-6)
    # ConFIG with a zero row (TorchJD's nan_to_num)
    j = random_jacobian(rng, 4, 6)
    j[2] = 0.0
    u = np.asarray(_config(jnp.asarray(j @ j.T))[0]) @ j
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(u, _np_config_update(j), rtol=1e-7, atol=1e-9)


def test_krum_squared_flag_and_reference(x64):
    rng = np.random.default_rng(3)
    differ = 0
    js = rng.standard_normal((40, 6, 2)) * rng.choice([0.3, 1.0, 5.0], size=(40, 6, 1))
    gs = jnp.asarray(js @ js.transpose(0, 2, 1))
    for f, n_sel in ((1, 1), (0, 2), (2, 3)):
        ws = {
            sq: np.asarray(jax.vmap(lambda g, sq=sq: _krum(g, n_byzantine=f, n_selected=n_sel,
                                                           squared=sq)[0])(gs))
            for sq in (False, True)
        }
        for k, j in enumerate(js):
            for sq in (False, True):
                np.testing.assert_allclose(ws[sq][k], _np_krum(j, f, n_sel, sq), atol=1e-12)
            differ += not np.array_equal(ws[False][k], ws[True][k])
    assert differ > 0  # the flag changes the selection on some inputs


def test_krum_validation():
    g = jnp.eye(4)
    with pytest.raises(ValueError, match="n_byzantine"):
        _krum(g, n_byzantine=2)
    with pytest.raises(ValueError, match="n_selected"):
        _krum(g, n_byzantine=0, n_selected=5)
    with pytest.raises(ValueError):
        krum(n_byzantine=-1)


# ------------------------------------------------------------------------------------------
# Flags and state
# ------------------------------------------------------------------------------------------


def test_cagrad_flags_and_validation(x64):
    g = jnp.asarray(G_BASE)  # m = 2: golden-section path (cheap to compile)
    w0 = np.asarray(_cagrad(g, rescale=0)[0])
    for rescale, s in ((1, 1.25), (2, 1.5)):
        np.testing.assert_allclose(_cagrad(g, rescale=rescale)[0], w0 / s, rtol=1e-9)
    # c = 0: the mean gradient (LibMTL's ε = 1e-8 leaves a ~1e-8 trace)
    np.testing.assert_allclose(_cagrad(g, c=0.0)[0], [0.5, 0.5], rtol=1e-7)
    # TorchJD: tr G < 1e-4 ⇒ zero weights; the default mode is scale invariant instead
    np.testing.assert_allclose(_cagrad(1e-6 * g, torchjd=True)[0], 0.0)
    np.testing.assert_allclose(_cagrad(1e-6 * g, rescale=0)[0], w0, rtol=1e-6)
    # Pareto-stationary input (0 in the convex hull, c ≥ 1, the mean gradient conflicts): zero
    # update (the optimal set is flat here; any optimum gives u = 0)
    js = np.array([[1.0, 0.0], [-2.0, 0.0]])
    np.testing.assert_allclose(_cagrad(jnp.asarray(js @ js.T), c=1.0)[0] @ js, 0.0, atol=1e-9)
    # a task with a zero gradient: the inner optimum is degenerate (w* = e₂, g_w = 0); the mean
    # gradient conflicts with no task, so it is returned (TorchJD returns zero)
    jz = np.array([[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(_cagrad(jnp.asarray(jz @ jz.T), c=1.0)[0], [0.25, 0.25])
    np.testing.assert_allclose(_cagrad(jnp.asarray(jz @ jz.T), c=1.0, torchjd=True)[0], 0.0)
    with pytest.raises(ValueError, match="rescale"):
        cagrad_weights(g, rescale=3)
    with pytest.raises(ValueError, match="c must"):
        cagrad(c=-1.0)


def test_aligned_mtl_pref_and_validation(x64):
    g = jnp.asarray(G3)
    p = jnp.array([0.2, 0.3, 0.5])
    w = _aligned(g, pref=p)[0]
    np.testing.assert_allclose(w, _np_aligned(J3, p=np.asarray(p)), rtol=1e-9)
    np.testing.assert_allclose(_aligned(g, pref=p, libmtl=True)[0], 3 * w, rtol=1e-9)
    np.testing.assert_allclose(_aligned(jnp.zeros((3, 3)))[0], np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="scale_mode"):
        aligned_mtl(scale_mode="max")


def test_nash_update_weights_every_reuses_raw_alpha(x64):
    g1, g2 = jnp.asarray(G3), 4.0 * jnp.asarray(G3) + jnp.eye(3)
    state = None
    alphas, ws = [], []
    for k in range(4):
        w, state = _nash(g1 if k in (0, 3) else g2, state=state, update_weights_every=3)
        alphas.append(np.asarray(state.alpha))
        ws.append(np.asarray(w))
    np.testing.assert_allclose(alphas[1], alphas[0])  # reused ...
    np.testing.assert_allclose(alphas[2], alphas[0])
    np.testing.assert_allclose(alphas[3], alphas[0])  # ... and recomputed on g1 again at step 3
    # between recomputations max_norm is re-applied with the *current* Gram (TorchJD)
    a = alphas[0]
    norm2 = np.sqrt(a @ np.asarray(g2) @ a)
    np.testing.assert_allclose(ws[1], a * min(1.0, 1.0 / norm2), rtol=1e-9)
    assert int(state.step) == 4


def test_nash_fallback_and_stationary(x64):
    g = jnp.asarray(G3)
    prev = NashMTLState(alpha=jnp.array([0.3, 0.2, 0.5]), step=jnp.zeros((), jnp.int32))
    # zero Newton iterations leave the start point, whose residual exceeds tol ⇒ fallback
    w, st = _nash(g, state=prev, num_iters=0, max_norm=0.0)
    np.testing.assert_allclose(st.alpha, prev.alpha)
    np.testing.assert_allclose(w, prev.alpha)
    # no root (g₂ = −2g₁): weakly Pareto stationary ⇒ zero weights
    w, _ = _nash(jnp.array([[1.0, -2.0], [-2.0, 4.0]]))
    np.testing.assert_allclose(w, 0.0)
    w, _ = _fair(jnp.array([[1.0, -2.0], [-2.0, 4.0]]))
    np.testing.assert_allclose(w, 0.0)
    with pytest.raises(ValueError, match="max_norm"):
        nash_mtl(max_norm=-1.0, num_tasks=2)
    with pytest.raises(ValueError, match="alpha"):
        fairgrad(alpha=-0.5)


def test_nash_libmtl_clips_shared_leaves_only(x64):
    rng = np.random.default_rng(1)
    jac = {
        "shared": jnp.asarray(3.0 * rng.standard_normal((3, 5))),
        "head": jnp.asarray(3.0 * rng.standard_normal((3, 2))),
    }
    params = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape[1:]), jac)
    g = gram(jac)
    alpha = _nash(g, libmtl=True)[0]  # raw α
    raw = combine(alpha, jac)
    norm = float(jnp.linalg.norm(raw["shared"]))
    assert norm > 1.0  # the clip is active
    tx = nash_mtl(num_tasks=3, libmtl=True, shared=lambda p: {"shared": True, "head": False})
    upd, state = jax.jit(tx.update)(jac, tx.init(params), params)
    np.testing.assert_allclose(upd["shared"], raw["shared"] / (norm + 1e-6), rtol=1e-7)
    np.testing.assert_allclose(upd["head"], raw["head"], rtol=1e-7)  # heads: α-weighted, unclipped
    np.testing.assert_allclose(state.weights, alpha, rtol=1e-6)
    # all leaves shared ⇒ TorchJD's output (weights rescaled to ‖Jᵀw‖ ≤ 1), up to the 1e-6
    full = float(jnp.sqrt(sum(jnp.sum(x**2) for x in raw.values())))
    u_tjd = combine(_nash(g)[0], jac)
    for k in jac:
        np.testing.assert_allclose(raw[k] / (full + 1e-6), u_tjd[k], rtol=1e-5)
    with pytest.raises(ValueError, match="shared"):
        nash_mtl(num_tasks=3, shared={"shared": True, "head": False})


# ------------------------------------------------------------------------------------------
# Properties (float32, what users run)
# ------------------------------------------------------------------------------------------


def _random_batch(rng, m, d, n, ranks):
    return np.stack([random_jacobian(rng, m, d, rank=ranks[k % len(ranks)]) for k in range(n)])


def _nc_batches(seed):
    """24 Jacobians (ranks 1…m) in batches of N, the compiled batch shape."""
    rng = np.random.default_rng(seed)
    js = _random_batch(rng, M, D, 4 * N, ranks=(1, 2, 3, M))
    for k in range(0, len(js), N):
        jb = js[k : k + N]
        yield jb, jnp.asarray(jb @ jb.transpose(0, 2, 1), jnp.float32)


def _assert_nc(js, ws, name):
    for j, w in zip(js, np.asarray(ws, np.float64), strict=True):
        ju = j @ (w @ j)
        assert np.all(ju >= -4e-4 * max(1.0, np.abs(j).max() ** 2)), (name, ju)


def test_cagrad_non_conflicting_for_c_at_least_one():
    for c in (1.0, 2.0):
        for js, gs in _nc_batches(4):
            _assert_nc(js, _VM_CAGRAD(gs, jnp.full((N,), c, jnp.float32)), f"cagrad c={c}")


def test_nash_mtl_non_conflicting():
    for js, gs in _nc_batches(5):
        _assert_nc(js, VMAPPED["nash_mtl"](gs), "nash_mtl")


def test_fairgrad_non_conflicting():
    for alpha in (0.5, 1.0, 2.0):
        for js, gs in _nc_batches(6):
            _assert_nc(js, _VM_FAIR(gs, jnp.full((N,), alpha, jnp.float32)), f"fairgrad α={alpha}")


PI_FNS = {
    "imtl_g": lambda g: _imtl(g)[0],
    "aligned_mtl": lambda g: _aligned(g)[0],
    "aligned_mtl_median": lambda g: _aligned(g, scale_mode="median")[0],
    "config": lambda g: _config(g)[0],
}


@pytest.mark.parametrize("name", list(PI_FNS))
def test_permutation_invariant(x64, name):
    rng = np.random.default_rng(5)
    fn = PI_FNS[name]
    for m in (3, 4):
        for _ in range(3):
            j = random_jacobian(rng, m, 6)
            perm = rng.permutation(m)
            w = np.asarray(fn(jnp.asarray(j @ j.T)))
            jp = j[perm]
            wp = np.asarray(fn(jnp.asarray(jp @ jp.T)))
            np.testing.assert_allclose(wp, w[perm], rtol=1e-7, atol=1e-10)  # weights permute
            np.testing.assert_allclose(wp @ jp, w @ j, rtol=1e-7, atol=1e-10)  # update unchanged


def test_config_linear_under_scaling(x64):
    rng = np.random.default_rng(6)
    agg = lambda j: np.asarray(_config(jnp.asarray(j @ j.T))[0]) @ j
    for m in (2, 3, 5):
        j = random_jacobian(rng, m, 7)
        c1, c2 = rng.uniform(0.1, 2.0, m), rng.uniform(0.1, 2.0, m)
        a, b = 0.7, 1.9
        lhs = agg((a * c1 + b * c2)[:, None] * j)
        rhs = a * agg(c1[:, None] * j) + b * agg(c2[:, None] * j)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-7, atol=1e-9)
    # …and not under the other methods' normalisations (the test can fail)
    j = random_jacobian(rng, 3, 7)
    c1, c2 = rng.uniform(0.1, 2.0, 3), rng.uniform(0.1, 2.0, 3)
    imtl = lambda j: np.asarray(_imtl(jnp.asarray(j @ j.T))[0]) @ j
    lhs = imtl((c1 + c2)[:, None] * j)
    assert not np.allclose(lhs, imtl(c1[:, None] * j) + imtl(c2[:, None] * j))


def _degenerate_grams(rng):
    base = random_jacobian(rng, M, D)
    cases = {
        "zero": np.zeros_like(base),
        "duplicate": np.concatenate([base[:1], base[:1], base[2:]]),
        "collinear": np.concatenate([base[:1], -2.0 * base[:1], base[2:]]),
        "rank1": random_jacobian(rng, M, D, rank=1),
        "huge": 1e8 * base,
        "tiny": 1e-8 * base,
    }
    assert len(cases) == N
    return list(cases), jnp.asarray(np.stack([j @ j.T for j in cases.values()]), jnp.float32)


def test_finite_on_degenerate_inputs_and_single_task():
    names, batch = _degenerate_grams(np.random.default_rng(7))
    for name in WEIGHTS:
        ws = np.asarray(VMAPPED[name](batch))
        for case, w in zip(names, ws, strict=True):
            assert np.all(np.isfinite(w)), (name, case, w)
        if name != "krum":  # Krum documents m ≥ f + 3
            w1 = np.asarray(JITTED[name](jnp.array([[2.5]], jnp.float32)))
            assert w1.shape == (1,) and np.all(np.isfinite(w1)), (name, w1)
    with pytest.raises(ValueError, match="square"):
        imtl_g_weights(jnp.ones((2, 3)))


def test_jit_and_vmap_over_grams_match_unbatched():
    rng = np.random.default_rng(8)
    js = _random_batch(rng, M, D, N, ranks=(M,))
    gs = jnp.asarray(js @ js.transpose(0, 2, 1), jnp.float32)
    for name in WEIGHTS:
        batched = np.asarray(VMAPPED[name](gs))
        for k in range(N):
            single = np.asarray(JITTED[name](gs[k]))
            np.testing.assert_allclose(batched[k], single, rtol=2e-4, atol=2e-5, err_msg=name)


def test_transforms_accept_extra_args_and_pytrees():
    rng = np.random.default_rng(9)
    j = random_jacobian(rng, 3, 7).astype(np.float32)
    jac = {"a": jnp.asarray(j[:, :3]), "b": jnp.asarray(j[:, 3:])}
    params = {"a": jnp.zeros(3), "b": jnp.zeros(4)}
    for tx in (imtl_g(num_tasks=3), aligned_mtl(), config(), krum(n_byzantine=0)):
        state = tx.init(params)
        upd, _ = jax.jit(lambda jac, s, tx=tx: tx.update(
            jac, s, params, task_losses=jnp.ones(3), pref=jnp.full(3, 1 / 3), unused=1.0
        ))(jac, state)
        assert set(upd) == {"a", "b"} and upd["b"].shape == (4,)
        assert all(np.all(np.isfinite(x)) for x in upd.values())


def test_imtl_g_equal_projections(x64):
    rng = np.random.default_rng(10)
    for m in (2, 3, 5):
        j = random_jacobian(rng, m, 8)
        w = np.asarray(_imtl(jnp.asarray(j @ j.T))[0])
        u = w @ j
        proj = (j @ u) / np.linalg.norm(j, axis=1)
        np.testing.assert_allclose(proj, proj[0], rtol=1e-8)
        np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)


def test_aligned_mtl_aligned_components_are_orthonormal_scaled(x64):
    """JᵀB has orthogonal columns of equal norm √s on the kept eigenspace (condition number 1)."""
    rng = np.random.default_rng(11)
    j = random_jacobian(rng, 4, 9)
    g = j @ j.T
    cols = np.stack([np.asarray(_aligned(jnp.asarray(g), pref=jnp.eye(4)[i])[0])
                     for i in range(4)], axis=1)  # B = [B e_1, …, B e_m]
    gb = cols.T @ g @ cols
    np.testing.assert_allclose(gb, np.eye(4) * np.linalg.eigvalsh(g).min(), atol=1e-9)


def test_all_combinations_of_flags_build():
    for c, rescale, tj in itertools.product((0.0, 0.5, 1.0), (0, 1, 2), (False, True)):
        assert cagrad(c=c, rescale=rescale, torchjd=tj) is not None
