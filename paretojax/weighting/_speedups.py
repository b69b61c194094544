r"""Speed-ups: wrappers that make any Gram-level weighting cheaper (METHODS.md §9).

* :func:`periodic` — recompute the weights every ``k`` steps (Nash-MTL's
  ``update_weights_every``) and reuse the previous ones in between; a ``lax.cond`` on a step
  counter, so under ``jit`` the solver only runs on recomputation steps. Between recomputations
  the update is ``Σ w_i g_i`` with known weights — which a training loop can also get from one
  backward pass of ``Σ w_i L_i`` (no Jacobian). Pairs well with CR-MOGM smoothing.
* :func:`task_subsets` — sample ``s`` of the ``m`` tasks per step (without replacement, key in the
  state), weight only those with the wrapped method on their ``s × s`` Gram, scale by ``m/s`` and
  put zeros elsewhere (SDMGrad-OS style; LORPMAN's 3-task sampling). At the Gram level this saves
  solver time; to also save backward passes, draw the subset with :func:`sample_task_subset` and
  differentiate only those losses.
* :func:`feature_level_weights` — MGDA-UB-style weights from the Jacobian with respect to a shared
  representation ``Z`` instead of the parameters: one forward pass and ``m`` cheap VJPs to ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.jacobian import gram as _gram, value_and_jacobian
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._cr_mogm import _check_weighting, _inner_init

Array = jax.Array

__all__ = [
    "PeriodicState",
    "TaskSubsetState",
    "periodic",
    "periodic_weighting",
    "task_subsets",
    "task_subsets_weighting",
    "sample_task_subset",
    "feature_level_weights",
]


# ----------------------------------------------------------------------------------------------
# Periodic weight updates
# ----------------------------------------------------------------------------------------------


class PeriodicState(NamedTuple):
    """State of :func:`periodic`: call count, last weights ``[m]`` and the wrapped state."""

    step: Array
    weights: Array
    inner: Any


def periodic_weighting(weighting: Weighting, every: int, num_tasks: int) -> Weighting:
    r"""Recompute ``weighting``'s weights when ``step % every == 0``, else reuse the last ones.

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting`.
      every: period k ≥ 1 (1 = no reuse).
      num_tasks: m (the state holds the last weights).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> wt = pj.periodic_weighting(pj.imtl_g_weighting(), every=2, num_tasks=2)
      >>> s = wt.init()
      >>> w1, s = wt.weights(jnp.array([[18., -22.], [-22., 38.]]), None, s, None)
      >>> w2, s = wt.weights(jnp.eye(2), None, s, None)  # reused
      >>> (w2 == w1).all().item()
      True
    """
    _check_weighting(weighting, "periodic")
    every = int(every)
    m = int(num_tasks)
    if every < 1:
        raise ValueError(f"periodic: every must be ≥ 1, got {every}.")
    if m < 1:
        raise ValueError(f"periodic: num_tasks must be ≥ 1, got {num_tasks}.")

    def init() -> PeriodicState:
        return PeriodicState(
            step=jnp.zeros((), jnp.int32),
            weights=jnp.full((m,), 1.0 / m, jax.dtypes.canonicalize_dtype(jnp.float64)),
            inner=_inner_init(weighting),
        )

    def fn(gram: Array, losses: Array | None, state: PeriodicState, pref: Array | None):
        dtype = state.weights.dtype

        def recompute(_):
            w, inner = weighting.weights(gram, losses, state.inner, pref)
            w = jnp.asarray(w).astype(dtype)
            if w.shape != (m,):
                raise ValueError(f"periodic: built for num_tasks={m}, got weights {w.shape}.")
            return w, inner

        def reuse(_):
            return state.weights, state.inner

        if every == 1:
            w, inner = recompute(None)
        else:
            w, inner = jax.lax.cond(state.step % every == 0, recompute, reuse, None)
        return w, PeriodicState(step=state.step + 1, weights=w, inner=inner)

    return Weighting(
        init=init,
        weights=fn,
        name=f"periodic({weighting.name})",
        needs_losses=weighting.needs_losses,
        needs_pref=weighting.needs_pref,
        uses_gram=weighting.uses_gram,
    )


def periodic(
    weighting: Weighting, every: int, *, num_tasks: int
) -> optax.GradientTransformationExtraArgs:
    r"""A transform that recomputes ``weighting``'s weights every ``every`` steps.

    Between recomputations the previous weights are reused (``lax.cond`` on a step counter).
    The first call (step 0) always computes.

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting` (e.g. ``pj.mgda_weighting()``).
      every: the period k.
      num_tasks: m.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.periodic(pj.imtl_g_weighting(), every=10, num_tasks=2)
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.0767, 1.0, 1.0]
    """
    return as_transform(periodic_weighting(weighting, every, num_tasks), num_tasks)


# ----------------------------------------------------------------------------------------------
# Random task subsets
# ----------------------------------------------------------------------------------------------


class TaskSubsetState(NamedTuple):
    """State of :func:`task_subsets`: the PRNG key and the wrapped state (built for s tasks)."""

    key: Array
    inner: Any


def sample_task_subset(key: Array, num_tasks: int, size: int) -> Array:
    """``size`` distinct task indices out of ``num_tasks``, sorted (static shape ``[size]``).

    Example:
      >>> import jax, paretojax as pj
      >>> pj.sample_task_subset(jax.random.key(0), 5, 2).shape
      (2,)
    """
    if not 1 <= int(size) <= int(num_tasks):
        raise ValueError(f"task subset size must satisfy 1 ≤ size ≤ m = {num_tasks}, got {size}.")
    perm = jax.random.permutation(key, int(num_tasks))
    return jnp.sort(perm[: int(size)])


def task_subsets_weighting(
    weighting: Weighting,
    size: int,
    *,
    key: Array | None = None,
    seed: int = 0,
) -> Weighting:
    r"""Weights from ``weighting`` on a random subset ``S`` of ``size`` tasks, ×m/s, 0 elsewhere.

    The wrapped weighting sees the ``s × s`` Gram ``G_SS`` (and ``L_S``, and ``p_S`` renormalised
    to the simplex); its state, if any, must be built for ``s`` tasks (it is shared across
    subsets).

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting`.
      size: s, the number of tasks per step.
      key: PRNG key of the initial state (default ``jax.random.key(seed)``).
      seed: used when ``key`` is not given.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> wt = pj.task_subsets_weighting(pj.imtl_g_weighting(), size=2, key=jax.random.key(0))
      >>> w, _ = wt.weights(jnp.eye(4), None, wt.init(), None)
      >>> int((w == 0).sum()), round(float(w.sum()), 5)  # 2 tasks × (½ · 4/2)
      (2, 2.0)
    """
    _check_weighting(weighting, "task_subsets")
    s = int(size)
    if s < 1:
        raise ValueError(f"task_subsets: size must be ≥ 1, got {size}.")

    def init() -> TaskSubsetState:
        return TaskSubsetState(
            key=jax.random.key(seed) if key is None else key, inner=_inner_init(weighting)
        )

    def fn(gram: Array, losses: Array | None, state: TaskSubsetState, pref: Array | None):
        m = gram.shape[0]
        if s > m:
            raise ValueError(f"task_subsets: size={s} exceeds the number of tasks m={m}.")
        k, sub = jax.random.split(state.key)
        idx = sample_task_subset(sub, m, s)
        if weighting.uses_gram:
            g_s = gram[idx][:, idx]
        else:
            g_s = jnp.zeros((s, 0), gram.dtype)
        l_s = None if losses is None else jnp.asarray(losses)[idx]
        p_s = None
        if pref is not None:
            p_s = jnp.asarray(pref)[idx]
            tot = jnp.sum(p_s)
            uniform = jnp.full((s,), 1.0 / s, p_s.dtype)
            p_s = jnp.where(tot > 0, p_s / jnp.where(tot > 0, tot, 1.0), uniform)
        w_s, inner = weighting.weights(g_s, l_s, state.inner, p_s)
        w_s = jnp.asarray(w_s)
        if w_s.shape != (s,):
            raise ValueError(
                f"task_subsets: wrapped weights have shape {w_s.shape}, expected ({s},)."
            )
        w = jnp.zeros((m,), w_s.dtype).at[idx].set(w_s * (m / s))
        return w, TaskSubsetState(key=k, inner=inner)

    return Weighting(
        init=init,
        weights=fn,
        name=f"task_subsets({weighting.name})",
        needs_losses=weighting.needs_losses,
        needs_pref=weighting.needs_pref,
        uses_gram=weighting.uses_gram,
    )


def task_subsets(
    weighting: Weighting,
    size: int,
    *,
    key: Array | None = None,
    seed: int = 0,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""A transform that weights a random subset of ``size`` tasks per step (×m/s, 0 elsewhere).

    Args:
      weighting: the wrapped :class:`~paretojax.Weighting` (its state, if any, for ``size`` tasks).
      size: s, tasks per step.
      key, seed: PRNG key of the initial state.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> tx = pj.task_subsets(pj.imtl_g_weighting(), size=1, key=jax.random.key(0))
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> upd, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> upd["w"].tolist() in ([-8.0, 2.0, 2.0], [12.0, 2.0, 2.0])  # one task, weight m/s = 2
      True
    """
    return as_transform(task_subsets_weighting(weighting, size, key=key, seed=seed), num_tasks)


# ----------------------------------------------------------------------------------------------
# Feature-level (MGDA-UB) weights
# ----------------------------------------------------------------------------------------------


def feature_level_weights(
    weighting: Weighting,
    head_fn: Callable[..., Array],
    features: Array,
    *head_args: Any,
    state: Any = None,
    pref: Array | None = None,
) -> tuple[Array, Array, Any]:
    r"""Weights from the Jacobian of the losses w.r.t. a shared representation (MGDA-UB).

    ``head_fn(features, *head_args) -> losses[m]`` maps the shared features ``Z`` (e.g. the
    encoder output for the batch) to the task losses. Its Jacobian ``∂L/∂Z`` (shape
    ``(m, *Z.shape)``, one forward pass of the heads and ``m`` VJPs to ``Z``) replaces the
    parameter Jacobian: ``G_Z = (∂L/∂Z)(∂L/∂Z)ᵀ``, ``w = weighting(G_Z, L)``. Sener & Koltun
    (NeurIPS 2018) show that for MGDA this optimises an upper bound. Works for any Gram-level
    weighting; LibMTL (``rep_grad=True``) forbids it for methods that need parameter-space
    structure (CAGrad, PCGrad, GradVac, Nash-MTL).

    Args:
      weighting: a :class:`~paretojax.Weighting`.
      head_fn: ``(features, *head_args) -> losses[m]``.
      features: the shared representation ``Z`` (any shape).
      *head_args: further arguments of ``head_fn`` (head parameters, batch).
      state: the weighting's state (default: ``weighting.init()``).
      pref: optional preference forwarded to the weighting.

    Returns:
      ``(weights[m], losses[m], new_state)``; ``weights`` carry no gradient.

    Recipe (one backward pass for the parameters; heads get their own task's gradient)::

        def step(params, opt_state, wstate, batch):
            z = encoder(params["shared"], batch["x"])
            head = lambda z, heads: task_losses(z, heads, batch)   # -> [m]
            w, _, wstate = pj.feature_level_weights(
                pj.mgda_weighting(), head, z, params["heads"], state=wstate)

            def total(p):
                z = encoder(p["shared"], batch["x"])
                # shared parameters: Σ w_i L_i; heads: Σ L_i (their own unweighted gradient)
                shared = jnp.dot(w, task_losses(z, jax.lax.stop_gradient(p["heads"]), batch))
                heads = jnp.sum(task_losses(jax.lax.stop_gradient(z), p["heads"], batch))
                return shared + heads

            grads = jax.grad(total)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, wstate

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> z = jnp.array([[1.0, 2.0], [0.5, -1.0]])
      >>> head = lambda z, t: jnp.stack([jnp.sum((z - t[0]) ** 2), jnp.sum((z - t[1]) ** 2)])
      >>> targets = jnp.array([0.0, 1.0])
      >>> w, losses, _ = pj.feature_level_weights(pj.imtl_g_weighting(), head, z, targets)
      >>> w.shape, losses.shape
      ((2,), (2,))
    """
    _check_weighting(weighting, "feature_level_weights")
    losses, jz = value_and_jacobian(head_fn)(features, *head_args)
    if state is None:
        state = _inner_init(weighting)
    m = losses.shape[0]
    g = _gram(jz) if weighting.uses_gram else jnp.zeros((m, 0), jnp.float32)
    w, state = weighting.weights(g, losses, state, pref)
    return jax.lax.stop_gradient(jnp.asarray(w)), losses, state


def _example_periodic(m: int) -> dict:
    from paretojax.weighting._imtl_g import imtl_g_weighting

    return {"weighting": imtl_g_weighting(), "every": 2}


def _example_subsets(m: int) -> dict:
    from paretojax.weighting._imtl_g import imtl_g_weighting

    return {"weighting": imtl_g_weighting(), "size": max(1, m - 1)}


INFO_PERIODIC = MethodInfo(
    name="periodic",
    family="weighting",
    factory=periodic,
    description="Speed-up wrapper: recompute another weighting's weights every k steps.",
    reference="Nash-MTL update_weights_every (Navon et al., ICML 2022); METHODS.md §9",
    example_kwargs=_example_periodic,
)

INFO_TASK_SUBSETS = MethodInfo(
    name="task_subsets",
    family="weighting",
    factory=task_subsets,
    description="Speed-up wrapper: weight a random subset of s tasks per step (×m/s).",
    reference="SDMGrad-OS (Xiao et al., NeurIPS 2023); LORPMAN task sampling; METHODS.md §9",
    example_kwargs=_example_subsets,
    stochastic=True,
)
