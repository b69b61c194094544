r"""EPO — exact Pareto optimal search (preference-guided; f ∝ p).

Mahapatra & Rajan, "Multi-task learning with user preferences: gradient descent with controlled
ascent in Pareto optimization", ICML 2020. Reference behaviour: the official EPO code as ported in
LibMOON ``libmoon/solver/gradient/methods/epo_solver.py`` (``EPO_LP``, cvxpy + GLPK).

With preference ``p`` (semantics **f ∝ p**), ``r = 1/p``, ``rl = r ⊙ f``, ``l̂ = rl/Σrl``, the
non-uniformity ``μ = Σ_i l̂_i log(m l̂_i)`` (entries ≤ machine eps skipped; ``rl`` clipped at 0)
and the adjustment ``a = r ⊙ (log(max(m l̂, 10⁻³)) − μ)``; ``C = G`` (the Gram matrix). Then

* if ``μ > ε`` (``ε = 1e-4``) — **balance LP**: ``max_{α∈Δ} αᵀ(Ca)`` s.t. ``Cα ≥ rhs`` with
  ``rhs = Ca``, entries ``{i : (Ca)_i > 0}`` set to −∞ (dropped) and entries ``argmax rl`` (all
  ties) set to 0; ``rhs = 0`` when no ``(Ca)_i`` is positive;
* else — **descent LP**: ``max_{α∈Δ} 1ᵀCα`` s.t. ``αᵀCa ≥ −neg(max Ca)`` (``neg(x) = max(−x,0)``)
  and ``Cα ≥ 0``; ``relaxed=True`` drops the middle constraint.

Both LPs are one fixed-shape problem (m variables, m + 1 inequality rows, rows switched off by a
−∞ right-hand side) solved by :func:`paretojax.solve_lp` (METHODS.md §2 K6), so the weights are
``jit``-compiled and ``vmap``-able over K solutions/preferences. An LP that does not converge (or
returns non-finite weights) falls back to ``α = p/Σp`` (LibMOON's patch for a cvxpy failure).

Differences from the reference: losses with ``Σ rl ≤ 0`` (all zero/negative after the weighting)
give ``μ = 0`` and ``l̂ = 1/m`` instead of NaN; ``p`` is floored at 1e-8 before ``r = 1/p``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.lp import solve_lp
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["epo", "epo_weights", "epo_weighting", "epo_adjustments"]

PREF_FLOOR = 1e-8


def epo_adjustments(losses: Array, pref: Array) -> tuple[Array, Array, Array]:
    r"""``(rl, μ, a)`` of EPO: ``rl = f/p``, non-uniformity ``μ`` and adjustment ``a`` (see module).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.preference._epo import epo_adjustments
      >>> rl, mu, a = epo_adjustments(jnp.array([0.2, 0.4]), jnp.array([1/3, 2/3]))
      >>> round(float(mu), 6)
      0.0
    """
    losses = jnp.asarray(losses)
    dtype = jnp.result_type(losses.dtype, jnp.float32)
    f = losses.astype(dtype)
    p = jnp.asarray(pref, dtype)
    m = f.shape[-1]
    r = 1.0 / jnp.maximum(p, PREF_FLOOR)
    rl = r * f
    rlc = jnp.maximum(rl, 0.0)
    s = jnp.sum(rlc)
    pos = s > 0
    l_hat = jnp.where(pos, rlc / jnp.where(pos, s, 1.0), jnp.full_like(rlc, 1.0 / m))
    eps = jnp.finfo(dtype).eps
    keep = l_hat > eps
    mu = jnp.sum(jnp.where(keep, l_hat * jnp.log(jnp.where(keep, l_hat * m, 1.0)), 0.0))
    a = r * (jnp.log(jnp.maximum(l_hat * m, 1e-3)) - mu)
    return rl, mu, a


def epo_weights(
    gram: Array,
    losses: Array,
    state: Any = None,
    *,
    pref: Array,
    eps: float = 1e-4,
    relaxed: bool = False,
    max_iter: int = 50,
) -> tuple[Array, Any]:
    r"""EPO objective weights ``α ∈ Δ`` from the Gram matrix, the losses and the preference.

    Balance LP when the weighted losses ``f/p`` are non-uniform (``μ > eps``), descent LP
    otherwise (module docstring); ``α = p/Σp`` if the LP fails. The update is ``Jᵀα``.

    Args:
      gram: ``G = JJᵀ`` ``[m, m]``.
      losses: the loss vector ``[m]`` (EPO balances ``f_i/p_i``; losses should be positive).
      state: passed through (EPO is stateless).
      pref: preference ``[m]`` on the simplex (f ∝ p).
      eps: non-uniformity threshold between balancing and descent (LibMOON ``EPO_LP`` 1e-4).
        1e-4 stops balancing up to ~0.7° off the ray (Fonseca–Fleming); on deterministic
        problems ``1e-7`` (still resolvable in float32) lands on it (HV 0.28273 vs 0.28256).
      relaxed: drop the ``αᵀCa ≥ −neg(max Ca)`` row of the descent LP (official ``relax``).
      max_iter: interior-point iteration cap of :func:`paretojax.solve_lp`.

    Returns:
      ``(α [m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18.0, -22.0], [-22.0, 38.0]])
      >>> w, _ = pj.epo_weights(G, jnp.array([0.5, 0.1]), pref=jnp.array([0.5, 0.5]))
      >>> [round(float(v), 3) for v in w]    # balance: only the larger f/p is pushed down
      [1.0, 0.0]
    """
    g = jnp.asarray(gram)
    m = g.shape[-1]
    if g.shape != (m, m):
        raise ValueError(f"epo: gram must be square [m, m], got {g.shape}.")
    if losses is None or pref is None:
        raise ValueError("epo: losses and pref are required.")
    losses = jnp.asarray(losses)
    pref = jnp.asarray(pref)
    if losses.shape != (m,) or pref.shape != (m,):
        raise ValueError(
            f"epo: losses and pref must have shape ({m},), got {losses.shape} and {pref.shape}."
        )
    dtype = jnp.result_type(g.dtype, losses.dtype, jnp.float32)
    g = g.astype(dtype)
    g = 0.5 * (g + g.T)
    rl, mu, a = epo_adjustments(losses.astype(dtype), pref.astype(dtype))
    ca = g @ a
    balance = mu > eps
    # Balance LP right-hand side.
    pos = ca > 0
    top = rl == jnp.max(rl)
    rhs = jnp.where(pos, -jnp.inf, ca)
    rhs = jnp.where(top, 0.0, rhs)
    rhs = jnp.where(jnp.any(pos), rhs, jnp.zeros_like(ca))
    # Descent LP: row 0 is αᵀCa ≥ min(max Ca, 0).
    first_d = jnp.where(relaxed, -jnp.inf, jnp.minimum(jnp.max(ca), 0.0))
    cvec = jnp.where(balance, -ca, -(g @ jnp.ones((m,), dtype)))
    cmat = jnp.concatenate([ca[None, :], g], axis=0)
    dvec = jnp.where(
        balance,
        jnp.concatenate([jnp.full((1,), -jnp.inf, dtype), rhs]),
        jnp.concatenate([first_d[None], jnp.zeros((m,), dtype)]),
    )
    # On the simplex (Cα)_i ≥ min_j C_ij: rows whose rhs is below that bound are redundant and
    # are switched off (exact), which keeps the interior point away from huge slacks (r = 1/p
    # makes Ca large for small p_i).
    dvec = jnp.where(dvec <= jnp.min(cmat, axis=1), -jnp.inf, dvec)
    sol = solve_lp(
        cvec, jnp.ones((1, m), dtype), jnp.ones((1,), dtype), cmat, dvec, max_iter=max_iter
    )
    alpha = jnp.clip(sol.x, 0.0, None)
    s = jnp.sum(alpha)
    ok = sol.converged & jnp.all(jnp.isfinite(alpha)) & (s > 0)
    fallback = jnp.maximum(pref.astype(dtype), 0.0)
    fallback = fallback / jnp.maximum(jnp.sum(fallback), jnp.finfo(dtype).tiny)
    alpha = jnp.where(ok, alpha / jnp.where(s > 0, s, 1.0), fallback)
    return alpha, state


def _check_hp(eps: float, max_iter: int) -> None:
    if not eps >= 0:
        raise ValueError(f"epo: eps must be ≥ 0, got {eps}.")
    if int(max_iter) < 1:
        raise ValueError(f"epo: max_iter must be ≥ 1, got {max_iter}.")


def epo_weighting(eps: float = 1e-4, relaxed: bool = False, max_iter: int = 50) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`epo` (needs losses and pref).

    ``weights(G, losses, state, pref)`` solves the balance LP while the non-uniformity ``μ`` of
    ``r ⊙ f`` exceeds ``ε`` (towards the ray ``f ∝ p``), else the descent LP (module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.epo_weighting()
      >>> w, _ = wt.weights(G, jnp.array([1., 2.]), None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # balance: only the larger f/p is pushed down
      [0.0, 1.0]
    """
    _check_hp(eps, max_iter)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return epo_weights(gram, losses, state, pref=pref, eps=eps, relaxed=relaxed,
                           max_iter=max_iter)

    return Weighting(init=None, weights=fn, name="epo", needs_losses=True, needs_pref=True)


def epo(
    eps: float = 1e-4,
    relaxed: bool = False,
    max_iter: int = 50,
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""EPO as an optax transform: ``u = Jᵀα`` with the EPO LP weights (f ∝ p).

    Args:
      eps: balance/descent switch on the non-uniformity of ``f/p`` (1e-4, LibMOON).
      relaxed: use the relaxed descent LP.
      max_iter: interior-point iterations of the LP.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.epo()
      >>> jac = {"w": jnp.array([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])}
      >>> u, _ = tx.update(jac, tx.init(None), task_losses=jnp.array([0.5, 0.1]),
      ...                  pref=jnp.array([0.5, 0.5]))
      >>> [round(float(v), 3) for v in u["w"]]
      [-4.0, 1.0, 1.0]
    """
    return as_transform(epo_weighting(eps, relaxed, max_iter), num_tasks)


INFO = MethodInfo(
    name="epo",
    family="preference",
    factory=epo,
    description="Exact Pareto optimal search: balance/descent LPs in Gram space (f ∝ p).",
    reference="Mahapatra & Rajan, ICML 2020; LibMOON epo_solver.py (official EPO_LP)",
    requires=("task_losses", "pref"),
    properties=frozenset({"W"}),
    min_tasks=1,
)
