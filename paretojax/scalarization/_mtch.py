r"""mTCH — modified (inverse-weight) Tchebycheff scalarization.

.. math:: s(f; p) = \max_i \frac{\hat f_i - z_i}{\max(p_i, 10^{-8})}.

Preference semantics **f ∝ p** (the convention of EPO, PMGDA and the cosine-alignment methods):
at an optimum ``(f_i − z_i)/p_i`` is constant, so the solution lies on the ray through ``p``.
Zero preference entries are clipped to ``1e-8`` (LibMOON divides by ``p`` and produces inf);
the objective with ``p_i = 0`` is then driven to ``z_i`` first.

Paper: Ma, Zhang, Tian, Jin, "On Tchebycheff decomposition approaches for multiobjective
evolutionary optimization", IEEE TEVC 2018. Reference: LibMOON ``'mTche'``
(``util/scalarization.py`` ``mtche = tche(f, 1/w)``). Ties: first maximiser.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import scalarization_weighting
from paretojax.scalarization._tch import _check_gradient, tch_loss
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["mtch_loss", "mtch_weighting", "mtch"]


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
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(mtch_loss)/∂f``."""
    _check_gradient(gradient)
    return scalarization_weighting(
        mtch_loss, name="mtch", pref=pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient
    )


def mtch(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    gradient: str = "weighted",
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""mTCH as a transform: ``u = ∇f_{i*} / max(p_{i*}, 1e-8)`` (see :func:`mtch_loss`).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.mtch()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.6, 0.3]),
      ...                  pref=jnp.array([0.5, 0.5]))
      >>> u["w"]
      Array([2., 0.], dtype=float32)
    """
    w = mtch_weighting(pref, ideal=ideal, nadir=nadir, z=z, gradient=gradient)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="mtch",
    family="scalarization",
    factory=mtch,
    description="Inverse-weight Tchebycheff max_i (f_i − z_i)/p_i (f ∝ p; p clipped at 1e-8).",
    reference="Ma et al., IEEE TEVC 2018; LibMOON 'mTche'",
    requires=("task_losses", "pref"),
)
