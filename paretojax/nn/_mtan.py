r"""MTAN-style attention: task-specific soft masks over the shared features of every layer.

.. math::

    h_l = \sigma(W_l h_{l-1} + b_l)\ (\text{shared}), \qquad
    a_i^{(1)} = \operatorname{sigmoid}(A_i^{(1)} h_1), \quad
    a_i^{(l)} = \operatorname{sigmoid}\big(A_i^{(l)} [h_l;\ u_i^{(l-1)}]\big),\qquad
    u_i^{(l)} = a_i^{(l)} \odot h_l ,

and head ``i`` reads ``u_i^{(L)}``. A dense (MLP) reduction of Liu, Johns, Davison, "End-to-End
Multi-Task Learning with Attention", CVPR 2019 (MTAN; LibMTL ``architecture/MTAN.py`` uses
1×1-conv attention blocks on a SegNet/ResNet trunk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from paretojax.nn._common import MLP, TaskHeads, check_dims, check_in, check_tasks, check_x

Array = jax.Array

__all__ = ["MTAN"]


class MTAN(nnx.Module):
    r"""Shared MLP trunk with per-task sigmoid attention masks on every layer's features (MTAN).

    .. math:: u_i^{(l)} = \operatorname{sigmoid}\big(A_i^{(l)} [h_l;\ u_i^{(l-1)}] + c_i^{(l)}\big)
       \odot h_l, \qquad \hat y_i = h_{\psi_i}(u_i^{(L)}).

    Shared representation: the tuple of trunk features ``Z = (h_1, …, h_L)`` (each ``[B, w_l]``);
    the attention modules and heads (``task_specific = ("att_kernels", "att_biases", "heads")``)
    serve one task each. The mask bias starts at ``att_bias_init`` (default 2, ``sigmoid ≈ 0.88``,
    so training starts near hard sharing). Paper: Liu, Johns, Davison, CVPR 2019.

    Args:
      in_features: input width.
      hidden: trunk widths (ReLU after each layer); one attention mask per layer.
      out_features: one output width per task (``m ≥ 2``).
      rngs: ``nnx.Rngs``.
      head_hidden: hidden widths of each head.
      att_bias_init: initial bias of the attention logits.
      activation: nonlinearity (ReLU).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.nn.MTAN(6, (8, 8), (3, 2), rngs=nnx.Rngs(0))
      >>> [o.shape for o in model(jnp.ones((4, 6)))], len(model.shared(jnp.ones((4, 6))))
      ([(4, 3), (4, 2)], 2)
    """

    task_specific = ("att_kernels", "att_biases", "heads")

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        head_hidden: Sequence[int] = (),
        att_bias_init: float = 2.0,
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        self.in_features = check_in(in_features, "MTAN: in_features")
        hidden = check_dims(hidden, "MTAN: hidden", allow_empty=False)
        outs = check_tasks(out_features, "MTAN")
        self.num_tasks = m = len(outs)
        self.trunk = MLP(self.in_features, hidden, rngs=rngs, activation=activation)
        init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        fan_in = [hidden[0], *(a + b for a, b in zip(hidden[1:], hidden[:-1], strict=True))]
        self.att_kernels = nnx.List(
            [nnx.Param(init(rngs.params(), (m, f, w))) for f, w in zip(fan_in, hidden, strict=True)]
        )
        self.att_biases = nnx.List(
            [nnx.Param(jnp.full((m, w), float(att_bias_init))) for w in hidden]
        )
        self.heads = TaskHeads(
            hidden[-1],
            outs,
            rngs=rngs,
            hidden=check_dims(head_hidden, "head_hidden"),
            activation=activation,
        )

    def shared(self, x: Any) -> tuple[Array, ...]:
        """The trunk features of every layer ``(h_1, …, h_L)``."""
        h = check_x(x, self.in_features, "MTAN")
        feats = []
        for layer in self.trunk.layers:
            h = self.trunk.activation(layer(h))
            feats.append(h)
        return tuple(feats)

    def masks(self, z: Sequence[Array]) -> tuple[Array, ...]:
        """The attention masks ``a^{(l)}``, each ``[m, B, w_l]`` in ``(0, 1)``."""
        out, u = [], None
        for h, k, b in zip(z, self.att_kernels, self.att_biases, strict=True):
            hb = jnp.broadcast_to(h[None], (self.num_tasks, *h.shape))
            inp = hb if u is None else jnp.concatenate([hb, u], axis=-1)
            a = jax.nn.sigmoid(jnp.einsum("mbi,miw->mbw", inp, k[...]) + b[...][:, None, :])
            u = a * hb
            out.append(a)
        return tuple(out)

    def task_outputs(self, z: Sequence[Array], x: Any = None) -> tuple[Array, ...]:
        """Heads on the attended last-layer features ``u_i^{(L)} = a_i^{(L)} ⊙ h_L``."""
        a = self.masks(z)[-1]
        return self.heads(list(a * z[-1][None]))

    def __call__(self, x: Any) -> tuple[Array, ...]:
        return self.task_outputs(self.shared(x), x)
