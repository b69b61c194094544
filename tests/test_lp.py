"""K6 small dense QP/LP solver (``paretojax.core.lp``) against SciPy / quadprog references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quadprog
from scipy.optimize import linprog, minimize

from paretojax.core.lp import QPSolution, solve_lp, solve_qp


def _instance(rng: np.random.Generator, n: int, p: int, q: int, rank: int):
    """A feasible, bounded QP: x0 ≥ 0 feasible (some constraints tight), c dual-feasible."""
    x0 = np.abs(rng.standard_normal(n)) * (rng.random(n) < 0.6)
    A = rng.standard_normal((p, n))
    b = A @ x0
    C = rng.standard_normal((q, n))
    d = C @ x0 - np.abs(rng.standard_normal(q)) * (rng.random(q) < 0.5)
    R = rng.standard_normal((n, rank))
    Q = R @ R.T
    c = (
        A.T @ rng.standard_normal(p)
        + C.T @ np.abs(rng.standard_normal(q))
        + np.abs(rng.standard_normal(n))
        + Q @ rng.standard_normal(n)
    )
    return Q, c, A, b, C, d


def _reference(Q, c, A, b, C, d):
    """(objective, kind) from HiGHS (LP), quadprog (PD Q) or SLSQP (singular PSD Q)."""
    n, p = c.shape[0], A.shape[0]
    rank = np.linalg.matrix_rank(Q, tol=1e-9)
    if rank == 0:
        r = linprog(c, A_ub=-C, b_ub=-d, A_eq=A, b_eq=b, bounds=[(0, None)] * n, method="highs")
        assert r.status == 0
        return r.fun, "highs"
    if rank == n:
        cons = np.vstack([A, C, np.eye(n)]).T
        rhs = np.concatenate([b, d, np.zeros(n)])
        try:
            x = quadprog.solve_qp(Q, -c, cons, rhs, p)[0]
            return 0.5 * x @ Q @ x + c @ x, "quadprog"
        except ValueError:  # quadprog rejects some degenerate (tight) constraint sets
            pass
    r = minimize(
        lambda x: 0.5 * x @ Q @ x + c @ x,
        np.ones(n),
        jac=lambda x: Q @ x + c,
        constraints=[
            {"type": "eq", "fun": lambda x: A @ x - b, "jac": lambda x: A},
            {"type": "ineq", "fun": lambda x: C @ x - d, "jac": lambda x: C},
        ],
        bounds=[(0, None)] * n,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    return r.fun, "slsqp"


def _kkt(sol: QPSolution, Q, c, A, b, C, d) -> float:
    """Largest violation of the KKT conditions (relative to the data scale)."""
    x, y, lam, nu = (
        np.asarray(v, np.float64) for v in (sol.x, sol.eq_dual, sol.ineq_dual, sol.bound_dual)
    )
    scale = 1.0 + np.max(np.abs(c)) + np.max(np.abs(Q))
    stat = Q @ x + c - A.T @ y - C.T @ lam - nu
    viol = [
        np.max(np.abs(stat)) / scale,
        max(0.0, -np.min(lam, initial=0.0)) / scale,
        max(0.0, -np.min(nu)) / scale,
        np.max(np.abs(lam * (C @ x - d)), initial=0.0) / scale,
        np.max(np.abs(nu * x)) / scale,
        float(sol.primal_residual),
    ]
    return max(viol)


_solve_batch = jax.jit(jax.vmap(solve_qp))


def _pad(Q, c, A=None, b=None, C=None, d=None, *, n=3, p=2, q=2, pad_cost=1.0):
    """Embed a small problem in a fixed shape: extra variables get cost 1·x (so x = 0), extra
    equality rows are 0 = 0 and extra inequality rows have d = −∞ (masked)."""
    Q, c = np.asarray(Q, float), np.asarray(c, float)
    k = c.shape[0]
    Qp = np.zeros((n, n))
    Qp[:k, :k] = Q
    cp = np.full(n, pad_cost)
    cp[:k] = c
    Ap, bp = np.zeros((p, n)), np.zeros(p)
    if A is not None:
        A = np.asarray(A, float)
        Ap[: A.shape[0], :k], bp[: A.shape[0]] = A, b
    Cp, dp = np.zeros((q, n)), np.full(q, -np.inf)
    if C is not None:
        C = np.asarray(C, float)
        Cp[: C.shape[0], :k], dp[: C.shape[0]] = C, d
    return Qp, cp, Ap, bp, Cp, dp


def test_against_scipy_and_quadprog(x64):
    n, p, q, count = 6, 2, 3, 300
    rng = np.random.default_rng(0)
    probs, originals = [], []
    for i in range(count):
        # a quarter of the instances is smaller (FORUM-sized, n = 4, one row each) and padded
        # (the padding adds x = 0 variables, 0 = 0 rows and masked rows: same objective)
        if i % 4 == 0:
            small = _instance(rng, 4, 1, 1, int(rng.integers(0, 5)))
            probs.append(_pad(*small, n=n, p=p, q=q))
            originals.append(small)
        else:
            probs.append(_instance(rng, n, p, q, int(rng.integers(0, n + 1))))
            originals.append(probs[-1])
    batch = [np.stack([pr[i] for pr in probs]) for i in range(6)]
    sol = _solve_batch(*batch)
    assert sol.x.dtype == jnp.float64
    sol = jax.tree_util.tree_map(np.asarray, sol)
    assert np.all(sol.converged), np.where(~sol.converged)
    worst = {"highs": 0.0, "quadprog": 0.0, "slsqp": 0.0}
    worst_kkt = 0.0
    for i, pr in enumerate(probs):
        live = np.isfinite(pr[5])
        ref, kind = _reference(*originals[i])
        ours = float(sol.objective[i])
        gap = (ours - ref) / (1.0 + abs(ref))
        # ours may only beat an inexact SLSQP; HiGHS and quadprog are exact to ~1e-12
        worst[kind] = max(worst[kind], gap if kind == "slsqp" else abs(gap))
        assert gap <= 1e-9, (i, kind, ours, ref)
        if kind != "slsqp":
            assert abs(gap) <= 1e-9, (i, kind, ours, ref)
        one = QPSolution(*(v[i] for v in sol))
        worst_kkt = max(
            worst_kkt, _kkt(one, pr[0], pr[1], pr[2], pr[3], pr[4], np.where(live, pr[5], 0.0))
        )
    assert worst_kkt <= 1e-8, worst_kkt
    kinds = [_reference_kind(o[0]) for o in originals]
    assert min(kinds.count(k) for k in worst) >= 30, {k: kinds.count(k) for k in worst}
    print(
        f"\nK6 QP/LP: {count} instances (n={n}, p={p}, q={q}), worst relative objective gap "
        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
        + f"; worst KKT violation {worst_kkt:.1e}; max iterations {int(sol.iterations.max())}"
    )


def _reference_kind(Q) -> str:
    r = np.linalg.matrix_rank(Q, tol=1e-9)
    return "highs" if r == 0 else ("quadprog" if r == Q.shape[0] else "slsqp")


def test_float32_accuracy():
    rng = np.random.default_rng(1)
    probs = [_instance(rng, 6, 2, 3, int(rng.integers(0, 7))) for _ in range(64)]
    batch = [np.stack([pr[i] for pr in probs]) for i in range(6)]
    s32 = _solve_batch(*[v.astype(np.float32) for v in batch])
    assert s32.x.dtype == jnp.float32
    assert bool(jnp.all(s32.converged))
    ref = np.array([_reference(*pr)[0] for pr in probs])
    rel = np.abs(np.asarray(s32.objective, np.float64) - ref) / (1.0 + np.abs(ref))
    assert rel.max() < 1e-4, rel.max()


def test_small_problems_known_solutions():
    """Hand-solvable problems, padded to one shape and solved in one vmapped call."""
    inf = np.inf
    cases = [
        # min ½‖x‖² on the simplex with x₁ ≥ 0.7 → (0.7, 0.3), λ = 0.4
        (_pad(np.eye(2), [0, 0], [[1, 1]], [1], [[1, 0]], [0.7]), [0.7, 0.3, 0]),
        # LP: max x₁ + 2x₂ on the simplex with x₂ ≤ 0.25 → (0.75, 0.25)
        (_pad(np.zeros((2, 2)), [-1, -2], [[1, 1]], [1], [[0, -1]], [-0.25]), [0.75, 0.25, 0]),
        # x ≥ 0 only → (1, 0, 3)
        (_pad(np.eye(3), [-1, 2, -3]), [1, 0, 3]),
        # n = 1, x = 1
        (_pad(np.zeros((1, 1)), [0], [[1]], [1]), [1, 0, 0]),
        # masked row (d = −∞) next to a live one: min ½‖x − 1‖² with x₂ ≥ 1.5
        (_pad(np.eye(2), [-1, -1], None, None, [[1, 0], [0, 1]], [-inf, 1.5]), [1, 1.5, 0]),
        # duplicated equality rows (rank-deficient A)
        (_pad(np.eye(2), [-1, -1], [[1, 1], [1, 1]], [1, 1]), [0.5, 0.5, 0]),
        # objective scaled by 1e8 and 1e-8: same minimiser
        (_pad(1e8 * np.eye(2), [1e8, -2e8], [[1, 1]], [1], pad_cost=1e8), [0, 1, 0]),
        (_pad(1e-8 * np.eye(2), [1e-8, -2e-8], [[1, 1]], [1], pad_cost=1e-8), [0, 1, 0]),
        # zero objective on the simplex: any point, must converge and stay feasible
        (_pad(np.zeros((3, 3)), [0, 0, 0], [[1, 1, 1]], [1]), None),
    ]
    bad = [
        _pad(np.zeros((2, 2)), [1, 1], [[1, 1]], [-1]),  # infeasible
        _pad(np.zeros((2, 2)), [-1, -1], [[1, -1]], [0]),  # unbounded
    ]
    probs = [c for c, _ in cases] + bad
    batch = [np.stack([pr[i] for pr in probs]).astype(np.float32) for i in range(6)]
    sol = jax.tree_util.tree_map(np.asarray, _solve_batch(*batch))
    for i, (_, expect) in enumerate(cases):
        assert sol.converged[i], i
        if expect is not None:
            np.testing.assert_allclose(sol.x[i], expect, atol=2e-5, err_msg=str(i))
    np.testing.assert_allclose(sol.ineq_dual[0, 0], 0.4, atol=1e-4)
    assert sol.ineq_dual[4, 0] == 0.0  # masked row has no multiplier
    np.testing.assert_allclose(sol.x[8].sum(), 1.0, atol=1e-5)
    for i in range(len(cases), len(probs)):  # infeasible / unbounded: flagged, finite
        assert not sol.converged[i]
        assert np.all(np.isfinite(sol.x[i]))


def test_unbatched_api_and_lp_wrapper():
    s = solve_qp(
        jnp.eye(2),
        jnp.zeros(2),
        jnp.ones((1, 2)),
        jnp.ones(1),
        jnp.array([[1.0, 0.0]]),
        jnp.array([0.7]),
    )
    np.testing.assert_allclose(s.x, [0.7, 0.3], atol=1e-5)
    s = solve_lp(
        -jnp.array([1.0, 2.0]),
        jnp.ones((1, 2)),
        jnp.ones(1),
        jnp.array([[0.0, -1.0]]),
        jnp.array([-0.25]),
    )
    np.testing.assert_allclose(s.x, [0.75, 0.25], atol=1e-5)
    assert bool(s.converged)


def test_validation():
    with pytest.raises(ValueError, match="Q must have shape"):
        solve_qp(jnp.eye(3), jnp.zeros(2))
    with pytest.raises(ValueError, match="together"):
        solve_qp(jnp.eye(2), jnp.zeros(2), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="vmap"):
        solve_qp(jnp.eye(2), jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="rows"):
        solve_qp(jnp.eye(2), jnp.zeros(2), jnp.ones((1, 3)), jnp.ones(1))
    with pytest.raises(ValueError, match="max_iter"):
        solve_qp(jnp.eye(2), jnp.zeros(2), max_iter=0)
