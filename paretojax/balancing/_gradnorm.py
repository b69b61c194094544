r"""GradNorm — gradient normalisation: learn task weights that equalise training rates.

With weights ``w`` (LibMTL: ``w = m·softmax(θ)``), per-task gradient norms ``n_i = ‖g_i‖ =
√G_ii``, initial losses ``L(0)`` and ``α = 1.5``:

.. math::

    \tilde L_i = L_i / L_i(0), \qquad r_i = \tilde L_i / \operatorname{mean}_j \tilde L_j,
    \qquad T_i = \operatorname{mean}_j (w_j n_j) \cdot r_i^{\alpha}\ (\text{held constant}),

    L_{\rm grad} = \sum_i |w_i n_i - T_i|, \qquad
    \frac{\partial L_{\rm grad}}{\partial w_i} = \operatorname{sign}(w_i n_i - T_i)\, n_i ,

the update is ``u = Σ_i w_i g_i`` with the weights *before* the step, and ``θ`` then takes one
step of its own optimizer on ``∂L_grad/∂θ = m·(s ⊙ (v − sᵀv))`` (``s = softmax(θ)``,
``v = ∂L_grad/∂w``). Only the Gram diagonal is used (a Gram-diagonal method).

Two variants:

* **LibMTL** (default; ``LibMTL/weighting/GradNorm.py``): ``w = m·softmax(θ)``, ``θ₀ = 1``;
  during epoch 0 the weights are 1 (equal weighting) and the losses are averaged; ``L(0)`` is the
  mean loss of the whole first epoch (the trainer's ``train_loss_buffer[:, 0]``), so call
  :func:`gradnorm_epoch_end` at the end of every epoch. LibMTL steps ``θ`` with the main
  optimizer; here ``θ`` has its own optax ``optimizer`` whose state lives in the method state —
  default ``Adam(lr=1e-4)`` with coupled weight decay ``1e-5``, i.e. LibMTL's default main
  optimizer (``--optim adam --lr 1e-4 --weight_decay 1e-5``).
* **paper** (``paper=True``; Chen et al., Algorithm 1): free weights ``w₀ = 1`` stepped on
  ``∂L_grad/∂w`` and renormalised to ``Σw = m`` after every step (negative entries clipped to 0
  first); ``L(0)`` = the losses of the first batch, GradNorm active from the first step. The
  paper measures ``‖g_i‖`` on the last shared layer only: with the pure function, pass the Gram of
  that layer's Jacobian and combine the full Jacobian with the returned weights.

``initial_loss="epoch"|"first_batch"`` overrides the ``L(0)`` rule of either variant.

Numerics: a task with ``L_i(0) = 0`` gets ``L̃_i = 1``; ``r`` falls back to 1 when all ``L̃`` are
0 and is clipped at 0 (negative losses); zero gradients give a zero ``θ`` gradient.

Paper: Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for Adaptive
Loss Balancing in Deep Multitask Networks", ICML 2018.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.balancing._famo import (
    check_nonneg,
    check_num_tasks,
    float_dtype,
    map_method_states,
)
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = [
    "GradNormState",
    "gradnorm_init",
    "gradnorm_weights",
    "gradnorm_epoch_end",
    "gradnorm_weighting",
    "gradnorm",
    "default_gradnorm_optimizer",
]

_INITIAL_LOSS = ("epoch", "first_batch")


class GradNormState(NamedTuple):
    """State of GradNorm.

    Attributes:
      theta: logits ``θ`` ``[m]`` (LibMTL) or the free weights ``w`` (``paper=True``).
      opt_state: state of ``θ``'s optax optimizer.
      initial_losses: ``L(0)`` ``[m]`` (valid when ``has_initial``).
      has_initial: whether ``L(0)`` is set.
      epoch: int32 epoch index (advanced by :func:`gradnorm_epoch_end`).
      loss_sum: sum of the first epoch's losses ``[m]`` (for ``initial_loss="epoch"``).
      count: number of steps in ``loss_sum``.
    """

    theta: Array
    opt_state: Any
    initial_losses: Array
    has_initial: Array
    epoch: Array
    loss_sum: Array
    count: Array


def default_gradnorm_optimizer() -> optax.GradientTransformation:
    """LibMTL's default main optimizer: ``torch.optim.Adam(lr=1e-4, weight_decay=1e-5)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> opt = pj.default_gradnorm_optimizer()
      >>> p = jnp.array([1.0, -1.0])
      >>> u, _ = opt.update(jnp.array([0.5, 0.5]), opt.init(p), p)
      >>> [round(float(v), 6) for v in u]  # Adam's first step: −lr·sign(g)
      [-0.0001, -0.0001]
    """
    return optax.chain(optax.add_decayed_weights(1e-5), optax.adam(1e-4))


def _resolve(paper: bool, initial_loss: str | None) -> str:
    if initial_loss is None:
        return "first_batch" if paper else "epoch"
    if initial_loss not in _INITIAL_LOSS:
        raise ValueError(
            f"gradnorm: initial_loss must be one of {_INITIAL_LOSS}, got {initial_loss!r}."
        )
    return initial_loss


def gradnorm_init(
    num_tasks: int,
    *,
    paper: bool = False,
    optimizer: optax.GradientTransformation | None = None,
) -> GradNormState:
    """Initial state: ``θ₀ = 1`` (LibMTL logits, uniform weights ``1``; paper: ``w₀ = 1``).

    ``optimizer`` must be the one later given to :func:`gradnorm_weights` (default
    :func:`default_gradnorm_optimizer`).

    Example:
      >>> import paretojax as pj
      >>> pj.gradnorm_init(2).theta
      Array([1., 1.], dtype=float32)
    """
    m = check_num_tasks(num_tasks, "gradnorm")
    opt = default_gradnorm_optimizer() if optimizer is None else optimizer
    theta = jnp.ones((m,), float_dtype())
    return GradNormState(
        theta=theta,
        opt_state=opt.init(theta),
        initial_losses=jnp.ones((m,), float_dtype()),
        has_initial=jnp.asarray(False),
        epoch=jnp.zeros((), jnp.int32),
        loss_sum=jnp.zeros((m,), float_dtype()),
        count=jnp.zeros((), float_dtype()),
    )


def _weights_of(theta: Array, paper: bool) -> Array:
    m = theta.shape[0]
    return theta if paper else m * jax.nn.softmax(theta)


def gradnorm_weights(
    gram: Array,
    losses: Array,
    state: GradNormState,
    *,
    pref: Array | None = None,
    alpha: float = 1.5,
    paper: bool = False,
    initial_loss: str | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[Array, GradNormState]:
    r"""GradNorm weights for this step and the state after one step of ``θ`` on ``L_grad``.

    Only ``diag(gram)`` is read. Returns the weights *before* the ``θ`` step (those the model
    update uses). See the module docstring for the equations and the two variants.

    Args:
      gram: ``[m, m]`` Gram matrix of the task gradients (only its diagonal is used).
      losses: ``[m]`` task losses.
      state: a :class:`GradNormState` from :func:`gradnorm_init`.
      alpha: restoring-force exponent ``α`` (1.5, LibMTL and the paper's main setting).
      paper: free weights renormalised to ``Σw = m`` (paper) instead of ``m·softmax(θ)``.
      initial_loss: ``"epoch"`` (mean of epoch 0, LibMTL) or ``"first_batch"`` (paper).
      optimizer: ``θ``'s optax optimizer (default :func:`default_gradnorm_optimizer`).

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> st = pj.gradnorm_init(2, paper=True, optimizer=optax.sgd(0.1))
      >>> G = jnp.array([[4.0, 0.0], [0.0, 1.0]])
      >>> w, st = pj.gradnorm_weights(G, jnp.array([1.0, 1.0]), st, paper=True,
      ...                             optimizer=optax.sgd(0.1))
      >>> w.tolist(), [round(float(t), 4) for t in st.theta]  # big-gradient task loses weight
      ([1.0, 1.0], [0.8421, 1.1579])
    """
    del pref
    alpha = check_nonneg(alpha, "alpha", "gradnorm")
    mode = _resolve(paper, initial_loss)
    opt = default_gradnorm_optimizer() if optimizer is None else optimizer
    m = state.theta.shape[0]
    g = jnp.asarray(gram)
    if g.shape != (m, m):
        raise ValueError(f"gradnorm: gram must have shape ({m}, {m}), got {g.shape}.")
    f = jnp.asarray(losses)
    if f.shape != (m,):
        raise ValueError(f"gradnorm: losses must have shape ({m},), got {f.shape}.")
    dt = state.theta.dtype
    f = jax.lax.stop_gradient(f).astype(dt)
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0)).astype(dt)

    # L(0): first batch, or the epoch-0 mean (set by gradnorm_epoch_end).
    if mode == "first_batch":
        l0 = jnp.where(state.has_initial, state.initial_losses, f)
        has0 = jnp.asarray(True)
        active = jnp.asarray(True)
        loss_sum, count = state.loss_sum, state.count
    else:
        l0, has0 = state.initial_losses, state.has_initial
        active = has0
        loss_sum = jnp.where(has0, state.loss_sum, state.loss_sum + f)
        count = jnp.where(has0, state.count, state.count + 1.0)

    w = _weights_of(state.theta, paper)
    ratio = jnp.where(l0 != 0, f / jnp.where(l0 != 0, l0, 1.0), 1.0)
    mean_ratio = jnp.mean(ratio)
    r = jnp.where(mean_ratio > 0, ratio / jnp.where(mean_ratio > 0, mean_ratio, 1.0), 1.0)
    r = jnp.maximum(r, 0.0)
    target = jnp.mean(w * norms) * r**alpha
    v = jnp.sign(w * norms - target) * norms  # ∂L_grad/∂w
    if paper:
        grad = v
    else:
        s = jax.nn.softmax(state.theta)
        grad = m * s * (v - jnp.dot(s, v))
    upd, opt_state = opt.update(grad, state.opt_state, state.theta)
    theta = optax.apply_updates(state.theta, upd)
    if paper:
        theta = jnp.maximum(theta, 0.0)
        tot = jnp.sum(theta)
        theta = jnp.where(tot > 0, m * theta / jnp.where(tot > 0, tot, 1.0), jnp.ones_like(theta))

    def sel(a: Any, b: Any) -> Any:
        return jax.tree_util.tree_map(lambda x, y: jnp.where(active, x, y), a, b)

    weights = jnp.where(active, w, jnp.ones_like(w))
    new_state = GradNormState(
        theta=sel(theta, state.theta),
        opt_state=sel(opt_state, state.opt_state),
        initial_losses=l0,
        has_initial=has0,
        epoch=state.epoch,
        loss_sum=loss_sum,
        count=count,
    )
    return weights, new_state


def _epoch_end_one(state: GradNormState) -> GradNormState:
    close0 = (state.count > 0) & ~state.has_initial
    mean = state.loss_sum / jnp.maximum(state.count, 1.0)
    return state._replace(
        epoch=state.epoch + 1,
        initial_losses=jnp.where(close0, mean, state.initial_losses),
        has_initial=state.has_initial | close0,
    )


def gradnorm_epoch_end(state: Any) -> Any:
    """Close an epoch; the first one (with at least one step) sets ``L(0)`` to its mean loss.

    ``state`` may be a :class:`GradNormState` or any pytree holding one (the transform's
    state, an ``optax.chain`` state). Not needed with ``initial_loss="first_batch"``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.gradnorm(num_tasks=2)
      >>> st = tx.init({"w": jnp.zeros(3)})
      >>> _, st = tx.update({"w": jnp.ones((2, 3))}, st, task_losses=jnp.array([2.0, 4.0]))
      >>> pj.gradnorm_epoch_end(st).inner.initial_losses
      Array([2., 4.], dtype=float32)
    """
    return map_method_states(state, GradNormState, _epoch_end_one, "gradnorm_epoch_end")


def gradnorm_weighting(
    num_tasks: int,
    alpha: float = 1.5,
    *,
    paper: bool = False,
    initial_loss: str | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`gradnorm`.

    ``weights(G, losses, state, pref)`` returns the weights before the step (equal weights during
    epoch 0 in the default LibMTL variant) and steps ``θ`` on ``L_grad`` (reads only ``diag G``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.gradnorm_weighting(num_tasks=2)
      >>> w, state = wt.weights(G, jnp.array([1., 2.]), wt.init(), None)
      >>> [round(float(v), 4) for v in w]  # epoch 0: equal weights
      [1.0, 1.0]
    """
    alpha = check_nonneg(alpha, "alpha", "gradnorm")
    _resolve(paper, initial_loss)
    opt = default_gradnorm_optimizer() if optimizer is None else optimizer
    init_state = gradnorm_init(num_tasks, paper=paper, optimizer=opt)

    def fn(gram: Array, losses: Array | None, state: GradNormState, pref: Array | None):
        return gradnorm_weights(
            gram, losses, state, alpha=alpha, paper=paper, initial_loss=initial_loss, optimizer=opt
        )

    return Weighting(init=lambda: init_state, weights=fn, name="gradnorm", needs_losses=True)


def gradnorm(
    num_tasks: int,
    alpha: float = 1.5,
    *,
    paper: bool = False,
    initial_loss: str | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""GradNorm as a transform: ``u = Σ_i w_i g_i`` and one optimizer step of the weights.

    Needs ``task_losses``; with the LibMTL rule (default) also
    ``opt_state = pj.gradnorm_epoch_end(opt_state)`` at the end of every epoch (epoch 0 runs with
    equal weights 1 and defines ``L(0)``).

    Args:
      num_tasks: m.
      alpha: ``α`` (1.5).
      paper: the paper's free, renormalised weights and first-batch ``L(0)``.
      initial_loss: override the ``L(0)`` rule (``"epoch"`` or ``"first_batch"``).
      optimizer: the weights' optax optimizer (default: LibMTL's default main optimizer,
        Adam 1e-4 with weight decay 1e-5).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.gradnorm(num_tasks=2, initial_loss="first_batch")
      >>> st = tx.init({"w": jnp.zeros(2)})
      >>> u, st = tx.update({"w": jnp.array([[2.0, 0.0], [0.0, 1.0]])}, st,
      ...                   task_losses=jnp.array([1.0, 1.0]))
      >>> u["w"]
      Array([2., 1.], dtype=float32)
    """
    w = gradnorm_weighting(
        num_tasks, alpha, paper=paper, initial_loss=initial_loss, optimizer=optimizer
    )
    return as_transform(w, int(num_tasks))


INFO = MethodInfo(
    name="gradnorm",
    family="balancing",
    factory=gradnorm,
    description="GradNorm: learnt weights equalising w_i‖g_i‖ to training-rate targets (α = 1.5).",
    reference="Chen et al., ICML 2018; LibMTL GradNorm.py (m·softmax, L(0) = epoch-0 mean)",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m, "initial_loss": "first_batch"},
    properties=frozenset({"PI"}),
)
