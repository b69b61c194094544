r"""The Gram-only training step: weights from ``G`` (never holding ``J``), one extra backward.

See :func:`paretojax.core._autogram.value_and_gram` for the linearisation; this module is the
glue-layer step builder around it (it needs the transforms' validation and skip policy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core._autogram import _gram_from_linearization, _linearize
from paretojax.core.jacobian import accumulation_dtype, check_chunk_size
from paretojax.core.simplex import pref_is_valid
from paretojax.transforms import TransformState, finite_all, validate_inputs

Array = jax.Array
PyTree = Any

__all__ = ["make_gram_step", "GramStep", "GramStepState"]


class GramStepState(NamedTuple):
    """State of a :func:`make_gram_step` step: the weighting's state and the optimizer's."""

    method: Any
    opt: Any


class GramStep(NamedTuple):
    """``init(params) -> GramStepState`` and ``step(params, state, batch=(), pref=None)``."""

    init: Callable[[PyTree], GramStepState]
    step: Callable[..., tuple[PyTree, GramStepState, dict[str, Any]]]


def make_gram_step(
    loss_vector_fn: Callable[..., Any],
    weighting: Any,
    optimizer: optax.GradientTransformation,
    *,
    num_tasks: int | None = None,
    chunk_size: int | None = 1,
    has_aux: bool = False,
    jit: bool = True,
) -> GramStep:
    r"""A memory-lean training step for a Gram-level weighting: never holds the Jacobian.

    One forward pass; the Gram ``G = J Jᵀ`` from ``m`` VJP→JVP pairs, ``chunk_size`` at a time
    (:func:`value_and_gram`); weights ``w = weighting.weights(G, losses, state, pref)``; the
    update ``u = Jᵀ w`` from **one extra backward** of ``Σ_i w_i f_i``; then ``optimizer``.
    Same result as ``pj.make_step(loss_vector_fn, optax.chain(pj.as_transform(weighting),
    optimizer))`` to rounding, with the same validation and non-finite policy (a step with a
    non-finite Gram, loss, preference, weight or update is skipped: zero update, state kept,
    ``skipped`` incremented). Peak memory: forward residuals + ``chunk_size`` gradients instead
    of ``m``. A loss-level weighting (``uses_gram=False``) costs one backward pass.

    Args:
      loss_vector_fn: ``(params, *batch) -> losses[m]`` (or ``(losses, aux)``).
      weighting: a :class:`paretojax.Weighting` (e.g. ``pj.mgda_weighting()``,
        ``pj.upgrad_weighting()``, ``pj.nash_mtl_weighting(m)``).
      optimizer: an optax transform applied to ``u`` (e.g. ``optax.adam(1e-3)``).
      num_tasks: m, required by stateful weightings' logging (``state.method.weights``).
      chunk_size: Gram columns per chunk (default 1, the leanest; ``None`` = all at once).
      has_aux: ``loss_vector_fn`` returns ``(losses, aux)``; ``aux`` goes to ``out["aux"]``.
      jit: wrap the step in :func:`jax.jit`.

    Returns:
      :class:`GramStep` ``(init, step)``; ``step(params, state, batch=(), pref=None) ->
      (params, state, out)`` with ``out["losses"]`` (before the update) and ``out["weights"]``.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> from paretojax.gram_step import make_gram_step
      >>> f = lambda p: jnp.stack([jnp.sum((p["w"] - 1.0) ** 2), jnp.sum((p["w"] + 1.0) ** 2)])
      >>> gs = make_gram_step(f, pj.mgda_weighting(), optax.sgd(0.1))
      >>> params = {"w": jnp.array([0.5, 0.0])}
      >>> params, state, out = gs.step(params, gs.init(params))
      >>> [round(float(v), 4) for v in out["weights"]]
      [0.625, 0.375]
    """
    chunk = check_chunk_size(chunk_size)
    if not callable(getattr(weighting, "weights", None)) or not hasattr(weighting, "uses_gram"):
        raise ValueError(
            "make_gram_step: weighting must be a pj.Weighting (e.g. pj.mgda_weighting()), got "
            f"{type(weighting).__name__}; Jacobian-level manipulations need pj.make_step."
        )
    if num_tasks is not None and int(num_tasks) < 1:
        raise ValueError(f"make_gram_step: num_tasks must be ≥ 1, got {num_tasks}.")
    name = weighting.name

    def init(params: PyTree) -> GramStepState:
        inner = optax.EmptyState() if weighting.init is None else weighting.init()
        w = None if num_tasks is None else jnp.zeros((int(num_tasks),), jnp.float32)
        method = TransformState(inner=inner, weights=w, skipped=jnp.zeros((), jnp.int32))
        return GramStepState(method=method, opt=optimizer.init(params))

    def step(
        params: PyTree, state: GramStepState, batch: Any = (), pref: Any = None
    ) -> tuple[PyTree, GramStepState, dict[str, Any]]:
        args = () if batch is None else (tuple(batch) if isinstance(batch, tuple) else (batch,))
        losses, aux, f_jvp, f_vjp = _linearize(loss_vector_fn, params, args, has_aux)
        # The loss vector stands in for the Jacobian: validate_inputs only reads its leading m.
        m, l_val, p = validate_inputs(
            losses, losses, pref, needs_losses=weighting.needs_losses,
            needs_pref=weighting.needs_pref, num_tasks_expected=num_tasks, method=name,
        )
        if weighting.uses_gram:
            g = _gram_from_linearization(losses, f_jvp, f_vjp, chunk)
            ok = finite_all((g, l_val, p))
            g_in = jnp.where(ok, g, jnp.eye(m, dtype=g.dtype))
        else:
            ok = finite_all((l_val, p))
            g_in = jnp.zeros((m, 0), accumulation_dtype(jnp.float32))
        if p is not None:
            ok = ok & pref_is_valid(p)
        l_in = None if l_val is None else jnp.where(ok, l_val, jnp.ones_like(l_val))
        p_in = None if p is None else jnp.where(ok, p, jnp.full_like(p, 1.0 / m))
        w, new_inner = weighting.weights(g_in, l_in, state.method.inner, p_in)
        w = jnp.asarray(w)
        if w.shape != (m,):
            raise ValueError(f"{name}: weights returned shape {w.shape}, expected ({m},).")
        ok = ok & jnp.all(jnp.isfinite(w))
        w = jnp.where(ok, w, jnp.zeros_like(w))
        u = f_vjp(w.astype(losses.dtype))  # the one extra backward of Σ w_i f_i
        ok = ok & finite_all(u)
        u = jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), u)
        w = jnp.where(ok, w, jnp.zeros_like(w))
        keep = jax.tree_util.tree_map(
            lambda a, b: jnp.where(ok, a, b), new_inner, state.method.inner
        )
        method = TransformState(
            inner=keep,
            weights=None if state.method.weights is None else w.astype(state.method.weights.dtype),
            skipped=state.method.skipped + jnp.where(ok, 0, 1).astype(jnp.int32),
        )
        updates, opt = optimizer.update(u, state.opt, params)
        params = optax.apply_updates(params, updates)
        out: dict[str, Any] = {"losses": losses, "weights": w}
        if has_aux:
            out["aux"] = aux
        return params, GramStepState(method=method, opt=opt), out

    return GramStep(init=init, step=jax.jit(step) if jit else step)
