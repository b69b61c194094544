"""Shared building blocks of the multi-task architectures (validation, MLP stacks, heads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array

__all__ = ["MLP", "StackedMLP", "TaskHeads", "check_in", "check_dims", "check_tasks", "check_x"]


def check_in(n: Any, name: str) -> int:
    """A positive Python int (layer width, count)."""
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    if int(n) < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    return int(n)


def check_dims(dims: Any, name: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    """A tuple of positive widths."""
    if isinstance(dims, (int,)) and not isinstance(dims, bool):
        dims = (dims,)
    try:
        out = tuple(check_in(d, name) for d in dims)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive integers, got {dims!r}.") from None
    if not out and not allow_empty:
        raise ValueError(f"{name} must not be empty.")
    return out


def check_tasks(out_features: Any, cls: str) -> tuple[int, ...]:
    """Per-task output widths; at least two tasks (one task is not multi-task learning)."""
    outs = check_dims(out_features, f"{cls}: out_features")
    if len(outs) < 2:
        raise ValueError(
            f"{cls}: out_features must list one output width per task with at least 2 tasks, "
            f"got {out_features!r}."
        )
    return outs


def check_x(x: Any, in_features: int, cls: str) -> Array:
    """``x`` of shape ``[B, in_features]`` with a floating dtype (shapes are static under jit)."""
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[-1] != in_features:
        raise ValueError(f"{cls}: expected input of shape [batch, {in_features}], got {x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


class MLP(nnx.Module):
    """Dense layers with an activation after *every* layer (a feature extractor, not a head)."""

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        *,
        rngs: nnx.Rngs,
        activation: Callable[[Array], Array] = jax.nn.relu,
        use_bias: bool = True,
    ):
        dims = (in_features, *widths)
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, rngs=rngs, use_bias=use_bias)
                for a, b in zip(dims[:-1], dims[1:], strict=True)
            ]
        )
        self.activation = activation
        self.out_features = dims[-1]

    def __call__(self, x: Array) -> Array:
        for layer in self.layers:
            x = self.activation(layer(x))
        return x


class TaskHeads(nnx.Module):
    """``m`` task-specific towers: hidden layers (activation) then a linear output layer."""

    def __init__(
        self,
        in_features: int,
        out_features: Sequence[int],
        *,
        rngs: nnx.Rngs,
        hidden: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        self.towers = nnx.List(
            [MLP(in_features, hidden, rngs=rngs, activation=activation) for _ in out_features]
        )
        width = hidden[-1] if hidden else in_features
        self.outs = nnx.List([nnx.Linear(width, o, rngs=rngs) for o in out_features])

    def __call__(self, zs: Sequence[Array]) -> tuple[Array, ...]:
        """One input per task (``zs[i]`` feeds tower ``i``)."""
        return tuple(out(t(z)) for t, out, z in zip(self.towers, self.outs, zs, strict=True))


class StackedMLP(nnx.Module):
    r"""``n`` independent MLPs with stacked weights ``[n, d_in, d_out]`` (one einsum per layer).

    Input ``[B, d_in]`` (the same input for all ``n``) or ``[n, B, d_in]``; output ``[n, B, d]``.
    Stacking keeps experts / columns / towers free of Python loops over tasks.
    """

    def __init__(
        self,
        n: int,
        in_features: int,
        widths: Sequence[int],
        *,
        rngs: nnx.Rngs,
        activation: Callable[[Array], Array] = jax.nn.relu,
        final_activation: bool = True,
    ):
        dims = (in_features, *widths)
        init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        self.kernels = nnx.List(
            [
                nnx.Param(init(rngs.params(), (n, a, b)))
                for a, b in zip(dims[:-1], dims[1:], strict=True)
            ]
        )
        self.biases = nnx.List([nnx.Param(jnp.zeros((n, b))) for b in dims[1:]])
        self.activation = activation
        self.final_activation = final_activation
        self.n = n
        self.out_features = dims[-1]

    def __call__(self, x: Array) -> Array:
        last = len(self.kernels) - 1
        for k, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            spec = "bi,nio->nbo" if x.ndim == 2 else "nbi,nio->nbo"
            x = jnp.einsum(spec, x, w[...]) + b[...][:, None, :]
            if k < last or self.final_activation:
                x = self.activation(x)
        return x
