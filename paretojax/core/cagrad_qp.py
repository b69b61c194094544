r"""K4: CAGrad's inner problem on the simplex.

.. math::

    w^\star = \arg\min_{w \in \Delta^{m-1}}\; f(w) = w^\top b + c\,\sqrt{w^\top G w + \varepsilon},
    \qquad b = G p,\ c = \sqrt{\varphi} = c_{\text{cagrad}}\,\|g_0\| .

``f`` is convex (a linear term plus a norm), non-smooth only where ``Jᵀw = 0``. Solver
(jit/vmap-safe, fixed iteration counts, static shapes):

* ``m = 1``: ``w = 1``;
* ``m = 2``: ``f`` is convex in ``γ`` with ``w = (γ, 1 − γ)``: golden-section search on ``[0, 1]``
  (``num_golden`` = 60 iterations, bracket ``0.618^60 ≈ 3e-13``) plus the two end points;
* ``m > 2``: spectral projected gradient (Birgin–Martínez–Raydan: Barzilai–Borwein step, exact
  simplex projection K1, fixed-count Armijo backtracking evaluated at once) for ``num_iters``
  iterations, then ``num_polish`` rounds of an **exact support solve**: on a support ``S`` the
  KKT conditions ``b_S + r G_SS w_S = μ 1``, ``Σ w_S = 1``, ``r = c / ‖Jᵀw‖`` have the closed form
  ``w = w_a + t w_b`` (``[G_SS −1; 1ᵀ 0]`` solves with right-hand sides ``(0, 1)`` and
  ``(−b_S, 0)``, minimum-norm solves through ``eigh`` since ``G_SS`` is singular for dependent
  gradients; ``w_aᵀ G w_b = 0``) with ``t = 1/r = √(w_aᵀGw_a / (c² − w_bᵀGw_b))``. Each round
  takes the support of the current iterate, adds the most KKT-violating index, solves, and keeps
  the candidate only if it is feasible and lowers ``f`` — so polishing never hurts.

Reference: the official CAGrad code and LibMTL ``CAGrad.py`` use ``scipy.optimize.minimize``
(SLSQP) from ``w = 1/m``; the tests compare with SLSQP (float64, tight tolerances) on hundreds of
random instances. Normalise ``G`` (e.g. by its trace) before calling: ``w*`` is invariant to
``G → sG, c → √s c`` (up to ``ε``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from paretojax.core.simplex import project_simplex

Array = jax.Array

__all__ = ["cagrad_qp", "cagrad_objective"]

_GOLD = 0.6180339887498949


def cagrad_objective(w: Array, gram: Array, b: Array, c: Array, eps: float = 1e-8) -> Array:
    """``f(w) = wᵀb + c √(wᵀGw + ε)`` (the CAGrad inner objective)."""
    return w @ b + c * jnp.sqrt(jnp.maximum(w @ gram @ w, 0.0) + eps)


def _golden(gram: Array, b: Array, c: Array, eps: float, num_golden: int) -> Array:
    def f(gam: Array) -> Array:
        return cagrad_objective(jnp.stack([gam, 1.0 - gam]), gram, b, c, eps)

    dtype = gram.dtype

    def body(_, ab):
        lo, hi = ab
        x1 = hi - _GOLD * (hi - lo)
        x2 = lo + _GOLD * (hi - lo)
        left = f(x1) <= f(x2)
        return jnp.where(left, lo, x1), jnp.where(left, x2, hi)

    lo, hi = jax.lax.fori_loop(
        0, num_golden, body, (jnp.zeros((), dtype), jnp.ones((), dtype))
    )
    cands = jnp.stack([0.5 * (lo + hi), jnp.zeros((), dtype), jnp.ones((), dtype)])
    vals = jax.vmap(f)(cands)
    gam = cands[jnp.argmin(vals)]
    return jnp.stack([gam, 1.0 - gam])


def _spg(gram: Array, b: Array, c: Array, eps: float, num_iters: int, num_backtracks: int) -> Array:
    m = gram.shape[0]
    dtype = gram.dtype
    f = lambda w: cagrad_objective(w, gram, b, c, eps)
    tiny = jnp.finfo(dtype).tiny
    grad = lambda w: b + c * (gram @ w) / jnp.sqrt(jnp.maximum(w @ gram @ w + eps, tiny))
    lmax = jnp.max(jnp.sum(jnp.abs(gram), axis=1))  # ≥ λ_max
    w0 = jnp.full((m,), 1.0 / m, dtype)
    g0 = grad(w0)
    q0 = w0 @ gram @ w0
    step0 = jnp.sqrt(q0 + eps) / (c * lmax + jnp.sqrt(q0 + eps) * 1e-12 + 1e-30)
    halvings = 0.5 ** jnp.arange(num_backtracks, dtype=dtype)

    def body(_, carry):
        w, gw, fw, step = carry
        steps = step * halvings
        cands = project_simplex(w[None, :] - steps[:, None] * gw[None, :])
        fc = jax.vmap(f)(cands)
        dec = fc <= fw + 1e-4 * ((cands - w[None, :]) @ gw)
        dec = dec & jnp.isfinite(fc)
        k = jnp.argmax(dec)
        ok = jnp.any(dec)
        w_new = jnp.where(ok, cands[k], w)
        g_new = grad(w_new)
        s = w_new - w
        y = g_new - gw
        sy = s @ y
        bb = jnp.where(sy > 1e-30, (s @ s) / jnp.where(sy > 1e-30, sy, 1.0), step * 2.0)
        bb = jnp.clip(bb, 1e-10, 1e10)
        step_new = jnp.where(ok, bb, step * 0.5 ** num_backtracks)
        return w_new, g_new, jnp.where(ok, fc[k], fw), step_new

    w, _, _, _ = jax.lax.fori_loop(0, num_iters, body, (w0, g0, f(w0), step0))
    return w


def _polish(gram: Array, b: Array, c: Array, eps: float, w: Array, num_polish: int) -> Array:
    m = gram.shape[0]
    dtype = gram.dtype
    f = lambda v: cagrad_objective(v, gram, b, c, eps)
    zero1 = jnp.zeros((1,), dtype)
    idx = jnp.arange(m)

    rcond = 10.0 * (m + 1) * float(jnp.finfo(dtype).eps)

    def support_solve(mask: Array) -> tuple[Array, Array]:
        # Minimiser of f on the affine hull of the face {w_i = 0, i ∉ S}, if it exists. The KKT
        # system is written symmetric ([G_S 1; 1ᵀ 0] [w; −μ]) and solved by an eigh-based
        # pseudo-inverse: G_SS is singular for dependent gradients, where the affine minimisers
        # form a set and the minimum-norm one gives the same f.
        mk = mask.astype(dtype)
        gs = gram * mk[:, None] * mk[None, :] + jnp.diag(1.0 - mk)
        kkt = jnp.block([[gs, mk[:, None]], [mk[None, :], jnp.zeros((1, 1), dtype)]])
        rhs = jnp.stack(
            [jnp.concatenate([jnp.zeros((m,), dtype), jnp.ones((1,), dtype)]),
             jnp.concatenate([-b * mk, zero1])], axis=1
        )
        lam, vec = jnp.linalg.eigh(kkt)
        keep = jnp.abs(lam) > rcond * jnp.max(jnp.abs(lam))
        inv = jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
        sol = vec @ (inv[:, None] * (vec.T @ rhs))
        wa, wb = sol[:m, 0] * mk, sol[:m, 1] * mk
        a = jnp.maximum(wa @ gram @ wa, 0.0)
        den = c * c - wb @ gram @ wb
        t = jnp.sqrt((a + eps) / jnp.where(den > 0, den, 1.0))
        y = wa + t * wb
        valid = (den > 0) & jnp.all(jnp.isfinite(y)) & (jnp.abs(jnp.sum(y) - 1.0) < 1e-3)
        return y, valid

    slack_unit = 100.0 * float(jnp.finfo(dtype).eps)

    def step_to(w: Array, mask: Array) -> tuple[Array, Array]:
        y, valid = support_solve(mask)
        # Feasible: jump to y. Otherwise: ratio test along w → y (drops ≥ 1 index); f decreases
        # along the segment because y minimises the convex f on an affine set containing w.
        neg = y < w
        ratios = jnp.where(neg & (y < 0), w / jnp.where(neg, w - y, 1.0), jnp.inf)
        theta = jnp.clip(jnp.min(ratios), 0.0, 1.0)
        cand = jnp.maximum(w + theta * (y - w), 0.0)
        cand = jnp.where(ratios <= theta, 0.0, cand)
        cand = cand / jnp.maximum(jnp.sum(cand), 1e-30)
        fc = f(cand)
        return cand, jnp.where(valid & jnp.isfinite(fc), fc, jnp.inf)

    def body(_, carry):
        w, fw = carry
        q = jnp.maximum(w @ gram @ w, 0.0)
        gr = b + c * (gram @ w) / jnp.sqrt(jnp.maximum(q + eps, jnp.finfo(dtype).tiny))
        mask = w > 0
        mu = jnp.sum(jnp.where(mask, w * gr, 0.0))  # multiplier of Σw = 1 (= wᵀ∇f)
        viol = jnp.where(mask, jnp.inf, gr - mu)
        j = jnp.argmin(viol)
        grown = mask | ((viol[j] < 0) & (idx == j))  # add the most violated index
        # Two candidates: optimise on the current face, or on the face grown by the most
        # violated index (the classical active-set moves); keep the better one.
        cands, fcs = jax.vmap(step_to, in_axes=(None, 0))(w, jnp.stack([mask, grown]))
        k = jnp.argmin(fcs)
        cand, fc = cands[k], fcs[k]
        # Accept ties up to rounding: the support solve is more accurate than the iterate.
        better = fc <= fw + slack_unit * (jnp.abs(fw) + c)
        return jnp.where(better, cand, w), jnp.where(better, fc, fw)

    w, _ = jax.lax.fori_loop(0, num_polish, body, (w, f(w)))
    return w


def cagrad_qp(
    gram: Array,
    b: Array,
    c: Array | float,
    *,
    eps: float = 1e-8,
    num_iters: int = 200,
    num_backtracks: int = 20,
    num_polish: int | None = None,
    num_golden: int = 60,
) -> Array:
    r"""Solve ``min_{w∈Δ} wᵀb + c √(wᵀGw + ε)`` (K4; see the module docstring).

    Args:
      gram: ``[m, m]`` PSD matrix (normalise it, e.g. by its trace).
      b: ``[m]`` linear term (``G p`` for CAGrad).
      c: the radius ``√φ ≥ 0``.
      eps: smoothing inside the square root (LibMTL / official code: ``1e-8``; ``0`` allowed).
      num_iters: spectral projected-gradient iterations (``m > 2``).
      num_backtracks: step halvings evaluated per iteration.
      num_polish: active-set rounds of exact support solves (default ``2m``).
      num_golden: golden-section iterations (``m = 2``).

    Returns:
      ``w ∈ Δ`` of shape ``[m]``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.core.cagrad_qp import cagrad_qp
      >>> g = jnp.array([[18., -22.], [-22., 38.]]) / 56.0
      >>> b = g @ jnp.array([0.5, 0.5])
      >>> c = 0.5 * jnp.sqrt(jnp.array([0.5, 0.5]) @ b)
      >>> cagrad_qp(g, b, c).tolist()
      [1.0, 0.0]
    """
    g = jnp.asarray(gram)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"cagrad_qp: gram must be square [m, m], got {g.shape}.")
    dtype = jnp.promote_types(g.dtype, jnp.float32)
    g = g.astype(dtype)
    m = g.shape[0]
    b = jnp.asarray(b, dtype)
    if b.shape != (m,):
        raise ValueError(f"cagrad_qp: b must have shape ({m},), got {b.shape}.")
    c = jnp.asarray(c, dtype)
    if m == 1:
        return jnp.ones((1,), dtype)
    if m == 2:
        return _golden(g, b, c, eps, num_golden)
    w = _spg(g, b, c, eps, num_iters, num_backtracks)
    return _polish(g, b, c, eps, w, 2 * m if num_polish is None else num_polish)
