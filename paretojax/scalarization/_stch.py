r"""STCH — smooth Tchebycheff scalarization.

.. math::

    s_\mu(f; p) = \mu \log \sum_i \exp\!\Big(\frac{p_i(\hat f_i - z_i)}{\mu}\Big)
                = u_{\max} + \mu \log \sum_i \exp\!\Big(\frac{u_i - u_{\max}}{\mu}\Big),
    \qquad u_i = p_i(\hat f_i - z_i),

    \partial s_\mu / \partial f = p \odot \operatorname{softmax}(u / \mu).

Computed max-shifted **with the shift added back**, so the value is the true smooth maximum
(LibMTL's MTL variant drops the shift: same gradient, different value — see
:func:`paretojax.stch_mtl_loss`). ``TCH ≤ s_μ ≤ TCH + μ log m`` and ``s_μ → TCH`` as ``μ → 0``;
every minimiser is weakly Pareto optimal and, for small μ, all Pareto solutions are reachable.

Preference semantics **f ∝ 1/p** (as TCH); ``inverse=True`` uses ``1/max(p, 1e-8)`` (LibMOON
``'SmTche'``, f ∝ p).

Smoothing ``μ``: default **0.01**, the value of the official Pareto-set-learning code
(Xi-L/STCH ``STCH_PSL/run_stch_psl.py``); LibMOON ``'STche'`` (``soft_tche``) uses **0.1**;
TorchJD requires it; LibMTL's MTL variant uses 1.

Paper: Lin, Zhang, Yang, Liu, Wang, Zhang, "Smooth Tchebycheff Scalarization for
Multi-Objective Optimization", ICML 2024.
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
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["stch_loss", "stch_weighting", "stch", "smooth_max"]


def smooth_max(u: Array, mu: float) -> Array:
    r"""``μ · logsumexp(u/μ)`` of a 1-D vector, max-shifted with the shift added back.

    Written as ``u* + μ log(1 + Σ_{j≠i*} exp(min(u_j − u*, 0)/μ))`` with ``i* = argmax u``: the
    log argument is ≥ 1 by construction, so the value stays finite even when the compiler
    evaluates ``u_j − u*`` with a different rounding than ``max(u)`` (XLA contracts the
    subtraction into an FMA; with ``|u| ~ 1e16`` and ``μ = 0.1`` the naive shifted form gives
    ``−inf``). The gradient is exactly ``softmax(u/μ)``.
    """
    i = jnp.argmax(u)
    top = u[i]
    diff = u - top
    d = jnp.where(diff > 0, 0.0, diff) / mu  # (not jnp.minimum: it halves the gradient at ties)
    others = jnp.where(jnp.arange(u.shape[0]) == i, 0.0, jnp.exp(d))
    return top + mu * jnp.log1p(jnp.sum(others))


def stch_loss(
    losses: Any,
    pref: Any = None,
    *,
    mu: float = 0.01,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    inverse: bool = False,
) -> Array:
    r"""Smooth Tchebycheff ``μ log Σ_i exp(p_i(f̂_i − z_i)/μ)`` (f ∝ 1/p).

    Args:
      losses: the loss vector ``f`` ``[m]``.
      pref: preference on the simplex ``[m]`` (``None``: uniform ``1/m``, as TorchJD).
      mu: smoothing ``μ > 0`` (default 0.01 = official PSL code; 0.1 = LibMOON ``'STche'``).
      ideal, nadir: optional normalisation ``f̂ = (f − ideal)/(nadir − ideal)`` (the PSL
        protocol normalises with the problem's ideal and nadir points).
      z: reference point, default 0.
      inverse: use ``1/max(p, 1e-8)`` (LibMOON ``'SmTche'``, f ∝ p).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f, p = jnp.array([0.6, 0.3]), jnp.array([0.3, 0.7])
      >>> print(round(float(pj.stch_loss(f, p, mu=0.1)), 5))
      0.26544
    """
    mu = check_positive(mu, "mu", "stch_loss")
    f, p = prepare(losses, pref, ideal=ideal, nadir=nadir, z=z, fn="stch_loss")
    if inverse:
        p = 1.0 / jnp.maximum(p, PREF_FLOOR)
    return smooth_max(p * f, mu)


def stch_weighting(
    mu: float = 0.01,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    inverse: bool = False,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = p ⊙ softmax(p⊙(f̂−z)/μ)`` (∂ of
    :func:`stch_loss`).

    Loss-level (``uses_gram=False``); as ``μ → 0`` the weights tend to the TCH subgradient.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> wt = pj.stch_weighting(mu=1.0)
      >>> w, _ = wt.weights(NOG, L, None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # p ⊙ softmax(p⊙f/μ)
      [0.1888, 0.3112]
      >>> bool(jnp.allclose(w, jnp.array([0.5, 0.5]) * jax.nn.softmax(jnp.array([0.5, 1.]))))
      True
    """
    mu = check_positive(mu, "mu", "stch")
    return scalarization_weighting(
        stch_loss, name="stch", pref=pref, mu=mu, ideal=ideal, nadir=nadir, z=z, inverse=inverse
    )


def stch(
    mu: float = 0.01,
    *,
    pref: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    inverse: bool = False,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Smooth Tchebycheff as a transform: ``u = Σ_i p_i softmax_i(p⊙(f̂−z)/μ) ∇f_i``.

    Needs ``task_losses``; preference from ``update(..., pref=p)``, else ``pref``, else ``1/m``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.stch(mu=1.0)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 1.0]))
      >>> u["w"]
      Array([0.25, 0.25], dtype=float32)
    """
    w = stch_weighting(mu, pref=pref, ideal=ideal, nadir=nadir, z=z, inverse=inverse)
    return as_transform(w, num_tasks)


INFO = MethodInfo(
    name="stch",
    family="scalarization",
    factory=stch,
    description="Smooth Tchebycheff μ·logsumexp(p⊙(f − z)/μ) (f ∝ 1/p; μ = 0.01 PSL, 0.1 LibMOON).",
    reference="Lin et al., ICML 2024; Xi-L/STCH STCH_PSL (μ = 0.01); LibMOON 'STche' (μ = 0.1)",
    requires=("task_losses", "pref"),
    example_kwargs={"mu": 0.1},
)
