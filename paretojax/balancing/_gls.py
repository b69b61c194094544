r"""GLS — geometric loss strategy (geometric mean of the task losses).

.. math::

    S = \Big(\prod_i L_i\Big)^{1/m} = \exp\Big(\tfrac1m \sum_i \log L_i\Big), \qquad
    w_i = \frac{\partial S}{\partial L_i} = \frac{S}{m L_i}.

Scale-invariant across tasks up to a common factor (multiplying ``L_i`` by ``c`` multiplies
``S`` by ``c^{1/m}``); tasks with small losses get larger weights. Needs ``L > 0``:
concrete inputs with a non-positive entry raise :class:`ValueError` (TorchJD
``GeometricMean`` raises too); inside ``jit`` the value is NaN (or 0 with a NaN gradient for
``L_i = 0``) and the transform applies the library's non-finite policy (the step is skipped,
``state.skipped`` counts it).

Paper: Chennupati, Sistu, Yogamani, Rawashdeh, "MultiNet++: Multi-Stream Feature Aggregation
and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.simplex import is_tracer
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["geometric_mean_loss", "gls_weights", "gls_weighting", "gls"]


def _check(losses: Any, name: str) -> Array:
    f = jnp.asarray(losses)
    if f.ndim != 1 or f.shape[0] == 0:
        raise ValueError(f"{name}: losses must be a non-empty 1-D vector [m], got {f.shape}.")
    if not jnp.issubdtype(f.dtype, jnp.floating):
        f = f.astype(jnp.float32)
    if not is_tracer(f):
        v = np.asarray(f)
        if not np.all(v > 0):
            raise ValueError(
                f"{name}: the geometric mean needs strictly positive losses, got {v}. "
                "Shift or exponentiate losses that can be ≤ 0."
            )
    return f


def geometric_mean_loss(losses: Any) -> Array:
    r"""Geometric mean ``exp(mean(log L))`` of positive task losses.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> print(round(float(pj.geometric_mean_loss(jnp.array([1.0, 4.0]))), 6))
      2.0
    """
    f = _check(losses, "geometric_mean_loss")
    return jnp.exp(jnp.mean(jnp.log(f)))


def gls_weights(
    gram: Array | None,
    losses: Array,
    state: Any = None,
    *,
    pref: Array | None = None,
) -> tuple[Array, Any]:
    """Weights ``S/(m L_i)`` of the geometric mean (Gram unused).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.balancing import gls_weights
      >>> gls_weights(None, jnp.array([1.0, 4.0]))[0]
      Array([1.  , 0.25], dtype=float32)
    """
    del gram, pref
    f = _check(losses, "gls")
    s = jnp.exp(jnp.mean(jnp.log(f)))
    return s / (f.shape[0] * f), state


def gls_weighting() -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`gls`.

    Loss-level (``uses_gram=False``): ``w_i = S / (m L_i)`` with ``S = (Π_i L_i)^{1/m}``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> L = jnp.array([1., 2.])
      >>> w, _ = pj.gls_weighting().weights(NOG, L, None, None)
      >>> [round(float(v), 4) for v in w]  # √2/2, √2/4
      [0.7071, 0.3536]
    """

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return gls_weights(gram, losses, state)

    return Weighting(init=None, weights=fn, name="gls", needs_losses=True, uses_gram=False)


def gls(*, num_tasks: int | None = None) -> optax.GradientTransformationExtraArgs:
    r"""Geometric loss strategy as a transform: ``u = Σ_i S/(m L_i) ∇L_i = ∇_θ (Π L_i)^{1/m}``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.gls()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 4.0]))
      >>> u["w"]
      Array([1.  , 0.25], dtype=float32)
    """
    return as_transform(gls_weighting(), num_tasks)


INFO = MethodInfo(
    name="gls",
    family="balancing",
    factory=gls,
    description="Geometric loss strategy: geometric mean (Π L_i)^{1/m} of positive losses.",
    reference="Chennupati et al., CVPR-W 2019 (MultiNet++); TorchJD GeometricMean",
    requires=("task_losses",),
)
