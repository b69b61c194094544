"""Riesz s-energy preference sets (METHODS.md §11)."""

from __future__ import annotations

import numpy as np
import pytest

from paretojax.core.riesz import _energy_and_grad, riesz_energy, riesz_prefs


def min_dist(p):
    d = np.linalg.norm(p[:, None] - p[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return d.min()


@pytest.mark.parametrize("m,k", [(2, 8), (3, 20), (4, 30), (6, 12)])
def test_on_simplex_and_well_spread(m, k):
    p = np.asarray(riesz_prefs(m, k))
    assert p.shape == (k, m) and p.dtype == np.float32
    assert p.min() >= 0 and np.abs(p.sum(1) - 1).max() < 1e-6
    rng = np.random.default_rng(0)
    for _ in range(5):  # better spread than random Dirichlet(1) sets of the same size
        r = rng.dirichlet(np.ones(m), k)
        assert min_dist(p) > min_dist(r)
        assert riesz_energy(p) < riesz_energy(r)


def test_two_objectives_close_to_uniform():
    p = np.asarray(riesz_prefs(2, 8), np.float64)
    # the energy optimum on a segment spreads points almost evenly and uses the endpoints
    q = np.sort(p[:, 0])
    assert q[0] < 0.02 and q[-1] > 0.98
    gaps = np.diff(q)
    assert gaps.min() > 0.6 * gaps.max()


def test_spread_comparable_to_das_dennis():
    # K = 21 Das–Dennis points (H = 5) have min distance √2/5; Riesz gets within 10 % of it
    p = np.asarray(riesz_prefs(3, 21))
    assert min_dist(p) > 0.9 * np.sqrt(2) / 5


def test_deterministic_and_seeded():
    a, b = riesz_prefs(3, 15, seed=1), riesz_prefs(3, 15, seed=1)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    c = riesz_prefs(3, 15, seed=2)
    assert not np.allclose(np.asarray(a), np.asarray(c))


def test_edge_cases_and_eps():
    np.testing.assert_allclose(riesz_prefs(3, 1), [[1 / 3] * 3])
    np.testing.assert_allclose(riesz_prefs(1, 1), [[1.0]])
    p = np.asarray(riesz_prefs(4, 3))  # fewer points than objectives
    assert p.shape == (3, 4) and np.abs(p.sum(1) - 1).max() < 1e-6
    # eps: clip to [eps, 1] and renormalise (LibMOON), so every preference is strictly positive
    raw = np.asarray(riesz_prefs(3, 10), np.float64)
    e = np.asarray(riesz_prefs(3, 10, eps=0.01))
    want = np.clip(raw, 0.01, 1.0)
    np.testing.assert_allclose(e, want / want.sum(1, keepdims=True), atol=1e-6)
    assert e.min() > 0.009 and raw.min() < 1e-6 and np.abs(e.sum(1) - 1).max() < 1e-6
    for bad in [
        dict(num_objectives=0, num_points=3),
        dict(num_objectives=2, num_points=0),
        dict(num_objectives=1, num_points=2),
        dict(num_objectives=3, num_points=4, eps=0.5),
    ]:
        with pytest.raises(ValueError):
            riesz_prefs(**bad)


def test_energy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(3), 6)
    e, g = _energy_and_grad(x, 6.0)
    assert abs(e - riesz_energy(x)) < 1e-12
    # reference: log of the mean of d^{-s} over pairs, by direct formula
    d = np.linalg.norm(x[:, None] - x[None], axis=2)[np.triu_indices(6, 1)]
    assert abs(e - np.log(np.mean(d**-6.0))) < 1e-10
    h = 1e-6
    num = np.zeros_like(x)
    for i in range(6):
        for j in range(3):
            xp, xm = x.copy(), x.copy()
            xp[i, j] += h
            xm[i, j] -= h
            num[i, j] = (riesz_energy(xp, 6.0) - riesz_energy(xm, 6.0)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
