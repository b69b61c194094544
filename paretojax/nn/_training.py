r"""Training glue for NNX multi-task models: pure loss-vector functions and the feature-level step.

**The pattern** (any method of ``pj.methods()``)::

    model = pj.nn.HardSharing(144, (128, 128), (10, 10), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)               # params: an nnx.State pytree (all Params)
    loss_fn = pj.nn.loss_vector_fn(graphdef, pj.nn.classification_losses)
    tx = optax.chain(pj.mgda(), optax.adam(1e-3))
    step = pj.make_step(loss_fn, tx)                  # loss_fn(params, x, y) -> losses[m]
    params, opt_state, out = step(params, tx.init(params), (x, y))
    model = nnx.merge(graphdef, params)               # back to a module

**Feature-level (MGDA-UB) step** (METHODS.md §9): :func:`feature_level_step` — one forward,
``m`` VJPs to the shared representation ``Z = model.shared(x)``, weights from the Gram of
``∂L/∂Z`` by any Gram-level weighting (:func:`paretojax.feature_level_weights`), then one
backward: shared parameters get ``Σ w_i ∇L_i``, task-specific ones (``model.task_specific``)
their own task's gradient ``∇L_i``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from paretojax.transforms import Weighting
from paretojax.weighting import feature_level_weights

Array = jax.Array
PyTree = Any

__all__ = [
    "FeatureLevelStep",
    "accuracies",
    "classification_losses",
    "feature_level_step",
    "loss_vector_fn",
    "partition",
]


def classification_losses(outputs: Sequence[Array], y: Any) -> Array:
    r"""Per-task mean classification losses ``[m]`` from the task outputs and labels ``y`` ``[B, m]``.

    A head of width 1 is a binary task (BCE with logits, ``y ∈ {0, 1}``); a wider head is a
    ``K``-class task (softmax cross-entropy, ``y ∈ {0..K−1}``):

    .. math:: L_i = -\frac1B\sum_b \log \operatorname{softmax}(o_{i,b})_{y_{b,i}} \quad
       \text{or} \quad \frac1B\sum_b \operatorname{BCE}(o_{i,b}, y_{b,i}).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> outs = (jnp.zeros((2, 4)), jnp.zeros((2, 1)))
      >>> pj.nn.classification_losses(outs, jnp.array([[0, 1], [3, 0]])).round(4)
      Array([1.3863, 0.6931], dtype=float32)
    """
    y = jnp.asarray(y)
    if y.ndim != 2 or y.shape[1] != len(outputs):
        raise ValueError(
            f"classification_losses: labels must be [batch, {len(outputs)}], got {y.shape}."
        )
    losses = []
    for i, o in enumerate(outputs):
        yi = y[:, i].astype(jnp.int32)
        if o.shape[-1] == 1:
            losses.append(jnp.mean(optax.sigmoid_binary_cross_entropy(o[:, 0], yi.astype(o.dtype))))
        else:
            losses.append(jnp.mean(optax.softmax_cross_entropy_with_integer_labels(o, yi)))
    return jnp.stack(losses)


def accuracies(outputs: Sequence[Array], y: Any) -> Array:
    """Per-task accuracy ``[m]`` (argmax for multi-class heads, ``logit > 0`` for binary ones).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> outs = (jnp.array([[0.0, 1.0], [2.0, 0.0]]), jnp.array([[1.0], [-1.0]]))
      >>> pj.nn.accuracies(outs, jnp.array([[1, 1], [1, 1]]))
      Array([0.5, 0.5], dtype=float32)
    """
    y = jnp.asarray(y)
    accs = []
    for i, o in enumerate(outputs):
        pred = (o[:, 0] > 0).astype(jnp.int32) if o.shape[-1] == 1 else jnp.argmax(o, -1)
        accs.append(jnp.mean((pred == y[:, i].astype(jnp.int32)).astype(jnp.float32)))
    return jnp.stack(accs)


def loss_vector_fn(
    graphdef: Any, task_losses: Callable[..., Array] = classification_losses
) -> Callable[..., Array]:
    r"""A pure ``f(params, x, *targets) -> losses[m]`` for :func:`paretojax.make_step` / ``fit``.

    ``f(θ, x, *t) = task_losses(nnx.merge(graphdef, θ)(x), *t)``; ``(graphdef, params) =
    nnx.split(model)``.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> from flax import nnx
      >>> graphdef, params = nnx.split(pj.nn.HardSharing(4, (8,), (3, 3), rngs=nnx.Rngs(0)))
      >>> f = pj.nn.loss_vector_fn(graphdef)
      >>> tx = optax.chain(pj.upgrad(), optax.adam(1e-2))
      >>> x, y = jnp.ones((5, 4)), jnp.zeros((5, 2), jnp.int32)
      >>> params, _, out = pj.make_step(f, tx)(params, tx.init(params), (x, y))
      >>> out["losses"].shape
      (2,)
    """

    def f(params: PyTree, x: Any, *targets: Any) -> Array:
        return task_losses(nnx.merge(graphdef, params)(x), *targets)

    return f


def _task_filter(graphdef: Any) -> Callable[[Any, Any], bool]:
    nodes = getattr(graphdef, "nodes", None)
    cls = getattr(nodes[0], "type", None) if nodes else None
    names = getattr(cls, "task_specific", None)
    if names is None:
        raise ValueError(
            "feature-level training needs a paretojax.nn model (with `shared`, `task_outputs` and "
            "`task_specific`)."
        )
    names = tuple(names)
    return lambda path, _value: bool(path) and path[0] in names


def partition(graphdef: Any, params: Any) -> tuple[Any, Any]:
    """Split a model's ``params`` into ``(shared, task_specific)`` states (``model.task_specific``).

    Example:
      >>> import paretojax as pj
      >>> from flax import nnx
      >>> graphdef, params = nnx.split(pj.nn.HardSharing(4, (8,), (3, 3), rngs=nnx.Rngs(0)))
      >>> shared, task = pj.nn.partition(graphdef, params)
      >>> sorted(shared), sorted(task)
      (['trunk'], ['heads'])
    """
    task, shared = nnx.split_state(params, _task_filter(graphdef), ...)
    return shared, task


class FeatureLevelStep(NamedTuple):
    """``init(params) -> (opt_state, weighting_state)``; ``step(params, opt_state, wstate, batch,
    pref=None) -> (params, opt_state, wstate, out)`` with ``out = {"losses", "weights"}``."""

    init: Callable[..., Any]
    step: Callable[..., Any]


def feature_level_step(
    graphdef: Any,
    weighting: Weighting,
    optimizer: optax.GradientTransformation,
    task_losses: Callable[..., Array] = classification_losses,
    *,
    jit: bool = True,
) -> FeatureLevelStep:
    r"""MGDA-UB-style training step for a ``paretojax.nn`` model (METHODS.md §9).

    .. math::

        Z = \mathrm{shared}_\theta(x), \quad
        G^Z_{ij} = \langle \partial L_i/\partial Z, \partial L_j/\partial Z\rangle, \quad
        w = \mathrm{weighting}(G^Z, L),

        \Delta\theta = \Big(\frac{\partial Z}{\partial\theta}\Big)^{\!\top}
            \sum_i w_i \frac{\partial L_i}{\partial Z}, \qquad
        \Delta\psi_i = \nabla_{\psi_i} L_i \ (\text{task-specific}),

    i.e. one forward, ``m`` VJPs to ``Z`` (heads only), one VJP through the shared part. Sener &
    Koltun (NeurIPS 2018) show the Gram of ``∂L/∂Z`` bounds the parameter problem for MGDA;
    LibMTL (``rep_grad=True``) disallows CAGrad, PCGrad, GradVac and Nash-MTL here because
    they need parameter-space structure. Heads always get their own task's gradient.

    Args:
      graphdef: from ``nnx.split(model)`` of a ``paretojax.nn`` model.
      weighting: a Gram-level :class:`~paretojax.Weighting` (e.g. ``pj.mgda_weighting()``).
      optimizer: the optax optimizer applied to the combined gradient.
      task_losses: ``(outputs, *targets) -> losses[m]`` (default
        :func:`classification_losses`).
      jit: compile the step (default True).

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> from flax import nnx
      >>> graphdef, params = nnx.split(pj.nn.HardSharing(4, (8,), (3, 3), rngs=nnx.Rngs(0)))
      >>> fl = pj.nn.feature_level_step(graphdef, pj.mgda_weighting(), optax.adam(1e-2))
      >>> opt_state, wstate = fl.init(params)
      >>> batch = (jnp.ones((5, 4)), jnp.zeros((5, 2), jnp.int32))
      >>> params, opt_state, wstate, out = fl.step(params, opt_state, wstate, batch)
      >>> float(out["weights"].sum())
      1.0
    """
    if not isinstance(weighting, Weighting):
        raise ValueError(
            f"feature_level_step: weighting must be a paretojax Weighting (e.g. "
            f"pj.mgda_weighting()), got {type(weighting).__name__}."
        )
    _task_filter(graphdef)  # fail early on a non-paretojax.nn model

    def init(params: PyTree) -> tuple[PyTree, Any]:
        wstate = None if weighting.init is None else weighting.init()
        return optimizer.init(params), wstate

    def step(params, opt_state, wstate, batch, pref=None):
        x, *targets = batch if isinstance(batch, tuple) else (batch,)
        shared_p, task_p = partition(graphdef, params)

        def encode(sp):
            return nnx.merge(graphdef, sp, task_p).shared(x)

        def head(z, tp):
            model = nnx.merge(graphdef, jax.lax.stop_gradient(shared_p), tp)
            return task_losses(model.task_outputs(z, x), *targets)

        z, encode_vjp = jax.vjp(encode, shared_p)
        w, losses, wstate = feature_level_weights(
            weighting, head, z, task_p, state=wstate, pref=pref
        )
        w = w.astype(losses.dtype)
        _, head_vjp = jax.vjp(head, z, task_p)
        # Two cotangents through the heads: w for Z (shared path), 1 for the heads' own grads.
        (dz, _), (_, dtask) = head_vjp(w), head_vjp(jnp.ones_like(losses))
        (dshared,) = encode_vjp(dz)
        grads = nnx.merge_state(dshared, dtask)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, wstate, {"losses": losses, "weights": w}

    return FeatureLevelStep(init=init, step=jax.jit(step) if jit else step)
