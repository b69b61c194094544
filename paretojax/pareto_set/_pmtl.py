r"""PMTL — Pareto multi-task learning, a set-level rule for the finite-set driver (METHODS §6).

Lin, Zhen, Li, Zhang, Kwong, "Pareto Multi-Task Learning", NeurIPS 2019. Reference behaviour:
LibMOON ``libmoon/solver/gradient/methods/pmtl_solver.py`` (``get_d_paretomtl_init`` /
``get_d_paretomtl``, m = 2 only), generalised here to any m with identical m = 2 results.

Preferences are normalised to unit length, ``û_j = u_j/‖u_j‖``. Sub-problem k:
``min f(x_k)`` s.t. ``w_{kj}ᵀ f ≤ 0`` for ``w_{kj} = û_j − û_k`` (j ≠ k). Constraint j is *active*
for solution k when ``w_{kj}·f_k/‖f_k‖ > 0`` (the solution lies outside its sector on j's side).

* **Stage 1** (the first ``warmup_steps`` steps; LibMOON: ``n_epoch // 5``): MGDA over the active
  constraint gradients ``w_{kj}ᵀJ_k``: ``α_k = Σ_j μ_j w_{kj}``, ``μ = min_norm``; one active
  constraint → ``α_k = w_{kj}``; none → ``α_k = 0`` (the solution waits).
* **Stage 2**: MGDA over ``[∇f_1, …, ∇f_m, active w_{kj}ᵀJ_k]``:
  ``α_k = μ_{1:m} + Σ_j μ_{m+j} w_{kj}`` (no active constraint → plain MGDA).

Every row is a linear map of ``J_k``, so each min-norm problem is solved on the Gram matrix
``A G_k Aᵀ`` with ``A`` the stacked row coefficients (``I_m`` and the ``w_{kj}``). Static shapes
under ``jit``: an inactive constraint row is replaced by a *duplicate* of an existing row (the
first active constraint in stage 1, ``e_1`` in stage 2); a duplicated vertex does not change the
convex hull, so the min-norm direction ``J_kᵀα_k`` is exactly that of the reference's row
subset.

Objective weights may be negative (constraint rows have mixed signs); the driver steps on
``J_kᵀα_k``. The LibMOON output is not normalised; neither is this one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from paretojax.core.qp import min_norm
from paretojax.pareto_set._driver import SetWeighting

Array = jax.Array

__all__ = ["PMTLState", "pmtl_constraints", "pmtl_weights", "pmtl_set_weighting"]


class PMTLState(NamedTuple):
    """Step counter (stage 1 while ``count < warmup_steps``)."""

    count: Array


def pmtl_constraints(losses: Array, prefs: Array) -> tuple[Array, Array]:
    r"""Constraint coefficients ``W [K, K, m]`` (``W[k, j] = û_j − û_k``) and the active mask.

    ``active[k, j] = W[k, j]·f_k/‖f_k‖ > 0`` for j ≠ k (the self row is never active).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, act = pj.pmtl_constraints(jnp.array([[0.1, 1.0], [1.0, 0.1]]), jnp.eye(2))
      >>> act.tolist()
      [[False, True], [True, False]]
    """
    f = jnp.asarray(losses)
    p = jnp.asarray(prefs, f.dtype)
    if f.ndim != 2 or p.shape != f.shape:
        raise ValueError(
            f"pmtl_constraints: losses and prefs must both be [K, m], got {f.shape}, {p.shape}."
        )
    tiny = jnp.finfo(f.dtype).tiny
    u = p / jnp.maximum(jnp.linalg.norm(p, axis=1, keepdims=True), tiny)
    w = u[None, :, :] - u[:, None, :]
    fn = f / jnp.maximum(jnp.linalg.norm(f, axis=1, keepdims=True), tiny)
    gx = jnp.einsum("kjm,km->kj", w, fn)
    # the self row is excluded explicitly: under jit ``û_k − û_k`` may round to ±1e-17 (FMA)
    k = f.shape[0]
    return w, (gx > 0) & ~jnp.eye(k, dtype=bool)


def _one(g: Array, w: Array, active: Array, stage1: Array) -> Array:
    """α for one solution: g [m, m], w [K, m] constraint rows, active [K] bool."""
    m = g.shape[0]
    any_active = jnp.any(active)
    first = jnp.argmax(active.astype(jnp.int32))
    # stage 1 rows: active constraints, inactive ones duplicated from the first active one
    w1 = jnp.where(active[:, None], w, w[first][None, :])
    g1 = w1 @ g @ w1.T
    mu1 = min_norm(g1)
    a1 = jnp.where(any_active, mu1 @ w1, jnp.zeros((m,), g.dtype))
    # stage 2 rows: [I_m; active constraints], inactive ones duplicated from e_1
    e1 = jnp.zeros((m,), g.dtype).at[0].set(1.0)
    w2 = jnp.concatenate([jnp.eye(m, dtype=g.dtype), jnp.where(active[:, None], w, e1[None, :])])
    mu2 = min_norm(w2 @ g @ w2.T)
    a2 = mu2 @ w2
    return jnp.where(stage1, a1, a2)


def pmtl_weights(gram: Array, losses: Array, prefs: Array, *, stage1: Any = False) -> Array:
    r"""PMTL objective weights ``α [K, m]`` for all K solutions (one stage, chosen by ``stage1``).

    Args:
      gram: per-solution Gram matrices ``[K, m, m]``.
      losses: objectives ``[K, m]``.
      prefs: preference vectors ``[K, m]`` (normalised to unit length internally).
      stage1: a bool (may be traced): stage 1 (constraint-only MGDA) or stage 2.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.stack([jnp.eye(2)] * 2); F = jnp.array([[1.0, 0.2], [0.3, 1.0]])
      >>> pj.pmtl_weights(G, F, jnp.eye(2)).shape
      (2, 2)
    """
    g = jnp.asarray(gram)
    f = jnp.asarray(losses)
    if g.ndim != 3 or g.shape[0] != f.shape[0] or g.shape[1:] != (f.shape[1], f.shape[1]):
        raise ValueError(f"pmtl_weights: gram must be [K, m, m] for losses [K, m]; got "
                         f"{g.shape} and {f.shape}.")
    w, act = pmtl_constraints(f, prefs)
    s1 = jnp.asarray(stage1, bool)
    return jax.vmap(lambda gg, ww, aa: _one(gg, ww, aa, s1))(g.astype(f.dtype), w, act)


def pmtl_set_weighting(warmup_steps: int = 100, *, normalize: bool = False) -> SetWeighting:
    """PMTL as a :class:`SetWeighting` (stage 1 for ``warmup_steps`` steps, then stage 2).

    ``warmup_steps``: LibMOON uses ``n_epoch // 5`` (100 of the 500 steps of §1.1), the default.
    ``normalize``: rescale each solution's weights to ``Σ_i |α_i| = m`` (the original ParetoMTL
    training loop, ``normalize_coeff = n_tasks / Σ|w|``; a zero row stays zero). LibMOON does not
    normalise (default False).

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> res = pj.run_finite_set(prob, pj.linspace_prefs(3, 0.01), pj.pmtl_set_weighting(5),
      ...                         steps=10, key=jax.random.key(0))
      >>> res.f.shape
      (3, 2)
    """
    if int(warmup_steps) < 0:
        raise ValueError(f"pmtl_set_weighting: warmup_steps must be ≥ 0, got {warmup_steps}.")
    ws = int(warmup_steps)

    def init():
        return PMTLState(count=jnp.zeros((), jnp.int32))

    def weights(g: Array, losses: Array, state: Any, prefs: Any):
        if prefs is None:
            raise ValueError("pmtl_set_weighting: PMTL needs the [K, m] preferences.")
        alpha = pmtl_weights(g, losses, prefs, stage1=state.count < ws)
        if normalize:
            tot = jnp.sum(jnp.abs(alpha), axis=1, keepdims=True)
            m = alpha.shape[1]
            alpha = jnp.where(tot > 0, alpha * (m / jnp.where(tot > 0, tot, 1.0)), alpha)
        return alpha, PMTLState(count=state.count + 1)

    return SetWeighting(init=init, weights=weights, name="pmtl", uses_gram=True)
