r"""K5: the α-fair root ``G w = w^{-1/α}`` shared by Nash-MTL (α = 1) and FairGrad.

.. math::

    G w = w^{-1/\alpha}\ (\text{elementwise}),\qquad w > 0 .

It is the stationarity condition of the strictly convex

.. math::

    F(w) = \tfrac12 w^\top G w - \sum_i \varphi_\alpha(w_i),\qquad
    \varphi_\alpha'(w) = w^{-1/\alpha}\quad(\alpha = 1:\ \varphi = \log w),

whose Hessian ``G + (1/α) diag(w^{-1/α-1})`` is positive definite on ``w > 0``. For α = 1 it is
Nash-MTL's bargaining condition ``α_i (Gα)_i = 1`` (Navon et al., ICML 2022); for general α it is
FairGrad's α-fair allocation (Ban & Ji, ICML 2024).

Solver (jit/vmap-safe, fixed iteration counts):

* **scale**: ``G → cG`` gives ``w → c^{-α/(1+α)} w``, so the root is computed on the
  trace-normalised ``G̃ = G / tr(G) + δ I`` and rescaled analytically by ``tr(G)^{-α/(1+α)}``;
* **ridge** ``δ`` (default ``1e-8``, raised to ``10·eps(dtype)`` in low precision): without it no
  root exists when some ``v ≥ 0, v ≠ 0`` has ``G v = 0`` (e.g. a zero gradient, or
  ``g₂ = -2 g₁``); with it the root exists and its large entries lie in the null space of ``G``
  (so ``Jᵀw`` stays bounded);
* **start**: the diagonal solution ``v_i = G̃_ii^{-α/(1+α)}`` scaled by the exact minimiser of
  ``F`` along the ray ``s·v``;
* **damped Newton** in the diagonally scaled variables ``z = Δ/w`` (the system
  ``(D G̃ D + (1/α) diag(w^{1-1/α})) z = -D r`` with ``D = diag(w)``, ``r = G̃w − w^{-1/α}``),
  **fraction-to-boundary** rule ``w + τΔ ≥ (1 − η) w`` (η = 0.99), and a fixed-count backtracking
  (``num_backtracks`` halvings evaluated at once) accepting the largest step that satisfies
  Armijo on ``F`` or decreases the scale-free residual ``ρ(w) = ‖w^{1/α} ⊙ G̃w − 1‖``;
* the iterate with the smallest residual is returned, with ``ok`` = finite, positive and
  ``max_i |w_i^{1/α}(G̃w)_i − 1| ≤ tol``. Callers fall back (previous weights, else ``1/m``)
  when ``ok`` is false;
* ``stationary`` flags the no-root case. At the ridged root ``w_i^{1/α}(G_0w)_i = 1 −
  δ w_i^{1+1/α}`` exactly (``G_0`` without ridge): ``O(δ)`` away from 1 when the un-ridged root
  exists, ``O(1)`` when it does not (the weights diverge along a ``v ≥ 0`` with ``Gv = 0``: the
  gradients are weakly Pareto stationary, ``Jᵀv = 0``), and negative when the update would
  conflict with task i. ``stationary`` is ``δ w_i^{1+1/α} ≥ 1/2`` for some task whose gradient
  is not ~zero (``G̃_ii > 100δ``): the ridge carries at least half of that task's balance (a
  margin over the conflict threshold 1 that float32 rounding cannot hide). Nash-MTL and FairGrad
  then return zero weights (the limit of ``Jᵀw``; any non-zero update would conflict with some
  task). A task with a zero gradient is not flagged: its weight grows like ``δ^{-α/(1+α)}`` but
  multiplies a zero row, and the update serves the other tasks.

Checked in the tests against ``scipy.optimize.least_squares`` (LibMTL's FairGrad call, tight
tolerances) on hundreds of random instances.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["RootResult", "alpha_fair_root"]

_ETA = 0.99  # fraction-to-boundary
_ARMIJO = 1e-4


class RootResult(NamedTuple):
    """Output of :func:`alpha_fair_root`.

    Attributes:
      weights: ``[m]`` root for the **raw** Gram matrix (rescaled from the normalised solve).
      residual: ``max_i |w_i^{1/α}(G̃w)_i − 1|`` on the normalised, ridged problem.
      ok: boolean scalar — finite, positive and ``residual ≤ tol``.
      stationary: boolean scalar — the un-ridged problem has no root (see the module docstring).
    """

    weights: Array
    residual: Array
    ok: Array
    stationary: Array


def _phi(w: Array, alpha: Any) -> Array:
    """``φ_α`` up to a constant: ``log w`` (α = 1), else ``(w^{1-1/α} − 1)/(1 − 1/α)``."""
    if isinstance(alpha, float):
        if alpha == 1.0:
            return jnp.log(w)
        e = 1.0 - 1.0 / alpha
        return (w**e - 1.0) / e
    e = 1.0 - 1.0 / alpha
    near = jnp.abs(e) < 1e-6
    return jnp.where(near, jnp.log(w), (w ** e - 1.0) / jnp.where(near, 1.0, e))


def alpha_fair_root(
    gram: Array,
    alpha: float | Array = 1.0,
    *,
    ridge: float = 1e-8,
    num_iters: int = 30,
    num_backtracks: int = 30,
    tol: float | None = None,
) -> RootResult:
    r"""Solve ``G w = w^{-1/α}``, ``w > 0`` by damped Newton (see the module docstring).

    Args:
      gram: ``[m, m]`` PSD Gram matrix (any scale).
      alpha: the fairness exponent α > 0 (α = 1 is Nash-MTL); a Python float, or a traced
        scalar (e.g. to ``vmap`` over α).
      ridge: ``δ`` added to ``G / tr(G)`` (relative ridge); floored at ``10·eps(dtype)``.
      num_iters: Newton iterations (fixed).
      num_backtracks: step halvings evaluated per iteration (fixed).
      tol: residual threshold for ``ok``; default ``1e-6`` in float64, ``1e-2`` in float32
        (whose rounding limits the residual on ill-conditioned ``G``).

    Returns:
      :class:`RootResult` ``(weights, residual, ok, stationary)``; ``weights`` solves the raw
      problem
      ``(G + δ tr(G) I) w = w^{-1/α}``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.core.root import alpha_fair_root
      >>> res = alpha_fair_root(jnp.array([[18., -22.], [-22., 38.]]))
      >>> [round(x, 4) for x in res.weights.tolist()]
      [0.5915, 0.4071]
    """
    if isinstance(alpha, (int, float)):
        alpha = float(alpha)
        if not alpha > 0.0:
            raise ValueError(f"alpha_fair_root: alpha must be > 0, got {alpha}.")
    g = jnp.asarray(gram)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"alpha_fair_root: gram must be square [m, m], got {g.shape}.")
    dtype = jnp.promote_types(g.dtype, jnp.float32)
    g = g.astype(dtype)
    m = g.shape[0]
    eps = float(jnp.finfo(dtype).eps)
    delta = max(float(ridge), 10.0 * eps)
    if tol is None:
        tol = 1e-6 if dtype == jnp.float64 else 1e-2
    if not isinstance(alpha, float):
        alpha = jnp.asarray(alpha, dtype)
    inv_a = 1.0 / alpha
    expo = alpha / (1.0 + alpha)

    tr = jnp.trace(g)
    tr_ok = jnp.isfinite(tr) & (tr > jnp.finfo(dtype).tiny * 1e3)
    tr_s = jnp.where(tr_ok, tr, 1.0)
    gn = jnp.where(tr_ok, g / tr_s, jnp.zeros_like(g))
    gn = 0.5 * (gn + gn.T) + delta * jnp.eye(m, dtype=dtype)

    def objective(w: Array) -> Array:
        return 0.5 * w @ gn @ w - jnp.sum(_phi(w, alpha))

    def rel_res(w: Array) -> Array:
        return w**inv_a * (gn @ w) - 1.0

    # Start: diagonal solution, then the exact minimiser of F along the ray s·v.
    v = jnp.diagonal(gn) ** (-expo)
    vgv = v @ gn @ v
    s = (jnp.sum(v ** (1.0 - inv_a)) / vgv) ** expo
    w0 = s * v

    steps = 0.5 ** jnp.arange(num_backtracks, dtype=dtype)

    def newton(carry, _):
        w, best_w, best_r = carry
        r = gn @ w - w ** (-inv_a)
        hs = w[:, None] * gn * w[None, :] + jnp.diag(inv_a * w ** (1.0 - inv_a))
        z = jnp.linalg.solve(hs, -w * r)  # z = Δ / w
        z = jnp.where(jnp.isfinite(z), z, 0.0)
        tau_max = jnp.minimum(1.0, _ETA / jnp.maximum(jnp.max(-z), 1e-30))
        taus = tau_max * steps
        cand = w[None, :] * (1.0 + taus[:, None] * z[None, :])
        f0 = objective(w)
        slope = (r * w) @ z  # ∇F·Δ
        f_c = jax.vmap(objective)(cand)
        rho0 = jnp.linalg.norm(rel_res(w))
        rho_c = jax.vmap(lambda c: jnp.linalg.norm(rel_res(c)))(cand)
        finite = jnp.all(jnp.isfinite(cand) & (cand > 0), axis=1) & jnp.isfinite(f_c)
        finite = finite & jnp.isfinite(rho_c)
        armijo = f_c <= f0 + _ARMIJO * taus * slope
        resid = rho_c <= (1.0 - _ARMIJO * taus) * rho0
        accept = finite & (armijo | resid)
        k = jnp.argmax(accept)  # first (largest) acceptable step
        w_new = jnp.where(jnp.any(accept), cand[k], w)
        r_new = jnp.max(jnp.abs(rel_res(w_new)))
        r_new = jnp.where(jnp.isfinite(r_new), r_new, jnp.inf)
        better = r_new < best_r
        best_w = jnp.where(better, w_new, best_w)
        best_r = jnp.where(better, r_new, best_r)
        return (w_new, best_w, best_r), None

    r0 = jnp.max(jnp.abs(rel_res(w0)))
    r0 = jnp.where(jnp.isfinite(r0), r0, jnp.inf)
    (_, w, res), _ = jax.lax.scan(newton, (w0, w0, r0), None, length=num_iters)
    w_raw = w * tr_s ** (-expo)
    ok = tr_ok & jnp.all(jnp.isfinite(w_raw) & (w_raw > 0)) & (res <= tol)
    # At the ridged root w^{1/α}(G₀w) = 1 − δ w^{1+1/α} exactly (no cancellation): flag tasks
    # whose balance the ridge carries for at least one half, unless their gradient is ~zero.
    ridge_share = delta * w ** (1.0 + inv_a)
    relevant = jnp.diagonal(gn) > 101.0 * delta
    stationary = ~tr_ok | jnp.any(relevant & (ridge_share >= 0.5))
    return RootResult(weights=w_raw, residual=res, ok=ok, stationary=stationary)
