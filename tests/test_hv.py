"""Hypervolume, contributions and gradient (METHODS.md §10.1).

References: moocore (exact, host), brute-force inclusion–exclusion, finite differences, and the
Emmerich–Deutz projection formula evaluated with moocore (``hv_gradient_host``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import moocore
import numpy as np
import pytest

from paretojax.metrics._hypervolume import (
    delta_hv,
    hv_contributions,
    hv_contributions_host,
    hv_gradient,
    hv_gradient_host,
    hypervolume,
    hypervolume_host,
    hypervolume_mc,
)

P2 = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
P3 = np.array([[0.2, 0.6, 0.7], [0.5, 0.3, 0.4], [0.7, 0.7, 0.1]])


def hv_incl_excl(y: np.ndarray, r: np.ndarray) -> float:
    """Brute-force inclusion–exclusion (independent of moocore); small n only."""
    y = np.asarray(y, float)
    y = y[np.all(y < r, axis=1)]
    total = 0.0
    for k in range(1, len(y) + 1):
        for s in itertools.combinations(range(len(y)), k):
            corner = np.max(y[list(s)], axis=0)
            total += (-1) ** (k + 1) * np.prod(np.maximum(r - corner, 0.0))
    return total


def hvc_incl_excl(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    full = hv_incl_excl(y, r)
    return np.array([full - hv_incl_excl(np.delete(y, k, 0), r) for k in range(len(y))])


def random_front(rng, n, m, *, dominated=0.2, outside=0.1, dups=2, r=1.1):
    """Points on a sphere-like front plus dominated, outside-the-box and duplicated points."""
    y = rng.random((n, m))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    k = int(dominated * n)
    y[:k] += rng.random((k, m)) * 0.3
    j = int(outside * n)
    y[k : k + j, rng.integers(0, m)] = r + 0.1
    y[n - dups :] = y[n - 2 * dups : n - dups]
    return y


# ----------------------------------------------------------------------------- golden values


def test_golden_p2_p3(x64):
    r2, r3 = jnp.ones(2), jnp.ones(3)
    assert float(hypervolume(P2, r2)) == pytest.approx(0.39, abs=1e-12)
    np.testing.assert_allclose(
        hv_gradient(P2, r2), [[-0.2, -0.3], [-0.3, -0.3], [-0.4, -0.2]], atol=1e-12
    )
    np.testing.assert_allclose(hv_contributions(P2, r2), [0.06, 0.09, 0.08], atol=1e-12)
    assert float(hypervolume(P3, r3)) == pytest.approx(0.273, abs=1e-12)
    np.testing.assert_allclose(hv_contributions(P3, r3), [0.036, 0.123, 0.027], atol=1e-12)
    g3 = [[-0.12, -0.09, -0.12], [-0.30, -0.30, -0.26], [-0.09, -0.09, -0.09]]
    np.testing.assert_allclose(hv_gradient(P3, r3), g3, atol=1e-12)
    np.testing.assert_allclose(jax.grad(hypervolume)(jnp.asarray(P3), r3), g3, atol=1e-12)
    # the same numbers from the independent references
    assert hv_incl_excl(P3, np.ones(3)) == pytest.approx(0.273, abs=1e-12)
    np.testing.assert_allclose(hv_gradient_host(P3, np.ones(3)), g3, atol=1e-12)


def _ff_front_points(prefs: np.ndarray) -> np.ndarray:
    """Fonseca–Fleming Pareto points with f ∝ p (bisection on s = √n·x ∈ [−1, 1])."""
    f1 = lambda s: 1.0 - np.exp(-((s - 1.0) ** 2))
    f2 = lambda s: 1.0 - np.exp(-((s + 1.0) ** 2))
    out = []
    for p1, p2 in prefs:
        lo, hi = -1.0, 1.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if p2 * f1(mid) - p1 * f2(mid) > 0:
                lo = mid
            else:
                hi = mid
        out.append([f1(lo), f2(lo)])
    return np.array(out)


def test_libmoon_ff_front_hv(x64):
    # METHODS.md §1.1: 8 points exactly on the FF front with f ∝ p have HV 0.282729 (ref (1,1)).
    p1 = np.linspace(0.01, 0.99, 8)
    y = _ff_front_points(np.stack([p1, 1 - p1], 1))
    assert float(hypervolume(y, jnp.ones(2))) == pytest.approx(0.282729, abs=1e-6)


# ----------------------------------------------------------------------------- against moocore


@pytest.mark.parametrize("m", [2, 3])
def test_hv_and_hvc_random_fronts_match_moocore(x64, m):
    rng = np.random.default_rng(m)
    r = np.full(m, 1.1)
    batch = np.stack([random_front(rng, 48, m) for _ in range(6)])
    hv = jax.jit(jax.vmap(hypervolume, in_axes=(0, None)))(batch, r)
    hvc = jax.jit(jax.vmap(hv_contributions, in_axes=(0, None)))(batch, r)
    for b in range(len(batch)):
        y = batch[b]
        inside = np.all(y < r, axis=1)
        assert float(hv[b]) == pytest.approx(moocore.hypervolume(y[inside], ref=r), abs=1e-10)
        np.testing.assert_allclose(hvc[b], hv_contributions_host(y, r), atol=1e-10)
        # single-front eager call = batched jitted call
        assert float(hypervolume(y, r)) == pytest.approx(float(hv[b]), abs=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_ties_and_duplicates_against_inclusion_exclusion(x64, m):
    # integer grids: many ties, duplicates, weakly dominated points and points on the boundary.
    rng = np.random.default_rng(10 + m)
    r = np.ones(m)
    batch = rng.integers(0, 5, (12, 8, m)).astype(float) / 4.0
    hv = jax.jit(jax.vmap(hypervolume, in_axes=(0, None)))(batch, r)
    hvc = jax.jit(jax.vmap(hv_contributions, in_axes=(0, None)))(batch, r)
    for b in range(len(batch)):
        assert float(hv[b]) == pytest.approx(hv_incl_excl(batch[b], r), abs=1e-12)
        np.testing.assert_allclose(hvc[b], hvc_incl_excl(batch[b], r), atol=1e-12)


@pytest.mark.parametrize("m", [4, 5, 6])
def test_host_path_m_ge_4(x64, m):
    rng = np.random.default_rng(20 + m)
    r = np.full(m, 1.1)
    batch = np.stack([random_front(rng, 20, m) for _ in range(3)])
    hv = jax.jit(jax.vmap(hypervolume, in_axes=(0, None)))(batch, r)
    hvc = jax.jit(hv_contributions)(batch[0], r)
    for b in range(3):
        y = batch[b][np.all(batch[b] < r, axis=1)]
        assert float(hv[b]) == pytest.approx(moocore.hypervolume(y, ref=r), abs=1e-10)
    np.testing.assert_allclose(hvc, hv_contributions_host(batch[0], r), atol=1e-10)
    small = batch[0][:7]
    assert float(hypervolume(small, r)) == pytest.approx(hv_incl_excl(small, r), abs=1e-10)
    np.testing.assert_allclose(hv_contributions(small, r), hvc_incl_excl(small, r), atol=1e-10)


# ----------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("m", [2, 3, 4])
def test_gradient_finite_differences(x64, m):
    rng = np.random.default_rng(30 + m)
    n = 10
    y = rng.random((n, m))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    y[:2] += 0.2  # dominated points (gradient 0)
    r = np.full(m, 1.1)
    eps = 1e-7
    shifts = np.eye(n * m).reshape(n * m, n, m) * eps
    fd_batch = np.concatenate([y[None] + shifts, y[None] - shifts])
    vals = np.asarray(jax.jit(jax.vmap(hypervolume, in_axes=(0, None)))(fd_batch, r))
    fd = ((vals[: n * m] - vals[n * m :]) / (2 * eps)).reshape(n, m)
    np.testing.assert_allclose(hv_gradient(y, r), fd, atol=1e-6)
    # reference-point derivative
    gr = np.asarray(jax.grad(hypervolume, argnums=1)(jnp.asarray(y), jnp.asarray(r)))
    rs = np.eye(m) * eps
    fdr = [(float(hypervolume(y, r + d)) - float(hypervolume(y, r - d))) / (2 * eps) for d in rs]
    np.testing.assert_allclose(gr, fdr, atol=1e-6)


@pytest.mark.parametrize("m", [2, 3])
def test_gradient_matches_emmerich_deutz_reference(x64, m):
    rng = np.random.default_rng(40 + m)
    r = np.full(m, 1.1)
    batch = np.stack([random_front(rng, 30, m) for _ in range(3)])
    g = jax.jit(jax.vmap(jax.grad(hypervolume), in_axes=(0, None)))(batch, r)
    for b in range(3):
        np.testing.assert_allclose(g[b], hv_gradient_host(batch[b], r), atol=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_gradient_conventions(x64, m):
    r = np.ones(m)
    y = np.array(P2 if m == 2 else P3)
    outside = np.full((1, m), 0.5)
    outside[0, 0] = 1.0  # on the boundary: not strictly inside
    dominated = y[1:2] + 0.05
    # 10 points (the shape of the finite-difference test: compiled once)
    y_all = np.concatenate([y, y[1:2], outside, dominated, np.full((4, m), 1.5)])
    g = np.asarray(hv_gradient(y_all, r))
    g0 = np.asarray(hv_gradient(y, r))
    np.testing.assert_allclose(g[:3], g0, atol=1e-12)  # first copy carries the set's gradient
    np.testing.assert_array_equal(g[3:], 0.0)  # later copy, outside and dominated points: 0
    c = np.asarray(hv_contributions(y_all, r))
    np.testing.assert_allclose(c[:3], np.asarray(hv_contributions(y, r)) * [1, 0, 1], atol=1e-12)
    np.testing.assert_array_equal(c[3:], 0.0)
    assert float(hypervolume(y_all, r)) == pytest.approx(float(hypervolume(y, r)), abs=1e-12)


# ----------------------------------------------------------------------------- edge cases


def test_edge_cases(x64):
    for m in (1, 2, 3, 4):
        r = np.ones(m)
        assert float(hypervolume(np.zeros((0, m)), r)) == 0.0
        assert hv_contributions(np.zeros((0, m)), r).shape == (0,)
        one = np.full((1, m), 0.25)
        assert float(hypervolume(one, r)) == pytest.approx(0.75**m, abs=1e-12)
        np.testing.assert_allclose(hv_contributions(one, r), [0.75**m], atol=1e-12)
        np.testing.assert_allclose(
            hv_gradient(one, r), -np.full((1, m), 0.75 ** (m - 1)), atol=1e-12
        )
        far = np.full((1, m), 2.0)
        assert float(hypervolume(far, r)) == 0.0
        np.testing.assert_array_equal(hv_gradient(far, r), 0.0)
        np.testing.assert_array_equal(hv_contributions(far, r), 0.0)
    # m = 1: HV = r − min y; contribution = gap to the second smallest
    y1 = np.array([[0.3], [0.6], [0.3]])
    assert float(hypervolume(y1, np.ones(1))) == pytest.approx(0.7)
    np.testing.assert_allclose(hv_contributions(np.array([[0.3], [0.6]]), np.ones(1)), [0.3, 0.0])
    np.testing.assert_allclose(hv_gradient(y1, np.ones(1)), [[-1.0], [0.0], [0.0]])
    # NaN rows are outside the box
    assert float(hypervolume(np.array([[np.nan, 0.1], [0.5, 0.5]]), np.ones(2))) == pytest.approx(
        0.25
    )


def test_validation_errors():
    with pytest.raises(ValueError, match="ref must be a vector"):
        hypervolume(P2, 1.0)
    with pytest.raises(ValueError, match="shape"):
        hypervolume(P2, jnp.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        hypervolume(jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="num_samples"):
        hypervolume_mc(P2, jnp.ones(2), jax.random.key(0), 0)


def test_float32_default_path():
    # default dtype (float32): same value as the float64 reference to float32 accuracy
    rng = np.random.default_rng(5)
    for m in (2, 3):
        y = random_front(rng, 40, m)
        r = np.full(m, 1.1)
        v = hypervolume(jnp.asarray(y, jnp.float32), jnp.asarray(r, jnp.float32))
        assert v.dtype == jnp.float32
        ref = moocore.hypervolume(y[np.all(y < r, axis=1)], ref=r)
        assert float(v) == pytest.approx(ref, rel=1e-5)
    y32 = jnp.asarray(random_front(rng, 40, 2), jnp.float32)
    assert bool(jnp.all(jnp.isfinite(jax.grad(hypervolume)(y32, jnp.full(2, 1.1, jnp.float32)))))


def test_monte_carlo_and_delta_hv(x64):
    rng = np.random.default_rng(6)
    y = random_front(rng, 30, 4)
    r = np.full(4, 1.1)
    exact = hypervolume_host(y, r)
    s = 200_000
    est = float(jax.jit(hypervolume_mc, static_argnums=3)(y, r, jax.random.key(1), s))
    lo = np.minimum(y[np.all(y < r, axis=1)].min(0), r)
    vol = np.prod(r - lo)
    q = exact / vol
    assert abs(est - exact) < 5 * vol * np.sqrt(q * (1 - q) / s)
    ref_front = P2
    assert float(delta_hv(P2[1:2], ref_front, np.ones(2))) == pytest.approx(0.39 - 0.25)
