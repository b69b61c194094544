r"""IMTL-L — impartial multi-task learning, loss-balance part.

.. math::

    S(L, s) = \sum_i e^{s_i} L_i - s_i, \qquad
    w_i = \frac{\partial S}{\partial L_i} = e^{s_i}, \qquad
    \frac{\partial S}{\partial s_i} = e^{s_i} L_i - 1 ,

with learnable log-scales ``s`` (``s₀ = 0``). For fixed losses the optimum is
``s_i = −log L_i``: every scaled loss ``e^{s_i} L_i`` equals 1 (the losses are balanced).
Same two usages as UW: ``pj.imtl_l_loss(losses, s)`` with ``s = pj.imtl_l_params(m)`` in the
model parameters (s gets the model's optimizer), or the transform ``pj.imtl_l(num_tasks)`` that
keeps ``s`` in its state and steps it with its own optax optimizer (default
``optax.adam(1e-3)``).

Paper: Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, "Towards Impartial Multi-task Learning",
ICLR 2021. Reference: TorchJD ``_imtl_l.py`` (``s₀ = 0``). LibMTL ``IMTL.py`` ships only the
L+G hybrid: compose it as IMTL-L losses feeding IMTL-G (the scaled losses ``e^{s}L`` as the task
losses of a Gram-level method).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.balancing._uw import (
    LearnedScaleState,
    _check_init,
    _check_losses,
    _check_m,
    learned_scale_weighting,
    learned_scale_weights,
)
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["imtl_l_loss", "imtl_l_params", "imtl_l_weights", "imtl_l_weighting", "imtl_l"]


def imtl_l_params(num_tasks: int, init: float = 0.0) -> Array:
    """The initial log-scales ``s`` ``[m]`` to add to the model parameters.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> s = pj.imtl_l_params(3)
      >>> (s.shape, float(jnp.exp(s).sum()))  # w = e^s = 1 at init
      ((3,), 3.0)
    """
    return _check_init(init, _check_m(num_tasks, "imtl_l"), "imtl_l")


def imtl_l_loss(losses: Any, s: Any) -> Array:
    r"""IMTL-L loss ``Σ_i e^{s_i} L_i − s_i`` (differentiable in both).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(float(pj.imtl_l_loss(jnp.array([1.0, 3.0]), pj.imtl_l_params(2))))
      4.0
    """
    f, s = _check_losses(losses, s, "imtl_l_loss")
    return jnp.sum(jnp.exp(s) * f - s)


def imtl_l_weights(
    gram: Array | None,
    losses: Array,
    state: LearnedScaleState,
    *,
    pref: Array | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[Array, LearnedScaleState]:
    """IMTL-L weights ``e^{s}`` and the state after one step of ``s``.

    ``w_i = e^{s_i}`` (module docstring); the state holds ``s`` and its optimizer state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> wt = pj.imtl_l_weighting(num_tasks=2)
      >>> w, state = pj.imtl_l_weights(None, jnp.array([1., 2.]), wt.init())
      >>> [round(float(v), 4) for v in w]  # e⁰
      [1.0, 1.0]
    """
    del gram, pref
    opt = optax.adam(1e-3) if optimizer is None else optimizer
    return learned_scale_weights(imtl_l_loss, losses, state, opt)


def imtl_l_weighting(
    num_tasks: int, init: float = 0.0, optimizer: optax.GradientTransformation | None = None
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`imtl_l`.

    Loss-level (``uses_gram=False``): ``w = e^{s}``, then one optimizer step on ``s``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.imtl_l_weighting(num_tasks=2)
      >>> w, state = wt.weights(NOG, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [1.0, 1.0]
    """
    return learned_scale_weighting(
        imtl_l_loss, name="imtl_l", num_tasks=num_tasks, init=init, optimizer=optimizer
    )


def imtl_l(
    num_tasks: int,
    init: float = 0.0,
    optimizer: optax.GradientTransformation | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""IMTL-L as a transform: ``u = Σ_i e^{s_i} ∇L_i``, ``s`` learned in the state.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> tx = pj.imtl_l(num_tasks=2, optimizer=optax.sgd(0.1))
      >>> u, st = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 3.0]))
      >>> u["w"], st.inner.s  # s ← s − 0.1·(L − 1)
      (Array([1., 1.], dtype=float32), Array([ 0. , -0.2], dtype=float32))
    """
    return as_transform(imtl_l_weighting(num_tasks, init, optimizer), num_tasks)


INFO = MethodInfo(
    name="imtl_l",
    family="balancing",
    factory=imtl_l,
    description="IMTL-L: Σ e^{s}L − s with learnable log-scales s (balances the scaled losses).",
    reference="Liu et al., ICLR 2021; TorchJD _imtl_l.py (s₀ = 0)",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
)
