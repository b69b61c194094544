r"""Small dense QP/LP solver (K6): primal–dual interior point, compiled and ``vmap``-able.

Solves

.. math::

    \min_{x \in R^n}\ \tfrac12 x^\top Q x + c^\top x
    \quad\text{s.t.}\quad A x = b,\quad C x \ge d,\quad x \ge 0,

with ``Q`` symmetric positive semi-definite (``Q = 0``: a linear program). Used by FORUM (a simplex
QP with one linear side constraint, size m + 1) and by the preference-guided methods (EPO, PMGDA
LPs, size m + O(m)). Sizes are tiny, so every Newton system is one dense LU of the
``(n + q) + (p + q)`` KKT matrix (p equalities, q inequalities).

Algorithm (Mehrotra predictor–corrector, Wright, *Primal-Dual Interior-Point Methods*, SIAM 1997,
ch. 10–11; the QP form of Gertz & Wright's OOQP). The inequalities get slacks ``s ≥ 0``
(``Cx − s = d``), giving the standard form ``min ½zᵀQ̃z + c̃ᵀz, Ãz = b̃, z = (x, s) ≥ 0``. From the
infeasible start ``z = σ = 1, y = 0`` each iteration solves the regularised KKT system

.. math::

    \begin{bmatrix} \tilde Q + Z^{-1}\Sigma + \rho I & -\tilde A^\top \\ \tilde A & \delta I
    \end{bmatrix} \begin{bmatrix} \Delta z \\ \Delta y \end{bmatrix} = \ldots

once for the affine (predictor) direction and once for the centred corrector with
``σ_c = (μ_aff/μ)³``, and steps a fraction 0.99 of the way to the boundary (one step length for
primal and dual, as is standard for QPs). Rows of ``A``/``C`` are scaled to unit max-norm and the
objective to unit max-norm first (neither changes the minimiser). It stops when the relative primal
and dual residuals and the complementarity ``μ`` are below ``tol`` (masked early stop under
``vmap``), or after ``max_iter`` iterations (default 50). Measured: ≤ 14 iterations in float64
on random problems with n = 6; float32 runs that stall short of ``tol = 1e-7`` (but within
``accept_tol``) use the full 50.

Conventions:

* inequality rows with ``d_i = −∞`` are switched off (row zeroed, rhs −1, K6), so a fixed-shape
  problem can carry optional constraints;
* the regularisation ``ρ = δ`` (default ``1e-10`` in float64, ``1e-6`` in float32, relative to the
  scaled data) makes the KKT matrix non-singular for redundant equalities and singular ``Q``. It
  enters the matrix only, not the residuals, so it changes the Newton directions but not the fixed
  point (a proximal-point regularisation, Friedlander & Orban 2012);
* the centring target is floored at ``0.1·tol`` so that ``μ`` cannot underflow while the residuals
  are still large (what otherwise stalls float32 runs);
* infeasible or unbounded problems do not raise (this runs under ``jit``): ``converged`` is
  ``False`` and ``x`` is the last iterate, which callers must replace by a documented fallback;
* free variables are not supported directly: split ``x = x⁺ − x⁻``.

jaxopt's ``BoxOSQP``/``OSQP`` and ``qpax`` solve the same problems (METHODS.md §2 K6); this one has
no dependency, reaches about ``1e-11`` relative objective accuracy in float64 and ``1e-5`` in
float32 (``tests/test_lp.py`` compares it to SciPy's HiGHS and SLSQP and to quadprog on 300 random
instances). Degenerate optima (``x_i = 0`` with a zero multiplier) are only ``O(√μ)`` accurate, as
for any interior point.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

Array = jax.Array

__all__ = ["QPSolution", "solve_qp", "solve_lp"]


class QPSolution(NamedTuple):
    """Result of :func:`solve_qp` / :func:`solve_lp` (every field ``vmap``-batched with the input).

    Attributes:
      x: the primal solution ``[n]``.
      eq_dual: multipliers ``y`` of ``Ax = b`` ``[p]`` (``Qx + c = Aᵀy + Cᵀλ + ν``).
      ineq_dual: multipliers ``λ ≥ 0`` of ``Cx ≥ d`` ``[q]``.
      bound_dual: multipliers ``ν ≥ 0`` of ``x ≥ 0`` ``[n]``.
      objective: ``½xᵀQx + cᵀx`` at ``x``.
      converged: whether the stopping test was met (``False``: infeasible, unbounded or too few
        iterations — use a fallback).
      iterations: number of interior-point iterations taken.
      primal_residual: ``max(‖Ax − b‖∞, ‖min(Cx − d, 0)‖∞, ‖min(x, 0)‖∞)`` in the original units.
      dual_residual: relative dual residual of the scaled problem.
      gap: complementarity ``μ`` of the scaled problem.
    """

    x: Array
    eq_dual: Array
    ineq_dual: Array
    bound_dual: Array
    objective: Array
    converged: Array
    iterations: Array
    primal_residual: Array
    dual_residual: Array
    gap: Array


def _default_tol(dtype: Any) -> float:
    return 1e-12 if jnp.dtype(dtype) == jnp.float64 else 1e-7


def _as2d(a: Any, rows_if_none: int, n: int, dtype: Any) -> Array:
    if a is None:
        return jnp.zeros((rows_if_none, n), dtype)
    a = jnp.asarray(a, dtype)
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"constraint matrices must have shape (rows, {n}), got {a.shape}.")
    return a


def _max_step(v: Array, dv: Array) -> Array:
    """Largest α ∈ [0, ∞) with v + α dv ≥ 0 (inf if dv ≥ 0)."""
    ratios = jnp.where(dv < 0, -v / jnp.where(dv < 0, dv, -1.0), jnp.inf)
    return jnp.min(ratios, initial=jnp.inf)


def solve_qp(
    Q: Any,
    c: Any,
    A: Any = None,
    b: Any = None,
    C: Any = None,
    d: Any = None,
    *,
    max_iter: int = 50,
    tol: float | None = None,
    accept_tol: float | None = None,
    reg: float | None = None,
) -> QPSolution:
    r"""Solve ``min ½xᵀQx + cᵀx  s.t.  Ax = b, Cx ≥ d, x ≥ 0`` by a primal–dual interior point.

    Pure ``jnp`` with static shapes and a bounded ``lax.while_loop``: works under ``jit`` and
    ``vmap`` (batch many problems with ``jax.vmap(solve_qp)``). See the module docstring for the
    algorithm, scaling, regularisation and the ``d = −∞`` row mask.

    Args:
      Q: ``(n, n)`` symmetric PSD matrix (symmetrised internally); zeros for an LP.
      c: ``(n,)`` linear term.
      A, b: equalities ``(p, n)``, ``(p,)``; ``None`` for none.
      C, d: inequalities ``Cx ≥ d``, ``(q, n)``, ``(q,)``; ``None`` for none. Rows with
        ``d = −∞`` are ignored.
      max_iter: iteration cap (static).
      tol: relative stopping tolerance on the primal and dual residuals and on ``μ``; default
        ``1e-12`` in float64, ``1e-7`` in float32. Iterations also stop when a step would leave
        the interior in floating point (no further progress possible).
      accept_tol: the tolerance behind ``converged`` (default ``100·tol``): a run that stalls
        short of ``tol`` but within ``accept_tol`` still counts as converged.
      reg: primal/dual regularisation of the KKT matrix (relative to the scaled data); default
        ``1e-10`` (float64) / ``1e-6`` (float32).

    Returns:
      A :class:`QPSolution`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> # min ½‖x‖² on the simplex {x ≥ 0, x₁ + x₂ = 1} with x₁ ≥ 0.7
      >>> sol = pj.solve_qp(jnp.eye(2), jnp.zeros(2), jnp.ones((1, 2)), jnp.ones(1),
      ...                   jnp.array([[1.0, 0.0]]), jnp.array([0.7]))
      >>> [round(float(v), 4) for v in sol.x], bool(sol.converged)
      ([0.7, 0.3], True)
    """
    c = jnp.asarray(c)
    if c.ndim != 1:
        raise ValueError(f"c must be a vector (use jax.vmap for batches), got shape {c.shape}.")
    dtype = jnp.promote_types(c.dtype, jnp.float32)
    c = c.astype(dtype)
    n = c.shape[0]
    Q = jnp.asarray(Q, dtype)
    if Q.shape != (n, n):
        raise ValueError(f"Q must have shape ({n}, {n}), got {Q.shape}.")
    if (A is None) != (b is None) or (C is None) != (d is None):
        raise ValueError("give A together with b and C together with d.")
    A = _as2d(A, 0, n, dtype)
    C = _as2d(C, 0, n, dtype)
    p, q = A.shape[0], C.shape[0]
    b = jnp.zeros((0,), dtype) if b is None else jnp.asarray(b, dtype)
    d = jnp.zeros((0,), dtype) if d is None else jnp.asarray(d, dtype)
    if b.shape != (p,) or d.shape != (q,):
        raise ValueError(f"b must have shape ({p},) and d shape ({q},); got {b.shape}, {d.shape}.")
    if max_iter < 1:
        raise ValueError(f"max_iter must be ≥ 1, got {max_iter}.")
    tol_ = _default_tol(dtype) if tol is None else float(tol)
    accept_tol = 1e2 * tol_ if accept_tol is None else float(accept_tol)
    reg_ = (1e-10 if dtype == jnp.float64 else 1e-6) if reg is None else float(reg)
    if not (tol_ > 0 and accept_tol > 0 and reg_ >= 0):
        raise ValueError(
            f"tol, accept_tol must be > 0 and reg ≥ 0; got {tol_}, {accept_tol}, {reg_}."
        )
    return _solve_qp_jit(Q, c, A, b, C, d, int(max_iter), tol_, accept_tol, reg_)


@functools.partial(jax.jit, static_argnums=(6, 7, 8, 9))
def _solve_qp_jit(
    Q: Array,
    c: Array,
    A: Array,
    b: Array,
    C: Array,
    d: Array,
    max_iter: int,
    tol_: float,
    accept_tol: float,
    reg_: float,
) -> QPSolution:
    dtype = c.dtype
    n, p, q = c.shape[0], A.shape[0], C.shape[0]
    tiny = jnp.finfo(dtype).tiny

    # Switch off rows with d = -inf (K6 convention): 0·x - s = -1 is always satisfiable.
    off = jnp.isneginf(d)
    C = jnp.where(off[:, None], 0.0, C)
    d = jnp.where(off, -1.0, d)

    # Scaling: rows of A, C to unit max-norm; objective to unit max-norm.
    ra = jnp.max(jnp.abs(A), axis=1, initial=0.0)
    ra = jnp.where(ra > tiny, ra, 1.0)
    rc = jnp.max(jnp.abs(C), axis=1, initial=0.0)
    rc = jnp.where(rc > tiny, rc, 1.0)
    As, bs = A / ra[:, None], b / ra
    Cs, ds = C / rc[:, None], d / rc
    Q = 0.5 * (Q + Q.T)
    om = jnp.maximum(jnp.max(jnp.abs(Q), initial=0.0), jnp.max(jnp.abs(c), initial=0.0))
    om = jnp.where(om > tiny, om, 1.0)
    Qs, cs = Q / om, c / om

    # Standard form over z = (x, s) ≥ 0, rows (A; C), Ãz = b̃.
    N, M = n + q, p + q
    At = jnp.zeros((M, N), dtype)
    At = At.at[:p, :n].set(As).at[p:, :n].set(Cs).at[p:, n:].set(-jnp.eye(q, dtype=dtype))
    bt = jnp.concatenate([bs, ds])
    Qt = jnp.zeros((N, N), dtype).at[:n, :n].set(Qs)
    ct = jnp.concatenate([cs, jnp.zeros((q,), dtype)])
    nb = 1.0 + jnp.max(jnp.abs(bt), initial=0.0)
    nc = 1.0 + jnp.max(jnp.abs(ct), initial=0.0)
    eye_n = jnp.eye(N, dtype=dtype)
    eye_m = jnp.eye(M, dtype=dtype)

    def residuals(z, y, s):
        rd = Qt @ z + ct - At.T @ y - s
        rp = At @ z - bt
        mu = jnp.dot(z, s) / N
        return rd, rp, mu

    def done(z, y, s, t=tol_):
        rd, rp, mu = residuals(z, y, s)
        obj = 0.5 * z @ Qt @ z + ct @ z
        ok_p = jnp.max(jnp.abs(rp), initial=0.0) <= t * nb
        ok_d = jnp.max(jnp.abs(rd), initial=0.0) <= t * nc
        ok_mu = mu <= t * (1.0 + jnp.abs(obj))
        return ok_p & ok_d & ok_mu

    def body(carry):
        z, y, s, it, _, _ = carry
        rd, rp, mu = residuals(z, y, s)
        D = s / z
        K = jnp.block([[Qt + jnp.diag(D) + reg_ * eye_n, -At.T], [At, reg_ * eye_m]])
        lu = jsl.lu_factor(K)

        def direction(t):
            rhs = jnp.concatenate([-rd - s + t / z, -rp])
            sol = jsl.lu_solve(lu, rhs)
            dz, dy = sol[:N], sol[N:]
            ds_ = -s + (t - s * dz) / z
            return dz, dy, ds_

        dz_a, dy_a, ds_a = direction(jnp.zeros_like(z))
        a_a = jnp.minimum(1.0, jnp.minimum(_max_step(z, dz_a), _max_step(s, ds_a)))
        mu_a = jnp.dot(z + a_a * dz_a, s + a_a * ds_a) / N
        sigma = jnp.clip((mu_a / jnp.maximum(mu, tiny)) ** 3, 0.0, 1.0)
        # Centring target, floored so that μ cannot collapse below the stopping level while the
        # residuals are still large (in float32 it otherwise underflows and the iteration stalls).
        obj = 0.5 * z @ Qt @ z + ct @ z
        floor = 0.1 * tol_ * (1.0 + jnp.abs(obj))
        dz, dy, ds_ = direction(jnp.maximum(sigma * mu, floor) - dz_a * ds_a)
        a = jnp.minimum(1.0, 0.99 * jnp.minimum(_max_step(z, dz), _max_step(s, ds_)))
        zn, yn, sn = z + a * dz, y + a * dy, s + a * ds_
        finite = jnp.all(jnp.isfinite(zn)) & jnp.all(jnp.isfinite(yn)) & jnp.all(jnp.isfinite(sn))
        finite = finite & jnp.all(zn > 0) & jnp.all(sn > 0)
        zn = jnp.where(finite, zn, z)
        yn = jnp.where(finite, yn, y)
        sn = jnp.where(finite, sn, s)
        return zn, yn, sn, it + 1, done(zn, yn, sn), ~finite

    def cond(carry):
        _, _, _, it, conv, stalled = carry
        return (it < max_iter) & ~conv & ~stalled

    z0 = jnp.ones((N,), dtype)
    s0 = jnp.ones((N,), dtype)
    y0 = jnp.zeros((M,), dtype)
    init = (z0, y0, s0, jnp.zeros((), jnp.int32), done(z0, y0, s0), jnp.asarray(False))
    z, y, s, it, conv, _ = jax.lax.while_loop(cond, body, init)
    conv = conv | done(z, y, s, accept_tol)
    rd, rp, mu = residuals(z, y, s)

    x = z[:n]
    obj = 0.5 * x @ Q @ x + c @ x
    pres = jnp.maximum(
        jnp.max(jnp.abs(A @ x - b), initial=0.0),
        jnp.maximum(
            jnp.max(jnp.where(off, 0.0, jnp.maximum(d - C @ x, 0.0)), initial=0.0),
            jnp.max(jnp.maximum(-x, 0.0), initial=0.0),
        ),
    )
    # Undo the scaling of the multipliers: y_eq/ra·om, λ/rc·om, ν·om.
    y_eq = y[:p] / ra * om
    lam = jnp.where(off, 0.0, y[p:] / rc * om)
    nu = s[:n] * om
    return QPSolution(
        x=x,
        eq_dual=y_eq,
        ineq_dual=lam,
        bound_dual=nu,
        objective=obj,
        converged=conv,
        iterations=it,
        primal_residual=pres,
        dual_residual=jnp.max(jnp.abs(rd), initial=0.0) / nc,
        gap=mu,
    )


def solve_lp(
    c: Any,
    A: Any = None,
    b: Any = None,
    C: Any = None,
    d: Any = None,
    *,
    max_iter: int = 50,
    tol: float | None = None,
    reg: float | None = None,
) -> QPSolution:
    r"""Solve the LP ``min cᵀx  s.t.  Ax = b, Cx ≥ d, x ≥ 0`` (:func:`solve_qp` with ``Q = 0``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> # max x₁ + 2x₂ on the simplex with x₂ ≤ 0.25  (i.e. −x₂ ≥ −0.25)
      >>> sol = pj.solve_lp(-jnp.array([1.0, 2.0]), jnp.ones((1, 2)), jnp.ones(1),
      ...                   jnp.array([[0.0, -1.0]]), jnp.array([-0.25]))
      >>> [round(float(v), 4) for v in sol.x]
      [0.75, 0.25]
    """
    c = jnp.asarray(c)
    n = c.shape[-1] if c.ndim else 0
    return solve_qp(
        jnp.zeros((n, n), jnp.promote_types(c.dtype, jnp.float32)),
        c,
        A,
        b,
        C,
        d,
        max_iter=max_iter,
        tol=tol,
        reg=reg,
    )
