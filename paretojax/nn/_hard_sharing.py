r"""Hard parameter sharing: one shared trunk, ``m`` task-specific heads.

.. math:: Z = \phi_\theta(x), \qquad \hat y_i = h_{\psi_i}(Z), \quad i = 1..m .

Caruana, "Multitask Learning", Machine Learning 28, 1997 (the LibMTL ``HPS`` architecture).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx

from paretojax.nn._common import MLP, TaskHeads, check_dims, check_in, check_tasks, check_x

Array = jax.Array

__all__ = ["HardSharing"]


class HardSharing(nnx.Module):
    r"""Hard parameter sharing: a shared MLP trunk ``Z = φ(x)`` and one head per task.

    .. math:: Z = \phi_\theta(x) \in R^{B \times h}, \qquad \hat y_i = h_{\psi_i}(Z).

    The shared representation for feature-level (MGDA-UB) gradients is ``Z``, the trunk output;
    the heads (``task_specific = ("heads",)``) only see their own task.
    Reference: Caruana, Machine Learning 1997; LibMTL ``architecture/HPS.py``.

    Args:
      in_features: input width.
      hidden: trunk widths (ReLU after each layer), e.g. ``(128, 128)`` (METHODS.md §13).
      out_features: one output width per task (``m ≥ 2``), e.g. ``(10, 10)``.
      rngs: ``nnx.Rngs``.
      head_hidden: hidden widths of each head (default none: a linear head).
      activation: trunk/head nonlinearity (default ReLU).
      use_bias: trunk biases (default True).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.nn.HardSharing(6, (8,), (3, 1), rngs=nnx.Rngs(0))
      >>> [o.shape for o in model(jnp.ones((4, 6)))]
      [(4, 3), (4, 1)]
      >>> model.shared(jnp.ones((4, 6))).shape
      (4, 8)
    """

    task_specific = ("heads",)

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        head_hidden: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
        use_bias: bool = True,
    ):
        self.in_features = check_in(in_features, "HardSharing: in_features")
        hidden = check_dims(hidden, "HardSharing: hidden", allow_empty=False)
        outs = check_tasks(out_features, "HardSharing")
        self.num_tasks = len(outs)
        self.trunk = MLP(
            self.in_features, hidden, rngs=rngs, activation=activation, use_bias=use_bias
        )
        self.heads = TaskHeads(
            hidden[-1],
            outs,
            rngs=rngs,
            hidden=check_dims(head_hidden, "head_hidden"),
            activation=activation,
        )

    def shared(self, x: Any) -> Array:
        """The shared representation ``Z = φ(x)``, ``[B, h]``."""
        return self.trunk(check_x(x, self.in_features, "HardSharing"))

    def task_outputs(self, z: Array, x: Any = None) -> tuple[Array, ...]:
        """The ``m`` head outputs from ``Z`` (``x`` unused)."""
        return self.heads([z] * self.num_tasks)

    def __call__(self, x: Any) -> tuple[Array, ...]:
        return self.task_outputs(self.shared(x), x)
