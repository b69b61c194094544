r"""FORUM — first-order multi-gradient method for multi-objective bilevel optimisation.

Upper level: the ``m`` task losses on *outer* data, ``F_t(θ)``; lower level: the weighted
training loss on *inner* data, ``f(ξ, θ) = Σ_i λ_i L_i^{in}(θ)``, ``λ = softmax(ξ)``. FORUM treats
the lower level as the constraint ``q(ξ, θ) = f(ξ, θ) − f(ξ, θ^T(ξ)) ≤ 0`` (``θ^T``: ``T`` SGD steps
on ``f``) and takes a multi-gradient step on ``z = (ξ, θ)``:

.. math::

    g_q = \nabla_z f(\xi, \theta) - [\nabla_\xi f(\xi, \theta^T);\ 0], \qquad
    \hat g_t = [0;\ \nabla_\theta F_t / \|\nabla_\theta F_t\|], \qquad
    \pi_t = \phi - \frac{\hat g_t^\top g_q}{\|g_q\|^2 + 10^{-8}},

    w^\star = \arg\min_{w \ge 0}\ w^\top A A^\top w - \phi \|g_q\|^2 w_{m+1}
    \ \ \text{s.t.}\ \sum_{i \le m} w_i = 1,\ \ w_{m+1} \ge \sum_i \pi_i w_i,
    \qquad A = [\hat g_1; \dots; \hat g_m; g_q],

(a simplex QP with one linear side constraint, size ``m + 1``, K6 — only ``AAᵀ`` is needed), then
an EMA over steps ``Λ ← Λ + (e+1)^{-3/4}(w^\star_{1:m} − Λ)`` with ``e`` the **epoch** index,
``ν = max(Σ_t Λ_t π_t, 0)`` and the update direction

.. math:: d = \sum_t \Lambda_t \hat g_t + \nu\, g_q \qquad (\text{on both } \xi, \theta).

Defaults (LibMTL): ``φ = 0.1``, inner SGD ``lr = 0.1``, ``T = 5``, ``Λ₀ = 0``, ``ξ₀ = 1/m``, Adam on
``ξ`` (lr ``1e-3``, LibMTL ``outer_lr``), θ with the main optimizer; the inner loop stops early
when the inner loss exceeds ``1e5`` (kept as a guard).

Gram form: everything above only needs the ``(m+1) × (m+1)`` Gram of the rows
``(∇_θF_1, …, ∇_θF_m, g_q)`` over the joint ``(ξ, θ)`` pytree (the outer rows having zero ``ξ``
part) — :func:`forum_weights` turns it into effective row weights ``(Λ_t/‖∇F_t‖, ν)``, and the
transform :func:`forum` applies them to those ``m + 1`` stacked rows. :func:`forum_step` is the
full driver (inner loop, both Jacobians, QP, Adam on ``ξ``) and returns the θ direction.

The QP is solved by :func:`paretojax.solve_qp` in the variable ``u = ‖g_q‖·w_{m+1}`` (so that
``A Aᵀ`` becomes a Gram of unit vectors, well scaled whatever ``‖g_q‖``); LibMTL uses cvxpy.
Deviations: LibMTL's linear term is ``φ(‖g_q‖² + 1e-8)``; here ``φ‖g_q‖²`` (the ``1e-8`` only
matters, and makes the QP unbounded, when ``g_q ≈ 0``). A zero outer gradient gets ``ĝ_t = 0``
(LibMTL divides by 0). If ``g_q = 0`` the ``u`` column is dropped (``w_{m+1}`` takes its lower
bound). A QP that fails to converge falls back to ``w = 1/m``.

Paper: Ye, Lin, Cao, Zhang, Tsang, "A First-Order Multi-Gradient Algorithm for Multi-Objective
Bi-Level Optimization", ECAI 2024. Reference matched: ``LibMTL/trainer.py``
``bacth_forward_FORUM``.
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
    map_method_states,
)
from paretojax.core.jacobian import accumulation_dtype, combine, value_and_jacobian
from paretojax.core.lp import solve_qp
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform, finite_all

Array = jax.Array
PyTree = Any

__all__ = [
    "FORUMState",
    "FORUMAux",
    "forum_init",
    "forum_weights",
    "forum_epoch_end",
    "forum_step",
    "forum_weighting",
    "forum",
]

_GQ_FLOOR = 1e-20  # ‖g_q‖² below this: the constraint gradient is treated as zero


class FORUMState(NamedTuple):
    """State of FORUM.

    Attributes:
      logits: ``ξ`` ``[m]``, ``λ = softmax(ξ)`` (used by :func:`forum_step`).
      adam: Adam moments of ``ξ``.
      lr: Adam learning rate of ``ξ``.
      ema: ``Λ`` ``[m]``, the EMA of the QP weights.
      epoch: int32 epoch index ``e`` (advanced by :func:`forum_epoch_end`).
      qp_weights: the last QP solution ``w*`` ``[m + 1]`` (``w_{m+1}`` in original units).
      qp_converged: whether the last QP solve converged.
    """

    logits: Array
    adam: optax.ScaleByAdamState
    lr: Array
    ema: Array
    epoch: Array
    qp_weights: Array
    qp_converged: Array


class FORUMAux(NamedTuple):
    """Diagnostics of :func:`forum_step`.

    Attributes:
      inner_losses: ``L^in(θ)`` ``[m]``.
      outer_losses: ``L^out(θ)`` ``[m]``.
      inner_steps: number of inner SGD steps actually taken (≤ T; fewer when the guard fired).
      row_weights: effective weights ``[m + 1]`` of the rows ``(∇F_1, …, ∇F_m, g_q)``.
      nu: ``ν``.
      weights: ``λ = softmax(ξ)`` after the step.
    """

    inner_losses: Array
    outer_losses: Array
    inner_steps: Array
    row_weights: Array
    nu: Array
    weights: Array


def forum_init(num_tasks: int, *, lr: float = 1e-3) -> FORUMState:
    """Initial state: ``ξ = 1/m``, ``Λ = 0``, epoch 0.

    Example:
      >>> import paretojax as pj
      >>> pj.forum_init(2).ema
      Array([0., 0.], dtype=float32)
    """
    m = check_num_tasks(num_tasks, "forum")
    lr = check_nonneg(lr, "lr", "forum")
    xi = jnp.full((m,), 1.0 / m, float_dtype())
    return FORUMState(
        logits=xi,
        adam=adam_init(xi),
        lr=jnp.asarray(lr, float_dtype()),
        ema=jnp.zeros((m,), float_dtype()),
        epoch=jnp.zeros((), jnp.int32),
        qp_weights=jnp.zeros((m + 1,), float_dtype()),
        qp_converged=jnp.asarray(True),
    )


def _solve(gram: Array, phi: float) -> tuple[Array, Array, Array, Array]:
    """QP weights ``w*`` (original units), ``π``, ``‖ĝ_t‖`` normalisers, converged flag."""
    k = gram.shape[0]
    m = k - 1
    dt = gram.dtype
    diag = jnp.maximum(jnp.diagonal(gram), 0.0)
    n_out = jnp.sqrt(diag[:m])
    n_out_safe = jnp.where(n_out > 0, n_out, 1.0)
    q2 = diag[m]
    has_q = q2 > _GQ_FLOOR
    s = jnp.where(has_q, jnp.sqrt(q2), 1.0)  # ‖g_q‖ (1 when g_q ≈ 0)
    # Gram of the unit-normalised rows (ĝ_1 … ĝ_m, g_q/‖g_q‖).
    scale = jnp.concatenate([1.0 / n_out_safe, (1.0 / s)[None]])
    scale = jnp.where(jnp.concatenate([n_out > 0, has_q[None]]), scale, 0.0)
    Gh = gram * scale[:, None] * scale[None, :]
    cos_q = Gh[:m, m]  # ĝ_t · g_q / ‖g_q‖
    pi = phi - cos_q * s / (q2 + 1e-8)  # π_t = φ − ĝ_tᵀg_q / (‖g_q‖² + 1e-8)
    # Variables x = (w_1..w_m, u = ‖g_q‖ w_{m+1}):
    #   min xᵀ Gh x − φ ‖g_q‖ u   s.t.  Σ w = 1,  u − ‖g_q‖ Σ π_t w_t ≥ 0,  x ≥ 0.
    Q = 2.0 * Gh
    # g_q ≈ 0: the u column carries no information; a unit curvature keeps u bounded.
    Q = Q.at[m, m].add(jnp.where(has_q, 0.0, 2.0))
    c = jnp.zeros((k,), dt).at[m].set(jnp.where(has_q, -phi * s, 0.0))
    A = jnp.concatenate([jnp.ones((1, m), dt), jnp.zeros((1, 1), dt)], axis=1)
    C = jnp.concatenate([-(s * pi)[None, :], jnp.ones((1, 1), dt)], axis=1)
    sol = solve_qp(Q, c, A, jnp.ones((1,), dt), C, jnp.zeros((1,), dt))
    ok = sol.converged & jnp.all(jnp.isfinite(sol.x))
    w_tasks = jnp.where(ok, sol.x[:m], jnp.full((m,), 1.0 / m, dt))
    w_tasks = jnp.maximum(w_tasks, 0.0)
    w_tasks = w_tasks / jnp.sum(w_tasks)
    u = jnp.where(ok, sol.x[m], jnp.maximum(s * jnp.dot(pi, w_tasks), 0.0))
    w = jnp.concatenate([w_tasks, (u / s)[None]])
    return w, pi, n_out_safe, ok


def forum_weights(
    gram: Array,
    losses: Array | None,
    state: FORUMState,
    *,
    pref: Array | None = None,
    phi: float = 0.1,
) -> tuple[Array, FORUMState]:
    r"""Effective row weights of FORUM from the ``(m+1) × (m+1)`` Gram of ``(∇F_1…∇F_m, g_q)``.

    Solves the K6 QP, updates the EMA ``Λ`` (rate ``(e+1)^{-3/4}``, ``e = state.epoch``) and
    returns ``(Λ_1/‖∇F_1‖, …, Λ_m/‖∇F_m‖, ν)``, so that ``Σ_r w_r row_r = Σ Λ_t ĝ_t + ν g_q``.
    The rows must live in the joint ``(ξ, θ)`` space (outer rows with a zero ``ξ`` part) for
    ``‖g_q‖²`` to include the ``ξ`` component.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> rows = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0]])  # ∇F_1, ∇F_2, g_q
      >>> w, st = pj.forum_weights(rows @ rows.T, None, pj.forum_init(2))
      >>> st.qp_weights[:2].round(3), bool(st.qp_converged)
      (Array([0.5, 0.5], dtype=float32), True)
    """
    del losses, pref
    phi = check_nonneg(phi, "phi", "forum")
    m = state.ema.shape[0]
    g = jnp.asarray(gram)
    if g.shape != (m + 1, m + 1):
        raise ValueError(
            f"forum: gram must be ({m + 1}, {m + 1}) — the m outer task gradients plus g_q — "
            f"got {g.shape}."
        )
    g = g.astype(accumulation_dtype(g.dtype))
    w, pi, norms, ok = _solve(g, phi)
    rate = (state.epoch.astype(g.dtype) + 1.0) ** -0.75
    ema = state.ema.astype(g.dtype)
    ema = ema + rate * (w[:m] - ema)
    nu = jnp.maximum(jnp.dot(ema, pi), 0.0)
    row_w = jnp.concatenate([ema / norms, nu[None]])
    new = state._replace(
        ema=ema.astype(state.ema.dtype),
        qp_weights=w.astype(state.qp_weights.dtype),
        qp_converged=ok,
    )
    return row_w, new


def forum_epoch_end(state: Any) -> Any:
    """Advance the epoch index ``e`` of the EMA rate (method state or any state holding it).

    Example:
      >>> import paretojax as pj
      >>> st = pj.forum_epoch_end(pj.forum_init(2))
      >>> int(st.epoch)
      1
    """
    return map_method_states(
        state, FORUMState, lambda s: s._replace(epoch=s.epoch + 1), "forum_epoch_end"
    )


def _tree_sub(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(jnp.subtract, a, b)


def _tree_dot(a: PyTree, b: PyTree) -> Array:
    return sum(
        jnp.sum(x.astype(accumulation_dtype(x.dtype)) * y.astype(accumulation_dtype(y.dtype)))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def _rows_dot(jac: PyTree, vec: PyTree, m: int) -> Array:
    out = None
    for x, y in zip(jax.tree_util.tree_leaves(jac), jax.tree_util.tree_leaves(vec), strict=True):
        dt = jnp.promote_types(jnp.result_type(x, y), jnp.float32)
        p = jnp.reshape(x, (m, -1)).astype(dt) @ jnp.reshape(y, (-1,)).astype(dt)
        out = p if out is None else out + p
    return out


def forum_step(
    loss_fn: Callable[..., Array],
    params: PyTree,
    state: Any,
    inner_batch: Any,
    outer_batch: Any,
    *,
    phi: float = 0.1,
    inner_lr: float = 0.1,
    inner_steps: int = 5,
    max_inner_loss: float = 1e5,
) -> tuple[PyTree, Any, FORUMAux]:
    r"""One FORUM step: returns the θ direction ``d_θ`` and the state with ``ξ`` already stepped.

    Feed ``d_θ`` to the model's optimizer (``updates, opt = opt.update(d_θ, opt, params)``);
    ``ξ`` takes its Adam step on ``d_ξ = ν·g_q^ξ`` inside. Pure and ``jit``-able (``loss_fn``,
    ``inner_steps`` static). Call :func:`forum_epoch_end` at the end of each epoch.

    Args:
      loss_fn: ``(params, batch) -> losses[m]``.
      params: model parameters θ.
      state: a :class:`FORUMState` or any state holding one (the same structure is returned).
      inner_batch: lower-level data.
      outer_batch: upper-level data.
      phi: ``φ`` (0.1).
      inner_lr: SGD learning rate of the inner loop (0.1).
      inner_steps: ``T`` (5).
      max_inner_loss: the inner loop stops when the inner loss exceeds this (1e5) or is not
        finite.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> loss_fn = lambda p, x: jnp.stack([jnp.sum((p - x) ** 2), jnp.sum((p + x) ** 2)])
      >>> d, st, aux = pj.forum_step(loss_fn, jnp.array([0.5, 0.0]), pj.forum_init(2),
      ...                            jnp.ones(2), jnp.ones(2))
      >>> d.shape, bool(abs(st.qp_weights[:2].sum() - 1) < 1e-5)
      ((2,), True)
    """
    st, rewrap = inner_state(state, FORUMState, "forum_step")
    phi = check_nonneg(phi, "phi", "forum")
    inner_steps = int(inner_steps)
    if inner_steps < 0:
        raise ValueError(f"forum: inner_steps must be ≥ 0, got {inner_steps}.")
    m = st.logits.shape[0]
    xi = st.logits

    def f(x: Array, p: PyTree) -> tuple[Array, Array]:
        losses = jnp.asarray(loss_fn(p, inner_batch))
        if losses.shape != (m,):
            raise ValueError(f"forum: loss_fn must return shape ({m},), got {losses.shape}.")
        lam = jax.nn.softmax(x).astype(losses.dtype)
        return jnp.sum(lam * losses), losses

    (_, inner_losses), (gf_xi, gf_th) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
        xi, params
    )

    # θ^T: T SGD steps on f(ξ, ·), stopping (for good) when the loss exceeds the guard.
    def body(_: int, carry: tuple[PyTree, Array, Array]) -> tuple[PyTree, Array, Array]:
        p, stopped, taken = carry
        (val, _), gp = jax.value_and_grad(f, argnums=1, has_aux=True)(xi, p)
        stopped = stopped | (val > max_inner_loss) | ~jnp.isfinite(val)
        newp = jax.tree_util.tree_map(lambda a, b: (a - inner_lr * b).astype(a.dtype), p, gp)
        p = jax.tree_util.tree_map(lambda a, b: jnp.where(stopped, b, a), newp, p)
        return p, stopped, taken + jnp.where(stopped, 0, 1)

    p_t, _, taken = jax.lax.fori_loop(
        0, inner_steps, body, (params, jnp.asarray(False), jnp.zeros((), jnp.int32))
    )
    gxi_t = jax.grad(lambda x: f(x, p_t)[0])(xi)
    gq_xi = gf_xi - gxi_t
    gq_th = gf_th

    outer_losses, j_out = value_and_jacobian(loss_fn)(params, outer_batch)
    G_oo = _self_gram(j_out, m)
    c_o = _rows_dot(j_out, gq_th, m)
    q2 = _tree_dot(gq_th, gq_th) + jnp.sum(gq_xi.astype(c_o.dtype) ** 2)
    dt = jnp.promote_types(G_oo.dtype, c_o.dtype)
    top = jnp.concatenate([G_oo.astype(dt), c_o.astype(dt)[:, None]], axis=1)
    bot = jnp.concatenate([c_o.astype(dt), jnp.reshape(q2, (1,)).astype(dt)])[None, :]
    gram = jnp.concatenate([top, bot], axis=0)
    row_w, new = forum_weights(gram, None, st, phi=phi)

    nu = row_w[m]
    d_theta = jax.tree_util.tree_map(
        lambda a, b: a + (nu * b.astype(nu.dtype)).astype(a.dtype),
        combine(row_w[:m], j_out),
        gq_th,
    )
    d_xi = (nu * gq_xi.astype(nu.dtype)).astype(xi.dtype)
    xi_new, adam = adam_step(xi, d_xi, st.adam, st.lr, jnp.zeros((), xi.dtype))
    ok = jnp.all(jnp.isfinite(row_w)) & jnp.all(jnp.isfinite(xi_new)) & finite_all(d_theta)
    stepped = new._replace(logits=xi_new, adam=adam)
    # A non-finite step (NaN/inf losses or gradients) leaves the state as it was and gives d = 0.
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), stepped, st)
    new = new._replace(qp_converged=stepped.qp_converged & ok)
    d_theta = jax.tree_util.tree_map(lambda a: jnp.where(ok, a, jnp.zeros_like(a)), d_theta)
    aux = FORUMAux(
        inner_losses=inner_losses,
        outer_losses=outer_losses,
        inner_steps=taken,
        row_weights=row_w,
        nu=nu,
        weights=jax.nn.softmax(new.logits),
    )
    return d_theta, rewrap(new), aux


def _self_gram(jac: PyTree, m: int) -> Array:
    """``J Jᵀ`` summed leaf by leaf (float32 or wider)."""
    out = None
    for x in jax.tree_util.tree_leaves(jac):
        dt = accumulation_dtype(x.dtype)
        r = jnp.reshape(x, (m, -1)).astype(dt)
        out = r @ r.T if out is None else out + r @ r.T
    return 0.5 * (out + out.T)


def forum_weighting(num_tasks: int, *, phi: float = 0.1, lr: float = 1e-3) -> Weighting:
    """The :class:`~paretojax.Weighting` of :func:`forum` (Gram of ``m + 1`` rows).

    ``weights(G, ...)`` takes the ``(m+1) × (m+1)`` Gram of ``(∇F_1, …, ∇F_m, g_q)`` and returns
    the effective row weights ``(Λ_t/‖∇F_t‖, ν)`` (module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> A = jnp.array([[1., 0., 0.], [0., 1., 0.], [0.5, 0.5, 1.]])  # rows ∇F₁, ∇F₂, g_q
      >>> wt = pj.forum_weighting(num_tasks=2)
      >>> w, state = wt.weights(A @ A.T, None, wt.init(), None)
      >>> w.shape  # m + 1 row weights
      (3,)
      >>> [round(float(v), 4) for v in state.ema]  # Λ after one EMA step (e = 0: Λ = w*)
      [0.5, 0.5]
    """
    phi = check_nonneg(phi, "phi", "forum")
    init_state = forum_init(num_tasks, lr=lr)

    def fn(gram: Array, losses: Array | None, state: FORUMState, pref: Array | None):
        return forum_weights(gram, None, state, phi=phi)

    return Weighting(init=lambda: init_state, weights=fn, name="forum")


def forum(
    num_tasks: int, *, phi: float = 0.1, lr: float = 1e-3
) -> optax.GradientTransformationExtraArgs:
    r"""FORUM's combination step as a transform over ``m + 1`` stacked rows.

    ``update(rows, state)`` takes the stacked rows ``(∇_z F_1, …, ∇_z F_m, g_q)`` over the joint
    parameter pytree ``z = (ξ, θ)`` (outer task gradients with a zero ``ξ`` part, and the
    constraint gradient ``g_q``; see the module docstring) and returns
    ``Σ_t Λ_t ĝ_t + ν g_q``. :func:`forum_step` builds the rows for you from a loss function and
    two batches; use the transform when you compute them yourself.

    Args:
      num_tasks: m (the update expects ``m + 1`` rows).
      phi: ``φ`` (0.1).
      lr: Adam learning rate of ``ξ`` used by :func:`forum_step` (1e-3).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.forum(num_tasks=2)
      >>> rows = {"z": jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0]])}
      >>> u, st = tx.update(rows, tx.init({"z": jnp.zeros(3)}))
      >>> u["z"].shape
      (3,)
    """
    return as_transform(forum_weighting(num_tasks, phi=phi, lr=lr), int(num_tasks) + 1)


INFO = MethodInfo(
    name="forum",
    family="balancing",
    factory=forum,
    description="FORUM: first-order multi-gradient bilevel step; simplex QP + one side constraint.",
    reference="Ye, Lin, Cao, Zhang, Tsang, ECAI 2024; LibMTL trainer.py bacth_forward_FORUM",
    # The transform takes m + 1 rows (m outer gradients and g_q): with J of m rows the
    # conformance battery builds it for m − 1 tasks.
    example_kwargs=lambda m: {"num_tasks": m - 1},
    min_tasks=2,
)
