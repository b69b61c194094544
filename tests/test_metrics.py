"""Distance / distribution indicators, dominance and sorting, Δm% / Δp (METHODS.md §10.2–10.4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import moocore
import numpy as np
import pytest

from paretojax.metrics import (
    average_objective,
    cross_angle,
    delta_m,
    delta_p,
    dominates,
    finite_set_indicators,
    gd,
    igd,
    igd_plus,
    inner_product,
    is_dominated,
    lmin,
    nondominated,
    nondominated_host,
    nondominated_sort,
    nondominated_sort_host,
    normalize,
    pbi_metric,
    soft_lmin,
    spacing,
    span,
    sparsity,
    worst_objective,
)

P2 = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
R2 = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])


# ----------------------------------------------------------------------------- brute force


def np_dominated(y):
    le = np.all(y[:, None, :] <= y[None, :, :], axis=2)
    lt = np.any(y[:, None, :] < y[None, :, :], axis=2)
    return np.any(le & lt, axis=0)


def np_peel(y):
    rank = np.full(len(y), -1)
    left = np.arange(len(y))
    r = 0
    while left.size:
        front = left[~np_dominated(y[left])]
        rank[front] = r
        left = np.setdiff1d(left, front)
        r += 1
    return rank


def np_dist(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


# ----------------------------------------------------------------------------- golden


def test_golden_distance_indicators(x64):
    assert float(igd(P2, R2)) == pytest.approx(0.168817, abs=1e-6)
    assert float(igd_plus(P2, R2)) == pytest.approx(0.1, abs=1e-12)
    assert float(gd(P2, R2)) == pytest.approx(0.168817, abs=1e-6)
    assert float(lmin(P2)) == pytest.approx(0.424264, abs=1e-6)
    assert float(soft_lmin(P2)) == pytest.approx(0.379668, abs=1e-6)
    assert float(spacing(P2)) == pytest.approx(0.035702, abs=1e-6)
    assert float(spacing(P2, ddof=1)) == pytest.approx(0.043726, abs=1e-6)
    assert float(span(P2)) == pytest.approx(0.6)
    assert float(worst_objective(P2)) == pytest.approx(0.2)
    assert float(average_objective(P2)) == pytest.approx(0.15)


def test_golden_delta_m_delta_p(x64):
    base = {"A": [96.0, 98.0], "B": [0.2]}
    new = {"A": [93.0, 99.0], "B": [0.5]}
    hib = {"A": [1, 0], "B": [1]}
    assert float(delta_p(new, base, hib)) == pytest.approx(0.739636, abs=1e-6)
    assert float(delta_m(new, base, hib)) == pytest.approx(-48.618, abs=1e-3)
    # sequence-of-tasks form, key order irrelevant for mappings
    assert float(
        delta_p([[93.0, 99.0], [0.5]], [[96.0, 98.0], [0.2]], [[1, 0], [1]])
    ) == pytest.approx(0.739636, abs=1e-6)
    assert float(delta_m({"B": [0.5], "A": [93.0, 99.0]}, base, hib)) == pytest.approx(
        -48.618, abs=1e-3
    )
    # flat array: one metric per task (then Δp = −Δm/100 exactly)
    n, b, h = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]), np.array([0, 1, 0])
    assert float(delta_p(n, b, h)) == pytest.approx(-float(delta_m(n, b, h)) / 100)
    # independent re-computation of both definitions
    rel = [(93 - 96) / 96 * -1, (99 - 98) / 98, (0.5 - 0.2) / 0.2 * -1]
    assert float(delta_m(new, base, hib)) == pytest.approx(100 * np.mean(rel))
    with pytest.raises(ValueError, match="non-zero"):
        delta_m([1.0], [0.0], [0])
    with pytest.raises(ValueError, match="mismatched"):
        delta_p({"A": [1.0, 2.0]}, {"A": [1.0]}, {"A": [0]})
    with pytest.raises(ValueError, match="do not match"):
        delta_p({"C": [1.0]}, {"A": [1.0]}, {"A": [0]})


# ----------------------------------------------------------------------------- distances


def test_igd_family_against_brute_force_and_moocore(x64):
    rng = np.random.default_rng(0)
    a = rng.random((4, 25, 3))
    ref = rng.random((60, 3))
    vi = jax.jit(jax.vmap(igd, in_axes=(0, None)))(a, ref)
    vp = jax.jit(jax.vmap(igd_plus, in_axes=(0, None)))(a, ref)
    vg = jax.jit(jax.vmap(gd, in_axes=(0, None)))(a, ref)
    for k in range(len(a)):
        d = np_dist(ref, a[k])
        assert float(vi[k]) == pytest.approx(d.min(1).mean(), abs=1e-12)
        assert float(vi[k]) == pytest.approx(moocore.igd(a[k], ref), abs=1e-12)
        dp = np.sqrt((np.maximum(a[k][None] - ref[:, None], 0) ** 2).sum(-1))
        assert float(vp[k]) == pytest.approx(dp.min(1).mean(), abs=1e-12)
        assert float(vp[k]) == pytest.approx(moocore.igd_plus(a[k], ref), abs=1e-12)
        assert float(vg[k]) == pytest.approx(d.min(0).mean(), abs=1e-12)
    # IGD+ is zero when A weakly dominates R; gradients stay finite with coincident points
    assert float(igd_plus(ref - 0.1, ref)) == 0.0
    g = jax.grad(igd)(jnp.asarray(ref[:10]), ref)
    assert bool(jnp.all(jnp.isfinite(g)))
    with pytest.raises(ValueError, match="same m"):
        igd(P2, np.ones((3, 3)))
    with pytest.raises(ValueError, match="at least 1"):
        igd(np.zeros((0, 2)), R2)


def test_distribution_indicators_match_libmoon_formulas(x64):
    rng = np.random.default_rng(1)
    y = rng.random((12, 3))
    y[3] = y[4]  # a duplicate
    d = np_dist(y, y)
    off = d[~np.eye(12, dtype=bool)]
    assert float(lmin(y)) == pytest.approx(0.0)
    assert float(soft_lmin(y)) == pytest.approx(-np.log(np.sum(np.exp(-20 * off))) / 20, abs=1e-12)
    np.fill_diagonal(d, np.inf)
    assert float(spacing(y)) == pytest.approx(np.std(d.min(1)), abs=1e-12)
    assert float(spacing(y, ddof=1)) == pytest.approx(np.std(d.min(1), ddof=1), abs=1e-12)
    # sparsity on the non-dominated subset (duplicates kept), LibMOON loop
    nd = y[~np_dominated(y)]
    sp = sum(np.sum(np.diff(np.sort(nd[:, i])) ** 2) for i in range(3)) / (len(nd) - 1)
    assert float(sparsity(y)) == pytest.approx(sp, abs=1e-12)
    assert float(sparsity(np.array([[0.1, 0.1], [0.5, 0.5]]))) == 0.0  # one non-dominated point
    assert float(span(y)) == pytest.approx(np.min(y.max(0) - y.min(0)))
    # finite gradients at duplicate points (safe norm)
    for f in (soft_lmin, spacing):
        assert bool(jnp.all(jnp.isfinite(jax.grad(f)(jnp.asarray(y)))))
    for f in (lmin, soft_lmin, spacing):
        with pytest.raises(ValueError, match="at least 2"):
            f(np.ones((1, 2)))
    with pytest.raises(ValueError, match="ddof"):
        spacing(y, ddof=2)


def test_preference_indicators_match_libmoon_formulas(x64):
    rng = np.random.default_rng(2)
    y = rng.random((9, 3))
    p = rng.dirichlet(np.ones(3), 9)
    assert float(inner_product(y, p)) == pytest.approx(np.mean(np.sum(y * p, 1)))
    cos = np.sum(y * p, 1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(p, axis=1))
    assert float(cross_angle(y, p)) == pytest.approx(
        np.mean(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    )
    ph = p / np.linalg.norm(p, axis=1, keepdims=True)
    d1 = np.sum(y * ph, 1)
    d2 = np.linalg.norm(y - d1[:, None] * ph, axis=1)
    assert float(pbi_metric(y, p)) == pytest.approx(np.mean(d1 + 5 * d2))
    assert float(pbi_metric(y, p, theta=1.0)) == pytest.approx(np.mean(d1 + d2))
    # zero objective vector: defined (90°), not NaN
    assert float(cross_angle(np.zeros((1, 2)), np.array([[0.5, 0.5]]))) == pytest.approx(90.0)
    with pytest.raises(ValueError, match="prefs must have the shape"):
        inner_product(y, p[:3])
    out = finite_set_indicators(P2, P2 / P2.sum(1, keepdims=True), np.ones(2))
    assert set(out) == {
        "lmin",
        "soft_lmin",
        "spacing",
        "sparsity",
        "hv",
        "inner_product",
        "cross_angle",
        "pbi",
        "span",
    }
    assert float(out["spacing"]) == pytest.approx(3.5702, abs=1e-4)  # LibMOON reports ×100
    assert float(out["hv"]) == pytest.approx(0.39)
    assert float(out["cross_angle"]) == pytest.approx(0.0, abs=1e-5)


def test_normalize():
    y = normalize(np.array([[1.0, 10.0], [2.0, 20.0]]), np.array([0.0, 0.0]), np.array([2.0, 20.0]))
    np.testing.assert_allclose(y, [[0.5, 0.5], [1.0, 1.0]])
    with pytest.raises(ValueError, match="> 0"):
        normalize(np.ones((1, 2)), np.ones(2), np.ones(2))


# ----------------------------------------------------------------------------- dominance


def test_nondominated_and_sort_against_brute_force(x64):
    rng = np.random.default_rng(3)
    # integer grid: ties, duplicates and weakly dominated points; plus a continuous batch
    grid = rng.integers(0, 4, (6, 30, 3)).astype(float)
    cont = rng.random((6, 30, 3))
    for batch in (grid, cont):
        nd = jax.jit(jax.vmap(nondominated))(batch)
        ranks = jax.jit(jax.vmap(nondominated_sort))(batch)
        nd1 = jax.jit(jax.vmap(lambda y: nondominated(y, keep_duplicates=False)))(batch)
        for y, a, rk, a1 in zip(batch, nd, ranks, nd1, strict=True):
            np.testing.assert_array_equal(a, ~np_dominated(y))
            np.testing.assert_array_equal(rk, np_peel(y))
            np.testing.assert_array_equal(rk, moocore.pareto_rank(y))
            np.testing.assert_array_equal(a1, moocore.is_nondominated(y, keep_weakly=False))
            np.testing.assert_array_equal(nondominated_host(y), a)
            np.testing.assert_array_equal(nondominated_sort_host(y), rk)
    y = np.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.9], [0.6, 0.6], [0.7, 0.7], [0.5, 0.7]])
    np.testing.assert_array_equal(nondominated_sort(y), [0, 0, 0, 1, 2, 1])
    np.testing.assert_array_equal(is_dominated(y), [False, False, False, True, True, True])
    assert bool(dominates(np.array([0.1, 0.5]), np.array([0.2, 0.5])))
    assert not bool(dominates(np.array([0.2, 0.5]), np.array([0.2, 0.5])))
    # bounded peeling: a chain of 5 fronts with max_fronts=3
    chain = np.arange(5.0)[:, None] * np.ones((1, 2))
    np.testing.assert_array_equal(nondominated_sort(chain, max_fronts=3), [0, 1, 2, 3, 3])
    # edge cases
    assert nondominated(np.zeros((0, 2))).shape == (0,)
    assert nondominated_sort(np.zeros((0, 2))).shape == (0,)
    np.testing.assert_array_equal(nondominated(np.ones((1, 3))), [True])
    np.testing.assert_array_equal(nondominated_sort(np.ones((1, 3))), [0])


def test_nondominated_blocked_path():
    # n above the block size goes through the blocked (lax.map) relation
    rng = np.random.default_rng(4)
    y = rng.random((1100, 2))
    np.testing.assert_array_equal(nondominated(y), moocore.is_nondominated(y, keep_weakly=True))
