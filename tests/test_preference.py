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


@pytest.mark.parametrize("m", [2, 3, 5])
def test_epo_lp_matches_highs(x64, m):
    rng = np.random.default_rng(m)
    Gs, fs, ps = _random_instances(rng, N_CASES, m, 7)
    w = jax.jit(jax.vmap(lambda g, f, p: epo_weights(g, f, pref=p)[0]))(Gs, fs, ps)
    w = np.asarray(w)
    worst, modes = 0.0, set()
    for k in range(N_CASES):
        c, A, b, mode = _epo_lp_numpy(Gs[k], fs[k], ps[k])
        modes.add(mode)
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
    assert modes == {"bal", "dom"}
    assert worst < 1e-6, worst


def test_epo_relaxed_lp_matches_highs(x64):
    rng = np.random.default_rng(7)
    m = 3
    Gs, fs, ps = _random_instances(rng, 60, m, 5, near_ray_frac=1.0)
    w = np.asarray(jax.vmap(lambda g, f, p: epo_weights(g, f, pref=p, relaxed=True)[0])(Gs, fs, ps))
    for k in range(60):
        c, A, b, mode = _epo_lp_numpy(Gs[k], fs[k], ps[k], relaxed=True)
        assert mode == "dom"
        res = linprog(c, A_ub=A, b_ub=b, A_eq=np.ones((1, m)), b_eq=[1.0], bounds=(0, None))
        assert res.status == 0
        assert abs(c @ w[k] - res.fun) <= 1e-6 * max(1.0, abs(res.fun))


def test_epo_golden_balance_and_descent(x64):
    # f/p non-uniform: balance pushes only the objective with the larger f/p (vertex e_1).
    w, _ = epo_weights(jnp.asarray(G_BASE), jnp.array([0.5, 0.1]), pref=jnp.array([0.5, 0.5]))
    np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-8)
    # f ∝ p: descent LP max 1ᵀGα s.t. Gα ≥ 0 → (Gα)₁ = 0 → α₁ = 22/40 = 0.55.
    w, _ = epo_weights(jnp.asarray(G_BASE), jnp.array([0.3, 0.3]), pref=jnp.array([0.5, 0.5]))
    np.testing.assert_allclose(w, [0.55, 0.45], atol=1e-8)


def test_epo_degenerate_inputs_no_nan():
    p = jnp.array([0.3, 0.7])
    cases = [
        (jnp.zeros((2, 2)), jnp.array([0.5, 0.2])),
        (jnp.ones((2, 2)), jnp.array([0.5, 0.2])),  # duplicate gradients
        (1e8 * jnp.asarray(G_BASE, jnp.float32), jnp.array([0.5, 0.2])),
        (1e-8 * jnp.asarray(G_BASE, jnp.float32), jnp.array([0.5, 0.2])),
        (jnp.asarray(G_BASE, jnp.float32), jnp.array([0.0, 0.0])),
        (jnp.asarray(G_BASE, jnp.float32), jnp.array([-1.0, 0.2])),
    ]
    for g, f in cases:
        w, _ = epo_weights(g, f, pref=p)
        assert bool(jnp.all(jnp.isfinite(w))) and abs(float(jnp.sum(w)) - 1) < 1e-4
        w, _ = pmgda_weights(g, f, pref=p)
        assert bool(jnp.all(jnp.isfinite(w)))
    # m = 1
    assert float(epo_weights(jnp.eye(1), jnp.array([0.4]), pref=jnp.ones(1))[0][0]) == pytest.approx(1.0)
    assert float(pmgda_weights(jnp.eye(1), jnp.array([0.4]), pref=jnp.ones(1))[0][0]) == pytest.approx(1.0)


def test_epo_scale_invariance_of_weights(x64):
    rng = np.random.default_rng(3)
    Gs, fs, ps = _random_instances(rng, 30, 3, 6)
    f = jax.vmap(lambda g, f, p: epo_weights(g, f, pref=p)[0])
    np.testing.assert_allclose(f(Gs, fs, ps), f(1e4 * Gs, fs, ps), atol=1e-6)


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


@pytest.mark.parametrize("m", [2, 3, 4])
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
    w = np.asarray(jax.vmap(lambda g, f, p: pmgda_weights(g, f, pref=p)[0])(Gs, fs, ps))
    worst, n_ok = 0.0, 0
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
    assert n_ok >= n // 2
    assert worst < 1e-7, worst


def test_pmgda_on_ray_is_mgda(x64):
    g = jnp.asarray(G_BASE)
    w, _ = pmgda_weights(g, jnp.array([0.3, 0.3]), pref=jnp.array([0.5, 0.5]))
    # MGDA on G_base: γ = (38 + 22)/(18 + 38 + 44) = 0.6
    np.testing.assert_allclose(w, [0.6, 0.4], atol=1e-8)


def test_pmgda_correction_reduces_constraint(x64):
    # the direction d = Jᵀα must decrease h to first order: ∇hᵀd > 0
    rng = np.random.default_rng(5)
    for _ in range(20):
        J = rng.normal(size=(3, 8))
        f = rng.uniform(0.2, 1.0, 3)
        p = rng.dirichlet(np.ones(3))
        w, _ = pmgda_weights(jnp.asarray(J @ J.T), jnp.asarray(f), pref=jnp.asarray(p))
        c = np.asarray(jax.grad(pbi_constraint)(jnp.asarray(f), jnp.asarray(p)))
        d = J.T @ np.asarray(w)
        assert (c @ J) @ d > 0


# ------------------------------------------------------------------------------ transform API
def test_transforms_api():
    jac = {"w": jnp.asarray(J_BASE, jnp.float32)}
    for tx in (epo(num_tasks=2), pmgda(num_tasks=2)):
        st = tx.init({"w": jnp.zeros(3)})
        u, st = jax.jit(tx.update)(jac, st, task_losses=jnp.array([0.5, 0.1]),
                                   pref=jnp.array([0.5, 0.5]))
        assert u["w"].shape == (3,) and bool(jnp.all(jnp.isfinite(u["w"])))
        with pytest.raises(ValueError, match="preference"):
            tx.update(jac, st, task_losses=jnp.array([0.5, 0.1]))
        with pytest.raises(ValueError, match="loss"):
            tx.update(jac, st, pref=jnp.array([0.5, 0.5]))
        chained = optax.chain(tx, optax.sgd(0.1))
        cst = chained.init({"w": jnp.zeros(3)})
        chained.update(jac, cst, {"w": jnp.zeros(3)}, task_losses=jnp.array([0.5, 0.1]),
                       pref=jnp.array([0.5, 0.5]))
    u, _ = epo().update(jac, epo().init(None), task_losses=jnp.array([0.5, 0.1]),
                        pref=jnp.array([0.5, 0.5]))
    np.testing.assert_allclose(u["w"], J_BASE[0], atol=1e-4)
    with pytest.raises(ValueError):
        epo_weighting(eps=-1.0)
    with pytest.raises(ValueError):
        pmgda(sigma=1.5)


def test_vmap_over_prefs_matches_loop():
    g = jnp.asarray(G_BASE, jnp.float32)
    f = jnp.array([0.4, 0.3])
    P = pj.linspace_prefs(5, 0.05)
    wv = jax.vmap(lambda p: epo_weights(g, f, pref=p)[0])(P)
    for i in range(5):
        np.testing.assert_allclose(wv[i], epo_weights(g, f, pref=P[i])[0], atol=1e-5)


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
