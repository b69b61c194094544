r"""PaMaL: Pareto manifold learning by weight-space ensembling (Dimitriadis, Frossard, Fleuret,
ICML 2023; official ``nik-dim/pamal``), its multi-forward regulariser, and the window training
step shared with LORPMAN.

.. math:: \theta(\alpha) = \sum_{i=1}^m \alpha_i\,\theta_i \quad\text{for every layer},

with ``m`` independently initialised members. Per batch a window of ``W`` preferences
``α ~ Dir(β)``, ``W`` forwards (``vmap``), loss ``Σ_w Σ_i α_i^{(w)} L_i^{(w)} + λ R_p`` (the
regulariser only added when ``λ R_p`` is smaller than the loss). Official configs: β = 1
(MultiMNIST, Census), 2 (UTKFace), 7 (Cityscapes); W = 4, 2, 3, 3; λ = 0, 5, 1, 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.manifold._conditioning import (
    check_num_objectives,
    check_positive_int,
    layer_pref,
)

Array = jax.Array

__all__ = [
    "PaMaL",
    "multi_forward_regularizer",
    "pamal_loss",
    "WindowMetrics",
    "make_window_step",
]


def _stack(*xs: Array) -> Array:
    if all(isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.number) for x in xs):
        return jnp.asarray(np.stack([np.asarray(x) for x in xs]))  # host stack: no compile
    return jnp.stack(xs)


class PaMaL(nnx.Module):
    r"""Turn any NNX module into a PaMaL ensemble: ``θ(α) = Σ_i α_i θ_i`` for every variable.

    ``make_member(rngs)`` builds one member; ``m`` members are built from independent keys and
    their variables stacked along a new leading axis ``m`` (``self.members``). A call contracts
    every floating-point variable (parameters and BatchNorm statistics, as in the paper) with
    ``α`` and runs the merged member: cost of one member forward plus an ``m``-term weighted sum
    of the parameters. Integer/key variables are taken from member 0. Stateful updates made by
    the member during the call (e.g. BatchNorm running statistics) are *not* written back —
    use members without mutable state, or in eval mode.

    Args:
      make_member: ``rngs -> nnx.Module``; the member's call is ``member(x, *args, **kwargs)``.
      num_objectives: ``m ≥ 2`` members.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.PaMaL(lambda r: nnx.Linear(3, 2, rngs=r), num_objectives=2, rngs=nnx.Rngs(0))
      >>> x = jnp.ones((4, 3))
      >>> bool(jnp.allclose(net(x, jnp.array([1.0, 0.0])), net.member(0)(x)))
      True
      >>> jax.vmap(net, in_axes=(None, 0))(x, jnp.eye(2)).shape
      (2, 4, 2)
    """

    def __init__(
        self,
        make_member: Callable[[nnx.Rngs], nnx.Module],
        num_objectives: int,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        self.num_objectives = m = check_num_objectives(num_objectives)
        keys = jax.random.split(rngs.params(), m)
        splits = [nnx.split(make_member(nnx.Rngs(keys[i]))) for i in range(m)]
        graphdefs = {g for g, _ in splits}
        if len(graphdefs) != 1:
            raise ValueError("PaMaL: make_member must build structurally identical members.")
        graphdef = splits[0][0]
        stacked = jax.tree.map(_stack, *[s for _, s in splits])
        self.members = nnx.merge(graphdef, stacked)

    def _merged(self, weights: Array) -> nnx.Module:
        graphdef, state = nnx.split(self.members)

        def contract(v: Array) -> Array:
            if jnp.issubdtype(v.dtype, jnp.floating):
                return jnp.tensordot(weights.astype(v.dtype), v, axes=1)
            return v[0]

        return nnx.merge(graphdef, jax.tree.map(contract, state))

    def member(self, i: int) -> nnx.Module:
        """Member ``i`` as a standalone module (a copy of its variables)."""
        if not 0 <= int(i) < self.num_objectives:
            raise ValueError(f"member index must lie in [0, {self.num_objectives}), got {i}.")
        graphdef, state = nnx.split(self.members)
        return nnx.merge(graphdef, jax.tree.map(lambda v: v[int(i)], state))

    def merge(self, pref: Array) -> nnx.Module:
        """The plain member-shaped network ``θ(p)`` (same outputs as ``self(x, p)``)."""
        return self._merged(layer_pref(pref, self.num_objectives))

    def __call__(self, x: Any, pref: Array, *args: Any, **kwargs: Any) -> Any:
        return self._merged(layer_pref(pref, self.num_objectives))(x, *args, **kwargs)


def multi_forward_regularizer(prefs: Any, losses: Any, temperature: float = 1.0) -> Array:
    r"""PaMaL's multi-forward ordering regulariser ``R_p`` over a window of ``W`` preferences.

    For each task ``t`` sort the window by ``α_t`` (ascending) and let ``Δ_{t,k} = L_t^{(k+1)} −
    L_t^{(k)}`` be the loss change between consecutive members; a *larger* ``α_t`` should give a
    *smaller* ``L_t``, so positive ``Δ`` is a violation:

    .. math:: R_p = \sum_t \log\Big(\frac{1}{W-1}\sum_{k=1}^{W-1}
              \exp\big(T\,\mathrm{relu}(\Delta_{t,k})\big)\Big) \;\ge 0,

    zero iff every task's losses are monotone in the right direction. ``T = 1`` by default.
    Dimitriadis et al., ICML 2023 (implements the stated intent "larger α_t ⇒ smaller L_t"; the
    official sort direction is not copied).

    Args:
      prefs: ``[W, m]`` window of preferences (``W ≥ 2``).
      losses: ``[W, m]`` the losses of the ``W`` forwards.
      temperature: ``T > 0``.

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> a = jnp.array([[0.2, 0.8], [0.7, 0.3]])
      >>> float(pm.multi_forward_regularizer(a, jnp.array([[0.9, 0.1], [0.2, 0.5]])))
      0.0
      >>> float(pm.multi_forward_regularizer(a, jnp.array([[0.2, 0.5], [0.9, 0.1]]))) > 0
      True
    """
    a, f = jnp.asarray(prefs), jnp.asarray(losses)
    if a.ndim != 2 or a.shape != f.shape:
        raise ValueError(
            f"multi_forward_regularizer: prefs and losses must both be [W, m], got {a.shape} "
            f"and {f.shape}."
        )
    if a.shape[0] < 2:
        raise ValueError("multi_forward_regularizer needs a window of W ≥ 2 preferences.")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    order = jnp.argsort(a, axis=0)
    fs = jnp.take_along_axis(f, order, axis=0)
    delta = fs[1:] - fs[:-1]
    w1 = a.shape[0] - 1
    per_task = jax.nn.logsumexp(temperature * jax.nn.relu(delta), axis=0) - jnp.log(w1)
    return jnp.sum(per_task)


def pamal_loss(
    prefs: Any, losses: Any, *, lam: float = 0.0, temperature: float = 1.0
) -> tuple[Array, Array, Array]:
    r"""PaMaL window loss ``ℓ = Σ_w Σ_i α_i^{(w)} L_i^{(w)}``, plus ``λ R_p`` iff ``λ R_p < ℓ``.

    Returns ``(total, ℓ, R_p)``. ``lam = 0`` skips ``R_p`` (and allows ``W = 1``).

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> a = jnp.array([[0.2, 0.8], [0.7, 0.3]])
      >>> total, ls, rp = pm.pamal_loss(a, jnp.array([[1.0, 1.0], [1.0, 1.0]]), lam=1.0)
      >>> float(total), float(ls), float(rp)
      (2.0, 2.0, 0.0)
    """
    a, f = jnp.asarray(prefs), jnp.asarray(losses)
    if a.ndim != 2 or a.shape != f.shape:
        raise ValueError(f"pamal_loss: prefs and losses must be [W, m], got {a.shape}, {f.shape}.")
    ls = jnp.sum(a * f)
    if lam == 0.0:
        return ls, ls, jnp.zeros((), ls.dtype)
    if lam < 0:
        raise ValueError(f"lam must be ≥ 0, got {lam}.")
    rp = multi_forward_regularizer(a, f, temperature)
    reg = lam * rp
    return ls + jnp.where(reg < ls, reg, 0.0), ls, rp


class WindowMetrics(NamedTuple):
    """Per-step diagnostics of :func:`make_window_step`: total loss, ``Σα_iL_i`` part, ``R_p``,
    the extra regulariser and the mean per-task losses over the window ``[m]``."""

    total: Array
    weighted: Array
    r_p: Array
    extra: Array
    task_losses: Array


def make_window_step(
    loss_fn: Callable[[nnx.Module, Any, Array], Array],
    *,
    num_objectives: int,
    window: int = 4,
    concentration: float = 1.0,
    lam_p: float = 0.0,
    temperature: float = 1.0,
    regularizer: Callable[[nnx.Module, Array], Array] | None = None,
    lam_reg: float = 0.0,
) -> Callable[[nnx.Module, nnx.Optimizer, Any, Array], WindowMetrics]:
    r"""Jitted PaMaL/LORPMAN training step over a window of sampled preferences.

    Per call: ``α^{(1..W)} ~ Dir(β·1)`` from ``key``; ``L^{(w)} = loss_fn(model, batch, α^{(w)})``
    evaluated for all ``W`` with ``jax.vmap`` (one shared data batch); loss
    :func:`pamal_loss` ``(+ λ_reg · regularizer(model, key))`` (LORPMAN: ``R_o`` with
    :func:`~paretojax.orthogonality_regularizer`); one optimizer update. COSMOS/FiLM/PHN-style
    models train with the same step (``lam_p = 0``; ``window = 1`` is one preference per batch).

    Args:
      loss_fn: ``(model, batch, pref) -> losses [m]``.
      num_objectives: ``m``.
      window: ``W`` (PaMaL MultiMNIST: 4).
      concentration: Dirichlet ``β`` (PaMaL MultiMNIST: 1).
      lam_p, temperature: ``R_p`` weight and temperature (needs ``W ≥ 2`` when ``lam_p > 0``).
      regularizer, lam_reg: an extra ``(model, key) -> scalar`` term and its weight.

    Returns:
      ``step(model, optimizer, batch, key) -> WindowMetrics`` (an ``nnx.jit`` function that
      updates ``model`` and ``optimizer`` in place).

    Example:
      >>> import jax, jax.numpy as jnp, optax, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.LowRankParetoMLP((3, 8, 2), rank=2, num_objectives=2, rngs=nnx.Rngs(0))
      >>> def loss_fn(model, batch, p):
      ...     x, y = batch
      ...     return jnp.mean((model(x, p) - y) ** 2, axis=0)
      >>> step = pm.make_window_step(loss_fn, num_objectives=2, window=3, lam_p=1.0)
      >>> opt = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
      >>> m = step(net, opt, (jnp.ones((5, 3)), jnp.zeros((5, 2))), jax.random.key(0))
      >>> m.task_losses.shape
      (2,)
    """
    m = check_num_objectives(num_objectives)
    window = check_positive_int(window, "window")
    if lam_p < 0 or lam_reg < 0:
        raise ValueError(f"lam_p and lam_reg must be ≥ 0, got {lam_p}, {lam_reg}.")
    if lam_p > 0 and window < 2:
        raise ValueError("R_p (lam_p > 0) needs window ≥ 2.")
    if not float(concentration) > 0:
        raise ValueError(f"concentration must be > 0, got {concentration}.")
    conc = float(concentration)

    def total_loss(model: nnx.Module, batch: Any, prefs: Array, key: Array):
        graphdef, state = nnx.split(model)

        def one(p: Array) -> Array:
            losses = loss_fn(nnx.merge(graphdef, state), batch, p)
            if losses.shape != (m,):
                raise ValueError(f"loss_fn must return [m] = ({m},) losses, got {losses.shape}.")
            return losses

        losses = jax.vmap(one)(prefs)
        total, ls, rp = pamal_loss(prefs, losses, lam=lam_p, temperature=temperature)
        extra = jnp.zeros((), total.dtype)
        if regularizer is not None and lam_reg > 0:
            extra = regularizer(model, key).astype(total.dtype)
            total = total + lam_reg * extra
        return total, WindowMetrics(total, ls, rp, extra, jnp.mean(losses, axis=0))

    @nnx.jit
    def step(model: nnx.Module, optimizer: nnx.Optimizer, batch: Any, key: Array) -> WindowMetrics:
        k_pref, k_reg = jax.random.split(key)
        prefs = jax.random.dirichlet(k_pref, jnp.full((m,), conc, jnp.float32), (window,))
        grads, metrics = nnx.grad(total_loss, has_aux=True)(model, batch, prefs, k_reg)
        optimizer.update(model, grads)
        return metrics

    return step
