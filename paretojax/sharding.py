r"""Data-parallel, parameter-sharded and ``shard_map`` training with paretojax.

Every paretojax weighting reads only the ``m × m`` Gram matrix ``G = J Jᵀ`` (and the ``m``
losses), so the solver is tiny and identical on every device; the rest of the pipeline
(``value_and_jacobian``, ``gram``, ``combine``) is ordinary ``jnp`` code that XLA's SPMD
partitioner shards like any gradient computation. Nothing paretojax-specific is needed beyond
placing the arrays; the helpers below only shorten that.

Recipe 1 — data parallel with ``jax.jit`` and ``NamedSharding``: shard the batch on its leading
axis, replicate the parameters and the optimizer state; XLA all-reduces the per-task gradients
(``m`` gradient-sized all-reduces, exactly like ``m`` ordinary data-parallel steps) and every
device then solves the same ``m × m`` problem::

    import jax, jax.numpy as jnp, optax
    from jax.sharding import AxisType
    import paretojax as pj

    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    tx = optax.chain(pj.upgrad(), optax.sgd(1e-2))

    @jax.jit
    def step(params, opt_state, x, y):
        losses, jac = pj.value_and_jacobian(task_losses)(params, x, y)
        updates, opt_state = tx.update(jac, opt_state, params, task_losses=losses)
        return optax.apply_updates(params, updates), opt_state, losses

    params = pj.sharding.replicate(params, mesh)
    opt_state = pj.sharding.replicate(tx.init(params), mesh)
    x, y = pj.sharding.shard_batch((x, y), mesh)          # leading axis split over "data"
    params, opt_state, losses = step(params, opt_state, x, y)

Recipe 2 — parameter sharded (tensor/FSDP-style) with ``jax.jit``: place the large parameter
leaves with a ``PartitionSpec`` over a ``"model"`` axis (:func:`shard_params` picks one axis per
large leaf). ``J`` inherits the parameter sharding (plus the replicated task axis), each device
computes its partial ``m × m`` Gram from its own slices, one ``m × m`` all-reduce sums them, and
``combine`` is local: the update comes out sharded like the parameters (XLA may still pick a
sharded layout for a *replicated* leaf in the output; pass ``jax.jit(step, out_shardings=...)``
to pin the layout of every output). The tests
(``tests/test_sharding.py``) check this in the compiled HLO: the Gram's only collective is an
``f32[m, m]`` all-reduce. ``pj.gram`` contracts each leaf in place over its trailing axes, so
any sharded axis is fine — but its fast path for large leaves (fixed 16384-column blocks, taken
for leaves with ≥ 32768 entries per task) slices the flattened leaf dynamically, and under
``jax.jit`` a dynamic slice of a *sharded* leaf makes XLA all-gather it. Run the step inside
``with jax.set_mesh(mesh):`` (``pj.gram`` then does not block), or call
``pj.core.jacobian.set_gram_block_size(None)`` once. Same ``step`` as in recipe 1::

    mesh = jax.make_mesh((jax.device_count(),), ("model",), axis_types=(AxisType.Auto,))
    params = pj.sharding.shard_params(params, mesh)      # large leaves split on one axis
    opt_state = pj.sharding.replicate(tx.init(params), mesh)  # stateless methods: tiny
    x, y = pj.sharding.replicate((x, y), mesh)
    params, opt_state, losses = step(params, opt_state, x, y)

For a 2-D ``("data", "model")`` mesh combine both: batch on ``"data"``, leaves on ``"model"``.
(Optimizer state such as Adam's moments should be placed like the parameters, e.g.
``jax.device_put(tx.init(params), ...)`` with the parameters' shardings.)

Recipe 3 — ``jax.shard_map`` (explicit collectives). Data parallel: inside the mapped function
each device sees its batch shard; average the *losses* over the data axis inside the loss
function (``jax.lax.pmean``). The differentiated losses are then the full-batch losses, and
with ``shard_map``'s default ``check_vma=True`` the reverse pass sums the per-device
contributions to the replicated parameters, so ``J`` is the full-batch Jacobian, identical on
every device, and the transform runs unchanged. (Do not ``pmean`` a Jacobian obtained from
per-device losses under ``check_vma=True``: it is already summed over devices, and
``pj.value_and_jacobian`` of a device-varying loss vector currently raises a VJP type error.)
Parameter sharded: each device holds a slice of every large leaf; its local Jacobian slice
gives a partial Gram, and :func:`psum_gram` sums the partial Grams, so only an ``m × m``
matrix crosses devices; the weights are then the same everywhere and ``pj.combine`` is local::

    from functools import partial
    from jax.sharding import PartitionSpec as P

    def global_losses(params, x, y):                      # per-shard means, averaged
        return jax.lax.pmean(task_losses(params, x, y), "data")

    @jax.jit
    @partial(jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")),
             out_specs=(P(), P(), P()))
    def step(params, opt_state, x, y):
        losses, jac = pj.value_and_jacobian(global_losses)(params, x, y)
        updates, opt_state = tx.update(jac, opt_state, params, task_losses=losses)
        return optax.apply_updates(params, updates), opt_state, losses

    # parameter-sharded: the weights from the global Gram, the update from the local slices
    G = pj.sharding.psum_gram(local_jac, "model")          # (m, m), replicated
    w, _ = pj.mgda_weights(G)
    local_update = pj.combine(w, local_jac)

Multi-host (``jax.distributed``): run the *same* program on every host and call
``jax.distributed.initialize()`` first, before any other JAX call (on SLURM, Open MPI or Cloud
TPU the coordinator address, process count and process id are auto-detected; elsewhere pass
``coordinator_address="host0:1234", num_processes=N, process_id=i``). ``jax.devices()`` then
lists every host's devices and ``jax.local_devices()`` this host's. Build the mesh over all of
them (``jax.make_mesh((jax.device_count(),), ("data",))``, or ``("data", "model")`` with the
model axis inside a host so that parameter shards talk over the fast local links). Each host
loads only its own rows of the batch and assembles the global array with
``jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), local_batch)``;
parameters come from the same key on every host (or ``jax.device_put`` of host-identical
values), and the jitted step is unchanged: the per-task gradients are all-reduced across hosts
as in recipe 1, and the ``m × m`` Gram solve is replicated on every device, so no host ever
needs another host's Jacobian. Results leave the devices with
``jax.experimental.multihost_utils.process_allgather`` (for logging) and only process 0
(``jax.process_index() == 0``) should print or write checkpoints (orbax coordinates a sharded
checkpoint itself). Every host must run the same number of steps with the same shapes, or the
collectives hang.

Mixed precision: with bfloat16/float16 parameters ``pj.gram`` accumulates in float32, the
solvers return float32 weights, and ``pj.combine`` casts the update back to each leaf's dtype
(``tests/test_mixed_precision.py``).
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from paretojax.core.jacobian import gram

Array = jax.Array
PyTree = Any

__all__ = ["shard_batch", "replicate", "shard_params", "psum_gram"]


def shard_batch(batch: PyTree, mesh: Mesh, axis: str = "data") -> PyTree:
    """Place every leaf of ``batch`` on ``mesh`` split along its leading axis over ``axis``.

    The leading (batch) size of every leaf must be divisible by ``mesh.shape[axis]``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> mesh = jax.make_mesh((1,), ("data",))
      >>> x = pj.sharding.shard_batch(jnp.ones((4, 2)), mesh)
      >>> tuple(x.sharding.spec)
      ('data',)
    """
    if axis not in mesh.shape:
        raise ValueError(f"shard_batch: mesh has no axis {axis!r} (axes {tuple(mesh.shape)}).")
    n = mesh.shape[axis]

    def put(leaf: Any) -> Array:
        shape = jax.numpy.shape(leaf)
        if len(shape) == 0 or shape[0] % n:
            raise ValueError(
                f"shard_batch: a leaf of shape {shape} cannot be split in {n} along axis 0."
            )
        return jax.device_put(leaf, NamedSharding(mesh, PartitionSpec(axis)))

    return jax.tree_util.tree_map(put, batch)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place every leaf of ``tree`` fully replicated on ``mesh`` (parameters, optimizer state).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> mesh = jax.make_mesh((1,), ("data",))
      >>> tuple(pj.sharding.replicate({"w": jnp.ones(3)}, mesh)["w"].sharding.spec)
      ()
    """
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_params(
    params: PyTree, mesh: Mesh, axis: str = "model", min_size: int = 1024
) -> PyTree:
    """Shard each leaf with at least ``min_size`` elements over ``axis``, along its first
    dimension divisible by the axis size; smaller (or indivisible) leaves are replicated.

    The first divisible dimension is preferred because ``pj.gram`` then needs only an ``m × m``
    all-reduce (see the module docstring).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> mesh = jax.make_mesh((1,), ("model",))
      >>> params = {"w": jnp.ones((4, 8)), "b": jnp.ones(8)}
      >>> p = pj.sharding.shard_params(params, mesh, min_size=16)
      >>> tuple(p["w"].sharding.spec), tuple(p["b"].sharding.spec)
      (('model', None), ())
    """
    if axis not in mesh.shape:
        raise ValueError(f"shard_params: mesh has no axis {axis!r} (axes {tuple(mesh.shape)}).")
    n = mesh.shape[axis]

    def spec(leaf: Any) -> PartitionSpec:
        shape = jax.numpy.shape(leaf)
        size = 1
        for s in shape:
            size *= s
        if size >= min_size:
            for i, s in enumerate(shape):
                if s % n == 0:
                    return PartitionSpec(*([None] * i + [axis] + [None] * (len(shape) - i - 1)))
        return PartitionSpec()

    return jax.tree_util.tree_map(
        lambda leaf: jax.device_put(leaf, NamedSharding(mesh, spec(leaf))), params
    )


def psum_gram(local_jac: PyTree, axis_name: str, dtype: Any = None) -> Array:
    """The global ``m × m`` Gram from parameter-sharded Jacobian slices inside ``shard_map``:
    ``G = Σ_devices gram(local slices)``; only this ``m × m`` matrix crosses devices.

    Replicated leaves must not be passed here (they would be counted once per device); add
    their Gram outside the ``psum``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from jax.sharding import PartitionSpec as P
      >>> mesh = jax.make_mesh((1,), ("model",))
      >>> jac = {"w": jnp.arange(12.0).reshape(2, 6)}  # parameters sharded on their last axis
      >>> spec = {"w": P(None, "model")}
      >>> f = jax.shard_map(lambda j: pj.sharding.psum_gram(j, "model"), mesh=mesh,
      ...               in_specs=(spec,), out_specs=P())
      >>> jac_sh = jax.device_put(jac, {"w": jax.NamedSharding(mesh, spec["w"])})
      >>> bool(jnp.allclose(f(jac_sh), pj.gram(jac)))
      True
    """
    return jax.lax.psum(gram(local_jac, dtype), axis_name)
