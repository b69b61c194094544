r"""TCH — (weighted) Tchebycheff scalarization.

.. math::

    s(f; p) = \max_i\, p_i (\hat f_i - z_i), \qquad
    \partial s / \partial f = p_{i^\star} e_{i^\star}, \quad
    i^\star = \arg\max_i p_i(\hat f_i - z_i).

Preference semantics **f ∝ 1/p**: at a TCH optimum ``p_i (f_i − z_i)`` is the same for every
active objective, so a larger ``p_i`` gives a *smaller* ``f_i``. (``inverse=True``, or
:func:`paretojax.mtch_loss`, divides by ``p`` instead: ``f ∝ p``.) Ties are broken towards the
first maximiser (``jnp.argmax``), so the subgradient is one task's gradient.

Flag ``gradient="unweighted"`` reproduces LibMOON ``'Tche'`` (``util/scalarization.py``
``tche``): the value is ``f̂_{i*}`` (the selected objective itself, ``z`` only selects) and the
gradient is ``∇f_{i*}`` without the factor ``p_{i*}`` — needed to reproduce LibMOON's
finite-set table with plain SGD. Default ``"weighted"`` is the textbook value/gradient
(Bowman 1976; MOEA/D, Zhang & Li, IEEE TEVC 2007).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import PREF_FLOOR, prepare, scalarization_weighting
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["tch_loss", "tch_weighting", "tch"]

GRADIENTS = ("weighted", "unweighted")


def _check_gradient(gradient: str) -> None:
    if gradient not in GRADIENTS:
        raise ValueError(f"tch: gradient must be one of {GRADIENTS}, got {gradient!r}.")


def tch_loss(
    losses: Any,
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    inverse: bool = False,
) -> Array:
    r"""Tchebycheff scalarization ``max_i p_i (f̂_i − z_i)`` (f ∝ 1/p).

    Args:
      losses: the loss vector ``f`` ``[m]``.
      pref: preference on the simplex ``[m]`` (``None``: uniform).
      ideal, nadir: optional normalisation ``f̂ = (f − ideal)/(nadir − ideal)``.
      z: reference (utopia) point, default 0.
      gradient: ``"weighted"`` (default; value ``p_{i*}(f̂−z)_{i*}``, gradient
        ``p_{i*}∇f_{i*}``) or ``"unweighted"`` (LibMOON ``'Tche'``: value ``f̂_{i*}``, gradient
        ``∇f_{i*}``).
      inverse: use ``1/max(p, 1e-8)`` instead of ``p`` (the mTCH semantics ``f ∝ p``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f, p = jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7])
      >>> print(round(float(pj.tch_loss(f, p)), 6))
      0.21
    """
    _check_gradient(gradient)
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="tch_loss")
    if inverse:
        p = 1.0 / jnp.maximum(p, PREF_FLOOR)
    u = p * f
    i = jnp.argmax(u)  # first maximiser: the subgradient of one task
    if gradient == "weighted":
        return u[i]
    # LibMOON 'Tche': the selected objective itself (z and p only choose i*).
    fhat, _ = prepare(losses, pref, ideal=ideal, nadir=nadir, z=None, fn="tch_loss")
    return fhat[i]


def tch_weighting(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    inverse: bool = False,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(tch_loss)/∂f`` (one non-zero entry).

    Loss-level (``uses_gram=False``): ``p_{i*} e_{i*}`` with ``i* = argmax_i p_i(f̂_i − z_i)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.tch_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # only the worst weighted task, i* = 2
      [0.0, 0.5]
    """
    _check_gradient(gradient)
    return scalarization_weighting(
        tch_loss, name="tch", pref=pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient,
        inverse=inverse,
    )


def tch(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    inverse: bool = False,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Tchebycheff scalarization as a transform: ``u = p_{i*} ∇f_{i*}`` (see :func:`tch_loss`).

    Needs ``task_losses``; the preference comes from ``update(..., pref=p)``, else the ``pref``
    given here, else ``1/m``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.tch()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.6, 0.3]),
      ...                  pref=jnp.array([0.3, 0.7]))
      >>> u["w"]
      Array([0. , 0.7], dtype=float32)
    """
    w = tch_weighting(pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient, inverse=inverse)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="tch",
    family="scalarization",
    factory=tch,
    description="Tchebycheff max_i p_i (f_i − z_i) (f ∝ 1/p; subgradient of the worst task).",
    reference="Bowman 1976; MOEA/D (Zhang & Li 2007); LibMOON 'Tche' (gradient='unweighted')",
    requires=("task_losses", "pref"),
)
