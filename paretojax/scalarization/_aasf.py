r"""AASF — augmented achievement scalarizing function (smooth form).

.. math::

    s(f; p) = \underbrace{\mu \log \sum_i
        \exp\!\Big(\frac{f'_i}{\mu \max(p_i, 10^{-8})}\Big)}_{\text{mSTCH}}
        + \rho \sum_i p_i f'_i, \qquad f' = \hat f - z .

The augmentation ``ρ·LS`` removes the weakly Pareto-optimal (flat) parts of the Tchebycheff
level sets. Preference semantics **f ∝ p** (the max term divides by ``p``).

Defaults ``μ = 0.1`` (LibMOON's smooth mTche), ``ρ = 0.1``; this follows the paretojax catalogue
(METHODS.md §3, "AASF = mSTCH + ρ·LS"). The textbook augmented ASF (Wierzbicki 1980) uses the
hard max and ``ρ Σ_i f'_i/p_i`` — ``mu → 0`` recovers the hard max.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import (
    PREF_FLOOR,
    check_positive,
    prepare,
    scalarization_weighting,
)
from paretojax.scalarization._stch import smooth_max
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["aasf_loss", "aasf_weighting", "aasf"]


def aasf_loss(
    losses: Any,
    pref: Any = None,
    *,
    mu: float = 0.1,
    rho: float = 0.1,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Array:
    r"""Smooth augmented ASF ``mSTCH_μ(f'; p) + ρ Σ_i p_i f'_i`` (f ∝ p).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> s = pj.aasf_loss(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]), mu=0.01)
      >>> print(round(float(s), 4))
      2.039
    """
    mu = check_positive(mu, "mu", "aasf_loss")
    rho = check_positive(rho, "rho", "aasf_loss", allow_zero=True)
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="aasf_loss")
    return smooth_max(f / jnp.maximum(p, PREF_FLOOR), mu) + rho * jnp.sum(p * f)


def aasf_weighting(
    mu: float = 0.1,
    rho: float = 0.1,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(aasf_loss)/∂f``.

    Loss-level (``uses_gram=False``): ``weights(_, losses, state, pref)`` is the gradient
    of :func:`aasf_loss` w.r.t. the losses, applied to the task gradients.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.aasf_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # ∂s/∂f
      [0.05, 2.05]
      >>> bool(jnp.allclose(w, jax.grad(lambda f: pj.aasf_loss(f, jnp.array([0.5, 0.5])))(L)))
      True
    """
    mu = check_positive(mu, "mu", "aasf")
    rho = check_positive(rho, "rho", "aasf", allow_zero=True)
    return scalarization_weighting(
        aasf_loss, name="aasf", pref=pref, mu=mu, rho=rho, ideal=ideal, nadir=nadir, z=z
    )


def aasf(
    mu: float = 0.1,
    rho: float = 0.1,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Smooth augmented ASF as a transform (see :func:`aasf_loss`).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.aasf(rho=0.0)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 1.0]))
      >>> u["w"]
      Array([1., 1.], dtype=float32)
    """
    w = aasf_weighting(mu, rho, pref=pref, ideal=ideal, nadir=nadir, z=z)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="aasf",
    family="scalarization",
    factory=aasf,
    description="Smooth augmented achievement function mSTCH + ρ·LS (f ∝ p; μ 0.1, ρ 0.1).",
    reference="Wierzbicki 1980 (ASF); LibMOON-style smooth form, METHODS.md §3",
    requires=("task_losses", "pref"),
)
