r"""FairGrad: α-fair resource allocation between tasks.

.. math::

    G w = w^{-1/\alpha}\ \ (\text{elementwise}),\ w > 0, \qquad u = J^\top w ,

so that every task's improvement ``g_iᵀu = w_i^{-1/α}`` is positive. α = 1 is Nash-MTL's
bargaining condition (proportional fairness); α → 0 gives uniform weights (special-cased:
``α = 0 ⇒ w = 1/m``, linear scalarization); large α approaches max-min fairness.

Paper: Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024. Reference
matched: LibMTL ``FairGrad.py`` (``scipy.optimize.least_squares`` from ``x₀ = 1/m`` with bounds
``(0, ∞)``; the **unnormalised** root is used as the weights, ``Σw_iL_i`` backpropagated) with
TorchJD's ``α = 0`` case. Do not copy: LibMTL divides by zero at ``α = 0``. Default ``α = 1``.

Solver: K5 (:func:`paretojax.core.root.alpha_fair_root`): damped Newton on the strictly convex
potential on ``G / tr G + δI``, rescaled by ``tr(G)^{-α/(1+α)}``. If the solve fails numerically
the weights fall back to ``1/m`` (FairGrad is stateless); if no root exists (some ``v ≥ 0`` has
``Gv = 0``: weakly Pareto-stationary gradients, where LibMTL's ``least_squares`` returns a
conflicting non-root) the weights are zero, the limit of ``Jᵀw`` and the only non-conflicting
choice.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.root import alpha_fair_root
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._imtl_g import _as_gram

Array = jax.Array

__all__ = ["fairgrad", "fairgrad_weights", "fairgrad_weighting"]


def _check(alpha: Any) -> None:
    if isinstance(alpha, (int, float)) and not (0.0 <= alpha < float("inf")):
        raise ValueError(f"fairgrad: alpha must be a finite float ≥ 0, got {alpha!r}.")


def fairgrad_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    alpha: float = 1.0,
    ridge: float = 1e-8,
    num_iters: int = 30,
) -> tuple[Array, Any]:
    r"""FairGrad weights: the root of ``Gw = w^{-1/α}`` (``1/m`` for ``α = 0``).

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses, pref: ignored.
      state: passed through (stateless).
      alpha: fairness exponent α ≥ 0 (default ``1.0``); a Python float or a traced scalar.
      ridge: relative ridge ``δ`` of the root solve.
      num_iters: damped-Newton iterations.

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> g = jnp.array([[18., -22.], [-22., 38.]])
      >>> [round(x, 4) for x in pj.fairgrad_weights(g, alpha=2.0)[0].tolist()]
      [0.4714, 0.3195]
    """
    del losses, pref
    _check(alpha)
    g = _as_gram(gram, "fairgrad")
    m = g.shape[0]
    uniform = jnp.full((m,), 1.0 / m, g.dtype)
    if isinstance(alpha, (int, float)):
        if alpha == 0.0:
            return uniform, state
        res = alpha_fair_root(g, float(alpha), ridge=ridge, num_iters=num_iters)
        zero = False
    else:  # traced α (e.g. vmapped): α = 0 selected with `where`
        zero = jnp.asarray(alpha) == 0
        res = alpha_fair_root(g, jnp.where(zero, 1.0, alpha), ridge=ridge, num_iters=num_iters)
    w = jnp.where(res.ok, res.weights, uniform)
    w = jnp.where(res.stationary, jnp.zeros_like(w), w)
    return jnp.where(zero, uniform, w), state


def fairgrad_weighting(alpha: float = 1.0, ridge: float = 1e-8, num_iters: int = 30) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`fairgrad`.

    ``weights(G, ...)`` solves ``G w = w^{-1/α}`` (``w > 0``) for the α-fair weights.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.fairgrad_weighting(alpha=1.0)
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.5915, 0.4071]
      >>> bool(jnp.allclose(G @ w, 1 / w, rtol=1e-3))  # the α = 1 fixed point
      True
    """
    _check(alpha)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return fairgrad_weights(gram, losses, state, alpha=alpha, ridge=ridge, num_iters=num_iters)

    return Weighting(init=None, weights=fn, name="fairgrad")


def fairgrad(
    alpha: float = 1.0,
    *,
    ridge: float = 1e-8,
    num_iters: int = 30,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""FairGrad as an optax transform (α-fair update, ``g_iᵀu = w_i^{-1/α}``).

    Args:
      alpha: fairness exponent (default ``1.0`` ≡ Nash-MTL's root without ``max_norm``;
        ``0`` ⇒ mean gradient).
      ridge, num_iters: root-solver settings.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.fairgrad(alpha=1.0)
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 3) for x in u["w"].tolist()]
      [0.077, 0.999, 0.999]
    """
    return as_transform(fairgrad_weighting(alpha, ridge, num_iters), num_tasks)


INFO = MethodInfo(
    name="fairgrad",
    family="weighting",
    factory=fairgrad,
    description="FairGrad: α-fair weights solving Gw = w^(-1/α) (α = 1: Nash, α = 0: mean).",
    reference="Ban & Ji, ICML 2024; LibMTL FairGrad (+ TorchJD's α = 0 case)",
    properties=frozenset({"NC"}),
)
