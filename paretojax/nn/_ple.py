r"""CGC / PLE: customized gate control with shared and task-specific experts, stacked in levels.

One extraction level with ``n_s`` shared experts ``S_k`` and ``n_t`` experts ``T_{i,k}`` per task:

.. math::

    t_i' = \sum_k g_{i,k}(t_i)\,[T_{i,1}(t_i), …, T_{i,n_t}(t_i), S_1(s), …, S_{n_s}(s)]_k,
    \qquad g_i(t_i) = \operatorname{softmax}(W_i t_i + b_i),

    s' = \sum_k g_{s,k}(s)\,[T_{1,1}(t_1), …, T_{m,n_t}(t_m), S_1(s), …, S_{n_s}(s)]_k
    \quad (\text{all levels but the last}),

with ``s = t_i = x`` at the first level; towers read ``t_i`` of the last level. One level is CGC,
``L > 1`` levels is PLE. Tang, Liu, Zhao, Gong, "Progressive Layered Extraction (PLE): A Novel
Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020 (LibMTL
``architecture/CGC.py``, ``PLE.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from paretojax.nn._common import StackedMLP, TaskHeads, check_dims, check_in, check_tasks, check_x

Array = jax.Array

__all__ = ["PLE"]


def _gate_params(rngs: nnx.Rngs, shape: tuple[int, ...]) -> tuple[nnx.Param, nnx.Param]:
    init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
    return nnx.Param(init(rngs.params(), shape)), nnx.Param(jnp.zeros((shape[0], shape[-1])))


def _task_experts(experts: StackedMLP, t: Array, m: int, n_t: int) -> Array:
    """``[m, n_t, B, h]`` from task inputs ``[m, B, d]`` (expert ``i·n_t + k`` reads ``t_i``)."""
    out = experts(jnp.repeat(t, n_t, axis=0))
    return out.reshape(m, n_t, *out.shape[1:])


def _mix(kernel: Array, bias: Array, inp: Array, experts: Array) -> Array:
    """Softmax gates from ``inp`` ``[g, B, d]`` over ``experts`` ``[g, E, B, h]`` → ``[g, B, h]``."""
    logits = jnp.einsum("gbi,gie->gbe", inp, kernel) + bias[:, None, :]
    return jnp.einsum("gbe,gebh->gbh", jax.nn.softmax(logits, axis=-1), experts)


class _Level(nnx.Module):
    """A non-final PLE level: shared/task experts, task gates and the shared gate."""

    def __init__(self, d, widths, m, n_s, n_t, *, rngs, activation):
        h = widths[-1]
        self.shared_experts = StackedMLP(n_s, d, widths, rngs=rngs, activation=activation)
        self.task_experts = StackedMLP(m * n_t, d, widths, rngs=rngs, activation=activation)
        self.task_gate_kernel, self.task_gate_bias = _gate_params(rngs, (m, d, n_t + n_s))
        self.shared_gate_kernel, self.shared_gate_bias = _gate_params(rngs, (1, d, m * n_t + n_s))
        self.m, self.n_t, self.h = m, n_t, h

    def __call__(self, s: Array, t: Array) -> tuple[Array, Array]:
        sh = self.shared_experts(s)  # [n_s, B, h]
        tk = _task_experts(self.task_experts, t, self.m, self.n_t)  # [m, n_t, B, h]
        per_task = jnp.concatenate([tk, jnp.broadcast_to(sh[None], (self.m, *sh.shape))], axis=1)
        t_new = _mix(self.task_gate_kernel[...], self.task_gate_bias[...], t, per_task)
        all_e = jnp.concatenate([tk.reshape(-1, *tk.shape[2:]), sh], axis=0)[None]
        s_new = _mix(self.shared_gate_kernel[...], self.shared_gate_bias[...], s[None], all_e)[0]
        return s_new, t_new


class PLE(nnx.Module):
    r"""CGC (``num_levels=1``) and PLE (``num_levels > 1``) multi-task networks.

    .. math:: \hat y_i = h_i\Big(\sum_k \operatorname{softmax}(W_i t_i + b_i)_k\,
       [T_{i,\cdot}(t_i),\ S_{\cdot}(s)]_k\Big) \quad \text{(last level)}.

    Shared representation (feature-level gradients): ``Z = {"shared_experts": [n_s, B, h]}`` —
    the last level's shared experts — plus ``"task_inputs"`` ``[m, B, d]`` (the task streams
    entering the last level, which depend on every task's parameters) when ``num_levels > 1``.
    Task-specific: the last level's task experts and task gates, and the towers. Paper: Tang et
    al., RecSys 2020 (LibMTL ``CGC``/``PLE``); expert counts are
    configurable (2 shared experts and 1 expert per task by default).

    Args:
      in_features: input width.
      expert_hidden: widths of every expert MLP (ReLU after each layer).
      out_features: one output width per task (``m ≥ 2``).
      rngs: ``nnx.Rngs``.
      num_levels: extraction levels (1 = CGC).
      num_shared_experts: ``n_s`` (default 2).
      num_task_experts: ``n_t`` per task (default 1).
      head_hidden: hidden widths of each tower.
      activation: nonlinearity (ReLU).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.nn.PLE(6, (8,), (3, 2), num_levels=2, rngs=nnx.Rngs(0))
      >>> [o.shape for o in model(jnp.ones((4, 6)))]
      [(4, 3), (4, 2)]
      >>> sorted(model.shared(jnp.ones((4, 6))))
      ['shared_experts', 'task_inputs']
    """

    task_specific = ("last_task_experts", "last_gate_kernel", "last_gate_bias", "heads")

    def __init__(
        self,
        in_features: int,
        expert_hidden: Sequence[int],
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        num_levels: int = 1,
        num_shared_experts: int = 2,
        num_task_experts: int = 1,
        head_hidden: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        self.in_features = d = check_in(in_features, "PLE: in_features")
        widths = check_dims(expert_hidden, "PLE: expert_hidden", allow_empty=False)
        outs = check_tasks(out_features, "PLE")
        self.num_tasks = m = len(outs)
        self.num_levels = check_in(num_levels, "PLE: num_levels")
        n_s = check_in(num_shared_experts, "PLE: num_shared_experts")
        self.n_t = n_t = check_in(num_task_experts, "PLE: num_task_experts")
        h = widths[-1]
        self.levels = nnx.List(
            [
                _Level(d if k == 0 else h, widths, m, n_s, n_t, rngs=rngs, activation=activation)
                for k in range(self.num_levels - 1)
            ]
        )
        d_last = d if self.num_levels == 1 else h
        self.last_shared_experts = StackedMLP(n_s, d_last, widths, rngs=rngs, activation=activation)
        self.last_task_experts = StackedMLP(
            m * n_t, d_last, widths, rngs=rngs, activation=activation
        )
        self.last_gate_kernel, self.last_gate_bias = _gate_params(rngs, (m, d_last, n_t + n_s))
        self.heads = TaskHeads(
            h, outs, rngs=rngs, hidden=check_dims(head_hidden, "head_hidden"), activation=activation
        )

    def shared(self, x: Any) -> dict[str, Array]:
        """``{"shared_experts": [n_s, B, h]}`` (+ ``"task_inputs"`` ``[m, B, d]`` for PLE)."""
        x = check_x(x, self.in_features, "PLE")
        s, t = x, jnp.broadcast_to(x[None], (self.num_tasks, *x.shape))
        for level in self.levels:
            s, t = level(s, t)
        z = {"shared_experts": self.last_shared_experts(s)}
        if self.num_levels > 1:
            z["task_inputs"] = t
        return z

    def task_outputs(self, z: dict[str, Array], x: Any) -> tuple[Array, ...]:
        """The last level's task experts and gates, then the towers."""
        sh = z["shared_experts"]
        if "task_inputs" in z:
            t = z["task_inputs"]
        else:
            x = check_x(x, self.in_features, "PLE")
            t = jnp.broadcast_to(x[None], (self.num_tasks, *x.shape))
        tk = _task_experts(self.last_task_experts, t, self.num_tasks, self.n_t)
        experts = jnp.concatenate(
            [tk, jnp.broadcast_to(sh[None], (self.num_tasks, *sh.shape))], axis=1
        )
        mixed = _mix(self.last_gate_kernel[...], self.last_gate_bias[...], t, experts)
        return self.heads(list(mixed))

    def __call__(self, x: Any) -> tuple[Array, ...]:
        return self.task_outputs(self.shared(x), x)
