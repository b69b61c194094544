r"""COSMOS scalarization: linear scalarization plus a cosine reward for following the ray.

.. math::

    s(f; p) = \sum_i p_i f'_i - \lambda \cos(f', p), \qquad
    \cos(f', p) = \frac{\langle f', p\rangle}{\max(\|f'\|, \epsilon)\,\max(\|p\|, \epsilon)},
    \quad f' = \hat f - z,\ \epsilon = 10^{-8}.

The minus sign *rewards* alignment of the loss vector with the preference ray: preference
semantics **f ∝ p**. COSMOS conditions one network on ``p`` and trains it with this loss for
Dirichlet-sampled ``p`` (Pareto-set learning; see the COSMOS input conditioning in §7).

Paper: Ruchte & Grabocka, "Scalable Pareto Front Approximation for Deep Multi-Objective
Learning", ICDM 2021. Reference: official ``ruchtem/cosmos``
``multi_objective/methods/cosmos/cosmos.py`` (``Σ α_i L_i − λ·cosine_similarity(L, α)`` with
``α`` on the simplex, torch's ``eps = 1e-8``); per-dataset λ in ``settings.py``: 2 (MultiMNIST,
Multi-Fashion), 8 (Fashion+MNIST), 3 (CelebA), 0.01 (Adult, Compas, Credit). Default
``lam = 8`` = LibMOON ``'COSMOS'`` (``get_agg_func``). Flag ``linear="unit"``: LibMOON's
``util/scalarization.py`` ``cosmos`` uses ``p/‖p‖₂`` in the linear term instead of ``p``.
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

__all__ = ["cosmos_loss", "cosmos_cosine", "cosmos_weighting", "cosmos"]

_COS_EPS = 1e-8
LINEAR = ("simplex", "unit")


def _check_linear(linear: str) -> None:
    if linear not in LINEAR:
        raise ValueError(f"cosmos: linear must be one of {LINEAR}, got {linear!r}.")


def cosmos_cosine(
    losses: Any, pref: Any = None, *, ideal: Any = None, nadir: Any = None, z: Any = None
) -> Array:
    r"""``cos(f̂ − z, p)`` with torch's ``eps = 1e-8`` floors on both norms (finite at ``f' = 0``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> c = pj.cosmos_cosine(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]))
      >>> print(round(float(c), 5))
      0.76339
    """
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="cosmos_loss")
    return jnp.sum(f * p) / (safe_norm(f, _COS_EPS) * safe_norm(p, _COS_EPS))


def cosmos_loss(
    losses: Any,
    pref: Any = None,
    *,
    lam: float = 8.0,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    linear: str = "simplex",
) -> Array:
    r"""COSMOS ``Σ_i p_i f'_i − λ cos(f', p)`` (f ∝ p).

    Args:
      losses: the loss vector ``f`` ``[m]``.
      pref: preference on the simplex ``[m]`` (``None``: uniform).
      lam: weight ``λ ≥ 0`` of the cosine term (default 8, LibMOON; official per-dataset values
        2 / 8 / 3 / 0.01, see the module docstring).
      ideal, nadir, z: normalisation and reference point (z = 0 default).
      linear: ``"simplex"`` (official: ``Σ p_i f'_i``) or ``"unit"`` (LibMOON: ``p/‖p‖₂``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> s = pj.cosmos_loss(jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7]), lam=8.0)
      >>> print(round(float(s), 5))
      -5.71709
    """
    lam = check_positive(lam, "lam", "cosmos_loss", allow_zero=True)
    _check_linear(linear)
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="cosmos_loss")
    q = p if linear == "simplex" else p / jnp.maximum(safe_norm(p), 1e-12)
    cos = jnp.sum(f * p) / (safe_norm(f, _COS_EPS) * safe_norm(p, _COS_EPS))
    return jnp.sum(q * f) - lam * cos


def cosmos_weighting(
    lam: float = 8.0,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    linear: str = "simplex",
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂(cosmos_loss)/∂f`` (weights may be negative).

    Loss-level (``uses_gram=False``): the gradient ``p − λ ∂cos(f, p)/∂f`` of :func:`cosmos_loss`.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.cosmos_weighting()
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # the cosine term pulls f₂ down, f₁ up
      [-0.5119, 1.006]
      >>> bool(jnp.allclose(w, jax.grad(lambda f: pj.cosmos_loss(f, jnp.array([0.5, 0.5])))(L)))
      True
    """
    lam = check_positive(lam, "lam", "cosmos", allow_zero=True)
    _check_linear(linear)
    return scalarization_weighting(
        cosmos_loss, name="cosmos", pref=pref, lam=lam, ideal=ideal, nadir=nadir, z=z,
        linear=linear,
    )


def cosmos(
    lam: float = 8.0,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    linear: str = "simplex",
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""COSMOS as a transform: ``u = Σ_i ∂s/∂f_i ∇f_i`` with ``s`` of :func:`cosmos_loss`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.cosmos(lam=2.0)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 1.0]))
      >>> print(jnp.round(u["w"], 4))  # on the ray the cosine term is stationary: w = p
      [0.5 0.5]
    """
    w = cosmos_weighting(lam, pref=pref, ideal=ideal, nadir=nadir, z=z, linear=linear)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="cosmos",
    family="scalarization",
    factory=cosmos,
    description="COSMOS Σ p_i f_i − λ cos(f, p): linear term plus a cosine reward (f ∝ p).",
    reference="Ruchte & Grabocka, ICDM 2021 (official ruchtem/cosmos); LibMOON 'COSMOS' (λ = 8)",
    requires=("task_losses", "pref"),
    example_kwargs={"lam": 2.0},
)
