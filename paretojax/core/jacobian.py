"""Pytree Jacobians, Gram matrices and weighted combination.

The whole library is a pipeline over a loss vector ``f(θ) ∈ R^m``::

    losses, J = value_and_jacobian(loss_vector_fn)(params, batch)  # leaves (m, *leaf.shape)
    G = gram(J)                                                      # m × m, leaf by leaf
    w, state = weighting(G, losses, state)                           # small compiled solver
    update = combine(w, J)                                           # Σ_i w_i J_i, leaf by leaf

None of these functions flattens the parameter pytree: ``gram`` sums the per-leaf products
``J_leaf J_leafᵀ`` and ``combine`` contracts the leading task axis of every leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any

__all__ = [
    "value_and_jacobian",
    "jacobian_wrt_features",
    "gram",
    "combine",
    "num_tasks",
    "accumulation_dtype",
]


def accumulation_dtype(dtype: Any) -> jnp.dtype:
    """The dtype Gram matrices and weights are accumulated in: float32 or wider."""
    return jnp.promote_types(jnp.dtype(dtype), jnp.float32)


def num_tasks(jac: PyTree) -> int:
    """The number of tasks ``m`` of a stacked Jacobian (the common leading axis of its leaves).

    Raises:
      ValueError: if the pytree has no leaves, a scalar leaf, or leaves whose leading axes differ.
    """
    leaves = jax.tree_util.tree_leaves(jac)
    if not leaves:
        raise ValueError("The Jacobian pytree has no leaves.")
    sizes = set()
    for leaf in leaves:
        shape = jnp.shape(leaf)
        if len(shape) == 0:
            raise ValueError(
                "Every Jacobian leaf needs a leading task axis of size m; got a scalar leaf. "
                "Pass per-task gradients stacked on axis 0 (e.g. from pj.value_and_jacobian)."
            )
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(
            f"Jacobian leaves disagree on the number of tasks (leading axis sizes {sorted(sizes)})."
        )
    m = sizes.pop()
    if m == 0:
        raise ValueError("The Jacobian has m = 0 tasks; at least one loss is needed.")
    return int(m)


def value_and_jacobian(
    fun: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
) -> Callable[..., Any]:
    r"""Wrap ``fun(params, *args) -> losses[m]`` into ``(*args) -> (losses, J)``.

    .. math:: J = \partial f / \partial \theta \in R^{m \times d}, \quad J_{i} = \nabla_\theta f_i

    ``J`` has the structure of the differentiated argument(s) with a leading ``m`` axis on every
    leaf. It is computed in reverse mode with one forward pass and ``m`` vmapped VJPs (the
    ``jax.jacrev`` strategy), so it works on any pytree (dicts, Flax NNX ``State``), under
    ``jax.jit`` and under ``jax.vmap`` over K parameter sets.

    Args:
      fun: function returning a 1-D loss vector (or ``(losses, aux)`` when ``has_aux``).
      argnums: which positional argument(s) to differentiate; a tuple gives a tuple of Jacobians.
      has_aux: whether ``fun`` returns ``(losses, aux)``.

    Returns:
      A function returning ``(losses, J)``, or ``((losses, aux), J)`` when ``has_aux``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f = lambda p: jnp.stack([jnp.sum(p["w"] ** 2), jnp.sum(p["w"])])
      >>> losses, J = pj.value_and_jacobian(f)({"w": jnp.ones(3)})
      >>> J["w"].shape
      (2, 3)
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args: Any) -> Any:
        def partial_fun(*diff_args: Any) -> Any:
            full = list(args)
            for i, a in zip(nums, diff_args, strict=True):
                full[i] = a
            return fun(*full)

        primals = tuple(args[i] for i in nums)
        if has_aux:
            losses, vjp_fn, aux = jax.vjp(partial_fun, *primals, has_aux=True)
        else:
            losses, vjp_fn = jax.vjp(partial_fun, *primals)
        losses = jnp.asarray(losses)
        if losses.ndim != 1:
            raise ValueError(
                f"value_and_jacobian expects fun to return a 1-D loss vector, got shape {losses.shape}."
            )
        if losses.shape[0] == 0:
            raise ValueError("fun returned an empty loss vector (m = 0).")
        # `+ zeros_like(losses)` gives the cotangents the losses' varying-axis type, so the
        # vmapped VJP also works inside shard_map with per-device losses.
        eye = jnp.eye(losses.shape[0], dtype=losses.dtype) + jnp.zeros_like(losses)[None, :]
        jac = jax.vmap(vjp_fn)(eye)
        jac = jac[0] if single else jac
        return ((losses, aux), jac) if has_aux else (losses, jac)

    return wrapped


def jacobian_wrt_features(
    head_fun: Callable[..., Array],
) -> Callable[..., tuple[Array, Array]]:
    """Jacobian of ``head_fun(features, *args) -> losses[m]`` w.r.t. the shared features.

    The MGDA-UB trick (Sener & Koltun, 2018): instead of ``m`` backward passes through the whole
    network, differentiate the losses w.r.t. the shared representation ``Z``. The result has shape
    ``(m, *Z.shape)``; its Gram is an upper-bound surrogate for the parameter Gram.
    """
    return value_and_jacobian(head_fun, argnums=0)


def gram(jac: PyTree, dtype: Any = None) -> Array:
    r"""Gram matrix ``G = J Jᵀ`` of a stacked Jacobian, summed leaf by leaf.

    .. math:: G_{ij} = \sum_{\ell \in \text{leaves}} \langle J^{\ell}_i, J^{\ell}_j \rangle

    Each leaf is contracted on its own over all its non-task axes (the parameters are never
    concatenated or reshaped), in float32 or wider, whatever the parameter dtype.

    Args:
      jac: pytree whose leaves all have a leading axis of size m.
      dtype: accumulation dtype; default float32, or float64 if any leaf is float64.

    Returns:
      The symmetric positive semi-definite ``(m, m)`` Gram matrix.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.gram({"a": jnp.array([[-4., 1., 1.], [6., 1., 1.]])})
      Array([[ 18., -22.],
             [-22.,  38.]], dtype=float32)
    """
    m = num_tasks(jac)
    leaves = jax.tree_util.tree_leaves(jac)
    if dtype is None:
        dtype = accumulation_dtype(jnp.result_type(*leaves))
    out = jnp.zeros((m, m), dtype)
    for leaf in leaves:
        # Contract every non-task axis in place (no reshape): a leaf sharded on any axis then
        # needs only an m×m all-reduce, never an all-gather of the Jacobian.
        leaf = jnp.asarray(leaf).astype(dtype)
        axes = tuple(range(1, leaf.ndim))
        out = out + jnp.tensordot(leaf, leaf, axes=(axes, axes))
    # Exact symmetry keeps downstream eigen/QP solvers well behaved.
    return 0.5 * (out + out.T)


def combine(weights: Array, jac: PyTree) -> PyTree:
    r"""The update ``Σ_i w_i J_i`` computed leaf by leaf.

    .. math:: u = J^\top w

    The contraction runs in float32 or wider and is cast back to each leaf's dtype.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> u = pj.combine(jnp.array([0.6, 0.4]), {"a": jnp.array([[-4., 1., 1.], [6., 1., 1.]])})
      >>> u["a"].round(5).tolist()
      [-0.0, 1.0, 1.0]
    """
    m = num_tasks(jac)
    weights = jnp.asarray(weights)
    if weights.shape != (m,):
        raise ValueError(f"weights must have shape ({m},) to match the Jacobian, got {weights.shape}.")

    def one(leaf: Array) -> Array:
        acc = accumulation_dtype(jnp.result_type(leaf, weights))
        return jnp.tensordot(weights.astype(acc), leaf.astype(acc), axes=1).astype(leaf.dtype)

    return jax.tree_util.tree_map(one, jac)
