r"""mTCH — modified (inverse-weight) Tchebycheff scalarization.

.. math:: s(f; p) = \max_i \frac{\hat f_i - z_i}{\max(p_i, 10^{-8})}.

Preference semantics **f ∝ p** (the convention of EPO, PMGDA and the cosine-alignment methods):
at an optimum ``(f_i − z_i)/p_i`` is constant, so the solution lies on the ray through ``p``.
Zero preference entries are clipped to ``1e-8`` (LibMOON divides by ``p`` and produces inf);
the objective with ``p_i = 0`` is then driven to ``z_i`` first.

Paper: Ma, Zhang, Tian, Jin, "On Tchebycheff decomposition approaches for multiobjective
evolutionary optimization", IEEE TEVC 2018. Reference: LibMOON ``'mTche'``
(``util/scalarization.py`` ``mtche = tche(f, 1/w)``). Ties: first maximiser.

**Balanced step** (``step_size=η``, a paretojax option, not in LibMOON). The subgradient of the
max moves only the active objective, so a fixed-step SGD run chatters across the ray
``f ∝ p`` and ends up to ~0.1° off it. With ``h_i = (f̂_i − z_i)/p_i`` and the step
``x⁺ = x − η Σ_j λ_j c_j ∇f_j`` (``c_j = 1`` for ``gradient="unweighted"``, ``∂h_j/∂f_j``
for ``"weighted"``), the weights minimise the linearised objective after the step over the
simplex — a small LP on the Gram matrix ``G``:

.. math:: \min_{\lambda\in\Delta}\ \max_i\ h_i - \eta\,\tfrac{\partial h_i}{\partial f_i}
          (G\,\mathrm{diag}(c)\,\lambda)_i .

The one-hot subgradient step is feasible, so the model decrease is never smaller than
LibMOON's; far from the ray the LP returns it, near the ray it mixes the gradients so that the
pieces stay tied, and at a Pareto-stationary point on the ray the step vanishes. It is exact for
plain SGD with learning rate ``η`` (with other optimisers, a balanced direction).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.lp import solve_lp
from paretojax.registry import MethodInfo
from paretojax.scalarization._common import (
    PREF_FLOOR,
    check_positive,
    prepare,
    scalarization_weighting,
)
from paretojax.scalarization._tch import _check_gradient, tch_loss
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["mtch_loss", "mtch_weighting", "mtch_balanced_weights", "mtch"]


def mtch_loss(
    losses: Any,
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
) -> Array:
    r"""Inverse-weight Tchebycheff ``max_i (f̂_i − z_i)/max(p_i, 1e-8)`` (f ∝ p).

    Same arguments as :func:`paretojax.tch_loss` (``gradient="unweighted"`` = LibMOON's value
    ``f̂_{i*}`` and gradient ``∇f_{i*}``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(round(float(pj.mtch_loss(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]))), 6))
      2.0
    """
    return tch_loss(
        losses, pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient, inverse=True
    )


def mtch_weighting(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    step_size: float | None = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(mtch_loss)/∂f``; with ``step_size`` the
    balanced-step weights of :func:`mtch_balanced_weights` (reads the Gram matrix).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, _ = pj.mtch_weighting().weights(jnp.zeros((2, 0)), jnp.array([0.6, 0.3]), None,
      ...                                    jnp.array([0.5, 0.5]))
      >>> w.tolist()                      # ∂/∂f of max_i f_i/p_i: the active task, 1/p
      [2.0, 0.0]
      >>> G = jnp.array([[1.0, -0.5], [-0.5, 1.0]])
      >>> wb, _ = pj.mtch_weighting(step_size=0.1, gradient="unweighted").weights(
      ...     G, jnp.array([0.5, 0.5]), None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 3) for v in wb]  # tied: the balanced step mixes both
      [0.5, 0.5]
    """
    _check_gradient(gradient)
    if step_size is None:
        return scalarization_weighting(
            mtch_loss, name="mtch", pref=pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient
        )
    eta = check_positive(step_size, "step_size", "mtch")
    fixed = None if pref is None else jnp.asarray(pref)

    def weights(gram: Array, losses: Array, state: Any, p: Array | None):
        p = fixed if p is None else p
        w = mtch_balanced_weights(gram, losses, p, step_size=eta, ideal=ideal, nadir=nadir,
                                  z=z, gradient=gradient)
        return w, state

    return Weighting(init=None, weights=weights, name="mtch", needs_losses=True)


def mtch_balanced_weights(
    gram: Any,
    losses: Any,
    pref: Any = None,
    *,
    step_size: float,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    max_iter: int = 50,
) -> Array:
    r"""Weights ``w`` (update ``Jᵀw``) of the balanced mTCH step (module docstring).

    Solves :math:`\min_{\lambda\in\Delta}\max_i h_i-\eta\,s_i(G\,\mathrm{diag}(c)\lambda)_i`
    with :func:`paretojax.solve_lp` (``s_i = ∂h_i/∂f_i``) and returns ``w = c ⊙ λ``; if the LP
    does not converge, the subgradient weights of :func:`mtch_loss`.

    Args:
      gram: ``G = JJᵀ`` ``[m, m]``.
      losses: ``f`` ``[m]``.
      pref: preference ``[m]`` on the simplex (f ∝ p; ``None``: uniform).
      step_size: the SGD learning rate ``η`` the update will be applied with.
      ideal, nadir, z, gradient: as in :func:`mtch_loss`.
      max_iter: interior-point iteration cap.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.scalarization import mtch_balanced_weights
      >>> G = jnp.array([[1.0, -0.5], [-0.5, 1.0]])
      >>> far = mtch_balanced_weights(G, jnp.array([0.9, 0.2]), jnp.array([0.5, 0.5]),
      ...                             step_size=0.1, gradient="unweighted")
      >>> [round(float(v), 3) for v in far]       # far from the ray: the subgradient step
      [1.0, 0.0]
      >>> tied = mtch_balanced_weights(G, jnp.array([0.5, 0.5]), jnp.array([0.5, 0.5]),
      ...                              step_size=0.1, gradient="unweighted")
      >>> [round(float(v), 3) for v in tied]      # on the ray: both decrease, still tied
      [0.5, 0.5]
    """
    _check_gradient(gradient)
    eta = check_positive(step_size, "step_size", "mtch_balanced_weights")
    g = jnp.asarray(gram)
    f0 = jnp.asarray(losses)
    m = f0.shape[-1] if f0.ndim == 1 else -1
    if f0.ndim != 1 or g.shape != (m, m):
        raise ValueError(
            f"mtch_balanced_weights: need losses [m] and gram [m, m], got {f0.shape} and "
            f"{g.shape}."
        )
    dtype = jnp.result_type(g.dtype, f0.dtype, jnp.float32)
    g, f0 = g.astype(dtype), f0.astype(dtype)

    def pieces(f):
        fz, p = prepare(f, pref, ideal=ideal, nadir=nadir, z=z, fn="mtch_balanced_weights")
        return fz / jnp.maximum(p, PREF_FLOOR)

    h = pieces(f0)
    s = jax.grad(lambda f: jnp.sum(pieces(f)))(f0)  # h is element-wise: ∂h_i/∂f_i
    c = s if gradient == "weighted" else jnp.ones_like(s)
    dec = eta * s[:, None] * (0.5 * (g + g.T)) * c[None, :]  # linear decrease of h per λ
    # min t over (λ, u = t − max h + B ≥ 0): u + (dec λ)_i ≥ h_i − max h + B; B keeps u > 0.
    big = jnp.max(jnp.sum(jnp.abs(dec), axis=1)) + 1.0
    cvec = jnp.concatenate([jnp.zeros((m,), dtype), jnp.ones((1,), dtype)])
    a_eq = jnp.concatenate([jnp.ones((1, m), dtype), jnp.zeros((1, 1), dtype)], axis=1)
    cmat = jnp.concatenate([dec, jnp.ones((m, 1), dtype)], axis=1)
    sol = solve_lp(cvec, a_eq, jnp.ones((1,), dtype), cmat, h - jnp.max(h) + big,
                   max_iter=max_iter)
    lam = jnp.clip(sol.x[:m], 0.0, None)
    total = jnp.sum(lam)
    ok = sol.converged & jnp.all(jnp.isfinite(lam)) & (total > 0)
    sub = jax.grad(lambda f: mtch_loss(f, pref, ideal=ideal, nadir=nadir, z=z,
                                        gradient=gradient))(f0)
    return jnp.where(ok, c * lam / jnp.where(total > 0, total, 1.0), sub)


def mtch(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    step_size: float | None = None,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""mTCH as a transform: ``u = ∇f_{i*} / max(p_{i*}, 1e-8)`` (see :func:`mtch_loss`);
    ``step_size=η`` (plain SGD's learning rate) switches to the balanced step (module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.mtch()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.6, 0.3]),
      ...                  pref=jnp.array([0.5, 0.5]))
      >>> u["w"]
      Array([2., 0.], dtype=float32)
    """
    w = mtch_weighting(pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient,
                       step_size=step_size)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="mtch",
    family="scalarization",
    factory=mtch,
    description="Inverse-weight Tchebycheff max_i (f_i − z_i)/p_i (f ∝ p; p clipped at 1e-8).",
    reference="Ma et al., IEEE TEVC 2018; LibMOON 'mTche'",
    requires=("task_losses", "pref"),
)
