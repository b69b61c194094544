r"""GradVac: gradient vaccine (adaptive target similarities), in per-group Gram form.

Wang, Tsvetkov, Firat, Cao, "Gradient Vaccine: Investigating and Improving Multi-task
Optimization in Massively Multilingual Models", ICLR 2021. State: EMA target similarities
``φ̂ ∈ R^{m×m×K}`` (``K`` parameter groups, init 0). For each task ``i``, in a random order over
``j ≠ i``, and each group ``k`` (restricting vectors to the group's coordinates):

.. math::

    φ = \frac{g_i^{pc}\cdot g_j}{\|g_i^{pc}\|\|g_j\| + ε}; \quad
    \text{if } φ < \hat φ_{ijk}:\ g_i^{pc} \mathrel{+}=
      \frac{\|g_i^{pc}\|(\hat φ\sqrt{1-φ^2} - φ\sqrt{1-\hat φ^2})}
           {\|g_j\|\sqrt{1-\hat φ^2} + ε}\,g_j;
    \quad \hat φ_{ijk} \leftarrow (1-β)\hat φ_{ijk} + βφ,

with ``φ`` the pre-correction similarity, and ``u = Σ_i g_i^{pc}``. With ``φ̂ = 0`` the correction
is the PCGrad projection, so the **first call equals PCGrad** (same key ⇒ same orders).

**Gram form.** ``g_i^{pc} = Σ_l c_{il} g_l`` per group, so ``‖g_i^{pc}‖² = c_i G_k c_iᵀ`` and
``g_i^{pc}·g_j = (c_i G_k)_j`` with ``G_k`` the Gram of group ``k``; a correction adds ``w`` to
``c_{ij}``. The update of a leaf in group ``k`` is ``J_leafᵀ Σ_i c_i^{(k)}``. Rows and groups are
``vmap``-ed; the positions run in a ``fori_loop``.

Groups (``groups=``): ``"whole"`` (one group, default; LibMTL ``whole_model``), ``"leaf"`` (one
group per pytree leaf — replaces LibMTL's ``all_layer``/``all_matrix`` index lists).

Reference matched: TorchJD ``aggregation/_gradvac.py`` (Gram form, ``β = 0.5``, ``ε = 1e-8``, one
order per task ``i``, EMA updated for every visited pair). Deviation: ``φ`` is clipped to
``[−1, 1]`` — in the Gram form ``‖g_i^{pc}‖² = c_i G c_iᵀ`` cancels catastrophically in float32
when a corrected gradient is nearly zero, and TorchJD's unclipped cosine (and hence ``φ̂``) can
then leave ``[−1, 1]`` by orders of magnitude. Flags where the references disagree:

* ``ema="on_correction"``: LibMTL ``GradVac.py`` updates ``φ̂`` only inside the ``if φ < φ̂``
  branch (its indentation); TorchJD and the paper update it for every pair (default
  ``"always"``).
* ``order="per_group"``: the paper's Algorithm 1 puts the group loop outside the task loops, i.e.
  draws a fresh order for each group; LibMTL and TorchJD use one order per ``i`` for all groups
  (default ``"shared"``). Groups act on disjoint coordinates, so only the randomness differs.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from paretojax.core.jacobian import accumulation_dtype, combine, num_tasks as _num_tasks
from paretojax.manipulation._pcgrad import make_key, row_orders
from paretojax.registry import MethodInfo
from paretojax.transforms import TransformState, jacobian_transform

Array = jax.Array
PyTree = Any

__all__ = ["gradvac", "gradvac_weights", "gradvac_update", "group_grams", "GradVacState"]

_GROUPS = ("whole", "leaf")
_EMA = ("always", "on_correction")
_ORDER = ("shared", "per_group")


class GradVacState(NamedTuple):
    """State of :func:`gradvac`.

    Attributes:
      phi_hat: ``(m, m, K)`` EMA target similarities (``K`` groups), init 0.
      key: PRNG key of the task orders (split on every call).
    """

    phi_hat: Array
    key: Array


def _check(beta: float, eps: float, groups: str, ema: str, order: str) -> None:
    if not (np.isfinite(beta) and 0.0 <= beta <= 1.0):
        raise ValueError(f"gradvac: beta must lie in [0, 1], got {beta!r}.")
    if not (np.isfinite(eps) and eps >= 0.0):
        raise ValueError(f"gradvac: eps must be a finite number ≥ 0, got {eps!r}.")
    if groups not in _GROUPS:
        raise ValueError(f"gradvac: groups must be one of {_GROUPS}, got {groups!r}.")
    if ema not in _EMA:
        raise ValueError(f"gradvac: ema must be one of {_EMA}, got {ema!r}.")
    if order not in _ORDER:
        raise ValueError(f"gradvac: order must be one of {_ORDER}, got {order!r}.")


def group_grams(jac: PyTree, groups: str = "whole") -> Array:
    """``(K, m, m)`` Gram matrices of the parameter groups (leaf by leaf, never flattened)."""
    m = _num_tasks(jac)
    leaves = jax.tree_util.tree_leaves(jac)
    dtype = accumulation_dtype(jnp.result_type(*leaves))

    def one(leaf: Array) -> Array:
        flat = jnp.reshape(leaf, (m, -1)).astype(dtype)
        g = flat @ flat.T
        return 0.5 * (g + g.T)

    grams = jnp.stack([one(leaf) for leaf in leaves])
    if groups == "whole":
        return jnp.sum(grams, axis=0, keepdims=True)
    return grams


def _vaccine_row(
    i: Array, order: Array, g: Array, phi_i: Array, beta: float, eps: float, ema: str
) -> tuple[Array, Array]:
    """One row ``i`` in one group: coefficients ``c_i`` and the updated ``φ̂_{i·}``."""
    m = g.shape[0]
    diag = jnp.maximum(jnp.diagonal(g), 0.0)

    idx = jnp.arange(m)

    def step(pos: int, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        # One-hot selections instead of gathers/scatters: the vmapped loop compiles faster.
        c, ph = carry
        j = order[pos]
        ej = (idx == j).astype(g.dtype)
        cg = c @ g
        dot = cg @ ej
        norm_i = jnp.sqrt(jnp.maximum(cg @ c, 0.0))
        norm_j = jnp.sqrt(diag @ ej)
        # |φ| ≤ 1 mathematically; in the Gram form ‖g_i^{pc}‖² = c_i G c_iᵀ suffers cancellation
        # when g_i^{pc} is nearly zero (float32), so clip to keep φ and φ̂ valid cosines.
        phi = jnp.clip(dot / (norm_i * norm_j + eps), -1.0, 1.0)
        hat = ph @ ej
        other = j != i
        correct = other & (phi < hat)
        s_phi = jnp.sqrt(jnp.maximum(1.0 - phi * phi, 0.0))
        s_hat = jnp.sqrt(jnp.maximum(1.0 - hat * hat, 0.0))
        den = norm_j * s_hat + eps
        safe = den > 0
        w = norm_i * (hat * s_phi - phi * s_hat) / jnp.where(safe, den, 1.0)
        w = jnp.where(correct & safe, w, 0.0)
        c = c + w * ej
        upd = other if ema == "always" else correct
        ph = jnp.where(upd & (idx == j), (1.0 - beta) * hat + beta * phi, ph)
        return c, ph

    c0 = (idx == i).astype(g.dtype)
    return lax.fori_loop(0, m, step, (c0, phi_i))


def gradvac_weights(
    grams: Array,
    losses: Array | None = None,
    state: GradVacState | None = None,
    *,
    pref: Array | None = None,
    beta: float = 0.5,
    eps: float = 1e-8,
    ema: str = "always",
    order: str = "shared",
) -> tuple[Array, GradVacState]:
    r"""GradVac weights per group: ``W[k] = Σ_i c_i^{(k)}`` (shape ``(K, m)``) and the new state.

    Args:
      grams: ``(K, m, m)`` group Gram matrices (``(m, m)`` is treated as one group).
      state: :class:`GradVacState` with ``phi_hat`` of shape ``(m, m, K)``; ``None`` starts
        from zeros with key 0.
      beta, eps, ema, order: see :func:`gradvac`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax.manipulation._gradvac import gradvac_weights
      >>> # weights per group, shape (K, m) = (1, 2): the first call equals PCGrad
      >>> out = gradvac_weights(jnp.array([[18., -22.], [-22., 38.]]))[0][0]
      >>> [round(x, 4) for x in out.tolist()]
      [2.2222, 1.5789]
    """
    del losses, pref
    _check(beta, eps, "whole", ema, order)
    gs = jnp.asarray(grams)
    if gs.ndim == 2:
        gs = gs[None]
    if gs.ndim != 3 or gs.shape[1] != gs.shape[2]:
        raise ValueError(f"gradvac: grams must have shape (K, m, m), got {jnp.shape(grams)}.")
    gs = gs.astype(jnp.promote_types(gs.dtype, jnp.float32))
    n_groups, m, _ = gs.shape
    if state is None:
        state = GradVacState(jnp.zeros((m, m, n_groups), gs.dtype), jax.random.key(0))
    if state.phi_hat.shape != (m, m, n_groups):
        raise ValueError(
            f"gradvac: state.phi_hat has shape {state.phi_hat.shape}, expected {(m, m, n_groups)} "
            "(num_tasks and the number of groups must match the Jacobian)."
        )
    weights, new_phi, key = _gradvac_core(gs, state.phi_hat, state.key, beta, eps, ema, order)
    return weights, GradVacState(new_phi.astype(state.phi_hat.dtype), key)


@partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _gradvac_core(
    gs: Array, phi_hat: Array, key: Array, beta: float, eps: float, ema: str, order: str
) -> tuple[Array, Array, Array]:
    n_groups, m, _ = gs.shape
    key, sub = jax.random.split(key)
    if order == "shared":
        orders = jnp.broadcast_to(row_orders(sub, m)[:, None, :], (m, n_groups, m))
    else:
        orders = jax.vmap(lambda k: row_orders(k, m), out_axes=1)(jax.random.split(sub, n_groups))
    phi_hat = phi_hat.astype(gs.dtype)

    def row(i: Array, orders_i: Array, phi_i: Array) -> tuple[Array, Array]:
        # orders_i: (K, m); phi_i: (m, K) -> vmap over groups.
        return jax.vmap(
            lambda o, g, ph: _vaccine_row(i, o, g, ph, beta, eps, ema), in_axes=(0, 0, 1),
            out_axes=(0, 1),
        )(orders_i, gs, phi_i)

    coeffs, new_phi = jax.vmap(row)(jnp.arange(m), orders, phi_hat)  # (m, K, m), (m, m, K)
    return jnp.sum(coeffs, axis=0), new_phi, key  # weights (K, m)


def gradvac_update(
    jac: PyTree,
    state: GradVacState,
    *,
    groups: str = "whole",
    beta: float = 0.5,
    eps: float = 1e-8,
    ema: str = "always",
    order: str = "shared",
) -> tuple[PyTree, GradVacState]:
    """The GradVac update ``Σ_i g_i^{pc}`` of a stacked Jacobian (leaf by leaf) and the new state.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax.manipulation._gradvac import gradvac_update, GradVacState
      >>> st = GradVacState(jnp.zeros((2, 2, 1)), jax.random.key(0))
      >>> out = gradvac_update({"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}, st)[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [0.5848, 3.8012, 3.8012]
    """
    _check(beta, eps, groups, ema, order)
    grams = group_grams(jac, groups)
    weights, new_state = gradvac_weights(
        grams, None, state, beta=beta, eps=eps, ema=ema, order=order
    )
    leaves, treedef = jax.tree_util.tree_flatten(jac)
    if groups == "whole":
        out = [combine(weights[0], {"x": leaf})["x"] for leaf in leaves]
    else:
        out = [combine(weights[k], {"x": leaf})["x"] for k, leaf in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, out), new_state


def gradvac(
    num_tasks: int,
    beta: float = 0.5,
    groups: str = "whole",
    eps: float = 1e-8,
    ema: str = "always",
    order: str = "shared",
    seed: Any = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""GradVac (Wang et al., ICLR 2021): steer pairwise gradient similarities to EMA targets.

    .. math:: u = \sum_i g_i^{pc}, \qquad
        g_i^{pc} \mathrel{+}= \frac{\|g_i^{pc}\|(\hat φ\sqrt{1-φ^2} - φ\sqrt{1-\hat φ^2})}
        {\|g_j\|\sqrt{1-\hat φ^2}+ε}\, g_j \ \text{ when } φ < \hat φ

    ``tx.init(params)`` sizes the state ``φ̂ ∈ R^{m×m×K}`` (``K = 1`` for ``"whole"``, the number
    of leaves of ``params`` for ``"leaf"``). The first call equals PCGrad.

    Args:
      num_tasks: m (required: the state is ``m × m × K``).
      beta: EMA rate of the targets (0.5, LibMTL/TorchJD).
      groups: ``"whole"`` (default) or ``"leaf"``.
      eps: ε of the denominators (1e-8).
      ema: ``"always"`` (TorchJD/paper, default) or ``"on_correction"`` (LibMTL).
      order: ``"shared"`` (one order per task for all groups, default) or ``"per_group"``.
      seed: int seed or PRNG key of the task orders.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.gradvac(num_tasks=2)
      >>> out = tx.update(jac, tx.init({"w": jnp.zeros(3)}))[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [0.5848, 3.8012, 3.8012]
    """
    _check(beta, eps, groups, ema, order)
    if not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ValueError(f"gradvac: num_tasks must be a positive int, got {num_tasks!r}.")
    m = int(num_tasks)
    key = make_key(seed)

    def update_fn(jac: PyTree, losses: Any, inner: GradVacState, pref: Any):
        del losses, pref
        return gradvac_update(jac, inner, groups=groups, beta=beta, eps=eps, ema=ema, order=order)

    base = jacobian_transform(update_fn, None, num_tasks=m, name="gradvac")

    def init(params: PyTree) -> TransformState:
        n_groups = 1 if groups == "whole" else len(jax.tree_util.tree_leaves(params))
        if n_groups == 0:
            raise ValueError("gradvac: params has no leaves; pass the parameter pytree to init.")
        inner = GradVacState(jnp.zeros((m, m, n_groups), jnp.float32), key)
        return TransformState(inner=inner, weights=None, skipped=jnp.zeros((), jnp.int32))

    return base._replace(init=init)


INFO = MethodInfo(
    name="gradvac",
    family="manipulation",
    factory=gradvac,
    description="Gradient vaccine: adaptive EMA targets for pairwise gradient similarities.",
    reference="Wang et al., ICLR 2021; TorchJD _gradvac.py (= LibMTL GradVac.py), Gram form",
    example_kwargs=lambda m: {"num_tasks": m},
    stochastic=True,
)
