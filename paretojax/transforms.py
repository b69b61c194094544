r"""optax glue: turn a weighting, a Jacobian manipulation or a scalarization into a transform.

Every method in paretojax is packaged as an :class:`optax.GradientTransformationExtraArgs` whose
``update`` takes the **stacked per-task gradients** (a params-shaped pytree whose leaves carry a
leading task axis ``m``, as returned by :func:`paretojax.value_and_jacobian`) and returns one
params-shaped update::

    tx = optax.chain(pj.mgda(), optax.adam(1e-3))
    losses, jac = pj.value_and_jacobian(loss_vector)(params, batch)
    updates, opt_state = tx.update(jac, opt_state, params, task_losses=losses)

Conventions shared by every method (DESIGN.md §3):

* extra arguments are keyword-only: ``task_losses`` (the loss vector ``[m]``; never ``value``,
  which optax's own transforms read as a scalar) and ``pref`` (a preference on the simplex);
  unknown extra args are ignored, so one ``optax.chain`` can feed several transforms;
* shapes are validated when tracing (static), with a :class:`ValueError` naming the problem;
* **non-finite input inside jit**: if the Gram matrix, the losses, the preference or the solver
  output is non-finite (or the preference is off the simplex), the step is *skipped*: the update
  is exactly zero, the method state is left unchanged, and ``state.skipped`` counts the event.
  Nothing NaN ever reaches the optimizer;
* the transforms follow the leading-axis convention of ``optax.experimental.aggregating`` and
  are returned as its ``Aggregator`` type when available (a ``GradientTransformationExtraArgs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.jacobian import accumulation_dtype, combine, gram, num_tasks
from paretojax.core.simplex import check_pref, is_tracer, pref_is_valid

Array = jax.Array
PyTree = Any

try:  # optax ≥ 0.2.5 ships the aggregating API (an attribute, not an importable submodule).
    from optax.experimental import aggregating as _aggregating

    _TransformType = _aggregating.Aggregator
except Exception:  # pragma: no cover - depends on the installed optax
    _TransformType = optax.GradientTransformationExtraArgs

__all__ = [
    "Weighting",
    "as_transform",
    "TransformState",
    "weighting_transform",
    "jacobian_transform",
    "validate_inputs",
    "finite_all",
]

WeightsFn = Callable[[Array, Any, Any, Any], tuple[Array, Any]]
UpdateFn = Callable[[PyTree, Any, Any, Any], tuple[PyTree, Any]]


class Weighting(NamedTuple):
    """A Gram-level weighting as a pure pair, so wrappers (CR-MOGM smoothing, periodic updates,
    task subsets, feature-level gradients) can compose methods before they become transforms.

    Attributes:
      init: ``() -> inner_state`` (``None`` for stateless methods).
      weights: ``(gram, losses, inner_state, pref) -> (weights[m], inner_state)``; pure,
        ``jit``/``vmap``-safe, fixed iteration counts. With ``uses_gram=False`` the ``gram``
        argument is an ``(m, 0)`` placeholder (so ``gram.shape[0] == m``).
      name: the method name (for error messages).
      needs_losses: whether ``losses`` must be given.
      needs_pref: whether ``pref`` must be given.
      uses_gram: whether ``weights`` reads the Gram matrix (loss-level methods do not).
    """

    init: Callable[[], Any] | None
    weights: WeightsFn
    name: str = "weighting"
    needs_losses: bool = False
    needs_pref: bool = False
    uses_gram: bool = True


class TransformState(NamedTuple):
    """State of every paretojax transform.

    Attributes:
      inner: the method's own state (a NamedTuple, or ``optax.EmptyState()``).
      weights: the last task weights ``[m]`` when the factory was given ``num_tasks`` (for
        logging), else ``None``; weights of a skipped step are recorded as zeros.
      skipped: int32 count of steps skipped because of non-finite input or an invalid preference.
    """

    inner: Any
    weights: Array | None
    skipped: Array


def finite_all(tree: PyTree) -> Array:
    """Boolean scalar: every leaf of ``tree`` is finite (``True`` for an empty tree)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack(leaves))


def _check_concrete_finite(x: Any, name: str) -> None:
    if x is not None and not is_tracer(x):
        import numpy as np

        if not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"{name} contains NaN or inf: {np.asarray(x)}.")


def validate_inputs(
    jac: PyTree,
    task_losses: Any,
    pref: Any,
    *,
    needs_losses: bool,
    needs_pref: bool,
    num_tasks_expected: int | None,
    method: str,
) -> tuple[int, Array | None, Array | None]:
    """Shared API-edge validation. Returns ``(m, losses, pref)`` as arrays (or ``None``).

    Raises ``ValueError`` for inconsistent shapes, missing required extra args, and — when the
    values are concrete (outside ``jit``) — NaN/inf losses and preferences off the simplex.
    """
    m = num_tasks(jac)
    if num_tasks_expected is not None and m != num_tasks_expected:
        raise ValueError(
            f"{method}: the transform was built for num_tasks={num_tasks_expected} but received "
            f"gradients for m={m} tasks."
        )
    losses = None
    if task_losses is not None:
        losses = jnp.asarray(task_losses)
        if losses.shape != (m,):
            raise ValueError(
                f"{method}: task_losses must have shape ({m},) to match the gradients, got "
                f"{losses.shape}."
            )
        _check_concrete_finite(losses, f"{method}: task_losses")
    elif needs_losses:
        raise ValueError(f"{method} needs the loss vector: call update(..., task_losses=losses).")
    p = None
    if pref is not None:
        p = check_pref(pref, m, name=f"{method}: pref")
    elif needs_pref:
        raise ValueError(f"{method} needs a preference: call update(..., pref=p) with p on the simplex.")
    return m, losses, p


def _guarded(
    ok: Array, new: PyTree, old: PyTree
) -> PyTree:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)


def _zero_update(jac: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda leaf: jnp.zeros(leaf.shape[1:], leaf.dtype), jac)


def _init_state(init_fn: Callable[[], Any] | None, num_tasks_: int | None) -> TransformState:
    inner = optax.EmptyState() if init_fn is None else init_fn()
    weights = None if num_tasks_ is None else jnp.zeros((num_tasks_,), jnp.float32)
    return TransformState(inner=inner, weights=weights, skipped=jnp.zeros((), jnp.int32))


def weighting_transform(
    weights_fn: WeightsFn,
    init_fn: Callable[[], Any] | None = None,
    *,
    num_tasks: int | None = None,
    needs_losses: bool = False,
    needs_pref: bool = False,
    uses_gram: bool = True,
    name: str = "weighting",
) -> optax.GradientTransformationExtraArgs:
    r"""Build a transform from a Gram-level weighting ``w = weights_fn(G, losses, state, pref)``.

    The update is ``Σ_i w_i J_i`` computed leaf by leaf. ``weights_fn`` sees only the ``m × m``
    Gram (or nothing, when ``uses_gram=False``, e.g. for loss-level methods), the losses and the
    preference, so it is cheap, ``vmap``-able and identical on one device or many.

    Args:
      weights_fn: ``(gram, losses, inner_state, pref) -> (weights[m], inner_state)``.
      init_fn: ``() -> inner_state``; ``None`` for stateless methods.
      num_tasks: m, when known at construction (required by stateful methods; enables logging
        of the weights in ``state.weights``).
      needs_losses / needs_pref: whether ``task_losses`` / ``pref`` are required extra args.
      uses_gram: compute ``G = gram(J)`` and pass it; when ``False`` (loss-level methods) an
        ``(m, 0)`` placeholder is passed instead, so ``gram.shape[0]`` still gives m.
      name: method name used in error messages.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> fixed = lambda G, losses, state, pref: (jnp.array([0.25, 0.75]), state)
      >>> tx = pj.weighting_transform(fixed, num_tasks=2)
      >>> u, st = tx.update({"w": jnp.array([[4., 0.], [0., 4.]])}, tx.init(None))
      >>> (u["w"].tolist(), st.weights.tolist())
      ([1.0, 3.0], [0.25, 0.75])
      >>> u, st = tx.update({"w": jnp.array([[jnp.nan, 0.], [0., 4.]])}, st)
      >>> (u["w"].tolist(), int(st.skipped))  # a non-finite Jacobian: the step is skipped
      ([0.0, 0.0], 1)
    """

    def init(params: PyTree) -> TransformState:
        del params
        return _init_state(init_fn, num_tasks)

    def update(
        updates: PyTree,
        state: TransformState,
        params: PyTree | None = None,
        *,
        task_losses: Any = None,
        pref: Any = None,
        **extra: Any,
    ) -> tuple[PyTree, TransformState]:
        del params, extra
        m, losses, p = validate_inputs(
            updates, task_losses, pref, needs_losses=needs_losses, needs_pref=needs_pref,
            num_tasks_expected=num_tasks, method=name,
        )
        g = gram(updates) if uses_gram else None
        # Without the Gram, a NaN in J would go unnoticed: check J itself then.
        ok = finite_all((g, losses, p)) if uses_gram else finite_all((updates, losses, p))
        if p is not None:
            ok = ok & pref_is_valid(p)
        # Feed the solver a harmless input on bad steps so that no NaN is even computed.
        if g is None:
            # Not computed: an (m, 0) placeholder that carries m and cannot be mistaken for G.
            g_in = jnp.zeros((m, 0), accumulation_dtype(jnp.float32))
        else:
            g_in = jnp.where(ok, g, jnp.eye(m, dtype=g.dtype))
        l_in = None if losses is None else jnp.where(ok, losses, jnp.ones_like(losses))
        p_in = None if p is None else jnp.where(ok, p, jnp.full_like(p, 1.0 / m))
        w, new_inner = weights_fn(g_in, l_in, state.inner, p_in)
        w = jnp.asarray(w)
        if w.shape != (m,):
            raise ValueError(f"{name}: weights_fn returned shape {w.shape}, expected ({m},).")
        ok = ok & jnp.all(jnp.isfinite(w))
        w = jnp.where(ok, w, jnp.zeros_like(w))
        upd = _guarded(ok, combine(w, updates), _zero_update(updates))
        new_state = TransformState(
            inner=_guarded(ok, new_inner, state.inner),
            weights=None if state.weights is None else w.astype(state.weights.dtype),
            skipped=state.skipped + jnp.where(ok, 0, 1).astype(jnp.int32),
        )
        return upd, new_state

    return _TransformType(init, update)


def jacobian_transform(
    update_fn: UpdateFn,
    init_fn: Callable[[], Any] | None = None,
    *,
    num_tasks: int | None = None,
    needs_losses: bool = False,
    needs_pref: bool = False,
    name: str = "manipulation",
) -> optax.GradientTransformationExtraArgs:
    """Build a transform from a Jacobian-level manipulation ``u = update_fn(J, losses, state, pref)``.

    For methods that need the full Jacobian rows (GradDrop, TrimmedMean, …) rather than the Gram.
    Same validation and non-finite policy as :func:`weighting_transform`; ``state.weights`` stays
    ``None`` unless the method writes weights into its own state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> clip = lambda J, losses, s, p: ({"w": jnp.clip(J["w"], -1., 1.).sum(0)}, s)
      >>> tx = pj.jacobian_transform(clip)
      >>> u, _ = tx.update({"w": jnp.array([[3., -0.5], [0.5, -2.]])}, tx.init(None))
      >>> u["w"].tolist()
      [1.5, -1.5]
    """

    def init(params: PyTree) -> TransformState:
        del params
        st = _init_state(init_fn, None)
        return st

    def update(
        updates: PyTree,
        state: TransformState,
        params: PyTree | None = None,
        *,
        task_losses: Any = None,
        pref: Any = None,
        **extra: Any,
    ) -> tuple[PyTree, TransformState]:
        del params, extra
        m, losses, p = validate_inputs(
            updates, task_losses, pref, needs_losses=needs_losses, needs_pref=needs_pref,
            num_tasks_expected=num_tasks, method=name,
        )
        ok = finite_all((updates, losses, p))
        if p is not None:
            ok = ok & pref_is_valid(p)
        jac_in = jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), updates)
        l_in = None if losses is None else jnp.where(ok, losses, jnp.ones_like(losses))
        p_in = None if p is None else jnp.where(ok, p, jnp.full_like(p, 1.0 / m))
        upd, new_inner = update_fn(jac_in, l_in, state.inner, p_in)
        ok = ok & finite_all(upd)
        upd = _guarded(ok, upd, _zero_update(updates))
        new_state = TransformState(
            inner=_guarded(ok, new_inner, state.inner),
            weights=state.weights,
            skipped=state.skipped + jnp.where(ok, 0, 1).astype(jnp.int32),
        )
        return upd, new_state

    return _TransformType(init, update)


def as_transform(
    weighting: Weighting, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    """The optax transform of a :class:`Weighting` (see :func:`weighting_transform`).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}  # Gram [[18, -22], [-22, 38]]
      >>> tx = pj.as_transform(pj.imtl_g_weighting(), num_tasks=2)
      >>> u, state = tx.update(jac, tx.init(None))
      >>> [round(float(v), 4) for v in state.weights]  # logged because num_tasks was given
      [0.5923, 0.4077]
      >>> bool(jnp.allclose(u["w"], state.weights @ jac["w"]))  # u = Σ_i w_i g_i
      True
    """
    return weighting_transform(
        weighting.weights,
        weighting.init,
        num_tasks=num_tasks,
        needs_losses=weighting.needs_losses,
        needs_pref=weighting.needs_pref,
        uses_gram=weighting.uses_gram,
        name=weighting.name,
    )
