r"""CR-MOGM: correlation-reduced multi-objective gradient manipulation (weight smoothing).

A wrapper over any :class:`~paretojax.Weighting`: with ``λ̂_k`` the wrapped method's weights at
step k,

.. math::

    \lambda_k = \alpha_k\,\lambda_{k-1} + (1 - \alpha_k)\,\hat\lambda_k ,

``λ₀ = λ̂₁`` (so the first output equals the wrapped weights) or ``initial_weights`` when given.
``α = 0.9`` by default; ``α`` may be a schedule ``k -> α_k`` (k = 0, 1, … the call count, an
optax-style schedule), e.g. the paper's ``α_k = 1 − lr_k/lr₀`` (Corollary 1). ``α = 0`` returns
the wrapped weights, ``α = 1`` freezes ``λ₀``. The smoothing reduces the correlation between the
weights and the stochastic gradients that biases stochastic MGDA-type methods.

Paper: Zhou, Zhang, Jiang, Guo, Xu, Zhang, Zou, "On the Convergence of Stochastic Multi-Objective
Gradient Manipulation and Beyond", NeurIPS 2022. Reference matched: TorchJD ``CRMOGMWeighting``.
State: ``λ_{k−1}``, the call count and the wrapped method's state. Pair with
:func:`paretojax.weighting._speedups.periodic` to recompute the weights only every k steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["CRMOGMState", "cr_mogm", "cr_mogm_weighting"]


class CRMOGMState(NamedTuple):
    """State of CR-MOGM.

    Attributes:
      lam: ``[m]`` the previous smoothed weights ``λ_{k−1}`` (``initial_weights`` or zeros).
      count: int32 number of calls so far.
      inner: the wrapped weighting's state (``optax.EmptyState()`` if stateless).
    """

    lam: Array
    count: Array
    inner: Any


def _check_weighting(weighting: Any, name: str) -> None:
    if not isinstance(weighting, Weighting):
        raise TypeError(
            f"{name} wraps a pj.Weighting (e.g. pj.mgda_weighting()), got "
            f"{type(weighting).__name__}. "
            "Optax transforms cannot be composed at the Gram level."
        )


def _inner_init(weighting: Weighting) -> Any:
    return optax.EmptyState() if weighting.init is None else weighting.init()


def cr_mogm_weighting(
    weighting: Weighting,
    num_tasks: int,
    alpha: float | Callable[[Array], Array] = 0.9,
    initial_weights: Array | None = None,
) -> Weighting:
    r"""Wrap ``weighting`` with the CR-MOGM moving average (see the module docstring).

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting`.
      num_tasks: m (the state holds ``λ_{k−1}``).
      alpha: ``α ∈ [0, 1]`` (default ``0.9``) or a schedule ``count -> α``.
      initial_weights: ``λ₀`` (default: the first wrapped weights).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> wt = pj.cr_mogm_weighting(pj.imtl_g_weighting(), num_tasks=2, alpha=0.5)
      >>> state = wt.init()
      >>> w1, state = wt.weights(jnp.array([[18., -22.], [-22., 38.]]), None, state, None)
      >>> w2, state = wt.weights(jnp.eye(2), None, state, None)
      >>> [round(x, 4) for x in w2.tolist()]  # ½·[0.5923, 0.4077] + ½·[0.5, 0.5]
      [0.5462, 0.4538]
    """
    _check_weighting(weighting, "cr_mogm")
    m = int(num_tasks)
    if m < 1:
        raise ValueError(f"cr_mogm: num_tasks must be ≥ 1, got {num_tasks}.")
    if not callable(alpha) and not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"cr_mogm: alpha must lie in [0, 1] (or be a schedule), got {alpha}.")
    init_w = None
    if initial_weights is not None:
        init_w = jnp.asarray(initial_weights)
        if init_w.shape != (m,):
            raise ValueError(
                f"cr_mogm: initial_weights must have shape ({m},), got {init_w.shape}."
            )

    def init() -> CRMOGMState:
        dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled
        lam = jnp.zeros((m,), dtype) if init_w is None else init_w.astype(dtype)
        return CRMOGMState(lam=lam, count=jnp.zeros((), jnp.int32), inner=_inner_init(weighting))

    def fn(gram: Array, losses: Array | None, state: CRMOGMState, pref: Array | None):
        lam_hat, inner = weighting.weights(gram, losses, state.inner, pref)
        lam_hat = jnp.asarray(lam_hat).astype(state.lam.dtype)
        if lam_hat.shape != (m,):
            raise ValueError(
                f"cr_mogm: built for num_tasks={m}, got weights of shape {lam_hat.shape}."
            )
        a = jnp.asarray(alpha(state.count) if callable(alpha) else alpha, state.lam.dtype)
        prev = state.lam if init_w is not None else jnp.where(state.count > 0, state.lam, lam_hat)
        lam = a * prev + (1.0 - a) * lam_hat
        return lam, CRMOGMState(lam=lam, count=state.count + 1, inner=inner)

    return Weighting(
        init=init,
        weights=fn,
        name=f"cr_mogm({weighting.name})",
        needs_losses=weighting.needs_losses,
        needs_pref=weighting.needs_pref,
        uses_gram=weighting.uses_gram,
    )


def cr_mogm(
    weighting: Weighting,
    alpha: float | Callable[[Array], Array] = 0.9,
    initial_weights: Array | None = None,
    *,
    num_tasks: int,
) -> optax.GradientTransformationExtraArgs:
    r"""CR-MOGM as an optax transform: exponential moving average of another method's weights.

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting` (e.g. ``pj.mgda_weighting()``).
      alpha: ``α`` (default ``0.9``, TorchJD) or a schedule ``count -> α``.
      initial_weights: ``λ₀`` (default: the first wrapped weights).
      num_tasks: m (required: the state holds the previous weights).

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> tx = pj.cr_mogm(pj.imtl_g_weighting(), alpha=0.9, num_tasks=2)
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> upd, state = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in upd["w"].tolist()]  # first step: the wrapped update
      [0.0767, 1.0, 1.0]
    """
    return as_transform(cr_mogm_weighting(weighting, num_tasks, alpha, initial_weights), num_tasks)


def _example(m: int) -> dict:
    from paretojax.weighting._imtl_g import imtl_g_weighting

    return {"weighting": imtl_g_weighting()}


INFO = MethodInfo(
    name="cr_mogm",
    family="weighting",
    factory=cr_mogm,
    description="CR-MOGM: moving average of any weighting's weights (α = 0.9, schedules allowed).",
    reference="Zhou et al., NeurIPS 2022; TorchJD CRMOGMWeighting",
    example_kwargs=_example,
)
