r"""MMoE: multi-gate mixture of experts.

.. math::

    E_e = \phi_e(x)\ (e = 1..n_E), \qquad g_i(x) = \operatorname{softmax}(W_i x + b_i) \in \Delta^{n_E-1},
    \qquad \hat y_i = h_i\Big(\sum_e g_{i,e}(x)\, E_e\Big).

Ma, Zhao, Yi, Chen, Hong, Chi, "Modeling Task Relationships in Multi-task Learning with
Multi-gate Mixture-of-Experts", KDD 2018 (LibMTL ``architecture/MMoE.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from paretojax.nn._common import (
    StackedMLP,
    TaskHeads,
    check_dims,
    check_in,
    check_tasks,
    check_x,
)

Array = jax.Array

__all__ = ["MMoE"]


class MMoE(nnx.Module):
    r"""Multi-gate mixture of experts: shared experts, one softmax gate and one tower per task.

    .. math:: \hat y_i = h_i\Big(\sum_{e=1}^{n_E} \operatorname{softmax}(W_i x + b_i)_e\,
       \phi_e(x)\Big).

    Shared representation (feature-level gradients): the stacked expert outputs
    ``Z = [φ_1(x), …, φ_{n_E}(x)]`` of shape ``[n_E, B, h]``; the gates and towers
    (``task_specific = ("gate_kernel", "gate_bias", "heads")``) each serve one task. Paper: Ma et al.,
    KDD 2018; defaults follow LibMTL ``MMoE`` (linear softmax gates on the input).

    Args:
      in_features: input width.
      expert_hidden: widths of each expert MLP (ReLU after each layer).
      out_features: one output width per task (``m ≥ 2``).
      rngs: ``nnx.Rngs``.
      num_experts: ``n_E`` (default 4).
      head_hidden: hidden widths of each tower (default none).
      activation: nonlinearity (ReLU).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.nn.MMoE(6, (8,), (3, 2), num_experts=3, rngs=nnx.Rngs(0))
      >>> [o.shape for o in model(jnp.ones((4, 6)))]
      [(4, 3), (4, 2)]
      >>> model.gates(jnp.ones((4, 6))).sum(-1).round(5)[:, 0]
      Array([1., 1.], dtype=float32)
    """

    task_specific = ("gate_kernel", "gate_bias", "heads")

    def __init__(
        self,
        in_features: int,
        expert_hidden: Sequence[int],
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        num_experts: int = 4,
        head_hidden: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        self.in_features = check_in(in_features, "MMoE: in_features")
        hidden = check_dims(expert_hidden, "MMoE: expert_hidden", allow_empty=False)
        outs = check_tasks(out_features, "MMoE")
        self.num_tasks = m = len(outs)
        self.num_experts = e = check_in(num_experts, "MMoE: num_experts")
        self.experts = StackedMLP(e, self.in_features, hidden, rngs=rngs, activation=activation)
        init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        self.gate_kernel = nnx.Param(init(rngs.params(), (m, self.in_features, e)))
        self.gate_bias = nnx.Param(jnp.zeros((m, e)))
        self.heads = TaskHeads(
            hidden[-1],
            outs,
            rngs=rngs,
            hidden=check_dims(head_hidden, "head_hidden"),
            activation=activation,
        )

    def gates(self, x: Any) -> Array:
        """Gate weights ``[m, B, n_E]``, each row on the simplex."""
        x = check_x(x, self.in_features, "MMoE")
        logits = jnp.einsum("bi,mie->mbe", x, self.gate_kernel[...])
        return jax.nn.softmax(logits + self.gate_bias[...][:, None, :], axis=-1)

    def shared(self, x: Any) -> Array:
        """Expert outputs ``Z``, ``[n_E, B, h]``."""
        return self.experts(check_x(x, self.in_features, "MMoE"))

    def task_outputs(self, z: Array, x: Any) -> tuple[Array, ...]:
        """Gate-mixed experts through the towers (the gates read ``x``)."""
        mixed = jnp.einsum("mbe,ebh->mbh", self.gates(x), z)
        return self.heads(list(mixed))

    def __call__(self, x: Any) -> tuple[Array, ...]:
        return self.task_outputs(self.shared(x), x)
