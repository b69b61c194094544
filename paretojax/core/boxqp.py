r"""K3: the lower-bounded quadratic program of UPGrad and DualProj.

.. math:: v^\star = \arg\min_{v \in R^m} v^\top G v \quad \text{s.t.} \quad v \ge u

with ``G`` an ``m × m`` positive semi-definite (Gram) matrix. By Proposition 1 of Quinton & Rey,
"Jacobian Descent for Multi-Objective Optimization" (arXiv 2406.16232), ``Jᵀv*`` is the
projection of ``Jᵀu`` onto the dual cone ``{x : Jx ≥ 0}`` of the rows of ``J`` when ``G = JJᵀ``.
TorchJD (``_utils/dual_cone.py``) and LibMTL (``UPGrad.py``) solve it on the host with
``quadprog``; here it is a compiled, ``jit``/``vmap``-able kernel (METHODS.md §2, K3).

Optimality (KKT, what the tests check): ``v ≥ u``, ``Gv ≥ 0`` and ``(v − u)ᵀGv = 0``
(the multiplier of the bound ``v_i ≥ u_i`` is ``2(Gv)_i``).

Two solvers:

* :func:`lower_bounded_qp` (default) — a **primal active-set method specialised to bounds**.
  The working set ``A`` holds the indices at their bound (``v_A = u_A``); on the free set ``F``
  the equality-constrained minimiser solves ``G_FF v_F = −G_FA u_A`` (one masked ``m × m``
  solve: the ``A`` block is replaced by a scaled identity, so shapes stay static). If that point
  violates a bound, a ratio test steps to the first bound hit and moves that index to ``A``;
  otherwise the index of ``A`` with the most negative multiplier ``(Gv)_i`` is released; the
  method stops when no multiplier is negative (KKT). Warm start ``v = u`` (all indices active).
  The loop is a ``lax.while_loop`` with a fixed maximum of ``3m`` iterations (masked early stop
  under ``vmap``); at termination the answer is the exact solution of the final equality
  system, not an approximate iterate. The masked solve uses a symmetric eigendecomposition with a
  relative cutoff (a pseudo-inverse), so a singular ``G_FF`` (duplicate, collinear or zero
  gradients, no ridge) yields the minimum-norm minimiser instead of NaN.
* :func:`lower_bounded_qp_exact` — enumerate the ``2^m − 1`` non-empty free sets (plus the
  empty one), solve each, keep the KKT-feasible candidate with the least objective. Exact and
  batched, but exponential: ``m ≤ 8``. Used as an independent check in the tests.

Both normalise ``G`` by its largest diagonal entry first (the minimiser is invariant to
``G → cG``, ``c > 0``), so gradients scaled by 1e±8 behave like unit ones. ``G = 0`` returns
``v = u`` (every feasible point is optimal; ``u`` is the smallest in the componentwise order).
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array

__all__ = ["lower_bounded_qp", "lower_bounded_qp_exact", "EXACT_MAX_TASKS"]

#: Largest m accepted by :func:`lower_bounded_qp_exact` (2^m candidate supports).
EXACT_MAX_TASKS = 8


def _check(gram: Array, lower: Array, name: str) -> tuple[Array, Array, int]:
    g = jnp.asarray(gram)
    u = jnp.asarray(lower)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] == 0:
        raise ValueError(f"{name}: gram must be a non-empty square (m, m) matrix, got {g.shape}.")
    m = g.shape[0]
    if u.shape != (m,):
        raise ValueError(f"{name}: lower must have shape ({m},) to match gram, got {u.shape}.")
    dtype = jnp.promote_types(jnp.promote_types(g.dtype, u.dtype), jnp.float32)
    return g.astype(dtype), u.astype(dtype), m


def _normalise(g: Array) -> tuple[Array, Array]:
    """``G / max diag(G)`` (``G`` symmetrised) and whether ``G`` is numerically zero."""
    g = 0.5 * (g + g.T)
    scale = jnp.max(jnp.abs(jnp.diagonal(g)))
    tiny = jnp.finfo(g.dtype).tiny
    is_zero = ~(scale > tiny)
    return g / jnp.where(is_zero, 1.0, scale), is_zero


def _masked_solve(gn: Array, u: Array, free: Array) -> Array:
    """Minimiser of ``vᵀGv`` with ``v_A = u_A`` (``A = ~free``), a pseudo-inverse on ``G_FF``.

    The ``A`` rows/columns of the system are replaced by the identity (``diag(G) ≤ 1`` after
    normalisation, so the identity block never falls under the cutoff).
    """
    m = gn.shape[0]
    eye = jnp.eye(m, dtype=gn.dtype)
    ff = free[:, None] & free[None, :]
    mat = jnp.where(ff, gn, eye)
    u_active = jnp.where(free, 0.0, u)
    rhs = jnp.where(free, -(gn @ u_active), u)
    lam, q = jnp.linalg.eigh(mat)
    cutoff = 10.0 * m * jnp.finfo(gn.dtype).eps * jnp.max(jnp.abs(lam))
    inv = jnp.where(lam > cutoff, 1.0 / jnp.where(lam > cutoff, lam, 1.0), 0.0)
    x = q @ (inv * (q.T @ rhs))
    return jnp.where(free, x, u)


def _tolerance(gn: Array, v: Array, u: Array) -> Array:
    eps = jnp.finfo(gn.dtype).eps
    scale = jnp.maximum(jnp.max(jnp.abs(v)), jnp.max(jnp.abs(u)))
    return 100.0 * eps * jnp.maximum(scale, jnp.finfo(gn.dtype).tiny)


def lower_bounded_qp(
    gram: Array,
    lower: Array,
    *,
    max_iter: int | None = None,
    return_info: bool = False,
) -> Array | tuple[Array, tuple[Array, Array]]:
    r"""Solve ``min_v vᵀGv s.t. v ≥ u`` by a primal active-set method on the bounds (K3).

    .. math:: v^\star = \arg\min_{v \ge u} v^\top G v

    Pure ``jnp``, static shapes, ``jit``- and ``vmap``-able (UPGrad ``vmap``s it over the m
    right-hand sides ``u = p_i e_i``). See the module docstring for the algorithm.

    Args:
      gram: ``(m, m)`` symmetric positive semi-definite matrix ``G`` (any positive scale).
      lower: ``(m,)`` lower bounds ``u``.
      max_iter: maximum number of active-set iterations; default ``3m``. Each iteration adds
        one index to the working set (blocked step) or releases one (full step).
      return_info: also return ``(iterations, converged)``; ``converged`` is ``True`` when the
        KKT conditions held before ``max_iter`` was reached.

    Returns:
      ``v`` (``(m,)``, float32 or wider), or ``(v, (iterations, converged))``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.core.boxqp import lower_bounded_qp
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> out = lower_bounded_qp(G, jnp.array([1., 0.]))
      >>> [round(x, 4) for x in out.tolist()]
      [1.0, 0.5789]
    """
    g, u, m = _check(gram, lower, "lower_bounded_qp")
    n_iter = 3 * m if max_iter is None else int(max_iter)
    if n_iter < 1:
        raise ValueError(f"lower_bounded_qp: max_iter must be ≥ 1, got {max_iter}.")
    v, it, done = _active_set(g, u, n_iter)
    if return_info:
        return v, (it, done)
    return v


@partial(jax.jit, static_argnums=2)
def _active_set(g: Array, u: Array, n_iter: int) -> tuple[Array, Array, Array]:
    m = g.shape[0]
    gn, is_zero = _normalise(g)
    idx = jnp.arange(m)
    inf = jnp.asarray(jnp.inf, gn.dtype)

    def cond(carry):
        _, _, done, it = carry
        return (~done) & (it < n_iter)

    def body(carry):
        v, free, done, it = carry
        vhat = _masked_solve(gn, u, free)
        tol = _tolerance(gn, vhat, u)
        d = vhat - v
        block = free & (vhat < u) & (d < 0.0)
        ratio = jnp.where(block, (v - u) / jnp.where(block, v - vhat, 1.0), inf)
        j = jnp.argmin(ratio)
        has_block = jnp.any(block)
        alpha = jnp.where(has_block, jnp.clip(ratio[j], 0.0, 1.0), 1.0)
        v_new = v + alpha * d
        hit = has_block & (idx == j)
        v_new = jnp.where(hit | ~free, u, jnp.maximum(v_new, u))
        free_new = free & ~hit
        # Full step: check the multipliers of the working set and release the most negative.
        mu = gn @ v_new
        cand = (~free_new) & (mu < -tol)
        any_cand = jnp.any(cand)
        k = jnp.argmin(jnp.where(cand, mu, inf))
        release = (~has_block) & any_cand
        free_new = free_new | (release & (idx == k))
        done_new = (~has_block) & (~any_cand)
        return v_new, free_new, done_new, it + 1

    init = (u, jnp.zeros((m,), bool), is_zero, jnp.zeros((), jnp.int32))
    v, _, done, it = lax.while_loop(cond, body, init)
    return v, it, done


def _supports(m: int) -> np.ndarray:
    return np.asarray(list(itertools.product([False, True], repeat=m)), bool)


def lower_bounded_qp_exact(gram: Array, lower: Array) -> Array:
    r"""Exact ``min_v vᵀGv s.t. v ≥ u`` by enumerating every free set (``m ≤ 8``).

    For each of the ``2^m`` candidate free sets ``F`` the equality system
    ``G_FF v_F = −G_FA u_A, v_A = u_A`` is solved (batched); candidates satisfying
    ``v ≥ u`` and ``(Gv)_A ≥ 0`` (to a round-off tolerance) are KKT points, and the one with the
    least ``vᵀGv`` is returned (all KKT points of this convex problem are minimisers; the least
    objective makes the choice robust to round-off).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.core.boxqp import lower_bounded_qp_exact
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> out = lower_bounded_qp_exact(G, jnp.array([0., 1.]))
      >>> [round(x, 4) for x in out.tolist()]
      [1.2222, 1.0]
    """
    g, u, m = _check(gram, lower, "lower_bounded_qp_exact")
    if m > EXACT_MAX_TASKS:
        raise ValueError(
            f"lower_bounded_qp_exact enumerates 2^m supports and accepts m ≤ {EXACT_MAX_TASKS}, "
            f"got m = {m}; use lower_bounded_qp."
        )
    return _exact(g, u)


@jax.jit
def _exact(g: Array, u: Array) -> Array:
    m = g.shape[0]
    gn, is_zero = _normalise(g)
    free_sets = jnp.asarray(_supports(m))
    cands = jax.vmap(lambda f: _masked_solve(gn, u, f))(free_sets)  # (2^m, m)
    mu = cands @ gn  # (Gv)_i for each candidate (gn symmetric)
    scale = jnp.maximum(jnp.max(jnp.abs(cands)), jnp.max(jnp.abs(u)))
    tol = 1e3 * jnp.finfo(gn.dtype).eps * jnp.maximum(scale, 1.0)
    primal = jnp.all(cands >= (u - tol)[None, :], axis=1)
    dual = jnp.all(jnp.where(free_sets, jnp.abs(mu) <= tol * 10.0, mu >= -tol), axis=1)
    obj = jnp.sum(cands * mu, axis=1)
    feasible = primal & dual
    # Fall back to the least objective among primal-feasible candidates if round-off rejected all.
    score = jnp.where(feasible, obj, jnp.where(primal, obj + jnp.inf, jnp.inf))
    any_feasible = jnp.any(feasible)
    best = jnp.where(any_feasible, jnp.argmin(score), jnp.argmin(jnp.where(primal, obj, jnp.inf)))
    v = jnp.maximum(cands[best], u)
    return jnp.where(is_zero, u, v)
