"""K3, the lower-bounded QP ``min vᵀGv s.t. v ≥ u``: against quadprog, KKT, and edge cases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quadprog

from paretojax.core.boxqp import lower_bounded_qp, lower_bounded_qp_exact
from tests.helpers import G_BASE, ill_conditioned_gram, random_jacobian

#: Filled by the tests below; printed with ``pytest -s`` (the lead's report wants the numbers).
WORST = {}


def _instances(rng: np.random.Generator, m: int, n_each: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive-definite instances quadprog accepts: random, ill-conditioned (κ up to 1e8),
    rank-deficient plus TorchJD's normalisation and ridge, and UPGrad-type bounds."""
    gs, us = [], []
    for k in range(3 * n_each):
        kind = k % 3
        if kind == 0:
            j = random_jacobian(rng, m, 20)
            g = j @ j.T
        elif kind == 1:
            g = ill_conditioned_gram(rng, m, cond=10.0 ** rng.uniform(4, 8))
        else:
            j = random_jacobian(rng, m, 20, rank=max(1, m // 2))
            g = j @ j.T
            g = g / np.trace(g) + 1e-4 * np.eye(m)
        if k % 4 == 3:  # UPGrad: u = p_i e_i
            u = np.zeros(m)
            u[rng.integers(m)] = rng.uniform(0.1, 1.0)
        else:
            u = rng.standard_normal(m) * (rng.random(m) < 0.7)
        gs.append(0.5 * (g + g.T))
        us.append(u)
    return np.stack(gs), np.stack(us)


def _quadprog(g: np.ndarray, u: np.ndarray) -> np.ndarray:
    m = u.shape[0]
    return quadprog.solve_qp(g, np.zeros(m), np.eye(m), u)[0]


def _kkt(g: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Relative violations of v ≥ u, Gv ≥ 0 and (v − u)ᵀGv = 0."""
    gv = g @ v
    scale_v = max(np.abs(v).max(), np.abs(u).max(), 1e-150)
    scale_g = max(np.abs(np.diag(g)).max(), 1e-150) * scale_v
    primal = max(0.0, float(np.max(u - v))) / scale_v
    dual = max(0.0, float(-gv.min())) / scale_g
    comp = abs(float((v - u) @ gv)) / (scale_g * scale_v * len(u))
    return primal, dual, comp


def _objective_gap(g: np.ndarray, u: np.ndarray, v: np.ndarray, ref: np.ndarray) -> float:
    """Relative objective gap ``|f − f*|/f*`` (floored at 1e-12·‖G‖‖u‖² for f* ≈ 0)."""
    f, f_ref = v @ g @ v, ref @ g @ ref
    floor = 1e-12 * np.abs(np.diag(g)).max() * max(u @ u, 1e-300)
    return abs(f - f_ref) / (abs(f_ref) + floor)


def _scaled_gap(g: np.ndarray, v: np.ndarray, ref: np.ndarray) -> float:
    """``|f − f*| / (max diag G · ‖v*‖²)``: the gap on the scale of the round-off of f."""
    f, f_ref = v @ g @ v, ref @ g @ ref
    return abs(f - f_ref) / max(np.abs(np.diag(g)).max() * (ref @ ref), 1e-300)


def _pad(gs: list[np.ndarray], us: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed problems of any m ≤ size in one batch: G ⊕ c·I with bounds 0 on the padding.

    The padded coordinates are decoupled with optimum 0 and multiplier 0, so they never enter
    the free set: solution and iteration count are those of the unpadded problem (one compile
    for every m).
    """
    gp, up = [], []
    for g, u in zip(gs, us, strict=True):
        m = len(u)
        big = np.eye(size) * max(np.abs(np.diag(g)).max(), 1e-300)
        big[:m, :m] = g
        gp.append(big)
        up.append(np.concatenate([u, np.zeros(size - m)]))
    return np.stack(gp), np.stack(up)


_SOLVE = jax.jit(jax.vmap(lambda g, u: lower_bounded_qp(g, u, return_info=True)))
_EXACT = jax.jit(jax.vmap(lower_bounded_qp_exact))


@pytest.mark.usefixtures("x64")
def test_against_quadprog_and_kkt():
    rng = np.random.default_rng(0)
    gs, us = [], []
    for m in range(1, 9):
        g, u = _instances(rng, m, 10)
        gs += list(g)
        us += list(u)
    gp, up = _pad(gs, us, 8)
    vs, (its, conv) = _SOLVE(jnp.asarray(gp), jnp.asarray(up))
    ves = _EXACT(jnp.asarray(gp), jnp.asarray(up))
    vs, ves, its = np.asarray(vs), np.asarray(ves), np.asarray(its)
    assert vs.dtype == np.float64
    assert np.all(np.asarray(conv)), "active set hit max_iter"
    worst_gap = worst_gap_exact = worst_sol = worst_scaled = 0.0
    worst_kkt = [0.0, 0.0, 0.0]
    for g, u, vp, vep, it in zip(gs, us, vs, ves, its, strict=True):
        m = len(u)
        v, ve = vp[:m], vep[:m]
        np.testing.assert_array_equal(vp[m:], 0.0)
        assert it <= 3 * m, "more active-set iterations than the default max_iter = 3m"
        ref = _quadprog(g, u)
        worst_gap = max(worst_gap, _objective_gap(g, u, v, ref))
        worst_gap_exact = max(worst_gap_exact, _objective_gap(g, u, ve, ref))
        worst_scaled = max(worst_scaled, _scaled_gap(g, v, ref), _scaled_gap(g, ve, ref))
        cond = np.linalg.cond(g)
        worst_sol = max(worst_sol, np.abs(v - ref).max() / max(1.0, np.abs(ref).max()) / cond)
        worst_kkt = [max(a, b) for a, b in zip(worst_kkt, _kkt(g, u, v), strict=True)]
    n = len(gs)
    WORST.update(
        instances=n, objective_gap=worst_gap, objective_gap_exact=worst_gap_exact,
        solution_err_over_cond=worst_sol, kkt=worst_kkt, scaled_gap=worst_scaled,
        max_iterations_over_m=float(max(it / len(u) for it, u in zip(its, us, strict=True))),
    )
    print(f"\nK3 vs quadprog on {n} instances: worst relative objective gap {worst_gap:.2e} "
          f"(exact variant {worst_gap_exact:.2e}; scaled by ‖G‖‖v*‖²: {worst_scaled:.1e}), "
          f"KKT violations (primal, dual, compl.) {[f'{x:.1e}' for x in worst_kkt]}, "
          f"max iterations/m {WORST['max_iterations_over_m']:.2f}")
    assert n >= 200
    # κ(G) reaches 1e9 here, so f* can be ~1e-8·‖G‖‖v*‖² and its round-off ~1e-16·‖G‖‖v*‖²;
    # where the scaled gap is largest quadprog is the one violating v ≥ u (by ~1e-13).
    assert worst_gap < 1e-6 and worst_gap_exact < 1e-6
    assert worst_scaled < 1e-12
    assert worst_sol < 1e-6
    assert worst_kkt[0] < 1e-12 and worst_kkt[1] < 1e-9 and worst_kkt[2] < 1e-9


@pytest.mark.usefixtures("x64")
def test_rank_deficient_without_ridge_matches_exact():
    """quadprog needs G ≻ 0; singular Grams (duplicate/collinear rows, no ridge) are checked by
    KKT and against the exhaustive-support solver."""
    rng = np.random.default_rng(1)
    gs, us = [], []
    for m in (2, 4, 6, 8):
        for k in range(15):
            j = random_jacobian(rng, m, 10, rank=1 + k % (m - 1))
            if k % 3 == 0:
                j[1] = j[0]
            elif k % 3 == 1:
                j[0] = -3.0 * j[-1]
            gs.append(j @ j.T)
            us.append(rng.standard_normal(m))
    gp, up = _pad(gs, us, 8)
    vs, (_, conv) = _SOLVE(jnp.asarray(gp), jnp.asarray(up))
    ves = _EXACT(jnp.asarray(gp), jnp.asarray(up))
    assert np.all(np.asarray(conv))
    for g, u, vp, vep in zip(gs, us, np.asarray(vs), np.asarray(ves), strict=True):
        m = len(u)
        v, ve = vp[:m], vep[:m]
        primal, dual, comp = _kkt(g, u, v)
        assert primal < 1e-12 and dual < 1e-8 and comp < 1e-8
        f, fe = v @ g @ v, ve @ g @ ve
        assert abs(f - fe) <= 1e-8 * max(fe, np.abs(g).max() * (u @ u) * 1e-6)


def test_golden_and_float32():
    g = jnp.asarray(G_BASE, jnp.float32)
    v = lower_bounded_qp(g, jnp.array([1.0, 0.0]))
    assert v.dtype == jnp.float32
    np.testing.assert_allclose(v, [1.0, 22.0 / 38.0], rtol=1e-6)
    np.testing.assert_allclose(
        lower_bounded_qp_exact(g, jnp.array([0.0, 1.0])), [22 / 18, 1.0], rtol=1e-6
    )
    # Non-conflicting bounds are already optimal: v = u.
    np.testing.assert_allclose(
        lower_bounded_qp(jnp.eye(3), jnp.array([0.2, 0.3, 0.0])), [0.2, 0.3, 0.0]
    )


def test_float32_against_float64_reference():
    """float32 on the conditioning UPGrad/DualProj feed it (κ(G/tr G + 1e-4 I) ≤ 1e4)."""
    rng = np.random.default_rng(2)
    gs, us = _instances(rng, 5, 10)
    keep = np.array([np.linalg.cond(g) < 1e5 for g in gs])
    gs, us = gs[keep], us[keep]
    assert len(gs) >= 15
    refs = np.stack([_quadprog(g, u) for g, u in zip(gs, us, strict=True)])
    vs = np.asarray(jax.jit(jax.vmap(lower_bounded_qp))(jnp.asarray(gs, jnp.float32),
                                                       jnp.asarray(us, jnp.float32)))
    for g, u, v, r in zip(gs, us, vs, refs, strict=True):
        assert _objective_gap(g, u, v.astype(np.float64), r) < 1e-3
        assert np.all(v >= u - 1e-6)


@pytest.mark.parametrize("scale", [0.0, 1e-8, 1.0, 1e8])
def test_degenerate_inputs_are_finite(scale):
    rng = np.random.default_rng(3)
    j = random_jacobian(rng, 4, 6)
    j[1] = j[0]
    j[2] = -2.0 * j[3]
    g = jnp.asarray(scale * scale * (j @ j.T), jnp.float32)
    u = jnp.asarray([1.0, 0.0, 0.5, -0.5], jnp.float32)
    for fn in (lower_bounded_qp, lower_bounded_qp_exact):
        v = np.asarray(fn(g, u))
        assert np.all(np.isfinite(v)) and np.all(v >= np.asarray(u) - 1e-6)
    if scale == 0.0:
        np.testing.assert_array_equal(lower_bounded_qp(g, u), u)
    # Scale invariance: the minimiser does not depend on the scale of G.
    if scale > 0:
        v1 = lower_bounded_qp(jnp.asarray(j @ j.T, jnp.float32), u)
        np.testing.assert_allclose(lower_bounded_qp(g, u), v1, rtol=1e-4, atol=1e-5)


def test_single_task():
    np.testing.assert_allclose(lower_bounded_qp(jnp.array([[2.0]]), jnp.array([-1.0])), [0.0])
    np.testing.assert_allclose(lower_bounded_qp(jnp.array([[2.0]]), jnp.array([0.7])), [0.7])
    np.testing.assert_allclose(lower_bounded_qp_exact(jnp.array([[2.0]]), jnp.array([-1.0])), [0.0])


def test_jit_vmap_equals_unbatched():
    rng = np.random.default_rng(4)
    gs, us = _instances(rng, 4, 2)
    gs, us = jnp.asarray(gs, jnp.float32), jnp.asarray(us, jnp.float32)
    batched = jax.jit(jax.vmap(lower_bounded_qp))(gs, us)
    for k in range(gs.shape[0]):
        np.testing.assert_allclose(batched[k], lower_bounded_qp(gs[k], us[k]), rtol=1e-5, atol=1e-6)


def test_max_iter_is_respected_and_validated():
    g = jnp.asarray(G_BASE, jnp.float32)
    _, (it, conv) = lower_bounded_qp(g, jnp.array([1.0, 0.0]), max_iter=1, return_info=True)
    assert int(it) == 1 and not bool(conv)
    with pytest.raises(ValueError, match="max_iter"):
        lower_bounded_qp(g, jnp.zeros(2), max_iter=0)
    with pytest.raises(ValueError, match="shape"):
        lower_bounded_qp(g, jnp.zeros(3))
    with pytest.raises(ValueError, match="square"):
        lower_bounded_qp(jnp.zeros((2, 3)), jnp.zeros(2))
    with pytest.raises(ValueError, match="m ≤ 8"):
        lower_bounded_qp_exact(jnp.eye(9), jnp.zeros(9))
