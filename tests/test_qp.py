"""Tests of the compiled min-norm simplex QP ``paretojax.core.qp`` (METHODS.md §2 K2).

Accuracy convention (``test_accuracy_vs_quadprog``): on trace-normalised G (objective
``f(w) = wᵀGw / tr G``), the relative gap of our solution against quadprog is
``(f_ours − f_qp) / max(f_qp, 1e-9)``; the 1e-9 floor (i.e. 1e-9·tr G) keeps the measure
meaningful when the optimum is 0 (0 in the convex hull, e.g. rank-deficient G), where both
objectives are rounding noise ~1e-17. quadprog needs a positive definite matrix, so it solves
``G/tr + 1e-12·I`` and its weights are evaluated on the exact G (an upper bound on f*).
Measured (float64, 630 problems, m ∈ {2, 3, 5, 16, 64}, this file; print with ``-s``): worst
gap 2.3e-8, reached on a zero optimum (absolute 2e-17, rounding); ≤ 1e-15 on the others; KKT
residuals ≤ 2e-15. The slow sweep over every m in 2…64 gives the same.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quadprog

from paretojax.core.qp import kkt_residual, min_norm
from tests.helpers import G3, G_BASE, J_BASE, ill_conditioned_gram, random_jacobian

G3_EXACT = np.array([0.32249, 0.47847, 0.19904])
G3_FW = np.array([0.3199, 0.4760, 0.2041])


def _quadprog(g: np.ndarray) -> np.ndarray:
    m = g.shape[0]
    tr = np.trace(g)
    if tr <= 0:
        return np.full(m, 1.0 / m)
    c = np.hstack([np.ones((m, 1)), np.eye(m)])
    b = np.r_[1.0, np.zeros(m)]
    x = quadprog.solve_qp(g / tr + 1e-12 * np.eye(m), np.zeros(m), c, b, meq=1)[0]
    x = np.maximum(x, 0.0)
    return x / x.sum()


def _objective(gs: np.ndarray, ws: np.ndarray) -> np.ndarray:
    tr = np.trace(gs, axis1=-2, axis2=-1)
    return np.einsum("...i,...ij,...j->...", ws, gs, ws) / np.where(tr > 0, tr, 1.0)


def _family(rng: np.random.Generator, kind: str, m: int) -> np.ndarray:
    if kind == "well":
        j = rng.standard_normal((m, 3 * m + 5))
    elif kind == "ill":
        return ill_conditioned_gram(rng, m, d=max(100, m), cond=10 ** rng.uniform(2, 8))
    elif kind == "rank":
        j = random_jacobian(rng, m, 40, rank=max(1, m // 3))
    elif kind == "dup":
        j = rng.standard_normal((m, 30)) + 0.5 * rng.standard_normal((1, 30))
        j[m // 2 :] = j[: m - m // 2]
    elif kind == "scaled":
        return ill_conditioned_gram(rng, m) * 10 ** rng.uniform(-8, 8)
    elif kind == "zero":
        return np.zeros((m, m))
    else:  # pragma: no cover
        raise ValueError(kind)
    return j @ j.T


_B = 128  # every batched call below is padded to this size: one compilation per (m, dtype, solver)


def _mn(gs, solver: str = "active_set", dtype=jnp.float64) -> np.ndarray:
    """``min_norm`` on a stack of ``n ≤ _B`` Gram matrices, padded with identities to ``_B``."""
    gs = np.asarray(gs, np.float64)
    n, m, _ = gs.shape
    pad = np.concatenate([gs, np.broadcast_to(np.eye(m), (_B - n, m, m))])
    w = min_norm(jnp.asarray(pad, dtype), solver=solver)
    assert w.dtype == dtype
    return np.asarray(w, np.float64)[:n]


def _assert_on_simplex(w, atol=1e-6):
    w = np.asarray(w, np.float64)
    assert np.all(np.isfinite(w)), w
    assert np.all(w >= 0), w
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=atol)


# ------------------------------------------------------------------------------------------
# golden values
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["active_set", "exact"])
def test_golden(x64, solver):
    w = _mn(G_BASE[None], solver)[0]
    np.testing.assert_allclose(w, [0.6, 0.4], atol=1e-4)
    # the update Jᵀw = [0, 1, 1] (TorchJD test_values)
    np.testing.assert_allclose(w @ J_BASE, [0.0, 1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(_mn(G3[None], solver)[0], G3_EXACT, atol=1e-4)


def test_golden_frank_wolfe_and_pgd(x64):
    np.testing.assert_allclose(_mn(G3[None], "frank_wolfe")[0], G3_FW, atol=5e-3)
    np.testing.assert_allclose(_mn(G3[None], "pgd")[0], G3_EXACT, atol=1e-4)
    # LibMTL's 2-vector rule at the boundary: 0.999 / 0.001 instead of 1 / 0
    g = np.array([[1.0, 2.0], [2.0, 5.0]])  # g₁·g₂ ≥ ‖g₁‖² → all weight on task 1
    two = np.stack([G_BASE, g, g[::-1, ::-1]])
    np.testing.assert_allclose(_mn(two, "frank_wolfe"), [[0.6, 0.4], [1, 0], [0, 1]])
    np.testing.assert_allclose(_mn(two, "pgd"), [[0.6, 0.4], [0.999, 0.001], [0.001, 0.999]])
    np.testing.assert_allclose(_mn(two), [[0.6, 0.4], [1, 0], [0, 1]])


def test_frank_wolfe_freeze_rule(x64):
    # FW stops after the first step with γ < 1e-3: it is visibly short of the optimum on G3
    w = _mn(G3[None], "frank_wolfe")[0]
    f_fw, f_ex = _objective(G3, w), _objective(G3, G3_EXACT)
    assert f_fw > f_ex + 1e-8
    assert np.abs(w - G3_EXACT).max() > 1e-3


def test_pgd_close_to_exact_on_easy_cases(x64):
    rng = np.random.default_rng(3)
    gs = np.stack([_family(rng, "well", 5) for _ in range(32)])
    w_pgd = _mn(gs, "pgd")
    w_ex = _mn(gs, "exact")
    _assert_on_simplex(w_pgd)
    f_pgd, f_ex = _objective(gs, w_pgd), _objective(gs, w_ex)
    assert np.all(f_pgd >= f_ex - 1e-12)
    assert np.max((f_pgd - f_ex) / f_ex) < 1e-3
    np.testing.assert_allclose(w_pgd, w_ex, atol=2e-2)


def test_kkt_residual_golden(x64):
    res = kkt_residual(jnp.asarray(G3), jnp.asarray(G3_EXACT))
    assert float(res.stationarity) < 1e-5 and float(res.complementarity) < 1e-5
    bad = kkt_residual(jnp.asarray(G3), jnp.asarray([1.0, 0.0, 0.0]))
    assert float(bad.stationarity) > 0.1  # e₁ is not optimal: (Ge₁)₂ < e₁ᵀGe₁
    neg = kkt_residual(jnp.asarray(G3), jnp.asarray([1.2, -0.1, -0.1]))
    np.testing.assert_allclose(neg.negativity, 0.1)
    np.testing.assert_allclose(neg.sum, 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# accuracy against an independent QP solver
# ------------------------------------------------------------------------------------------

_FAMILIES = ("well", "ill", "rank", "dup", "scaled")


def _accuracy_sweep(ms, per_family, seed):
    rng = np.random.default_rng(seed)
    worst_gap, worst_kkt, n = -np.inf, 0.0, 0
    for m in ms:
        gs = np.stack(
            [_family(rng, kind, m) for kind in _FAMILIES for _ in range(per_family)]
            + [_family(rng, "zero", m)]
        )
        w = _mn(gs)  # one batched, compiled call per m
        n += len(gs)
        _assert_on_simplex(w, atol=1e-12)
        np.testing.assert_allclose(w[-1], np.full(m, 1.0 / m))  # zero G → uniform
        gs, w = gs[:-1], w[:-1]
        w_ref = np.stack([_quadprog(g) for g in gs])
        f, f_ref = _objective(gs, w), _objective(gs, w_ref)
        gap = (f - f_ref) / np.maximum(f_ref, 1e-9)
        k = kkt_residual(jnp.asarray(gs), jnp.asarray(w))
        kkt = max(float(k.stationarity.max()), float(k.complementarity.max()))
        assert gap.max() <= 1e-6, (m, gap.max())
        assert kkt <= 1e-10, (m, kkt)
        worst_gap, worst_kkt = max(worst_gap, gap.max()), max(worst_kkt, kkt)
    print(f"\nmin_norm vs quadprog: {n} problems, worst gap {worst_gap:.2e}, KKT {worst_kkt:.1e}")
    return n


def test_accuracy_vs_quadprog(x64):
    n = _accuracy_sweep((2, 3, 5, 16, 64), per_family=25, seed=0)
    assert n >= 500


@pytest.mark.slow
def test_accuracy_vs_quadprog_all_m(x64):
    _accuracy_sweep(tuple(range(2, 65)), per_family=25, seed=1)


@pytest.mark.parametrize("m", [3, 5])
def test_active_set_matches_exact(x64, m):
    rng = np.random.default_rng(m)
    gs = np.stack([_family(rng, kind, m) for kind in _FAMILIES for _ in range(20)])
    w = _mn(gs)
    w_ex = _mn(gs, "exact")
    f, f_ex = _objective(gs, w), _objective(gs, w_ex)
    assert np.all(f <= f_ex * (1 + 1e-10) + 1e-15)


def test_float32(rng):
    # ill-conditioned batch (and G3 padded to m = 5 by a duplicated task): feasible, accurate
    gs = np.stack([ill_conditioned_gram(rng, 5) for _ in range(100)])
    g3 = np.pad(G3, ((0, 2), (0, 2)))
    g3[3:, :3], g3[:3, 3:], g3[3:, 3:] = G3[:2], G3[:, :2], G3[:2, :2]  # tasks 4, 5 = 1, 2
    w = _mn(np.concatenate([gs, g3[None]]), dtype=jnp.float32)
    _assert_on_simplex(w, atol=1e-5)
    w3 = w[-1, :3] + np.r_[w[-1, 3:], 0.0]
    np.testing.assert_allclose(w3, G3_EXACT, atol=1e-4)
    f_ref = _objective(gs, np.stack([_quadprog(g) for g in gs]))
    gap = (_objective(gs, w[:-1]) - f_ref) / f_ref
    assert np.max(gap) < 1e-3 and np.median(gap) < 1e-6
    # reduced-precision input is solved and returned in float32
    assert min_norm(jnp.asarray(G_BASE, jnp.bfloat16)).dtype == jnp.float32


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------


def test_permutation_equivariance_and_scale_invariance(x64):
    rng = np.random.default_rng(7)
    m = 5
    gs = np.stack([_family(rng, "well", m) for _ in range(8)])  # full rank: unique optimum
    perm = rng.permutation(m)
    gp = gs[:, perm][:, :, perm]
    scales = np.array([1e-8, 1.0, 3.7, 1e8])
    batch = np.concatenate([gs, gp] + [gs * c for c in scales])
    w = _mn(batch)
    w0, wp, ws = w[:8], w[8:16], w[16:].reshape(len(scales), 8, m)
    np.testing.assert_allclose(wp, w0[:, perm], atol=1e-10)
    np.testing.assert_allclose(ws, np.broadcast_to(w0, ws.shape), atol=1e-10)


@pytest.mark.parametrize("solver", ["active_set", "frank_wolfe"])
def test_jit_vmap_batch_agree(x64, solver):
    rng = np.random.default_rng(11)
    gs = np.stack([_family(rng, kind, 5) for kind in _FAMILIES for _ in range(25)])
    gs = jnp.asarray(gs[: _B - 3])  # plus 3 rows below: every call has 128 problems
    batched = _mn(gs, solver)
    # under an outer jit and vmap (the active-set solver's batching rule folds the vmapped
    # axis into its own batch axis), nested leading axes, and one problem at a time
    vmapped = jax.jit(jax.vmap(lambda g: min_norm(g, solver=solver)))(
        jnp.concatenate([gs, jnp.broadcast_to(jnp.eye(5), (3, 5, 5))])
    )[: _B - 3]
    nested = min_norm(
        jnp.concatenate([gs, jnp.broadcast_to(jnp.eye(5), (3, 5, 5))]).reshape(8, 16, 5, 5),
        solver=solver,
    ).reshape(_B, 5)[: _B - 3]
    singles = jnp.stack([min_norm(g, solver=solver) for g in gs[:4]])
    np.testing.assert_allclose(vmapped, batched, atol=1e-12)
    np.testing.assert_allclose(nested, batched, atol=1e-12)
    np.testing.assert_allclose(singles, batched[:4], atol=1e-12)


# ------------------------------------------------------------------------------------------
# implicit gradient
# ------------------------------------------------------------------------------------------


@jax.jit
def _grad(gs, c):
    """∂/∂G of Σ_b c_b·w(G_b), batched (padded to _B problems, m = 5)."""
    return jax.grad(lambda g: jnp.sum(min_norm(g) * c))(gs)


def _pad5(gs):
    return np.concatenate([gs, np.broadcast_to(np.eye(5), (_B - len(gs), 5, 5))])


def test_blocked_schedule_matches_one_batched_run(x64):
    # m = 17: blocks of 32 problems, so 40 problems run as 2 blocks (one padded); the "well"
    # family has large supports (> 5 iterations) and goes through the second, full-cap pass.
    # Reference: the same Wolfe loop run once over the whole batch (the former schedule).
    from paretojax.core import qp

    rng = np.random.default_rng(7)
    gs = np.stack([_family(rng, kind, 17) for kind in ("well", "ill") for _ in range(20)])
    w = np.asarray(min_norm(jnp.asarray(gs)))
    gn = qp._normalise(jnp.asarray(gs))[0]
    w1 = np.asarray(qp._wolfe_run(jnp.moveaxis(gn, 0, -1), 4 * 17 + 10, 1e-13).lam.T)
    np.testing.assert_allclose(w, w1, atol=1e-10)
    k = kkt_residual(jnp.asarray(gs), jnp.asarray(w))
    assert float(k.stationarity.max()) <= 1e-12


def test_custom_vjp_matches_finite_differences(x64):
    rng = np.random.default_rng(5)
    gs = []
    for _ in range(3):  # optima with 2–4 active tasks, strictly complementary
        j = rng.standard_normal((5, 4)) + 0.5 * rng.standard_normal((1, 4))
        gs.append(j @ j.T)
    gs = np.stack(gs)
    w = _mn(gs)
    r = np.einsum("bij,bj->bi", gs, w)
    v = np.einsum("bi,bi->b", w, r)[:, None]
    assert np.all((w > 1e-6) | (r - v > 1e-6))
    c = rng.standard_normal((_B, 5))
    grad = np.asarray(_grad(jnp.asarray(_pad5(gs)), jnp.asarray(c)))[: len(gs)]
    np.testing.assert_allclose(grad, np.swapaxes(grad, 1, 2), atol=1e-12)  # symmetric part only
    # central differences on symmetric perturbations, all evaluated in one batched call
    pairs = list(itertools.combinations_with_replacement(range(5), 2))
    eps = 1e-6
    pert = []
    for g in gs:
        for a, b in pairs:
            e = np.zeros((5, 5))
            e[a, b] = e[b, a] = eps
            pert += [g + e, g - e]
    wp = _mn(np.stack(pert)).reshape(len(gs), len(pairs), 2, 5)
    fd = np.einsum("kpsi,ki->kps", wp, c[: len(gs)])
    fd = (fd[..., 0] - fd[..., 1]) / (2 * eps)
    an = np.stack([[gr[a, b] + (gr[b, a] if a != b else 0.0) for a, b in pairs] for gr in grad])
    np.testing.assert_allclose(an, fd, rtol=1e-5, atol=1e-7)
    assert np.abs(an).max() > 1e-2  # not trivially zero


def test_custom_vjp_degenerate_is_finite(x64):
    rng = np.random.default_rng(4)
    g = ill_conditioned_gram(rng, 5)
    gs = np.stack([np.zeros((5, 5)), np.ones((5, 5)), g * 1e8, g * 1e-8, np.diag(np.arange(5.0))])
    c = np.ones((_B, 5)) * np.arange(5.0)
    grad = np.asarray(_grad(jnp.asarray(_pad5(gs)), jnp.asarray(c)))[: len(gs)]
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[0], 0.0)
    # scale: w(cG) = w(G) so the gradient scales as 1/c
    np.testing.assert_allclose(grad[2] * 1e8, grad[3] * 1e-8, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------------------------
# degenerate inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_degenerate_inputs(x64, dtype):
    rng = np.random.default_rng(2)
    m = 5
    a = rng.standard_normal((1, 7))
    j_dup = rng.standard_normal((m, 7))
    j_dup[1] = j_dup[0]
    j_rank1 = np.array([[1.0], [-2.0], [0.5], [3.0], [1.5]]) @ np.array([[1.0, 2.0]])
    g_ill = ill_conditioned_gram(rng, m)
    cases = [
        np.zeros((m, m)),  # zero → uniform
        j_rank1 @ j_rank1.T,  # rank 1 with 0 in the hull
        np.repeat(a, m, 0) @ np.repeat(a, m, 0).T,  # all tasks identical
        j_dup @ j_dup.T,  # duplicate rows
        g_ill * 1e8,
        g_ill * 1e-8,
        np.diag([0.0, 1.0, 2.0, 3.0, 4.0]),  # one zero gradient: its vertex is optimal
        g_ill,
    ]
    gs = np.stack(cases)
    for solver in ("active_set", "frank_wolfe", "pgd", "exact"):
        w = _mn(gs, solver, dtype)
        _assert_on_simplex(w, atol=1e-5)
        np.testing.assert_allclose(w[0], np.full(m, 1.0 / m))
    w = _mn(gs, dtype=dtype)
    f = _objective(gs, w)
    assert f[1] < 1e-5 and f[2] <= 1.0 and f[6] < 1e-12
    np.testing.assert_allclose(w[6], [1.0, 0.0, 0.0, 0.0, 0.0])
    tol = 1e-3 if dtype == jnp.float32 else 1e-9
    np.testing.assert_allclose(w[4], w[7], atol=tol)
    np.testing.assert_allclose(w[5], w[7], atol=tol)


def test_one_and_two_tasks(x64):
    np.testing.assert_array_equal(min_norm(jnp.asarray([[3.0]])), [1.0])
    np.testing.assert_array_equal(min_norm(jnp.zeros((5, 1, 1))), np.ones((5, 1)))
    # duplicate pair: 0/0 → ½
    np.testing.assert_allclose(min_norm(jnp.ones((2, 2))), [0.5, 0.5])
    # γ clipped to [0, 1]
    np.testing.assert_allclose(min_norm(jnp.asarray([[1.0, 2.0], [2.0, 5.0]])), [1.0, 0.0])


def test_non_finite_gives_nan(x64):
    gs = np.stack([np.eye(5), np.eye(5), np.eye(5)])
    gs[0, 0, 1] = np.nan
    gs[1, 2, 2] = np.inf
    for solver in ("active_set", "frank_wolfe", "pgd", "exact"):
        w = _mn(gs, solver)
        assert np.all(np.isnan(w[:2])), solver
        np.testing.assert_allclose(w[2], np.full(5, 0.2))


def test_validation():
    with pytest.raises(ValueError, match="solver"):
        min_norm(jnp.eye(3), solver="cvxpy")
    with pytest.raises(ValueError, match="m ≤ 10"):
        min_norm(jnp.eye(11), solver="exact")
    with pytest.raises(ValueError, match=r"\[\.\.\., m, m\]"):
        min_norm(jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="max_iter"):
        min_norm(jnp.eye(3), max_iter=0)
