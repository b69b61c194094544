r"""Linear (fixed) weighting: the equal-weighting / linear-scalarization baseline.

.. math:: u = J^\top w, \qquad w = \tfrac{1}{m}\mathbf{1}\ (\text{mean}),\ \mathbf{1}\ (\text{sum}),
   \text{ or a fixed } c.

References: TorchJD ``Mean`` / ``Sum`` / ``Constant`` (default ``reduction="mean"``); LibMTL
``EW.py`` uses weights 1 (``reduction="sum"``), although its docstring says 1/T.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["linear", "linear_weights", "linear_weighting"]

_REDUCTIONS = ("mean", "sum")


def linear_weights(
    gram: Array | None,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    weights: Any = None,
    reduction: str = "mean",
    m: int | None = None,
) -> tuple[Array, Any]:
    """Fixed weights: ``weights`` if given, else ``1/m`` (``"mean"``) or ``1`` (``"sum"``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.weighting import linear_weights
      >>> linear_weights(jnp.eye(2))[0]
      Array([0.5, 0.5], dtype=float32)
    """
    del losses, pref
    if m is None:
        if gram is None:
            raise ValueError("linear_weights needs the Gram matrix or m to know the number of tasks.")
        m = gram.shape[-1]
    if weights is not None:
        w = jnp.asarray(weights, jnp.float32)
        if w.shape != (m,):
            raise ValueError(f"linear: weights must have shape ({m},), got {w.shape}.")
        return w, state
    if reduction not in _REDUCTIONS:
        raise ValueError(f"linear: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    scale = 1.0 / m if reduction == "mean" else 1.0
    return jnp.full((m,), scale, jnp.float32), state


def linear_weighting(weights: Any = None, reduction: str = "mean") -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`linear`.

    ``weights`` returns the fixed weights (``1/m`` by default) without reading the Gram.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.linear_weighting(reduction="sum")
      >>> w, _ = wt.weights(NOG, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [1.0, 1.0]
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"linear: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    if weights is not None:
        w = jnp.asarray(weights)
        if w.ndim != 1 or not bool(jnp.all(jnp.isfinite(w))):
            raise ValueError(f"linear: weights must be a finite 1-D vector, got {weights!r}.")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        # uses_gram=False: ``gram`` is the (m, 0) placeholder carrying m.
        return linear_weights(None, None, state, weights=weights, reduction=reduction, m=gram.shape[0])

    return Weighting(init=None, weights=fn, name="linear", uses_gram=False)


def linear(
    weights: Any = None, reduction: str = "mean", *, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""Fixed task weights (equal weighting by default): ``u = Σ_i w_i g_i``.

    Args:
      weights: fixed weights ``[m]`` (TorchJD ``Constant``); ``None`` for equal weights.
      reduction: ``"mean"`` (``w = 1/m``, TorchJD ``Mean``; default) or ``"sum"`` (``w = 1``,
        LibMTL ``EW``).
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.linear()
      >>> tx.update(jac, tx.init({"w": jnp.zeros(3)}))[0]["w"]
      Array([1., 1., 1.], dtype=float32)
    """
    if weights is not None and num_tasks is None:
        num_tasks = int(jnp.shape(jnp.asarray(weights))[0])
    return as_transform(linear_weighting(weights, reduction), num_tasks)


INFO = MethodInfo(
    name="linear",
    family="weighting",
    factory=linear,
    description="Fixed weights (equal weighting, LS/EW baseline; mean, sum or constant).",
    reference="TorchJD Mean/Sum/Constant; LibMTL EW (reduction='sum')",
    properties=frozenset({"LUS", "PI"}),
)
