r"""PBI — penalty-based boundary intersection.

.. math::

    \hat p = p / \|p\|, \quad f' = \hat f - z, \quad d_1 = \langle f', \hat p\rangle, \quad
    d_2 = \sqrt{\|f' - d_1 \hat p\|^2 + 10^{-12}}, \qquad s = d_1 + \theta d_2 .

``d₁`` is the progress along the ray through ``p``, ``d₂`` the distance to it: preference
semantics **f ∝ p** (the solution is pulled onto the ray). PBI minimisers need not be Pareto
optimal (large θ trades dominance for ray-following).

Defaults: ``θ = 5`` (MOEA/D, Zhang & Li, IEEE TEVC 2007, and the PBI metric); LibMOON ``'PBI'``
(``util/scalarization.py`` ``pbi``, ``coeff=1``) uses ``θ = 1``. The ``1e-12`` under the square
root follows TorchJD and keeps ∇d₂ finite on the ray (``d₂ = 0``); there the direction of ∇d₂
is set by rounding noise (in float32 ``‖r‖ ~ 1e-7‖f‖`` is comparable to ``√1e-12``), bounded by
``θ`` in norm — PBI is not differentiable on its own ray.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import (
    check_positive,
    prepare,
    safe_norm,
    scalarization_weighting,
)
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["pbi_loss", "pbi_distances", "pbi_weighting", "pbi"]

_SQRT_EPS = 1e-12


def pbi_distances(
    losses: Any,
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> tuple[Array, Array]:
    r"""``(d₁, d₂)``: the projection of ``f̂ − z`` on the unit ray ``p/‖p‖`` and the distance to it.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> d1, d2 = pj.pbi_distances(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]))
      >>> print(round(float(d1), 5), round(float(d2), 5))
      0.5121 0.43331
    """
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="pbi_loss")
    unit = p / jnp.maximum(safe_norm(p), 1e-12)
    d1 = jnp.sum(f * unit)
    r = f - d1 * unit
    d2 = jnp.sqrt(jnp.sum(r * r) + _SQRT_EPS)
    return d1, d2


def pbi_loss(
    losses: Any,
    pref: Any = None,
    *,
    theta: float = 5.0,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Array:
    r"""PBI ``d₁ + θ d₂`` (f ∝ p; θ = 5 MOEA/D default, θ = 1 LibMOON).

    Args:
      losses: the loss vector ``f`` ``[m]``.
      pref: the ray ``p`` ``[m]`` on the simplex (``None``: the diagonal).
      theta: penalty on the distance to the ray, ``θ ≥ 0``.
      ideal, nadir, z: normalisation and reference point (z = 0 default).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f, p = jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7])
      >>> print(round(float(pj.pbi_loss(f, p)), 5), round(float(pj.pbi_loss(f, p, theta=1.0)), 5))
      2.67865 0.94541
    """
    theta = check_positive(theta, "theta", "pbi_loss", allow_zero=True)
    d1, d2 = pbi_distances(losses, pref, ideal=ideal, nadir=nadir, z=z)
    return d1 + theta * d2


def pbi_weighting(
    theta: float = 5.0,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(pbi_loss)/∂f``.

    Loss-level (``uses_gram=False``): the gradient ``p̂ + θ ∂d₂/∂f`` of :func:`pbi_loss`.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.pbi_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # θ = 5 pulls f back to the ray
      [-2.8284, 4.2426]
      >>> bool(jnp.allclose(w, jax.grad(lambda f: pj.pbi_loss(f, jnp.array([0.5, 0.5])))(L)))
      True
    """
    theta = check_positive(theta, "theta", "pbi", allow_zero=True)
    return scalarization_weighting(
        pbi_loss, name="pbi", pref=pref, theta=theta, ideal=ideal, nadir=nadir, z=z
    )


def pbi(
    theta: float = 5.0,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""PBI as a transform: ``u = Σ_i (∂(d₁ + θd₂)/∂f_i) ∇f_i`` (weights may be negative).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.pbi(theta=1.0)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 1.0]))
      >>> print(jnp.round(u["w"], 4))  # on the ray: w = p/‖p‖
      [0.7071 0.7071]
    """
    return as_transform(pbi_weighting(theta, pref=pref, ideal=ideal, nadir=nadir, z=z), num_tasks)


INFO = MethodInfo(
    name="pbi",
    family="scalarization",
    factory=pbi,
    description="Penalty boundary intersection d₁ + θ d₂ along the ray p (f ∝ p; θ = 5).",
    reference="MOEA/D (Zhang & Li 2007, θ = 5); LibMOON 'PBI' (θ = 1); TorchJD √(·+ε)",
    requires=("task_losses", "pref"),
)
