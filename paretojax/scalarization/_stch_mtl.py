r"""STCH-MTL — the multi-task variant of smooth Tchebycheff with a log-loss warm-up (LibMTL).

A separate method from :func:`paretojax.stch_loss` (different scalarization, state and
defaults). With ``E`` = ``warmup_epochs``:

* epochs ``e < E``: :math:`S = \sum_i \log(L_i + 10^{-20})` (scale-free warm-up);
* epoch ``e = E``: the same loss, while the per-step losses are accumulated;
* when epoch ``E`` ends the nadir point is fixed to their mean, :math:`z = \bar L^{(E)}`;
* epochs ``e > E``:

.. math::

    S = m\,\mu \log \sum_i \exp\!\Big(\frac{\log(L_i / z_i + 10^{-20})}{\mu}\Big),
    \qquad \partial S/\partial L_i = \frac{m\,\operatorname{softmax}_i(\cdot)}{L_i + 10^{-20} z_i},

with the uniform preference and ``μ = 1``, ``E = 4`` (LibMTL ``--STCH_mu 1.0
--STCH_warmup_epoch 4``). The log-sum-exp is computed max-shifted *with the shift added back*;
LibMTL ``weighting/STCH.py`` drops the shift (its value differs from ours by the constant
``m·max``, the gradient is identical). As in LibMTL the log-loss is used for ``E + 1`` epochs
(``0 … E``) and only epoch ``E``'s losses define the nadir.

State: epoch counter, running sum and count of the losses of epoch ``E``, the nadir. The
caller marks epoch boundaries with :func:`stch_mtl_epoch_end` (on the method state or on any
optimizer state containing it, e.g. an ``optax.chain`` state).

Paper: Lin et al., "Smooth Tchebycheff Scalarization for Multi-Objective Optimization",
ICML 2024 (MTL experiments, official ``Xi-L/STCH`` ``STCH_MTL``, = LibMTL ``STCH.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.scalarization._common import check_positive, map_states
from paretojax.scalarization._stch import smooth_max
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = [
    "STCHMTLState",
    "stch_mtl_init",
    "stch_mtl_loss",
    "stch_mtl_epoch_end",
    "stch_mtl_weights",
    "stch_mtl_weighting",
    "stch_mtl",
]

_LOG_EPS = 1e-20


class STCHMTLState(NamedTuple):
    """State of :func:`stch_mtl`.

    Attributes:
      epoch: int32 index of the current epoch.
      loss_sum: sum of the losses seen during epoch ``warmup_epochs`` ``[m]``.
      count: number of steps accumulated in ``loss_sum`` (float).
      nadir: the nadir point ``z`` ``[m]`` (ones until the warm-up ends).
    """

    epoch: Array
    loss_sum: Array
    count: Array
    nadir: Array


def stch_mtl_init(num_tasks: int) -> STCHMTLState:
    """Initial state for ``num_tasks`` tasks (epoch 0, nothing accumulated).

    Example:
      >>> import paretojax as pj
      >>> st = pj.stch_mtl_init(2)
      >>> (int(st.epoch), st.nadir.tolist())
      (0, [1.0, 1.0])
    """
    m = _check_m(num_tasks)
    return STCHMTLState(
        epoch=jnp.zeros((), jnp.int32),
        loss_sum=jnp.zeros((m,), jnp.float32),
        count=jnp.zeros((), jnp.float32),
        nadir=jnp.ones((m,), jnp.float32),
    )


def _check_m(num_tasks: Any) -> int:
    if num_tasks is None or int(num_tasks) < 1:
        raise ValueError(f"stch_mtl needs num_tasks ≥ 1, got {num_tasks!r}.")
    return int(num_tasks)


def _check_warmup(warmup_epochs: Any) -> int:
    if int(warmup_epochs) != warmup_epochs or int(warmup_epochs) < 0:
        raise ValueError(f"stch_mtl: warmup_epochs must be an integer ≥ 0, got {warmup_epochs!r}.")
    return int(warmup_epochs)


def _value(losses: Array, state: STCHMTLState, mu: float, warmup: int) -> Array:
    m = losses.shape[0]
    warm = jnp.sum(jnp.log(losses + _LOG_EPS))
    nadir = state.nadir.astype(losses.dtype)
    scaled = jnp.log(losses / nadir + _LOG_EPS)
    main = m * smooth_max(scaled, mu)
    return jnp.where(state.epoch > warmup, main, warm)


def stch_mtl_loss(
    losses: Any,
    state: STCHMTLState,
    *,
    mu: float = 1.0,
    warmup_epochs: int = 4,
) -> tuple[Array, STCHMTLState]:
    r"""The STCH-MTL scalar loss and the state after this step (see the module docstring).

    Use it inside the model loss and return the state as auxiliary output::

        def loss(params, state, batch):
            s, state = pj.stch_mtl_loss(task_losses(params, batch), state)
            return s, state
        (s, state), grads = jax.value_and_grad(loss, has_aux=True)(params, state, batch)

    Args:
      losses: positive task losses ``[m]``.
      state: from :func:`stch_mtl_init`; call :func:`stch_mtl_epoch_end` at each epoch end.
      mu: smoothing (LibMTL default 1).
      warmup_epochs: ``E`` (LibMTL default 4); log-loss during epochs ``0 … E``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> st = pj.stch_mtl_init(2)
      >>> s, st = pj.stch_mtl_loss(jnp.array([1.0, 1.0]), st, warmup_epochs=0)
      >>> st = pj.stch_mtl_epoch_end(st, warmup_epochs=0)
      >>> s, st = pj.stch_mtl_loss(jnp.array([2.0, 2.0]), st, warmup_epochs=0)
      >>> print(round(float(s), 5))  # 2·(log 2 + log 2) with nadir (1, 1), μ = 1
      2.77259
    """
    mu = check_positive(mu, "mu", "stch_mtl_loss")
    warmup = _check_warmup(warmup_epochs)
    f = jnp.asarray(losses)
    if f.ndim != 1 or f.shape != state.loss_sum.shape:
        raise ValueError(
            f"stch_mtl_loss: losses must have shape {state.loss_sum.shape}, got {f.shape}."
        )
    value = _value(f, state, mu, warmup)
    collect = state.epoch == warmup
    fd = jax.lax.stop_gradient(f).astype(state.loss_sum.dtype)
    new_state = state._replace(
        loss_sum=jnp.where(collect, state.loss_sum + fd, state.loss_sum),
        count=state.count + jnp.where(collect, 1.0, 0.0).astype(state.count.dtype),
    )
    return value, new_state


def _epoch_end_one(state: STCHMTLState, warmup: int) -> STCHMTLState:
    done = state.epoch == warmup
    mean = state.loss_sum / jnp.maximum(state.count, 1.0)
    ok = done & (state.count > 0) & jnp.all(mean > 0)
    return state._replace(
        epoch=state.epoch + 1,
        nadir=jnp.where(ok, mean, state.nadir),
    )


def stch_mtl_epoch_end(state: Any, *, warmup_epochs: int = 4) -> Any:
    """Mark the end of an epoch: advance the counter and, after epoch ``E``, fix the nadir.

    ``state`` may be an :class:`STCHMTLState` or any pytree containing some (an optimizer
    state from ``optax.chain(pj.stch_mtl(...), ...)``); every STCH-MTL state found is advanced.
    ``warmup_epochs`` must match the one given to the method. Pure and ``jit``-able.

    Raises:
      ValueError: if ``state`` contains no :class:`STCHMTLState`.

    Example:
      >>> import paretojax as pj
      >>> st = pj.stch_mtl_init(2)
      >>> st = pj.stch_mtl_epoch_end(pj.stch_mtl_epoch_end(st))
      >>> int(st.epoch)
      2
    """
    warmup = _check_warmup(warmup_epochs)
    return map_states(state, STCHMTLState, lambda s: _epoch_end_one(s, warmup), "stch_mtl")


def stch_mtl_weights(
    gram: Array | None,
    losses: Array,
    state: STCHMTLState,
    *,
    pref: Array | None = None,
    mu: float = 1.0,
    warmup_epochs: int = 4,
) -> tuple[Array, STCHMTLState]:
    """Weights ``∂S/∂L`` of :func:`stch_mtl_loss` and the new state (Gram unused).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, st = pj.stch_mtl_weights(None, jnp.array([1., 2.]), pj.stch_mtl_init(2))
      >>> [round(float(v), 4) for v in w]  # warm-up: ∂Σ log L_i = 1/L_i
      [1.0, 0.5]
    """
    del gram, pref
    f = jnp.asarray(losses)
    f = f.astype(jnp.promote_types(f.dtype, jnp.float32))
    w = jax.grad(lambda x: stch_mtl_loss(x, state, mu=mu, warmup_epochs=warmup_epochs)[0])(f)
    _, new_state = stch_mtl_loss(f, state, mu=mu, warmup_epochs=warmup_epochs)
    return w, new_state


def stch_mtl_weighting(num_tasks: int, mu: float = 1.0, warmup_epochs: int = 4) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`stch_mtl`.

    Loss-level (``uses_gram=False``): the weights of :func:`stch_mtl_weights`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.stch_mtl_weighting(num_tasks=2)
      >>> w, state = wt.weights(NOG, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [1.0, 0.5]
    """
    m = _check_m(num_tasks)
    mu = check_positive(mu, "mu", "stch_mtl")
    warmup = _check_warmup(warmup_epochs)

    def fn(gram: Array, losses: Array | None, state: STCHMTLState, pref: Array | None):
        return stch_mtl_weights(gram, losses, state, mu=mu, warmup_epochs=warmup)

    return Weighting(
        init=lambda: stch_mtl_init(m), weights=fn, name="stch_mtl", needs_losses=True,
        uses_gram=False,
    )


def stch_mtl(
    num_tasks: int, mu: float = 1.0, warmup_epochs: int = 4
) -> optax.GradientTransformationExtraArgs:
    r"""STCH-MTL as a transform: ``u = Σ_i ∂S/∂L_i ∇L_i`` with the warm-up state of LibMTL.

    Call ``opt_state = pj.stch_mtl_epoch_end(opt_state, warmup_epochs=...)`` at each epoch end.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.stch_mtl(num_tasks=2)
      >>> u, st = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.5, 2.0]))
      >>> u["w"]  # warm-up: ∂Σ log L / ∂L = 1/L
      Array([2. , 0.5], dtype=float32)
    """
    return as_transform(stch_mtl_weighting(num_tasks, mu, warmup_epochs), num_tasks)


INFO = MethodInfo(
    name="stch_mtl",
    family="scalarization",
    factory=stch_mtl,
    description="LibMTL STCH: log-loss warm-up, nadir from epoch E, then m·μ·LSE(log(L/z)/μ).",
    reference="Lin et al., ICML 2024; LibMTL weighting/STCH.py (μ = 1, warm-up 4 epochs)",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
)
