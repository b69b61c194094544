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

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PyTree = Any

__all__ = [
    "value_and_jacobian",
    "jacobian_wrt_features",
    "gram",
    "combine",
    "num_tasks",
    "accumulation_dtype",
    "check_chunk_size",
    "GRAM_BLOCK",
    "set_gram_block_size",
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


def check_chunk_size(chunk_size: Any, name: str = "chunk_size") -> int | None:
    """Validate a task-chunk size: ``None`` (no chunking) or a positive Python int."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise ValueError(f"{name} must be a positive int or None, got {chunk_size!r}.")
    if int(chunk_size) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {chunk_size}.")
    return int(chunk_size)


def value_and_jacobian(
    fun: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    r"""Wrap ``fun(params, *args) -> losses[m]`` into ``(*args) -> (losses, J)``.

    .. math:: J = \partial f / \partial \theta \in R^{m \times d}, \quad J_{i} = \nabla_\theta f_i

    ``J`` has the structure of the differentiated argument(s) with a leading ``m`` axis on every
    leaf. It is computed in reverse mode with one forward pass and ``m`` vmapped VJPs (the
    ``jax.jacrev`` strategy), so it works on any pytree (dicts, Flax NNX ``State``), under
    ``jax.jit`` and under ``jax.vmap`` over K parameter sets.

    **Chunked mode.** With ``chunk_size=k`` the ``m`` VJPs run ``k`` at a time
    (``jax.lax.map(..., batch_size=k)``): the backward intermediates (per-task cotangents of
    every activation, ``m × activations`` in the one-shot mode) are bounded by ``k ×
    activations``; ``J`` itself is still returned whole. Results equal the one-shot mode;
    ``k ≥ m`` is the one-shot mode. To never hold ``J`` at all, see
    :func:`paretojax.value_and_gram` / :func:`paretojax.make_gram_step`.

    Args:
      fun: function returning a 1-D loss vector (or ``(losses, aux)`` when ``has_aux``).
      argnums: which positional argument(s) to differentiate; a tuple gives a tuple of Jacobians.
      has_aux: whether ``fun`` returns ``(losses, aux)``.
      chunk_size: number of VJPs computed at once (``None``: all ``m``, the default).

    Raises:
      ValueError: ``chunk_size`` not a positive integer; ``fun`` not returning a 1-D, non-empty
        loss vector.

    Returns:
      A function returning ``(losses, J)``, or ``((losses, aux), J)`` when ``has_aux``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f = lambda p: jnp.stack([jnp.sum(p["w"] ** 2), jnp.sum(p["w"])])
      >>> losses, J = pj.value_and_jacobian(f)({"w": jnp.ones(3)})
      >>> J["w"].shape
      (2, 3)
      >>> _, Jc = pj.value_and_jacobian(f, chunk_size=1)({"w": jnp.ones(3)})
      >>> bool(jnp.array_equal(Jc["w"], J["w"]))
      True
    """
    chunk = check_chunk_size(chunk_size)
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
        if chunk is None or chunk >= losses.shape[0]:
            jac = jax.vmap(vjp_fn)(eye)
        else:
            jac = jax.lax.map(vjp_fn, eye, batch_size=chunk)
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

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> head = lambda z, y: jnp.stack([jnp.sum((z[:, 0] - y) ** 2), jnp.sum(z[:, 1] ** 2)])
      >>> losses, jz = pj.jacobian_wrt_features(head)(jnp.ones((4, 2)), jnp.zeros(4))
      >>> jz.shape  # (m, *Z.shape)
      (2, 4, 2)
      >>> pj.gram(jz).tolist()  # the tasks read different feature columns: orthogonal
      [[16.0, 0.0], [0.0, 16.0]]
    """
    return value_and_jacobian(head_fun, argnums=0)


# Column-block size of the blocked Gram. One (m, n) × (n, m) contraction with n ~ 1e6 runs far
# below peak on XLA:CPU (a 10 × 1e6 Gram took 65 ms against torch's 34 ms on one core), while a
# fixed-trip loop over cache-sized 16384-column blocks took 13 ms (bench/bench_overhead.py).
GRAM_BLOCK = 16384
_gram_block: list[int | None] = [GRAM_BLOCK]


def set_gram_block_size(block_size: int | None) -> None:
    """Set the column block ``pj.gram`` uses by default (``None`` = never block).

    Blocking slices the flattened leaf dynamically; under ``jax.jit`` with a leaf *sharded
    across devices* that slice makes XLA all-gather the leaf. ``gram`` therefore stops
    blocking by itself inside ``jax.set_mesh(mesh)`` with more than one device; if you shard
    parameters without ``jax.set_mesh``, call ``set_gram_block_size(None)`` once, before the
    step is first traced (``jax.jit`` reuses a traced step).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.core.jacobian import GRAM_BLOCK
      >>> jac = {"w": jnp.arange(80.0).reshape(2, 40)}
      >>> pj.set_gram_block_size(8)  # 40 ≥ 2·8 columns: blocked
      >>> blocked = pj.gram(jac)
      >>> pj.set_gram_block_size(None)
      >>> bool(jnp.allclose(blocked, pj.gram(jac)))
      True
      >>> pj.set_gram_block_size(GRAM_BLOCK)  # restore the default
    """
    _gram_block[0] = check_chunk_size(block_size, "set_gram_block_size: block_size")


def _default_block() -> int | None:
    try:
        mesh = jax.sharding.get_abstract_mesh()
        if not mesh.empty and mesh.size > 1:
            return None
    except Exception:  # pragma: no cover - older jax without abstract meshes
        pass
    return _gram_block[0]


def _leaf_gram(leaf: Array, dtype: Any, block: int | None) -> Array:
    m = leaf.shape[0]
    n = math.prod(leaf.shape[1:])
    if block is None or n < 2 * block:
        # Contract every non-task axis in place (no reshape): a leaf sharded on any axis then
        # needs only an m×m all-reduce, never an all-gather of the Jacobian.
        leaf = leaf.astype(dtype)
        axes = tuple(range(1, leaf.ndim))
        return jnp.tensordot(leaf, leaf, axes=(axes, axes))
    flat = leaf.reshape(m, n)
    nb = n // block

    def body(k: Array, acc: Array) -> Array:
        blk = jax.lax.dynamic_slice_in_dim(flat, k * block, block, axis=1).astype(dtype)
        return acc + blk @ blk.T

    out = jax.lax.fori_loop(0, nb, body, jnp.zeros((m, m), dtype))
    if nb * block < n:
        rest = flat[:, nb * block :].astype(dtype)
        out = out + rest @ rest.T
    return out


def gram(jac: PyTree, dtype: Any = None, *, block_size: int | None | str = "auto") -> Array:
    r"""Gram matrix ``G = J Jᵀ`` of a stacked Jacobian, summed leaf by leaf and block by block.

    .. math:: G_{ij} = \sum_{\ell \in \text{leaves}} \sum_{b} \langle J^{\ell,b}_i,
       J^{\ell,b}_j \rangle

    Each leaf is contracted on its own over all its non-task axes (the parameters are never
    concatenated), in float32 or wider, whatever the parameter dtype. A leaf with at least
    ``2 * block_size`` entries per task is summed over fixed ``block_size``-column blocks of its
    flattened rows in a fixed-trip loop (static shapes): on XLA:CPU this is several times
    faster than one large contraction, and a low-precision leaf is cast to float32 one block at
    a time instead of as a whole copy.

    Args:
      jac: pytree whose leaves all have a leading axis of size m.
      dtype: accumulation dtype; default float32, or float64 if any leaf is float64.
      block_size: column-block size for large leaves; ``None`` contracts every leaf in one
        piece (what a leaf sharded across devices under ``jax.jit`` needs: a dynamic slice of
        a sharded axis gathers it). ``"auto"`` (default): :data:`GRAM_BLOCK` = 16384 (or the
        value of :func:`set_gram_block_size`), and ``None`` inside ``jax.set_mesh`` with more
        than one device.

    Returns:
      The symmetric positive semi-definite ``(m, m)`` Gram matrix.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.gram({"a": jnp.array([[-4., 1., 1.], [6., 1., 1.]])})
      Array([[ 18., -22.],
             [-22.,  38.]], dtype=float32)
    """
    m = num_tasks(jac)
    if isinstance(block_size, str):
        if block_size != "auto":
            raise ValueError(f"gram: block_size must be an int, None or 'auto', got {block_size!r}.")
        block = _default_block()
    else:
        block = check_chunk_size(block_size, "gram: block_size")
    leaves = jax.tree_util.tree_leaves(jac)
    if dtype is None:
        dtype = accumulation_dtype(jnp.result_type(*leaves))
    out = jnp.zeros((m, m), dtype)
    for leaf in leaves:
        out = out + _leaf_gram(jnp.asarray(leaf), dtype, block)
    # Exact symmetry keeps downstream eigen/QP solvers well behaved.
    return 0.5 * (out + out.T)


def combine(weights: Array, jac: PyTree) -> PyTree:
    r"""The update ``Σ_i w_i J_i`` computed leaf by leaf.

    .. math:: u = J^\top w

    The contraction runs in float32 or wider and is cast back to each leaf's dtype.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> u = pj.combine(jnp.array([0.75, 0.25]), {"a": jnp.array([[-4., 1., 1.], [6., 1., 1.]])})
      >>> u["a"].round(5).tolist()
      [-1.5, 1.0, 1.0]
    """
    m = num_tasks(jac)
    weights = jnp.asarray(weights)
    if weights.shape != (m,):
        raise ValueError(f"weights must have shape ({m},) to match the Jacobian, got {weights.shape}.")

    def one(leaf: Array) -> Array:
        acc = accumulation_dtype(jnp.result_type(leaf, weights))
        return jnp.tensordot(weights.astype(acc), leaf.astype(acc), axes=1).astype(leaf.dtype)

    return jax.tree_util.tree_map(one, jac)
