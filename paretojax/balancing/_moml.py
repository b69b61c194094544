r"""MOML — multi-objective meta learning of the task weights (one-step bilevel, MGDA outer).

Task weights ``λ = softmax(ξ)``. Inner problem: one SGD step on the inner (training) half-batch,

.. math:: \theta'(\xi) = \theta - \eta_{in} \sum_i \lambda_i\, g_i^{in}(\theta), \qquad
          g^{in} = J_{in}(\theta) \in R^{m \times d},

outer problem: *every* task's loss on the outer half-batch is an objective. Its hypergradient is

.. math::

    h_t = \nabla_\xi L_t^{out}(\theta'(\xi))
        = -\eta_{in}\, \big(\nabla_{\theta'} L_t^{out}\big)^{\!\top} (g^{in})^{\top}
          \frac{\partial \operatorname{softmax}}{\partial \xi}, \qquad
    H = -\eta_{in}\, M\, J_{sm}, \quad
    M = J_{out}(\theta')\, J_{in}(\theta)^{\top} \in R^{m\times m},

so only the ``m × m`` cross matrix ``M`` (summed leaf by leaf) is formed — no ``d``-sized
products beyond the two Jacobians. The ``m`` hypergradients are combined by MGDA with l2
normalisation (``ĥ_t = h_t/‖h_t‖``, ``w = argmin_{w∈Δ} ‖Σ w_t ĥ_t‖²``, K2 min-norm solver) into
``∇_ξ = Σ_t w_t ĥ_t``, and ``ξ`` takes an Adam step (lr 1e-3). The model step then uses the new
``λ`` on the full batch (:func:`moml`, or ``∇(λᵀL)``).

Defaults (LibMTL): ``η_in = 0.1`` (``inner_lr``), one inner step, ``ξ₀ = 1/m`` (uniform ``λ``),
Adam lr ``1e-3`` (``outer_lr``); LibMTL draws the inner and outer data as two half-batches.

Paper: Ye, Lin, Yue, Guo, Xiao, Zhang, "Multi-Objective Meta Learning", NeurIPS 2021 (AIJ 2024).
Reference matched: ``LibMTL/trainer.py`` ``bacth_forward_MOML`` (the authors' group; MGDA via
``_gradient_normalizers(·, 'l2')`` and ``_find_min_norm_element``). Deviations: a zero
hypergradient row is left unnormalised (LibMTL divides by 0); the min-norm problem is solved
exactly (:func:`paretojax.min_norm`, default ``active_set``) instead of LibMTL's projected
gradient (``solver="pgd"`` for parity).
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
from paretojax.core.jacobian import combine, value_and_jacobian
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array
PyTree = Any

__all__ = [
    "MOMLState",
    "MOMLAux",
    "moml_init",
    "moml_weights",
    "moml_hypergrads",
    "moml_step",
    "moml_weighting",
    "moml",
    "cross_gram",
]


class MOMLState(NamedTuple):
    """State of MOML.

    Attributes:
      logits: ``ξ`` ``[m]``, ``λ = softmax(ξ)``.
      adam: Adam moments of ``ξ``.
      lr: Adam learning rate (scalar array).
    """

    logits: Array
    adam: optax.ScaleByAdamState
    lr: Array


class MOMLAux(NamedTuple):
    """Diagnostics of one MOML weights step.

    Attributes:
      inner_losses: ``L^in(θ)`` ``[m]``.
      outer_losses: ``L^out(θ')`` ``[m]``.
      hypergrads: ``H`` ``[m, m]`` (row t: ``∇_ξ L_t^out``).
      mgda_weights: the min-norm weights ``w`` ``[m]`` of the normalised rows.
      weights: ``λ`` after the step ``[m]``.
    """

    inner_losses: Array
    outer_losses: Array
    hypergrads: Array
    mgda_weights: Array
    weights: Array


def moml_init(num_tasks: int, *, lr: float = 1e-3) -> MOMLState:
    """Initial state: ``ξ = 1/m`` (LibMTL ``nn.init.constant_(·, 1/m)``; uniform ``λ``).

    Example:
      >>> import paretojax as pj
      >>> pj.moml_weights(pj.moml_init(4))
      Array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    m = check_num_tasks(num_tasks, "moml")
    lr = check_nonneg(lr, "lr", "moml")
    xi = jnp.full((m,), 1.0 / m, float_dtype())
    return MOMLState(logits=xi, adam=adam_init(xi), lr=jnp.asarray(lr, float_dtype()))


def moml_weights(state: Any) -> Array:
    """The current task weights ``λ = softmax(ξ)`` (method state or any state holding it).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> st = pj.moml_init(2)._replace(logits=jnp.array([0., jnp.log(3.)]))
      >>> [round(float(v), 4) for v in pj.moml_weights(st)]  # softmax(ξ)
      [0.25, 0.75]
    """
    st, _ = inner_state(state, MOMLState, "moml_weights")
    return jax.nn.softmax(st.logits)


def cross_gram(jac_a: PyTree, jac_b: PyTree) -> Array:
    r"""``M = J_a J_bᵀ`` (``[m_a, m_b]``) of two stacked Jacobians, summed leaf by leaf.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.balancing._moml import cross_gram
      >>> cross_gram({"w": jnp.eye(2)}, {"w": jnp.array([[1.0, 2.0]])})
      Array([[1.],
             [2.]], dtype=float32)
    """
    la, lb = jax.tree_util.tree_leaves(jac_a), jax.tree_util.tree_leaves(jac_b)
    if jax.tree_util.tree_structure(jac_a) != jax.tree_util.tree_structure(jac_b):
        raise ValueError("cross_gram: the two Jacobians have different structures.")
    if not la:
        raise ValueError("cross_gram: empty Jacobian.")
    ma, mb = la[0].shape[0], lb[0].shape[0]
    out = None
    for a, b in zip(la, lb, strict=True):
        dt = jnp.promote_types(jnp.result_type(a, b), jnp.float32)
        prod = jnp.reshape(a, (ma, -1)).astype(dt) @ jnp.reshape(b, (mb, -1)).astype(dt).T
        out = prod if out is None else out + prod
    return out


def _softmax_jacobian(xi: Array) -> Array:
    s = jax.nn.softmax(xi)
    return jnp.diag(s) - jnp.outer(s, s)


def moml_hypergrads(
    loss_fn: Callable[..., Array],
    params: PyTree,
    state: Any,
    inner_batch: Any,
    outer_batch: Any,
    *,
    inner_lr: Any = 0.1,
) -> tuple[Array, tuple[Array, Array]]:
    r"""The ``m × m`` matrix ``H`` of per-task hypergradients ``h_t = ∇_ξ L_t^{out}(θ'(ξ))``.

    Two Jacobians (inner at θ, outer at θ') and their ``m × m`` cross matrix; exact for the
    one-step inner problem.

    Returns:
      ``(H, (inner_losses, outer_losses))``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> loss_fn = lambda p, x: jnp.stack([jnp.sum((p - x) ** 2), jnp.sum((p + x) ** 2)])
      >>> p, x_in, x_out, st = jnp.array([0.5, -0.5]), jnp.ones(2), 2 * jnp.ones(2), pj.moml_init(2)
      >>> H, _ = pj.moml_hypergrads(loss_fn, p, st, x_in, x_out, inner_lr=0.1)
      >>> inner = lambda xi: p - 0.1 * jax.grad(lambda q: jax.nn.softmax(xi) @ loss_fn(q, x_in))(p)
      >>> bool(jnp.allclose(H, jax.jacobian(lambda xi: loss_fn(inner(xi), x_out))(st.logits)))
      True
    """
    st, _ = inner_state(state, MOMLState, "moml")
    m = st.logits.shape[0]
    inner_losses, j_in = value_and_jacobian(loss_fn)(params, inner_batch)
    if inner_losses.shape != (m,):
        raise ValueError(f"moml: loss_fn must return shape ({m},), got {inner_losses.shape}.")
    lam = jax.nn.softmax(st.logits)
    step = combine(lam, j_in)
    params_v = jax.tree_util.tree_map(lambda p, u: (p - inner_lr * u).astype(p.dtype), params, step)
    outer_losses, j_out = value_and_jacobian(loss_fn)(params_v, outer_batch)
    M = cross_gram(j_out, j_in)
    H = -jnp.asarray(inner_lr, M.dtype) * M @ _softmax_jacobian(st.logits).astype(M.dtype)
    return H, (inner_losses, outer_losses)


def _mgda_l2(H: Array, solver: str | Callable[[Array], Array]) -> tuple[Array, Array]:
    norms = jnp.sqrt(jnp.sum(H * H, axis=1))
    Hn = H / jnp.where(norms > 0, norms, 1.0)[:, None]
    G = Hn @ Hn.T
    if callable(solver):
        w = solver(G)
    else:
        from paretojax.core.qp import min_norm  # lazy: layer-0 solver

        w = min_norm(G, solver=solver)
    w = jnp.asarray(w, Hn.dtype)
    return Hn.T @ w, w


def moml_step(
    loss_fn: Callable[..., Array],
    params: PyTree,
    state: Any,
    inner_batch: Any,
    outer_batch: Any,
    *,
    inner_lr: Any = 0.1,
    solver: str | Callable[[Array], Array] = "active_set",
) -> tuple[Any, MOMLAux]:
    r"""One MOML weights step: hypergradients, MGDA (l2) combination, Adam on ``ξ``.

    Pure and ``jit``-able (``loss_fn``, ``solver`` static). ``state`` may be the method state or
    any pytree holding it (the state of :func:`moml`, an ``optax.chain`` state); the same
    structure is returned. A non-finite hypergradient leaves the state unchanged.

    Args:
      loss_fn: ``(params, batch) -> losses[m]``.
      params: model parameters θ.
      state: a :class:`MOMLState` or a state holding one.
      inner_batch: data of the inner (virtual) step.
      outer_batch: data of the outer objectives.
      inner_lr: ``η_in`` (0.1).
      solver: a :func:`paretojax.min_norm` solver name, or a callable ``gram -> w``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> loss_fn = lambda p, x: jnp.stack([jnp.sum((p - x) ** 2), jnp.sum((p - 2 * x) ** 2)])
      >>> st, aux = pj.moml_step(loss_fn, jnp.zeros(2), pj.moml_init(2), jnp.ones(2), jnp.ones(2))
      >>> aux.hypergrads.shape, bool(abs(aux.weights.sum() - 1) < 1e-6)
      ((2, 2), True)
    """
    st, rewrap = inner_state(state, MOMLState, "moml_step")
    H, (l_in, l_out) = moml_hypergrads(
        loss_fn, params, st, inner_batch, outer_batch, inner_lr=inner_lr
    )
    grad, w = _mgda_l2(H, solver)
    xi, adam = adam_step(st.logits, grad, st.adam, st.lr, jnp.zeros((), st.logits.dtype))
    ok = jnp.all(jnp.isfinite(grad))
    new = MOMLState(
        logits=jnp.where(ok, xi, st.logits),
        adam=jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), adam, st.adam),
        lr=st.lr,
    )
    aux = MOMLAux(
        inner_losses=l_in,
        outer_losses=l_out,
        hypergrads=H,
        mgda_weights=w,
        weights=jax.nn.softmax(new.logits),
    )
    return rewrap(new), aux


def moml_weighting(num_tasks: int, *, lr: float = 1e-3) -> Weighting:
    """The :class:`~paretojax.Weighting` of :func:`moml`: the current ``λ`` (no Gram).

    Loss-level (``uses_gram=False``): returns ``λ = softmax(ξ)`` from the state unchanged;
    ``ξ`` is updated by :func:`moml_step`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.moml_weighting(num_tasks=2)
      >>> w, _ = wt.weights(NOG, None, wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [0.5, 0.5]
    """
    init_state = moml_init(num_tasks, lr=lr)

    def fn(gram: Array, losses: Array | None, state: MOMLState, pref: Array | None):
        return jax.nn.softmax(state.logits), state

    return Weighting(init=lambda: init_state, weights=fn, name="moml", uses_gram=False)


def moml(num_tasks: int, *, lr: float = 1e-3) -> optax.GradientTransformationExtraArgs:
    r"""MOML's model step as a transform: ``u = Σ_i λ_i g_i`` with the learnt ``λ = softmax(ξ)``.

    ``ξ`` is learnt by :func:`moml_step` on (inner, outer) batches, applied to this transform's
    state.

    Args:
      num_tasks: m.
      lr: Adam learning rate of ``ξ`` (1e-3, LibMTL ``outer_lr``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.moml(num_tasks=2)
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init({"w": jnp.zeros(2)}))
      >>> u["w"]
      Array([0.5, 0.5], dtype=float32)
    """
    return as_transform(moml_weighting(num_tasks, lr=lr), int(num_tasks))


INFO = MethodInfo(
    name="moml",
    family="balancing",
    factory=moml,
    description="MOML: softmax task weights learnt by one-step bilevel hypergradients + MGDA (l2).",
    reference="Ye et al., NeurIPS 2021; LibMTL trainer.py bacth_forward_MOML",
    example_kwargs=lambda m: {"num_tasks": m},
    properties=frozenset({"PI"}),
)
