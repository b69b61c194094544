r"""Cross-stitch networks: one column per task, linearly mixed after every layer.

.. math:: \tilde h^{(l)}_i = \sum_j \alpha^{(l)}_{ij}\, h^{(l)}_j, \qquad
   h^{(l)}_j = \sigma(W^{(l)}_j \tilde h^{(l-1)}_j + b^{(l)}_j).

Misra, Shrivastava, Gupta, Hebert, "Cross-stitch Networks for Multi-task Learning", CVPR 2016
(LibMTL ``architecture/Cross_stitch.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.nn._common import StackedMLP, TaskHeads, check_dims, check_in, check_tasks, check_x

Array = jax.Array

__all__ = ["CrossStitch"]


class CrossStitch(nnx.Module):
    r"""Cross-stitch network: ``m`` MLP columns mixed by learnable ``m × m`` units after each layer.

    .. math:: H^{(l)} = \alpha^{(l)} \cdot \sigma\big(W^{(l)} \tilde H^{(l-1)} + b^{(l)}\big),
       \qquad \hat y_i = h_i(\tilde H^{(L)}_i),

    with ``α^{(l)} ∈ R^{m×m}`` acting on the column axis. ``alpha_init="identity"`` (default)
    starts as ``m`` independent networks; ``(self, other)`` floats give ``α = self·I +
    other·(1 − I)`` (the paper's ``(0.9, 0.1)`` for two tasks). Shared representation: the
    stacked columns after the last unit, ``Z`` of shape ``[m, B, h]`` — head ``i`` reads only
    ``Z[i]``, so the feature-level Gram is diagonal (LibMTL's per-task ``rep_tasks``);
    everything but the heads is shared through ``α``. Paper: Misra et al., CVPR 2016.

    Args:
      in_features: input width.
      hidden: column widths (ReLU after each layer; one cross-stitch unit after each).
      out_features: one output width per task (``m ≥ 2``).
      rngs: ``nnx.Rngs``.
      alpha_init: ``"identity"`` or a pair ``(self, other)``.
      head_hidden: hidden widths of each head.
      activation: nonlinearity (ReLU).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.nn.CrossStitch(6, (8, 8), (3, 2), rngs=nnx.Rngs(0))
      >>> [o.shape for o in model(jnp.ones((4, 6)))], model.shared(jnp.ones((4, 6))).shape
      ([(4, 3), (4, 2)], (2, 4, 8))
    """

    task_specific = ("heads",)

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        alpha_init: str | tuple[float, float] = "identity",
        head_hidden: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        self.in_features = check_in(in_features, "CrossStitch: in_features")
        hidden = check_dims(hidden, "CrossStitch: hidden", allow_empty=False)
        outs = check_tasks(out_features, "CrossStitch")
        self.num_tasks = m = len(outs)
        if isinstance(alpha_init, str):
            if alpha_init != "identity":
                raise ValueError(
                    f"CrossStitch: alpha_init must be 'identity' or a pair, got {alpha_init!r}."
                )
            a_self, a_other = 1.0, 0.0
        else:
            a_self, a_other = (float(v) for v in alpha_init)
            if not (np.isfinite(a_self) and np.isfinite(a_other)):
                raise ValueError(f"CrossStitch: alpha_init must be finite, got {alpha_init!r}.")
        alpha = a_self * np.eye(m) + a_other * (1.0 - np.eye(m))
        self.columns = nnx.List(
            [
                StackedMLP(m, a, (b,), rngs=rngs, activation=activation)
                for a, b in zip((self.in_features, *hidden[:-1]), hidden, strict=True)
            ]
        )
        self.alphas = nnx.List([nnx.Param(jnp.asarray(alpha, jnp.float32)) for _ in hidden])
        self.heads = TaskHeads(
            hidden[-1],
            outs,
            rngs=rngs,
            hidden=check_dims(head_hidden, "head_hidden"),
            activation=activation,
        )

    def shared(self, x: Any) -> Array:
        """Stacked task columns after the last cross-stitch unit, ``[m, B, h]``."""
        h = check_x(x, self.in_features, "CrossStitch")
        for layer, alpha in zip(self.columns, self.alphas, strict=True):
            h = layer(h)  # [m, B, w]; the first layer broadcasts x to every column
            h = jnp.einsum("ij,jbw->ibw", alpha[...], h)
        return h

    def task_outputs(self, z: Array, x: Any = None) -> tuple[Array, ...]:
        """Head ``i`` on column ``i``."""
        return self.heads(list(z))

    def __call__(self, x: Any) -> tuple[Array, ...]:
        return self.task_outputs(self.shared(x), x)
