r"""Auto-λ — task weights tuned on validation data through a one-step unrolled hypergradient.

Bilevel problem: the task weights ``λ = φ(r)`` (raw weights ``φ(r) = r``, or ``softmax(r)``)
minimise the validation loss of the *primary* tasks after one virtual SGD step on the weighted
training loss ``S(r, θ) = Σ_i λ_i L_i^{tr}(θ)``:

.. math::

    \theta' = \theta - \eta\,(\nabla_\theta S(r, \theta) + \mu + \gamma\theta), \qquad
    F(r) = \sum_t p_t\, L_t^{val}(\theta'(r)),

    \nabla_r F = -\eta\, \frac{\partial^2 S}{\partial r\, \partial \theta}\, v, \qquad
    v = \nabla_{\theta'} F ,

(``μ`` the optimizer's momentum term, ``γ`` its weight decay, ``p`` the primary-task mask). The
mixed second derivative times ``v`` is, by default, the reference's central finite difference
(DARTS)

.. math::

    \frac{\partial^2 S}{\partial r\, \partial \theta} v \approx
    \frac{\nabla_r S(r, \theta + \epsilon v) - \nabla_r S(r, \theta - \epsilon v)}{2\epsilon},
    \qquad \epsilon = 0.01 / \|v\|,

(two extra forwards, no second-order autodiff); ``exact_hvp=True`` computes it exactly as a
``jax.jvp`` of ``∇_r S`` (forward-over-reverse) — for ``φ(r) = r`` it is ``J_tr(θ) v``, the
training Jacobian applied to ``v``. Then ``r`` takes an Adam step.

Defaults (official ``lorenmt/auto-lambda`` ``auto_lambda.py``): raw weights, ``r₀ = 0.1``, Adam
lr ``1e-4`` (dense prediction; 3e-4 for CIFAR-100), ``η`` = the model's current learning rate,
outer loss = primary tasks only (``primary`` mask; default: all tasks). Flag ``libmtl=True``
(``LibMTL/trainer.py`` ``bacth_forward_AutoLambda``): ``λ = softmax(r)``, ``r₀ = 1/m``, outer loss
on all tasks, Adam lr ``1e-3``; LibMTL draws the inner and outer data as two half-batches and then
steps the model on a full batch with the new weights — pass the splits accordingly.

Usage::

    tx = optax.chain(pj.auto_lambda(num_tasks=m), optax.sgd(lr, momentum=0.9))
    opt_state = tx.init(params)
    opt_state, aux = pj.auto_lambda_step(loss_fn, params, opt_state, train_batch, val_batch,
                                         inner_lr=lr)          # weights step (finds the state)
    losses, jac = pj.value_and_jacobian(loss_fn)(params, train_batch)
    updates, opt_state = tx.update(jac, opt_state, params)      # model step, u = Σ λ_i g_i

(the model step is just ``∇(λᵀL)``; ``pj.auto_lambda_weights(opt_state)`` gives ``λ`` for a
one-backward model step).

Paper: Liu, James, Davison, Johns, "Auto-Lambda: Disentangling Dynamic Task Relationships",
TMLR 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.balancing._famo import (
    adam_init,
    adam_step,
    check_nonneg,
    check_num_tasks,
    float_dtype,
    inner_state,
)
from paretojax.core.jacobian import accumulation_dtype
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array
PyTree = Any

__all__ = [
    "AutoLambdaState",
    "AutoLambdaAux",
    "auto_lambda_init",
    "auto_lambda_weights",
    "auto_lambda_hypergrad",
    "auto_lambda_step",
    "auto_lambda_weighting",
    "auto_lambda",
]


class AutoLambdaState(NamedTuple):
    """State of Auto-λ.

    Attributes:
      raw: the trained vector ``r`` ``[m]`` (raw weights, or logits with ``use_softmax``).
      adam: Adam moments of ``r``.
      lr: Adam learning rate (scalar array).
      use_softmax: whether ``λ = softmax(r)`` (LibMTL) or ``λ = r`` (official).
      primary: ``[m]`` weights of the outer (validation) loss: 1 for primary tasks, 0 for
        auxiliary ones.
    """

    raw: Array
    adam: optax.ScaleByAdamState
    lr: Array
    use_softmax: Array
    primary: Array


class AutoLambdaAux(NamedTuple):
    """Diagnostics of one Auto-λ weights step.

    Attributes:
      train_losses: ``L^tr(θ)`` ``[m]``.
      val_losses: ``L^val(θ')`` ``[m]`` after the virtual step.
      hypergrad: ``∇_r F`` ``[m]`` (before Adam).
      weights: ``λ`` after the step ``[m]``.
    """

    train_losses: Array
    val_losses: Array
    hypergrad: Array
    weights: Array


def auto_lambda_init(
    num_tasks: int,
    *,
    primary: Any = None,
    weight_init: float | None = None,
    lr: float | None = None,
    libmtl: bool = False,
) -> AutoLambdaState:
    """Initial Auto-λ state.

    Args:
      num_tasks: m.
      primary: ``[m]`` mask (or weights ≥ 0) of the tasks in the validation loss; default all
        tasks.
      weight_init: ``r₀``; default 0.1 (official) or ``1/m`` (``libmtl``).
      lr: Adam learning rate; default ``1e-4`` (official, dense tasks) or ``1e-3`` (``libmtl``).
      libmtl: LibMTL's variant (softmax weights, all tasks in the outer loss).

    Example:
      >>> import paretojax as pj
      >>> pj.auto_lambda_weights(pj.auto_lambda_init(3))
      Array([0.1, 0.1, 0.1], dtype=float32)
    """
    m = check_num_tasks(num_tasks, "auto_lambda")
    if weight_init is None:
        weight_init = 1.0 / m if libmtl else 0.1
    if lr is None:
        lr = 1e-3 if libmtl else 1e-4
    lr = check_nonneg(lr, "lr", "auto_lambda")
    w0 = float(weight_init)
    if not jnp.isfinite(w0):
        raise ValueError(f"auto_lambda: weight_init must be finite, got {weight_init!r}.")
    if primary is None or libmtl:
        if primary is not None:
            raise ValueError(
                "auto_lambda: libmtl=True uses all tasks in the outer loss; drop primary."
            )
        p = jnp.ones((m,), float_dtype())
    else:
        p = jnp.asarray(primary, float_dtype())
        if p.shape != (m,):
            raise ValueError(f"auto_lambda: primary must have shape ({m},), got {p.shape}.")
        if not bool(jnp.all(jnp.isfinite(p) & (p >= 0))) or not bool(jnp.any(p > 0)):
            raise ValueError(
                f"auto_lambda: primary must be ≥ 0 with a positive entry, got {primary!r}."
            )
    raw = jnp.full((m,), w0, float_dtype())
    return AutoLambdaState(
        raw=raw,
        adam=adam_init(raw),
        lr=jnp.asarray(lr, float_dtype()),
        use_softmax=jnp.asarray(bool(libmtl)),
        primary=p,
    )


def _lam(raw: Array, use_softmax: Array) -> Array:
    return jnp.where(use_softmax, jax.nn.softmax(raw), raw)


def auto_lambda_weights(state: Any) -> Array:
    """The current task weights ``λ`` (accepts the method state or any state holding it).

    Example:
      >>> import paretojax as pj
      >>> pj.auto_lambda_weights(pj.auto_lambda_init(2, libmtl=True)).tolist()  # r₀ = 1/m
      [0.5, 0.5]
    """
    st, _ = inner_state(state, AutoLambdaState, "auto_lambda_weights")
    return _lam(st.raw, st.use_softmax)


def _tree_axpy(a: Any, x: PyTree, y: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda u, v: (v + a * u).astype(v.dtype), x, y)


def _tree_norm(x: PyTree) -> Array:
    sq = [
        jnp.sum(jnp.square(v.astype(accumulation_dtype(v.dtype))))
        for v in jax.tree_util.tree_leaves(x)
    ]
    return jnp.sqrt(sum(sq)) if sq else jnp.zeros((), jnp.float32)


def _check_losses(losses: Array, m: int, fn: str) -> Array:
    losses = jnp.asarray(losses)
    if losses.shape != (m,):
        raise ValueError(
            f"{fn}: loss_fn must return a loss vector of shape ({m},), got {losses.shape}."
        )
    return losses


def auto_lambda_hypergrad(
    loss_fn: Callable[..., Array],
    params: PyTree,
    state: Any,
    train_batch: Any,
    val_batch: Any,
    *,
    inner_lr: Any,
    momentum: PyTree | None = None,
    weight_decay: Any = 0.0,
    exact_hvp: bool = False,
) -> tuple[Array, AutoLambdaAux]:
    r"""The one-step unrolled hypergradient ``∇_r F`` (see the module docstring).

    Args:
      loss_fn: ``(params, batch) -> losses[m]``.
      params: model parameters θ.
      state: an :class:`AutoLambdaState` (or any state holding one).
      train_batch: data of the virtual step (``L^tr``).
      val_batch: data of the outer loss (``L^val``).
      inner_lr: ``η``, the model's current learning rate.
      momentum: the optimizer's momentum term ``μ`` (params-shaped, already multiplied by the
        momentum factor), or ``None``.
      weight_decay: the optimizer's weight decay ``γ`` in the virtual step.
      exact_hvp: exact forward-over-reverse mixed derivative instead of the finite difference.

    Returns:
      ``(hypergrad[m], aux)``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> loss_fn = lambda p, x: jnp.stack([jnp.sum((p - x) ** 2), jnp.sum((p + x) ** 2)])
      >>> st = pj.auto_lambda_init(2, primary=[1.0, 0.0])
      >>> x, th = jnp.ones(2), jnp.zeros(2)
      >>> h, aux = pj.auto_lambda_hypergrad(loss_fn, th, st, x, x, inner_lr=0.1, exact_hvp=True)
      >>> virtual = lambda r: th - 0.1 * jax.grad(lambda p: r @ loss_fn(p, x))(th)  # θ'(r)
      >>> bool(jnp.allclose(h, jax.grad(lambda r: loss_fn(virtual(r), x)[0])(st.raw)))
      True
      >>> [round(float(v), 4) for v in h]  # task 1 helps the primary task, task 2 hurts it
      [-0.8, 0.8]
    """
    st, _ = inner_state(state, AutoLambdaState, "auto_lambda")
    m = st.raw.shape[0]
    raw = st.raw

    def weighted(r: Array, p: PyTree) -> tuple[Array, Array]:
        f = _check_losses(loss_fn(p, train_batch), m, "auto_lambda")
        lam = _lam(r, st.use_softmax).astype(f.dtype)
        return jnp.sum(lam * f), f

    (_, train_losses), g = jax.value_and_grad(weighted, argnums=1, has_aux=True)(raw, params)
    step = g if momentum is None else jax.tree_util.tree_map(jnp.add, g, momentum)
    if not (isinstance(weight_decay, (int, float)) and weight_decay == 0):
        step = _tree_axpy(weight_decay, params, step)
    params_v = _tree_axpy(-inner_lr, step, params)

    def outer(p: PyTree) -> tuple[Array, Array]:
        f = _check_losses(loss_fn(p, val_batch), m, "auto_lambda")
        return jnp.sum(st.primary.astype(f.dtype) * f), f

    (_, val_losses), v = jax.value_and_grad(outer, has_aux=True)(params_v)
    grad_r = jax.grad(lambda r, p: weighted(r, p)[0], argnums=0)

    if exact_hvp:
        _, mixed = jax.jvp(lambda p: grad_r(raw, p), (params,), (v,))
    else:
        vnorm = _tree_norm(v)
        eps = 0.01 / jnp.where(vnorm > 0, vnorm, 1.0)
        plus = grad_r(raw, _tree_axpy(eps, v, params))
        minus = grad_r(raw, _tree_axpy(-eps, v, params))
        mixed = jnp.where(vnorm > 0, (plus - minus) / (2.0 * eps), 0.0)
    hyper = (-jnp.asarray(inner_lr) * mixed).astype(raw.dtype)
    aux = AutoLambdaAux(
        train_losses=train_losses,
        val_losses=val_losses,
        hypergrad=hyper,
        weights=_lam(raw, st.use_softmax),
    )
    return hyper, aux


def auto_lambda_step(
    loss_fn: Callable[..., Array],
    params: PyTree,
    state: Any,
    train_batch: Any,
    val_batch: Any,
    *,
    inner_lr: Any,
    momentum: PyTree | None = None,
    weight_decay: Any = 0.0,
    exact_hvp: bool = False,
) -> tuple[Any, AutoLambdaAux]:
    r"""One Auto-λ weights step: hypergradient (:func:`auto_lambda_hypergrad`) then Adam on ``r``.

    Pure and ``jit``-able (``loss_fn`` and ``exact_hvp`` static). ``state`` may be the method
    state or any pytree holding it (the transform's state, an ``optax.chain`` state); the same
    structure is returned. A non-finite hypergradient leaves the state unchanged.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> loss_fn = lambda p, x: jnp.stack([jnp.sum((p - x) ** 2), jnp.sum((p + x) ** 2)])
      >>> st = pj.auto_lambda_init(2, primary=[1.0, 0.0])
      >>> st, aux = pj.auto_lambda_step(loss_fn, jnp.zeros(2), st, jnp.ones(2), jnp.ones(2),
      ...                               inner_lr=0.1)
      >>> bool(aux.weights[0] > aux.weights[1])  # the helpful task's weight grows
      True
    """
    st, rewrap = inner_state(state, AutoLambdaState, "auto_lambda_step")
    hyper, aux = auto_lambda_hypergrad(
        loss_fn,
        params,
        st,
        train_batch,
        val_batch,
        inner_lr=inner_lr,
        momentum=momentum,
        weight_decay=weight_decay,
        exact_hvp=exact_hvp,
    )
    raw, adam = adam_step(st.raw, hyper, st.adam, st.lr, jnp.zeros((), st.raw.dtype))
    ok = jnp.all(jnp.isfinite(hyper))
    new = st._replace(raw=jnp.where(ok, raw, st.raw))
    new = new._replace(adam=jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), adam, st.adam))
    return rewrap(new), aux._replace(weights=_lam(new.raw, new.use_softmax))


def auto_lambda_weighting(
    num_tasks: int,
    *,
    primary: Any = None,
    weight_init: float | None = None,
    lr: float | None = None,
    libmtl: bool = False,
) -> Weighting:
    """The :class:`~paretojax.Weighting` of :func:`auto_lambda`: the current ``λ`` (no Gram).

    Loss-level (``uses_gram=False``): returns ``λ`` from the state unchanged; the state is
    updated by :func:`auto_lambda_step`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.auto_lambda_weighting(num_tasks=2)
      >>> w, _ = wt.weights(NOG, None, wt.init(), None)
      >>> [round(float(v), 4) for v in w]  # r₀ = 0.1 (official default)
      [0.1, 0.1]
    """
    init_state = auto_lambda_init(
        num_tasks, primary=primary, weight_init=weight_init, lr=lr, libmtl=libmtl
    )

    def fn(gram: Array, losses: Array | None, state: AutoLambdaState, pref: Array | None):
        return _lam(state.raw, state.use_softmax), state

    return Weighting(init=lambda: init_state, weights=fn, name="auto_lambda", uses_gram=False)


def auto_lambda(
    num_tasks: int,
    *,
    primary: Any = None,
    weight_init: float | None = None,
    lr: float | None = None,
    libmtl: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Auto-λ's model step as a transform: ``u = Σ_i λ_i g_i`` with the learnt ``λ``.

    The weights are learnt by :func:`auto_lambda_step` on (train, validation) batches, which
    updates the state of this transform in place of the method state.

    Args: as :func:`auto_lambda_init`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.auto_lambda(num_tasks=2)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init({"w": jnp.zeros(2)}))
      >>> u["w"]
      Array([0.1, 0.1], dtype=float32)
    """
    w = auto_lambda_weighting(
        num_tasks, primary=primary, weight_init=weight_init, lr=lr, libmtl=libmtl
    )
    return as_transform(w, int(num_tasks))


INFO = MethodInfo(
    name="auto_lambda",
    family="balancing",
    factory=auto_lambda,
    description="Auto-λ: weights learnt on validation data by a one-step unrolled hypergradient.",
    reference="Liu, James, Davison, Johns, TMLR 2022; official lorenmt/auto-lambda auto_lambda.py",
    example_kwargs=lambda m: {"num_tasks": m},
    properties=frozenset({"PI"}),
)
