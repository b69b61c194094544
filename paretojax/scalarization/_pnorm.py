r"""PNorm — weighted Euclidean distance to the reference point.

.. math:: s(f; p) = \| p \odot (\hat f - z) \|_2 , \qquad
   \partial s/\partial f_i = p_i^2 (\hat f_i - z_i) / s .

Preference semantics **f ∝ 1/p** (like TCH, whose ∞-norm it replaces by the 2-norm). Only
meaningful with a reference point below the front (``z`` ≤ every reachable ``f``; default 0
for non-negative losses). The norm is floored at ``1e-12`` so value and gradient are finite at
``f̂ = z``. Reference: LibMOON's list of scalarizations (``'PNorm'``).
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import prepare, safe_norm, scalarization_weighting
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["pnorm_loss", "pnorm_weighting", "pnorm"]


def pnorm_loss(
    losses: Any,
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Array:
    r"""Weighted 2-norm ``‖p ⊙ (f̂ − z)‖₂`` (f ∝ 1/p).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(round(float(pj.pnorm_loss(jnp.array([3.0, 4.0]), jnp.array([0.5, 0.5]))), 6))
      2.5
    """
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="pnorm_loss")
    return safe_norm(p * f, 1e-12)


def pnorm_weighting(
    pref: Any = None, *, ideal: Any = None, nadir: Any = None, z: Any = None
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(pnorm_loss)/∂f``.

    Loss-level (``uses_gram=False``): ``w_i = p_i² (f̂_i − z_i) / s``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.pnorm_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # p²·f/‖p⊙f‖ = 0.25·[1, 2]/√1.25
      [0.2236, 0.4472]
    """
    return scalarization_weighting(
        pnorm_loss, name="pnorm", pref=pref, ideal=ideal, nadir=nadir, z=z
    )


def pnorm(
    pref: Any = None,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Weighted 2-norm scalarization as a transform (see :func:`pnorm_loss`).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.pnorm()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([3.0, 4.0]))
      >>> u["w"]
      Array([0.3, 0.4], dtype=float32)
    """
    return as_transform(pnorm_weighting(pref, ideal=ideal, nadir=nadir, z=z), num_tasks)


INFO = MethodInfo(
    name="pnorm",
    family="scalarization",
    factory=pnorm,
    description="Weighted Euclidean distance ‖p ⊙ (f − z)‖₂ to the reference point (f ∝ 1/p).",
    reference="LibMOON scalarization list ('PNorm')",
    requires=("task_losses", "pref"),
)
