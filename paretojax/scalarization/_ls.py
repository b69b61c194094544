r"""LS — linear (weighted-sum) scalarization.

.. math:: s(f; p) = \sum_i p_i (\hat f_i - z_i), \qquad \partial s / \partial f_i = p_i
   \ (\text{divided by } \text{nadir}_i - \text{ideal}_i \text{ when normalising}).

Preference semantics: ``p`` are the weights of the sum (a larger ``p_i`` pushes ``f_i`` down).
LS only reaches the convex part of a Pareto front (Agg-LS collapses on Fonseca–Fleming).

Reference: LibMOON ``libmoon/util/scalarization.py`` (``ls``), reference point ``z = 0``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import prepare, scalarization_weighting
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["ls_loss", "ls_weighting", "ls"]


def ls_loss(
    losses: Any,
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Array:
    r"""Linear scalarization ``Σ_i p_i (f̂_i − z_i)``.

    Args:
      losses: the loss vector ``f`` ``[m]``.
      pref: weights on the simplex ``[m]`` (``None``: uniform ``1/m``).
      ideal, nadir: optional normalisation ``f̂ = (f − ideal)/(nadir − ideal)`` (scalars or
        ``[m]``).
      z: reference point subtracted after normalisation (default 0).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(round(float(pj.ls_loss(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]))), 6))
      0.39
    """
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="ls_loss")
    return jnp.sum(p * f)


def ls_weighting(
    pref: Any = None, *, ideal: Any = None, nadir: Any = None, z: Any = None
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(ls_loss)/∂f`` (``p`` / (nadir − ideal)).

    Loss-level (``uses_gram=False``): ``∂s/∂f_i = p_i``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.ls_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.25, 0.75]))
      >>> [round(float(v), 4) for v in w]  # the preference itself
      [0.25, 0.75]
    """
    return scalarization_weighting(ls_loss, name="ls", pref=pref, ideal=ideal, nadir=nadir, z=z)


def ls(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Linear scalarization as a transform: ``u = Σ_i p_i ∇f_i``.

    The preference comes from ``update(..., pref=p)``, else the ``pref`` given here, else
    ``1/m``. Needs ``task_losses`` (for the normalisation-aware gradient).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.ls()
      >>> jac = {"w": jnp.eye(2)}
      >>> u, _ = tx.update(jac, tx.init(None), task_losses=jnp.array([0.6, 0.3]),
      ...                  pref=jnp.array([0.3, 0.7]))
      >>> u["w"]
      Array([0.3, 0.7], dtype=float32)
    """
    return as_transform(ls_weighting(pref, ideal=ideal, nadir=nadir, z=z), num_tasks)


INFO = MethodInfo(
    name="ls",
    family="scalarization",
    factory=ls,
    description="Linear scalarization Σ p_i (f_i − z_i) (weighted sum; convex fronts only).",
    reference="Classical weighted sum; LibMOON util/scalarization.py 'LS'",
    requires=("task_losses", "pref"),
    properties=frozenset({"PI", "LUS"}),
)
