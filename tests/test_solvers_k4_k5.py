"""K4 (CAGrad inner problem) and K5 (α-fair root) against exact references.

Each compiled solver is run (vmapped) on ≥ 200 random instances in float64 and compared with
scipy (test-only): SLSQP for K4 (multi-start, tight tolerances; plus an exhaustive-support
closed-form reference), ``least_squares`` for K5. The worst gaps are printed (``pytest -s``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares, minimize

from paretojax.core.cagrad_qp import cagrad_qp
from paretojax.core.root import alpha_fair_root
from tests.helpers import G3, G_BASE, ill_conditioned_gram, random_jacobian

# Module-level jitted solvers: compiled once per shape for the whole file.
_qp = jax.jit(cagrad_qp)
_root = jax.jit(alpha_fair_root)  # α traced

# ------------------------------------------------------------------------------------------
# K4
# ------------------------------------------------------------------------------------------


def _k4_instances(rng, m, n):
    gs, bs, cs = [], [], []
    for k in range(n):
        if k % 3 == 0:
            g = ill_conditioned_gram(rng, m, d=40, cond=10 ** rng.uniform(1, 6))
        else:  # includes rank-deficient Jacobians (d < m) and Pareto-stationary cases
            j = random_jacobian(rng, m, int(rng.integers(2, 12)))
            g = j @ j.T
        g = g / np.trace(g)
        p = np.full(m, 1.0 / m)
        c = rng.choice([0.1, 0.5, 1.0, 2.0]) * np.sqrt(p @ g @ p + 1e-8)
        gs.append(g)
        bs.append(g @ p)
        cs.append(c)
    return np.stack(gs), np.stack(bs), np.asarray(cs)


def _f(w, g, b, c, eps=1e-8):
    return w @ b + c * np.sqrt(max(w @ g @ w, 0.0) + eps)


def _slsqp(g, b, c, rng):
    m = len(b)
    best = None
    for x0 in [np.full(m, 1.0 / m), rng.dirichlet(np.ones(m))]:  # LibMTL's start + one random
        r = minimize(
            _f, x0, args=(g, b, c), method="SLSQP", bounds=[(0.0, 1.0)] * m,
            constraints=({"type": "eq", "fun": lambda x: 1.0 - x.sum()},),
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        x = np.clip(r.x, 0.0, None)
        x = x / x.sum()
        if best is None or _f(x, g, b, c) < _f(best, g, b, c):
            best = x
    return _f(best, g, b, c)


def _enumerate(g, b, c, eps=1e-8):
    """Exact reference: closed-form minimiser on every support (plus the vertices)."""
    m = len(b)
    best = min(_f(np.eye(m)[i], g, b, c) for i in range(m))
    for k in range(2, m + 1):
        for s in itertools.combinations(range(m), k):
            s = list(s)
            kkt = np.zeros((k + 1, k + 1))
            kkt[:k, :k] = g[np.ix_(s, s)]
            kkt[:k, k] = -1.0
            kkt[k, :k] = 1.0
            rhs = np.zeros((k + 1, 2))
            rhs[k, 0] = 1.0
            rhs[:k, 1] = -b[s]
            try:
                sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
            except np.linalg.LinAlgError:  # pragma: no cover
                continue
            wa, wb = np.zeros(m), np.zeros(m)
            wa[s], wb[s] = sol[:k, 0], sol[:k, 1]
            den = c * c - wb @ g @ wb
            if den <= 0:
                continue
            w = wa + np.sqrt((max(wa @ g @ wa, 0.0) + eps) / den) * wb
            if np.all(w >= -1e-12):
                w = np.clip(w, 0, None)
                best = min(best, _f(w / w.sum(), g, b, c))
    return best


def test_k4_matches_slsqp_and_enumeration_on_random_instances(x64):
    rng = np.random.default_rng(0)
    worst_slsqp, worst_enum, total = -np.inf, -np.inf, 0
    for m, n in ((2, 50), (3, 60), (5, 60), (7, 40)):
        gs, bs, cs = _k4_instances(rng, m, n)
        ws = np.asarray(jax.jit(jax.vmap(lambda g, b, c: cagrad_qp(g, b, c)))(gs, bs, cs))
        for g, b, c, w in zip(gs, bs, cs, ws, strict=True):
            assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
            scale = np.abs(b).max() + c  # magnitude of the objective on the simplex
            f = _f(w, g, b, c)
            worst_slsqp = max(worst_slsqp, (f - _slsqp(g, b, c, rng)) / scale)
            worst_enum = max(worst_enum, (f - _enumerate(g, b, c)) / scale)
            total += 1
    print(
        f"\nK4 CAGrad: {total} instances, worst scaled objective gap vs SLSQP {worst_slsqp:.2e}, "
        f"vs exhaustive supports {worst_enum:.2e} (negative = better than the reference)"
    )
    assert total >= 200
    assert worst_slsqp <= 1e-9
    assert worst_enum <= 1e-9


def test_k4_float32_is_close_to_float64():
    rng = np.random.default_rng(1)
    gs, bs, cs = _k4_instances(rng, 4, 40)
    f32 = jax.jit(jax.vmap(lambda g, b, c: cagrad_qp(g, b, c)))
    ws = np.asarray(f32(*(jnp.asarray(a, jnp.float32) for a in (gs, bs, cs))), np.float64)
    gaps = [
        (_f(w, g, b, c) - _enumerate(g, b, c)) / (np.abs(b).max() + c)
        for g, b, c, w in zip(gs, bs, cs, ws, strict=True)
    ]
    assert max(gaps) < 1e-5


def test_k4_vertex_and_m1_cases(x64):
    assert cagrad_qp(jnp.ones((1, 1)), jnp.ones(1), 0.3).tolist() == [1.0]
    g = jnp.asarray(G_BASE) / 56.0
    p = jnp.array([0.5, 0.5])
    np.testing.assert_allclose(_qp(g, g @ p, 0.5 * jnp.sqrt(p @ g @ p)), [1.0, 0.0], atol=1e-9)
    g3 = jnp.asarray(G3) / np.trace(G3)
    p3 = jnp.full(3, 1 / 3)
    w = _qp(g3, g3 @ p3, 0.5 * jnp.sqrt(p3 @ g3 @ p3))
    np.testing.assert_allclose(w, [0.0, 1.0, 0.0], atol=1e-9)


# ------------------------------------------------------------------------------------------
# K5
# ------------------------------------------------------------------------------------------


def _k5_instances(rng, m, n):
    gs = []
    for k in range(n):
        if k % 2:
            g = ill_conditioned_gram(rng, m, d=40, cond=10 ** rng.uniform(1, 5))
        else:
            j = random_jacobian(rng, m, int(rng.integers(m, 3 * m + 3)))  # full row rank
            g = j @ j.T
        gs.append(g * 10 ** rng.uniform(-4, 4))  # the analytic rescaling is exercised
    return np.stack(gs)


def test_k5_matches_least_squares_on_random_instances(x64):
    rng = np.random.default_rng(5)
    alphas = (0.5, 1.0, 2.0)
    worst_res, worst_rel, worst_ref_res, total = 0.0, 0.0, 0.0, 0
    solve = jax.jit(jax.vmap(alpha_fair_root))  # α traced: one compilation per m
    for m, n in ((2, 30), (4, 90), (7, 90)):
        gs = _k5_instances(rng, m, n)
        al = np.resize(alphas, n)
        res = solve(jnp.asarray(gs), jnp.asarray(al))
        assert bool(res.ok.all()) and not bool(res.stationary.any())
        for g, w, alpha in zip(gs, np.asarray(res.weights), al, strict=True):
            tr = np.trace(g)
            gn = g / tr + 1e-8 * np.eye(m)  # the ridged, normalised problem the solver defines
            # LibMTL's call: least_squares on Gx − x^{-1/α}, x₀ = 1/m, bounds (0, ∞), tight tol;
            # rescaled by tr^{-α/(1+α)}.
            ref = least_squares(
                lambda x, gn=gn, a=alpha: gn @ x - x ** (-1 / a), np.full(m, 1.0 / m),
                bounds=(0, np.inf), xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000,
            ).x * tr ** (-alpha / (1 + alpha))
            gr = gn * tr
            rel_res = lambda x, gr=gr, a=alpha: np.max(np.abs(x ** (1 / a) * (gr @ x) - 1))
            worst_res = max(worst_res, rel_res(w))
            worst_ref_res = max(worst_ref_res, rel_res(ref))
            worst_rel = max(worst_rel, np.max(np.abs(w - ref) / ref))
            total += 1
    print(
        f"\nK5 root (α ∈ {alphas}): {total} instances, worst relative residual {worst_res:.2e} "
        f"(scipy least_squares {worst_ref_res:.2e}), worst relative weight gap {worst_rel:.2e}"
    )
    assert total >= 200
    assert worst_res < 1e-9
    assert worst_rel < 1e-6


def test_k5_static_and_traced_alpha_agree(x64):
    g = jnp.asarray(G3)
    static = jax.jit(alpha_fair_root, static_argnums=1)(g, 1.0).weights  # log branch
    np.testing.assert_allclose(static, _root(g, 1.0).weights, rtol=1e-10)


def test_k5_goldens(x64):
    g = jnp.asarray(G_BASE)
    np.testing.assert_allclose(_root(g, 1.0).weights, [0.59146, 0.40707], atol=1e-4)
    np.testing.assert_allclose(_root(g, 2.0).weights, [0.47136, 0.31945], atol=1e-4)
    np.testing.assert_allclose(_root(g, 0.5).weights, [0.74283, 0.52539], atol=1e-4)
    w3 = _root(jnp.asarray(G3), 1.0).weights
    np.testing.assert_allclose(w3, [0.9120, 1.3692, 0.6742], atol=1e-4)


def test_k5_scale_rule_and_no_root_detection(x64):
    g = jnp.asarray(G3)
    w1 = _root(g, 2.0).weights
    w2 = _root(9.0 * g, 2.0).weights
    np.testing.assert_allclose(w2, 9.0 ** (-2.0 / 3.0) * w1, rtol=1e-9)
    assert not bool(_root(g, 1.0).stationary)
    # no root, conflicting: g₂ = −2g₁ (v = (2, 1) ≥ 0 has Gv = 0) ⇒ flagged
    r = _root(jnp.array([[1.0, -2.0], [-2.0, 4.0]]), 1.0)
    assert bool(r.stationary) and bool(jnp.all(jnp.isfinite(r.weights)))
    assert bool(_root(jnp.zeros((3, 3)), 1.0).stationary)
    # a zero gradient: no root either, but the update (= g₂) conflicts with nobody ⇒ not flagged
    r = _root(jnp.array([[0.0, 0.0], [0.0, 1.0]]), 1.0)
    assert not bool(r.stationary) and bool(jnp.all(jnp.isfinite(r.weights)))
    np.testing.assert_allclose(r.weights[1], 1.0, rtol=1e-6)
