r"""FAMO — fast adaptive multitask optimisation (one backward pass, no per-task gradients).

.. math::

    z = \operatorname{softmax}(\xi), \qquad D_i = L_i - L_i^{\min} + \epsilon, \qquad
    c = \sum_i z_i / D_i \ (\text{held constant}), \qquad
    S = \sum_i \frac{z_i}{c} \log D_i ,

so that ``∇_θ S = Σ_i w_i ∇L_i`` with ``w_i = z_i / (c D_i)`` (``Σw = 1``): one backward pass
of a scalar. After the model step, on the **same batch**, the logits learn from the observed
log-loss decrease

.. math::

    \delta_i = \log D_i(\theta_t) - \log D_i(\theta_{t+1}), \qquad
    \nabla_\xi = \Big(\frac{\partial z}{\partial \xi}\Big)^{\!\top} \delta
              = z \odot (\delta - z^\top \delta),

and take an Adam step (PyTorch semantics: coupled weight decay ``g + γξ``; lr 0.025,
``γ = 1e-3``). Defaults: ``ε = 1e-8``, ``L^min = 0``, ``ξ₀ = 0``.

Usage, one backward (the method's point)::

    (s, fstate), grads = jax.value_and_grad(
        lambda p, st: pj.famo_loss(loss_vector(p, batch), st), has_aux=True)(params, fstate)
    updates, opt_state = opt.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    fstate = pj.famo_update(fstate, loss_vector(params, batch))   # the extra forward

or as a transform over stacked gradients, ``pj.famo(num_tasks=m)`` (weights ``∂S/∂L``), followed
by ``opt_state = pj.famo_update(opt_state, new_losses)`` (it finds the FAMO state anywhere in
an ``optax.chain`` state).

Paper: Liu, Feng, Stone, Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023.
Reference matched: LibMTL ``weighting/FAMO.py`` + the trainer's re-forward after the step (the
same maths as TorchJD ``_famo.py`` and the official ``Cranial-XIX/FAMO``). The official code
uses weight decay ``1e-5``: ``official=True``.
Deviation: ``D = max(L − L^min, 0) + ε`` (the reference takes the log of a negative number, NaN,
when a loss drops below ``L^min``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = [
    "FAMOState",
    "famo_init",
    "famo_loss",
    "famo_weights",
    "famo_update",
    "famo_weighting",
    "famo",
]

_EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# Shared helpers of the learned-task-weight methods (FAMO, Auto-λ, MOML, FORUM).


def float_dtype() -> Any:
    """The default float dtype: float64 under ``jax_enable_x64``, else float32 (state dtype)."""
    return jnp.result_type(float)


def check_num_tasks(num_tasks: Any, fn: str) -> int:
    """``num_tasks`` must be an integer ≥ 1."""
    if num_tasks is None or isinstance(num_tasks, bool):
        raise ValueError(f"{fn} needs num_tasks (an integer ≥ 1), got {num_tasks!r}.")
    try:
        m = int(num_tasks)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{fn}: num_tasks must be an integer ≥ 1, got {num_tasks!r}.") from err
    if m != num_tasks or m < 1:
        raise ValueError(f"{fn}: num_tasks must be an integer ≥ 1, got {num_tasks!r}.")
    return m


def check_nonneg(x: Any, name: str, fn: str, *, positive: bool = False) -> float:
    """A finite scalar hyperparameter ≥ 0 (or > 0)."""
    try:
        v = float(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{fn}: {name} must be a number, got {x!r}.") from err
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(
            f"{fn}: {name} must be finite and {'> 0' if positive else '≥ 0'}, got {x!r}."
        )
    return v


def adam_init(x: Array) -> optax.ScaleByAdamState:
    """Adam moments for a task-weight vector (β = (0.9, 0.999), ε = 1e-8, as PyTorch/optax)."""
    return optax.scale_by_adam().init(x)


def adam_step(
    x: Array, grad: Array, adam: optax.ScaleByAdamState, lr: Array, weight_decay: Array
) -> tuple[Array, optax.ScaleByAdamState]:
    """One ``torch.optim.Adam(lr, weight_decay)`` step: coupled L2 ``g + γx``, bias-corrected."""
    g = grad.astype(x.dtype) + weight_decay.astype(x.dtype) * x
    u, adam = optax.scale_by_adam().update(g, adam)
    return x - lr.astype(x.dtype) * u, adam


def map_method_states(tree: Any, cls: type, fn: Callable[[Any], Any], caller: str) -> Any:
    """Apply ``fn`` to every ``cls`` node of ``tree`` (a method state, a ``TransformState`` or
    an ``optax.chain`` state containing one); raise if there is none."""
    found = []

    def visit(x: Any) -> Any:
        if isinstance(x, cls):
            found.append(True)
            return fn(x)
        return x

    out = jax.tree_util.tree_map(visit, tree, is_leaf=lambda x: isinstance(x, cls))
    if not found:
        raise ValueError(f"{caller}: no {cls.__name__} found in the given state.")
    return out


def find_method_state(tree: Any, cls: type, caller: str) -> Any:
    """The single ``cls`` node of ``tree`` (see :func:`map_method_states`)."""
    found: list[Any] = []
    jax.tree_util.tree_map(
        lambda x: found.append(x) if isinstance(x, cls) else None,
        tree,
        is_leaf=lambda x: isinstance(x, cls),
    )
    if len(found) != 1:
        raise ValueError(
            f"{caller}: expected exactly one {cls.__name__} in the given state, found {len(found)}."
        )
    return found[0]


def inner_state(state: Any, cls: type, caller: str) -> tuple[Any, Callable[[Any], Any]]:
    """``(method_state, rewrap)``: accepts the method state itself or any pytree (e.g. a
    ``TransformState`` or an ``optax.chain`` state) holding exactly one; ``rewrap(new)`` puts a
    new method state back in place."""
    if isinstance(state, cls):
        return state, lambda new: new
    old = find_method_state(state, cls, caller)
    return old, lambda new: map_method_states(state, cls, lambda _: new, caller)


# ---------------------------------------------------------------------------------------------


class FAMOState(NamedTuple):
    """State of FAMO.

    Attributes:
      logits: ``ξ`` ``[m]`` (task weights ``z = softmax(ξ)``).
      adam: Adam moments of ``ξ``.
      prev_losses: losses of the last step before the model update ``[m]``.
      has_prev: whether ``prev_losses`` holds a step not yet used by :func:`famo_update`.
      lr: Adam learning rate of ``ξ`` (a scalar array, so it can be ``vmap``-ed).
      weight_decay: coupled weight decay ``γ`` of ``ξ``.
      min_losses: ``L^min`` ``[m]``.
    """

    logits: Array
    adam: optax.ScaleByAdamState
    prev_losses: Array
    has_prev: Array
    lr: Array
    weight_decay: Array
    min_losses: Array


def famo_init(
    num_tasks: int,
    *,
    lr: float = 0.025,
    weight_decay: float | None = None,
    min_losses: Any = None,
    official: bool = False,
) -> FAMOState:
    """Initial FAMO state: ``ξ = 0`` (uniform weights), fresh Adam moments.

    Args:
      num_tasks: m.
      lr: Adam learning rate of the logits (0.025, LibMTL ``FAMO_w_lr`` and the paper).
      weight_decay: coupled weight decay; default ``1e-3`` (LibMTL ``FAMO_w_gamma``), or
        ``1e-5`` with ``official=True`` (``Cranial-XIX/FAMO``).
      min_losses: ``L^min`` (scalar or ``[m]``), default 0.
      official: use the official repository's weight decay default.

    Example:
      >>> import paretojax as pj
      >>> pj.famo_init(3).logits
      Array([0., 0., 0.], dtype=float32)
    """
    m = check_num_tasks(num_tasks, "famo")
    lr = check_nonneg(lr, "lr", "famo")
    if weight_decay is None:
        weight_decay = 1e-5 if official else 1e-3
    weight_decay = check_nonneg(weight_decay, "weight_decay", "famo")
    if min_losses is None:
        lmin = jnp.zeros((m,), float_dtype())
    else:
        lmin = jnp.broadcast_to(jnp.asarray(min_losses, float_dtype()), (m,))
        if not bool(jnp.all(jnp.isfinite(lmin))):
            raise ValueError(f"famo: min_losses must be finite, got {min_losses!r}.")
    xi = jnp.zeros((m,), float_dtype())
    return FAMOState(
        logits=xi,
        adam=adam_init(xi),
        prev_losses=jnp.zeros((m,), float_dtype()),
        has_prev=jnp.asarray(False),
        lr=jnp.asarray(lr, float_dtype()),
        weight_decay=jnp.asarray(weight_decay, float_dtype()),
        min_losses=lmin,
    )


def _check_losses(losses: Any, state: FAMOState, fn: str) -> Array:
    f = jnp.asarray(losses)
    if f.shape != state.logits.shape:
        raise ValueError(f"{fn}: losses must have shape {state.logits.shape}, got {f.shape}.")
    return f


def _log_d(losses: Array, min_losses: Array) -> tuple[Array, Array]:
    d = jnp.maximum(losses - min_losses.astype(losses.dtype), 0.0) + _EPS
    return d, jnp.log(d)


def _record(state: FAMOState, losses: Array) -> FAMOState:
    prev = jax.lax.stop_gradient(losses).astype(state.prev_losses.dtype)
    return state._replace(prev_losses=prev, has_prev=jnp.asarray(True))


def famo_loss(losses: Any, state: FAMOState) -> tuple[Array, FAMOState]:
    r"""The FAMO scalar ``S = Σ_i (z_i/c) log D_i`` (``z``, ``c`` constant) and the new state.

    ``∇_θ S(L(θ)) = Σ_i w_i ∇L_i`` with ``w = z/(cD)``: differentiate it with
    ``jax.value_and_grad(..., has_aux=True)``. The state records the losses for
    :func:`famo_update`.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> st = pj.famo_init(2)
      >>> w = jax.grad(lambda f: pj.famo_loss(f, st)[0])(jnp.array([1.0, 3.0]))
      >>> w.round(4)
      Array([0.75, 0.25], dtype=float32)
    """
    f = _check_losses(losses, state, "famo_loss")
    z = jax.nn.softmax(state.logits).astype(f.dtype)
    d, log_d = _log_d(f, state.min_losses)
    c = jax.lax.stop_gradient(jnp.sum(z / d))
    s = jnp.sum(z / c * log_d)
    return s, _record(state, f)


def famo_weights(
    gram: Array | None,
    losses: Array,
    state: FAMOState,
    *,
    pref: Array | None = None,
) -> tuple[Array, FAMOState]:
    """FAMO task weights ``w = ∂S/∂L = z / (c D)`` (sum to 1); records the losses.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, st = pj.famo_weights(None, jnp.array([1.0, 3.0]), pj.famo_init(2))
      >>> w.round(4)
      Array([0.75, 0.25], dtype=float32)
    """
    del gram, pref
    f = jax.lax.stop_gradient(_check_losses(losses, state, "famo_weights"))
    z = jax.nn.softmax(state.logits).astype(f.dtype)
    d, _ = _log_d(f, state.min_losses)
    r = z / d
    w = r / jnp.sum(r)
    return w, _record(state, f)


def _update_one(state: FAMOState, new_losses: Array) -> FAMOState:
    f = jax.lax.stop_gradient(new_losses).astype(state.prev_losses.dtype)
    _, log_prev = _log_d(state.prev_losses, state.min_losses)
    _, log_new = _log_d(f, state.min_losses)
    delta = log_prev - log_new
    z = jax.nn.softmax(state.logits)
    grad = z * (delta - jnp.dot(z, delta))  # (∂softmax/∂ξ)ᵀ δ
    ok = state.has_prev & jnp.all(jnp.isfinite(grad))
    xi, adam = adam_step(state.logits, grad, state.adam, state.lr, state.weight_decay)
    new = state._replace(logits=xi, adam=adam, has_prev=jnp.asarray(False))
    keep = state._replace(has_prev=jnp.asarray(False))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, keep)


def famo_update(state: Any, new_losses: Any) -> Any:
    r"""Update the FAMO logits from the losses *after* the model step (same batch).

    ``δ = log D(before) − log D(after)``, ``∇_ξ = (∂z/∂ξ)ᵀδ``, one Adam step on ``ξ``. A no-op
    when no step has been recorded since the last update, or when ``new_losses`` is not finite.

    Args:
      state: a :class:`FAMOState`, or any pytree holding one (the ``TransformState`` of
        :func:`famo`, an ``optax.chain`` state); the same structure is returned.
      new_losses: ``[m]`` losses of the updated model on the batch of the last step.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> _, st = pj.famo_loss(jnp.array([1.0, 1.0]), pj.famo_init(2))
      >>> st = pj.famo_update(st, jnp.array([0.5, 1.0]))   # task 0 improved more
      >>> bool(st.logits[0] < st.logits[1])
      True
    """
    one, _ = inner_state(state, FAMOState, "famo_update")
    f = _check_losses(new_losses, one, "famo_update")
    return map_method_states(state, FAMOState, lambda s: _update_one(s, f), "famo_update")


def famo_weighting(
    num_tasks: int,
    *,
    lr: float = 0.025,
    weight_decay: float | None = None,
    min_losses: Any = None,
    official: bool = False,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`famo` (loss-level, no Gram).

    Loss-level (``uses_gram=False``): ``w_i = z_i / (c D_i)`` with ``z = softmax(ξ)``
    from the state, ``D_i = L_i − L_i^{min} + ε`` and ``c = Σ_i z_i / D_i``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.famo_weighting(num_tasks=2)
      >>> w, _ = wt.weights(NOG, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]  # z = ½, D ≈ L: [½/(¾·1), ½/(¾·2)]
      [0.6667, 0.3333]
    """
    init_state = famo_init(
        num_tasks, lr=lr, weight_decay=weight_decay, min_losses=min_losses, official=official
    )

    def fn(gram: Array, losses: Array | None, state: FAMOState, pref: Array | None):
        return famo_weights(None, losses, state)

    return Weighting(
        init=lambda: init_state, weights=fn, name="famo", needs_losses=True, uses_gram=False
    )


def famo(
    num_tasks: int,
    *,
    lr: float = 0.025,
    weight_decay: float | None = None,
    min_losses: Any = None,
    official: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""FAMO as a transform: ``u = Σ_i w_i ∇L_i`` with ``w = ∂S/∂L = z/(cD)``.

    Needs ``task_losses`` every step, and ``opt_state = pj.famo_update(opt_state, new_losses)``
    after each model step (the losses of the updated model on the same batch). The weights
    equal the gradient of :func:`famo_loss`, which needs only one backward pass — prefer it when
    you do not need the per-task gradients for anything else.

    Args:
      num_tasks: m.
      lr: Adam learning rate of the logits (0.025).
      weight_decay: coupled weight decay of the logits (1e-3 LibMTL; 1e-5 with ``official``).
      min_losses: ``L^min`` (default 0).
      official: the official repository's weight decay.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.famo(num_tasks=2)
      >>> st = tx.init({"w": jnp.zeros(2)})
      >>> u, st = tx.update({"w": jnp.eye(2)}, st, task_losses=jnp.array([1.0, 3.0]))
      >>> u["w"].round(4)
      Array([0.75, 0.25], dtype=float32)
      >>> st = pj.famo_update(st, jnp.array([0.9, 2.0]))
    """
    w = famo_weighting(
        num_tasks, lr=lr, weight_decay=weight_decay, min_losses=min_losses, official=official
    )
    return as_transform(w, int(num_tasks))


INFO = MethodInfo(
    name="famo",
    family="balancing",
    factory=famo,
    description="FAMO: softmax task logits learnt from the observed log-loss decrease; 1 backward.",
    reference="Liu, Feng, Stone, Liu, NeurIPS 2023; LibMTL FAMO.py (+ trainer re-forward)",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
    properties=frozenset({"PI"}),
)
