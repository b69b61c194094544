r"""DWA — dynamic weight average.

.. math::

    r_i = \frac{\bar L_i(e-1)}{\bar L_i(e-2)}, \qquad
    w = m \cdot \operatorname{softmax}(r / T) \ (e \ge 2), \qquad w = \mathbf 1 \ (e = 0, 1),

where :math:`\bar L_i(e)` is the mean of task ``i``'s training losses over epoch ``e``: tasks
whose loss decreased least over the last epoch get more weight. ``T = 2`` (paper, MTAN code,
LibMTL). Weights sum to ``m`` (loss scale of the unweighted sum).

State: running sum and count of the current epoch's losses, the two previous epoch means and
the epoch counter. Epoch boundaries are explicit: call :func:`dwa_epoch_end` on the method
state, or on any optimizer state that contains it (TorchJD ``_dwa.py`` needs ``step()``;
LibMTL ``DWA.py`` reads the trainer's ``train_loss_buffer`` — same maths). A zero previous mean
is floored at ``1e-20``; an epoch without steps repeats the last mean.

Paper: Liu, Johns, Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019
(official ``lorenmt/mtan``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import check_positive, map_states
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = [
    "DWAState",
    "dwa_init",
    "dwa_weights",
    "dwa_loss",
    "dwa_epoch_end",
    "dwa_weighting",
    "dwa",
]

_FLOOR = 1e-20


class DWAState(NamedTuple):
    """State of :func:`dwa`.

    Attributes:
      epoch: int32 index of the current epoch.
      loss_sum: sum of this epoch's losses so far ``[m]``.
      count: number of steps in ``loss_sum`` (float).
      prev: mean losses of epoch ``e − 1`` ``[m]``.
      prev2: mean losses of epoch ``e − 2`` ``[m]``.
    """

    epoch: Array
    loss_sum: Array
    count: Array
    prev: Array
    prev2: Array


def _check_m(num_tasks: Any) -> int:
    if num_tasks is None or int(num_tasks) != num_tasks or int(num_tasks) < 1:
        raise ValueError(f"dwa needs an integer num_tasks ≥ 1, got {num_tasks!r}.")
    return int(num_tasks)


def dwa_init(num_tasks: int) -> DWAState:
    """Initial state (epoch 0, empty history) for ``num_tasks`` tasks.

    Example:
      >>> import paretojax as pj
      >>> st = pj.dwa_init(3)
      >>> (int(st.epoch), st.loss_sum.shape)
      (0, (3,))
    """
    m = _check_m(num_tasks)
    z = jnp.zeros((m,), jnp.float32)
    return DWAState(
        epoch=jnp.zeros((), jnp.int32), loss_sum=z, count=jnp.zeros((), jnp.float32),
        prev=jnp.ones((m,), jnp.float32), prev2=jnp.ones((m,), jnp.float32),
    )


def _current_weights(state: DWAState, temperature: float) -> Array:
    m = state.prev.shape[0]
    den = jnp.where(jnp.abs(state.prev2) > _FLOOR, state.prev2, _FLOOR)
    r = state.prev / den
    w = m * jax.nn.softmax(r / temperature)
    return jnp.where(state.epoch >= 2, w, jnp.ones_like(w))


def dwa_weights(
    gram: Array | None,
    losses: Array,
    state: DWAState,
    *,
    pref: Array | None = None,
    temperature: float = 2.0,
) -> tuple[Array, DWAState]:
    """DWA weights for the current epoch; the losses are added to the epoch's running sum.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> st = pj.dwa_init(2)
      >>> w, st = pj.dwa_weights(None, jnp.array([1.0, 2.0]), st)
      >>> w
      Array([1., 1.], dtype=float32)
    """
    del gram, pref
    temperature = check_positive(temperature, "temperature", "dwa")
    f = jnp.asarray(losses)
    if f.shape != state.loss_sum.shape:
        raise ValueError(f"dwa: losses must have shape {state.loss_sum.shape}, got {f.shape}.")
    w = _current_weights(state, temperature)
    fd = jax.lax.stop_gradient(f).astype(state.loss_sum.dtype)
    new_state = state._replace(loss_sum=state.loss_sum + fd, count=state.count + 1.0)
    return w, new_state


def dwa_loss(
    losses: Any, state: DWAState, *, temperature: float = 2.0
) -> tuple[Array, DWAState]:
    r"""The DWA-weighted loss ``Σ_i w_i L_i`` (weights held constant) and the new state.

    For use directly in a model loss (``jax.value_and_grad(..., has_aux=True)``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> s, st = pj.dwa_loss(jnp.array([1.0, 2.0]), pj.dwa_init(2))
      >>> print(float(s))
      3.0
    """
    f = jnp.asarray(losses)
    w, new_state = dwa_weights(None, f, state, temperature=temperature)
    return jnp.sum(jax.lax.stop_gradient(w).astype(f.dtype) * f), new_state


def _epoch_end_one(state: DWAState) -> DWAState:
    mean = jnp.where(state.count > 0, state.loss_sum / jnp.maximum(state.count, 1.0), state.prev)
    return DWAState(
        epoch=state.epoch + 1,
        loss_sum=jnp.zeros_like(state.loss_sum),
        count=jnp.zeros_like(state.count),
        prev=mean,
        prev2=state.prev,
    )


def dwa_epoch_end(state: Any) -> Any:
    """Close the current epoch: store its mean losses and start a new running sum.

    ``state`` may be a :class:`DWAState` or any pytree containing some (e.g. the state of
    ``optax.chain(pj.dwa(m), optax.adam(1e-3))``); every DWA state found is advanced. Pure and
    ``jit``-able.

    Raises:
      ValueError: if ``state`` contains no :class:`DWAState`.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> tx = optax.chain(pj.dwa(num_tasks=2), optax.sgd(0.1))
      >>> opt_state = pj.dwa_epoch_end(tx.init({"w": jnp.zeros(3)}))
    """
    return map_states(state, DWAState, _epoch_end_one, "dwa")


def dwa_weighting(num_tasks: int, temperature: float = 2.0) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`dwa`.

    Loss-level (``uses_gram=False``): ``w = m·softmax(r/T)`` from the loss ratios of the two
    previous epochs (``w = 1`` in epochs 0 and 1); the losses are accumulated in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.dwa_weighting(num_tasks=2)
      >>> w, state = wt.weights(NOG, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]  # epoch 0
      [1.0, 1.0]
      >>> state.count.item()  # one step accumulated
      1.0
    """
    m = _check_m(num_tasks)
    temperature = check_positive(temperature, "temperature", "dwa")

    def fn(gram: Array, losses: Array | None, state: DWAState, pref: Array | None):
        return dwa_weights(gram, losses, state, temperature=temperature)

    return Weighting(
        init=lambda: dwa_init(m), weights=fn, name="dwa", needs_losses=True, uses_gram=False
    )


def dwa(num_tasks: int, temperature: float = 2.0) -> optax.GradientTransformationExtraArgs:
    r"""Dynamic weight average as a transform: ``u = Σ_i w_i ∇L_i``, ``w = m·softmax(r/T)``.

    Needs ``task_losses`` every step and ``opt_state = pj.dwa_epoch_end(opt_state)`` at the end
    of each epoch (``pj.fit`` does it for you with ``epoch_end=pj.dwa_epoch_end``).

    Args:
      num_tasks: m.
      temperature: ``T > 0`` (default 2).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.dwa(num_tasks=2)
      >>> u, st = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([1.0, 2.0]))
      >>> u["w"]
      Array([1., 1.], dtype=float32)
    """
    return as_transform(dwa_weighting(num_tasks, temperature), num_tasks)


INFO = MethodInfo(
    name="dwa",
    family="balancing",
    factory=dwa,
    description="Dynamic weight average: m·softmax of epoch-mean loss ratios / T (T = 2).",
    reference="Liu, Johns, Davison, CVPR 2019 (lorenmt/mtan); LibMTL DWA.py; TorchJD",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
)
