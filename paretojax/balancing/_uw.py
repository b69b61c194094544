r"""UW — uncertainty weighting with learnable log-variances.

.. math::

    S(L, s) = \sum_i \tfrac12 e^{-s_i} L_i + \tfrac12 s_i, \qquad
    w_i = \frac{\partial S}{\partial L_i} = \tfrac12 e^{-s_i}, \qquad
    \frac{\partial S}{\partial s_i} = \tfrac12 - \tfrac12 e^{-s_i} L_i ,

with ``s = log σ²`` trained jointly with the model (for fixed losses the optimum is
``s_i = log L_i``, i.e. weights ``1/(2 L_i)``). Two equivalent ways to use it:

1. **as a loss** — put ``s = pj.uw_params(m)`` into the model's parameters and minimise
   ``pj.uw_loss(losses, s)`` with one backward pass. ``s`` then gets the model's optimizer,
   including its weight decay (LibMTL ``UW.py`` does this; weight decay on ``s`` pulls the
   variances to 1 and changes the method — exclude ``s`` from it to follow the paper);
2. **as a transform** — ``pj.uw(num_tasks)`` keeps ``s`` in the transform state and updates it
   with its own optax ``optimizer`` (default ``optax.adam(1e-3)``) from ``∂S/∂s`` at the
   current losses; the model update is ``Σ_i ½e^{−s_i} ∇L_i`` with the ``s`` *before* the step,
   exactly as a joint gradient step on ``(θ, s)`` would do.

Defaults: ``s₀ = 0`` (TorchJD ``_uw.py``); ``init=-0.5`` = LibMTL (same formula
``L/(2e^s) + s/2``).

Paper: Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
Geometry and Semantics", CVPR 2018.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.simplex import is_tracer
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = [
    "LearnedScaleState",
    "uw_loss",
    "uw_params",
    "uw_weights",
    "uw_weighting",
    "uw",
]


class LearnedScaleState(NamedTuple):
    """State of the loss-balancing transforms with learnable per-task scales (UW, IMTL-L).

    Attributes:
      s: the learnable vector ``[m]`` (log-variances for UW, log-scales for IMTL-L).
      opt_state: the state of ``s``'s own optax optimizer.
    """

    s: Array
    opt_state: Any


def _check_m(num_tasks: Any, name: str) -> int:
    if num_tasks is None or int(num_tasks) != num_tasks or int(num_tasks) < 1:
        raise ValueError(f"{name} needs an integer num_tasks ≥ 1, got {num_tasks!r}.")
    return int(num_tasks)


def _check_init(init: Any, m: int, name: str) -> Array:
    if is_tracer(init):  # e.g. the factory called inside jit/vmap over hyperparameters
        a = jnp.asarray(init, jnp.float32)
        a = jnp.broadcast_to(a, (m,)) if a.ndim == 0 else a
        if a.shape != (m,):
            raise ValueError(f"{name}: init must be a scalar or a vector ({m},), got {a.shape}.")
        return a
    a = np.asarray(init, np.float32)
    if a.ndim == 0:
        a = np.full((m,), a, np.float32)
    if a.shape != (m,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: init must be a finite scalar or a vector ({m},), got {init!r}.")
    return jnp.asarray(a)


def _check_losses(losses: Any, s: Any, name: str) -> tuple[Array, Array]:
    f = jnp.asarray(losses)
    s = jnp.asarray(s)
    if f.ndim != 1 or f.shape != s.shape:
        raise ValueError(
            f"{name}: losses and s must be vectors of the same shape [m], got {f.shape} and "
            f"{s.shape}."
        )
    return f, s


def uw_params(num_tasks: int, init: float = 0.0) -> Array:
    """The initial log-variances ``s`` ``[m]`` to add to the model parameters (``s₀ = init``).

    Example:
      >>> import paretojax as pj
      >>> pj.uw_params(2)
      Array([0., 0.], dtype=float32)
    """
    m = _check_m(num_tasks, "uw")
    return _check_init(init, m, "uw")


def uw_loss(losses: Any, s: Any) -> Array:
    r"""Uncertainty-weighted loss ``Σ_i ½ e^{−s_i} L_i + ½ s_i`` (differentiable in both).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(float(pj.uw_loss(jnp.array([1.0, 3.0]), pj.uw_params(2))))
      2.0
    """
    f, s = _check_losses(losses, s, "uw_loss")
    return jnp.sum(0.5 * jnp.exp(-s) * f + 0.5 * s)


def learned_scale_weights(
    loss_fn: Callable[[Array, Array], Array],
    losses: Array,
    state: LearnedScaleState,
    optimizer: optax.GradientTransformation,
) -> tuple[Array, LearnedScaleState]:
    """Weights ``∂S/∂L`` at the current ``s`` and one ``optimizer`` step of ``s`` on ``∂S/∂s``."""
    f = jnp.asarray(losses)
    f = f.astype(jnp.promote_types(f.dtype, jnp.float32))
    w, g = jax.grad(loss_fn, argnums=(0, 1))(f, state.s)
    updates, opt_state = optimizer.update(g, state.opt_state, state.s)
    s = optax.apply_updates(state.s, updates)
    return w, LearnedScaleState(s=s, opt_state=opt_state)


def learned_scale_weighting(
    loss_fn: Callable[[Array, Array], Array],
    *,
    name: str,
    num_tasks: int,
    init: Any,
    optimizer: optax.GradientTransformation | None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` of a loss ``S(L, s)`` with learnable ``s``."""
    m = _check_m(num_tasks, name)
    s0 = _check_init(init, m, name)
    opt = optax.adam(1e-3) if optimizer is None else optimizer
    if not hasattr(opt, "init") or not hasattr(opt, "update"):
        raise ValueError(f"{name}: optimizer must be an optax GradientTransformation.")

    def init_fn() -> LearnedScaleState:
        return LearnedScaleState(s=s0, opt_state=opt.init(s0))

    def fn(gram: Array, losses: Array | None, state: LearnedScaleState, pref: Array | None):
        return learned_scale_weights(loss_fn, losses, state, opt)

    return Weighting(init=init_fn, weights=fn, name=name, needs_losses=True, uses_gram=False)


def uw_weights(
    gram: Array | None,
    losses: Array,
    state: LearnedScaleState,
    *,
    pref: Array | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[Array, LearnedScaleState]:
    """UW weights ``½e^{−s}`` and the state after one step of ``s`` (``optimizer`` default
    ``optax.adam(1e-3)``; it must be the one whose state is ``state.opt_state``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> wt = pj.uw_weighting(num_tasks=2)
      >>> w, state = pj.uw_weights(None, jnp.array([1., 2.]), wt.init())
      >>> [round(float(v), 4) for v in w]  # ½e⁰
      [0.5, 0.5]
    """
    del gram, pref
    opt = optax.adam(1e-3) if optimizer is None else optimizer
    return learned_scale_weights(uw_loss, losses, state, opt)


def uw_weighting(
    num_tasks: int, init: float = 0.0, optimizer: optax.GradientTransformation | None = None
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`uw`.

    Loss-level (``uses_gram=False``): ``w = ½e^{−s}``, then one optimizer step on ``s``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.uw_weighting(num_tasks=2)
      >>> w, state = wt.weights(NOG, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [0.5, 0.5]
    """
    return learned_scale_weighting(
        uw_loss, name="uw", num_tasks=num_tasks, init=init, optimizer=optimizer
    )


def uw(
    num_tasks: int,
    init: float = 0.0,
    optimizer: optax.GradientTransformation | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Uncertainty weighting as a transform: ``u = Σ_i ½e^{−s_i} ∇L_i``, ``s`` in the state.

    Args:
      num_tasks: m.
      init: ``s₀`` (0 = TorchJD; −0.5 = LibMTL), scalar or ``[m]``.
      optimizer: optax optimizer of ``s`` (default ``optax.adam(1e-3)``; use the model's
        optimizer settings to reproduce joint training).

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> tx = pj.uw(num_tasks=2, optimizer=optax.sgd(0.1))
      >>> u, st = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 3.0]))
      >>> u["w"], st.inner.s  # s ← s − 0.1·(½ − ½L)
      (Array([0.5, 0.5], dtype=float32), Array([0. , 0.1], dtype=float32))
    """
    return as_transform(uw_weighting(num_tasks, init, optimizer), num_tasks)


INFO = MethodInfo(
    name="uw",
    family="balancing",
    factory=uw,
    description="Uncertainty weighting: ½e^{−s}L + ½s with learnable log-variances s.",
    reference="Kendall, Gal, Cipolla, CVPR 2018; TorchJD _uw.py (s₀ = 0); LibMTL UW.py (s₀ = −0.5)",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
)
