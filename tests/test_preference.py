"""EPO and PMGDA: LPs against SciPy's HiGHS, golden cases, API edge, short convergence runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import linprog

import paretojax as pj
from paretojax.metrics import cross_angle, hypervolume
from paretojax.pareto_set._driver import run_finite_set
from paretojax.preference._epo import epo, epo_weighting, epo_weights
from paretojax.preference._pmgda import _correction_lp, pbi_constraint, pmgda, pmgda_weights
from tests.helpers import G_BASE, J_BASE

N_CASES = 120


# ----------------------------------------------------------------------------- EPO LP vs HiGHS
def _epo_lp_numpy(G, f, p, eps=1e-4, relaxed=False):
    """The LibMOON EPO_LP written independently in numpy; returns (c, A_ub, b_ub) for linprog
    (minimise cᵀα, A_ub α ≤ b_ub, α ∈ Δ) and the mode."""
    m = len(f)
    r = 1.0 / p
    rl = r * f
    lh = rl / rl.sum()
    lhc = np.clip(lh, 0, None)
    keep = lhc > np.finfo(np.float64).eps
    mu = np.sum(lhc[keep] * np.log(lhc[keep] * m))
    a = r * (np.log(np.clip(lh * m, 1e-3, None)) - mu)
    Ca = G @ a
    if mu > eps:
        J = Ca > 0
        if J.any():
            rhs = Ca.copy()
            rhs[J] = -np.inf
            rhs[rl == rl.max()] = 0.0
        else:
            rhs = np.zeros(m)
        rows = np.isfinite(rhs)
        return -Ca, -G[rows], -rhs[rows], "bal"
    A = [-G]
    b = [np.zeros(m)]
    if not relaxed:
        A.insert(0, -Ca[None, :])
        b.insert(0, np.array([-min(Ca.max(), 0.0)]))
    return -(G @ np.ones(m)), np.concatenate(A), np.concatenate(b), "dom"


def _random_instances(rng, n, m, d, near_ray_frac=0.3):
    Js = rng.normal(size=(n, m, d))
    Gs = np.einsum("kid,kjd->kij", Js, Js)
    ps = rng.dirichlet(np.ones(m), size=n)
    fs = rng.uniform(0.1, 1.0, size=(n, m))
    # a share of instances near the ray f ∝ p (descent LP regime)
    k = int(near_ray_frac * n)
    fs[:k] = ps[:k] * rng.uniform(0.5, 2.0, size=(k, 1)) * (1 + 1e-4 * rng.normal(size=(k, m)))
    return Gs, fs, ps


_EPO_LP = jax.jit(jax.vmap(lambda g, f, p, rel: epo_weights(g, f, pref=p, relaxed=rel)[0]))


@pytest.mark.parametrize("m", [2, 4])
def test_epo_lp_matches_highs(x64, m):
    rng = np.random.default_rng(m)
    Gs, fs, ps = _random_instances(rng, N_CASES, m, 7)
    rel = np.arange(N_CASES) % 4 == 0  # every 4th instance: the relaxed descent LP
    w = np.asarray(_EPO_LP(Gs, fs, ps, rel))
    worst, modes = 0.0, set()
    for k in range(N_CASES):
        c, A, b, mode = _epo_lp_numpy(Gs[k], fs[k], ps[k], relaxed=bool(rel[k]))
        modes.add((mode, bool(rel[k]) and mode == "dom"))
        res = linprog(c, A_ub=A, b_ub=b, A_eq=np.ones((1, m)), b_eq=[1.0], bounds=(0, None),
                      method="highs")
        if res.status != 0:  # infeasible → documented fallback p/Σp
            np.testing.assert_allclose(w[k], ps[k] / ps[k].sum(), atol=1e-12)
            continue
        scale = max(1.0, np.abs(c).max())
        gap = (c @ w[k] - res.fun) / scale
        viol = np.max(A @ w[k] - b, initial=0.0) / max(1.0, np.abs(A).max())
        worst = max(worst, abs(gap), viol)
        assert abs(w[k].sum() - 1) < 1e-9 and w[k].min() >= 0
    assert {("bal", False), ("dom", False), ("dom", True)} <= modes
    print(f"EPO LP m={m}: worst relative objective gap / violation vs HiGHS {worst:.2e}")
    assert worst < 1e-6, worst
    # weights are invariant to the scale of G (the LP is homogeneous in C)
    np.testing.assert_allclose(_EPO_LP(1e4 * Gs, fs, ps, rel), w, atol=1e-6)


def test_golden_epo_balance_descent_and_pmgda_on_ray(x64):
    g = jnp.broadcast_to(jnp.asarray(G_BASE), (3, 2, 2))
    fs = jnp.array([[0.5, 0.1], [0.3, 0.3], [0.3, 0.3]])
    ps = jnp.full((3, 2), 0.5)
    both = jax.jit(jax.vmap(lambda g, f, p: (epo_weights(g, f, pref=p)[0],
                                             pmgda_weights(g, f, pref=p)[0])))
    we, wp = both(g, fs, ps)
    # f/p non-uniform: balance pushes only the objective with the larger f/p (vertex e_1).
    np.testing.assert_allclose(we[0], [1.0, 0.0], atol=1e-8)
    # f ∝ p: descent LP max 1ᵀGα s.t. Gα ≥ 0 → (Gα)₁ = 0 → α₁ = 22/40 = 0.55.
    np.testing.assert_allclose(we[1], [0.55, 0.45], atol=1e-8)
    # PMGDA on the ray (h = 0 < h_eps) is MGDA: γ = (38 + 22)/(18 + 38 + 44) = 0.6
    np.testing.assert_allclose(wp[2], [0.6, 0.4], atol=1e-8)


_EPO_B = jax.jit(jax.vmap(lambda g, f, p: epo_weights(g, f, pref=p)[0]))
_PMGDA_B = jax.jit(jax.vmap(lambda g, f, p: pmgda_weights(g, f, pref=p)[0]))


def test_degenerate_inputs_no_nan():
    gb = jnp.asarray(G_BASE, jnp.float32)
    gs = jnp.stack([jnp.zeros((2, 2)), jnp.ones((2, 2)), 1e8 * gb, 1e-8 * gb, gb, gb, gb])
    fs = jnp.array([[0.5, 0.2]] * 4 + [[0.0, 0.0], [-1.0, 0.2], [1e-8, 1e-8]])
    ps = jnp.broadcast_to(jnp.array([0.3, 0.7]), fs.shape)
    w = _EPO_B(gs, fs, ps)
    assert bool(jnp.all(jnp.isfinite(w)))
    np.testing.assert_allclose(jnp.sum(w, axis=1), 1.0, atol=1e-4)
    assert bool(jnp.all(jnp.isfinite(_PMGDA_B(gs, fs, ps))))
    # m = 1
    one = jax.jit(lambda g, f, p: (epo_weights(g, f, pref=p)[0], pmgda_weights(g, f, pref=p)[0]))
    we, wp = one(jnp.eye(1), jnp.array([0.4]), jnp.ones(1))
    assert float(we[0]) == pytest.approx(1.0) and float(wp[0]) == pytest.approx(1.0)


# --------------------------------------------------------------------------- PMGDA LP vs HiGHS
def _pmgda_lp_numpy(J, f, p, sigma):
    """LibMOON solve_pmgda's LP from the raw rows [J; ∇h] (independent of the Gram form)."""
    m = J.shape[0]
    ph = p / np.linalg.norm(p)
    v = f - (f @ ph) * ph
    h = np.linalg.norm(v)
    # ∂h/∂f = (I − p̂p̂ᵀ) v / h
    c = (v - (v @ ph) * ph) / h
    R = np.concatenate([J, (c @ J)[None]], 0)
    nr = np.linalg.norm(R, axis=1)
    GGn = R @ (R / (nr[:, None] + 1e-4)).T
    # variables (μ [m+1], t free)
    A1 = np.c_[-GGn, np.r_[-np.ones(m), 0.0]]
    b1 = np.zeros(m + 1)
    b1[-1] = -sigma * nr[-1]
    cc = np.zeros(m + 2)
    cc[-1] = 1
    Aeq = np.r_[np.ones(m + 1), 0.0][None]
    bounds = [(0, None)] * (m + 1) + [(None, None)]
    res = linprog(cc, A_ub=A1, b_ub=b1, A_eq=Aeq, b_eq=[1.0], bounds=bounds, method="highs")
    return res, c, nr


@pytest.mark.parametrize("m", [2, 4])
def test_pmgda_lp_matches_highs(x64, m):
    rng = np.random.default_rng(10 + m)
    n = N_CASES
    Js = rng.normal(size=(n, m, 6))
    Gs = np.einsum("kid,kjd->kij", Js, Js)
    ps = rng.dirichlet(np.ones(m), size=n)
    fs = rng.uniform(0.1, 1.0, size=(n, m))

    def one(g, f, p):
        h, c = jax.value_and_grad(pbi_constraint)(f, p)
        mu, t, conv, _ = _correction_lp(g, c, 0.95, 50)
        return mu, t, conv

    mu, t, conv = jax.jit(jax.vmap(one))(Gs, fs, ps)
    w = np.asarray(_PMGDA_B(Gs, fs, ps))
    worst, n_ok, n_corr = 0.0, 0, 0
    for k in range(n):
        res, c, nr = _pmgda_lp_numpy(Js[k], fs[k], ps[k], 0.95)
        if res.status != 0:
            assert not bool(conv[k])
            continue
        n_ok += 1
        assert bool(conv[k])
        scale = max(1.0, nr.max())
        worst = max(worst, abs(float(t[k]) - res.fun) / scale)
        # the objective weights are the map-back of an optimal μ
        if pbi_constraint(jnp.asarray(fs[k]), jnp.asarray(ps[k])) >= 0.01:
            mk = np.asarray(mu[k])
            alpha = mk[:m] / nr[:m] + mk[m] / nr[m] * c
            np.testing.assert_allclose(w[k], alpha, rtol=1e-8, atol=1e-10)
            # the correction direction d = Jᵀα decreases h to first order: ∇hᵀd > 0
            assert (c @ Js[k]) @ (Js[k].T @ w[k]) > 0
            n_corr += 1
    assert n_ok >= n // 2 and n_corr >= n // 2
    print(f"PMGDA LP m={m}: worst |t - t_HiGHS| / max‖r‖ = {worst:.2e} ({n_ok} feasible)")
    assert worst < 1e-7, worst


# ------------------------------------------------------------------------------ transform API
def test_transforms_api():
    jac = {"w": jnp.asarray(J_BASE, jnp.float32)}
    kw = dict(task_losses=jnp.array([0.5, 0.1]), pref=jnp.array([0.5, 0.5]))
    for tx in (epo(num_tasks=2), pmgda(num_tasks=2)):
        st = tx.init({"w": jnp.zeros(3)})
        u, st2 = jax.eval_shape(lambda j, s_: tx.update(j, s_, **kw), jac, st)
        assert u["w"].shape == (3,) and st2.weights.shape == (2,)
        with pytest.raises(ValueError, match="preference"):
            jax.eval_shape(lambda j, s_: tx.update(j, s_, task_losses=kw["task_losses"]), jac, st)
        with pytest.raises(ValueError, match="loss"):
            jax.eval_shape(lambda j, s_: tx.update(j, s_, pref=kw["pref"]), jac, st)
        chained = optax.chain(tx, optax.sgd(0.1))
        cst = chained.init({"w": jnp.zeros(3)})
        out = jax.eval_shape(
            lambda j, s_: chained.update(j, s_, {"w": jnp.zeros(3)}, **kw)[0], jac, cst)
        assert out["w"].shape == (3,)
    tx = epo(num_tasks=2)
    u, st = jax.jit(lambda j, s_: tx.update(j, s_, **kw))(jac, tx.init(None))
    np.testing.assert_allclose(u["w"], J_BASE[0], atol=1e-4)  # balance step: α = e₁
    np.testing.assert_allclose(st.weights, [1.0, 0.0], atol=1e-4)
    with pytest.raises(ValueError):
        epo_weighting(eps=-1.0)
    with pytest.raises(ValueError):
        pmgda(sigma=1.5)


# -------------------------------------------------------------------- convergence to the ray
@pytest.mark.parametrize("name", ["fonseca_fleming", "libmoon_quadratic"])
def test_epo_ends_proportional_to_pref(name):
    prob = pj.problems.get(name)
    P = pj.linspace_prefs(5, 0.1)
    lr = 1e-2 if name == "fonseca_fleming" else 5e-2
    res = run_finite_set(prob, P, "epo", 300, lr, jax.random.key(0))
    ang = float(cross_angle(res.f, P))
    assert ang < 1.0, ang
    # and not just anywhere on the ray: on the front (concave FF / convex quadratic)
    if name == "fonseca_fleming":
        assert float(hypervolume(res.f, jnp.ones(2))) > 0.25


def test_pmgda_ends_proportional_to_pref():
    prob = pj.problems.get("fonseca_fleming")
    P = pj.linspace_prefs(5, 0.1)
    res = run_finite_set(prob, P, "pmgda", 300, 1e-2, jax.random.key(0))
    assert float(cross_angle(res.f, P)) < 1.5
