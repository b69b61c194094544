r"""Nash-MTL: multi-task learning as a bargaining game.

.. math::

    G\alpha = 1/\alpha\ \ (\alpha > 0)\quad\Longleftrightarrow\quad
    \alpha_i\, g_i^\top (J^\top\alpha) = 1\ \ \forall i, \qquad u = J^\top \alpha ,

then (TorchJD post-processing) ``α ← α · max_norm / ‖Jᵀα‖`` when ``‖Jᵀα‖ > max_norm``
(``‖Jᵀα‖² = αᵀGα = m`` at the root). Every task improves: ``g_iᵀu = 1/α_i > 0``.

Paper: Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, "Multi-Task Learning as a
Bargaining Game", ICML 2022. The official ``AvivNavon/nash-mtl`` code (copied by LibMTL and
TorchJD) approximates the root by ≤ ``optim_niter`` = 20 concave–convex cvxpy/ECOS solves on
``G/‖G‖_F``; paretojax solves the same fixed point directly with the compiled damped-Newton root
finder K5 (:func:`paretojax.core.root.alpha_fair_root`, α-exponent 1), so ``optim_niter`` is
accepted for compatibility and ignored. Fallback when the root solve fails numerically: the
previous weights (initially ``1/m``). When no root exists (some ``v ≥ 0`` has ``Gv = 0``: the
gradients are weakly Pareto stationary) the weights are zero — the limit of ``Jᵀα`` along the
ridged roots, and the only non-conflicting choice (the references' solver fails there and they
reuse the previous weights).

Hyperparameters (TorchJD / LibMTL defaults): ``max_norm = 1.0`` (``0`` disables),
``update_weights_every = 1`` (between recomputations the previous raw α is reused and
``max_norm`` is re-applied with the current Gram, as TorchJD does), ``optim_niter = 20``.

Flag ``libmtl=True`` (LibMTL ``Nash_MTL.py`` / official code): backprop ``Σα_iL_i`` — the weights
are the raw α — and then clip the norm of the **shared** parameters' update to ``max_norm``
(``torch.nn.utils.clip_grad_norm_``: scale ``max_norm/(‖u_shared‖ + 1e-6)`` when below 1); head
parameters keep ``α_i∇L_i`` unclipped. Pass ``shared`` (a pytree of bools like the params, or a
callable ``params -> mask``, as in ``optax.masked``) to say which leaves are shared; by default
every leaf is (then it equals the TorchJD output up to the ``1e-6``).

Scale: ``G → cG`` gives ``α → c^{-1/2}α`` — tiny weights (~1e-4) for large gradients are expected
(a reported "issue" of the reference implementations), and ``max_norm`` bounds the update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.root import alpha_fair_root
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, _TransformType, as_transform
from paretojax.weighting._imtl_g import _as_gram

Array = jax.Array
PyTree = Any

__all__ = ["NashMTLState", "nash_mtl", "nash_mtl_init", "nash_mtl_weights", "nash_mtl_weighting"]


class NashMTLState(NamedTuple):
    """State of Nash-MTL.

    Attributes:
      alpha: ``[m]`` the last raw bargaining weights (before ``max_norm``); ``1/m`` initially,
        used as fallback and reused between recomputations (zero after a stationary step).
      step: int32 number of calls so far.
    """

    alpha: Array
    step: Array


def nash_mtl_init(num_tasks: int) -> NashMTLState:
    """Initial :class:`NashMTLState` for ``num_tasks`` tasks.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> st = pj.nash_mtl_init(3)
      >>> ([round(float(a), 4) for a in st.alpha], int(st.step))
      ([0.3333, 0.3333, 0.3333], 0)
    """
    if int(num_tasks) < 1:
        raise ValueError(f"nash_mtl: num_tasks must be ≥ 1, got {num_tasks}.")
    m = int(num_tasks)
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled
    return NashMTLState(alpha=jnp.full((m,), 1.0 / m, dtype), step=jnp.zeros((), jnp.int32))


def _check(max_norm: float, update_weights_every: int, optim_niter: int) -> None:
    if not max_norm >= 0.0:
        raise ValueError(f"nash_mtl: max_norm must be ≥ 0 (0 disables), got {max_norm}.")
    if int(update_weights_every) < 1:
        raise ValueError(f"nash_mtl: update_weights_every must be ≥ 1, got {update_weights_every}.")
    if int(optim_niter) < 1:
        raise ValueError(f"nash_mtl: optim_niter must be ≥ 1, got {optim_niter}.")


def nash_mtl_weights(
    gram: Array,
    losses: Array | None = None,
    state: NashMTLState | None = None,
    *,
    pref: Array | None = None,
    max_norm: float = 1.0,
    update_weights_every: int = 1,
    optim_niter: int = 20,
    libmtl: bool = False,
    ridge: float = 1e-8,
    num_iters: int = 30,
) -> tuple[Array, NashMTLState]:
    r"""Nash-MTL weights: the root of ``Gα = 1/α``, rescaled so that ``‖Jᵀα‖ ≤ max_norm``.

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses, pref: ignored.
      state: :class:`NashMTLState` (``None``: a fresh state).
      max_norm: bound on ``‖Jᵀα‖`` (default ``1.0``; ``0`` disables). Not applied to the
        weights when ``libmtl`` (the transform clips the shared update instead).
      update_weights_every: recompute α every k calls, reuse it in between (default ``1``).
      optim_niter: accepted for compatibility with the references; ignored by the root solve.
      libmtl: return the raw α (LibMTL / official behaviour; see the module docstring).
      ridge: relative ridge of the root solve (``δ tr G``).
      num_iters: damped-Newton iterations of the root solve.

    Returns:
      ``(weights[m], new_state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> g = jnp.array([[18., -22.], [-22., 38.]])
      >>> w, state = pj.nash_mtl_weights(g)
      >>> [round(x, 4) for x in state.alpha.tolist()]  # the root of Gα = 1/α
      [0.5915, 0.4071]
      >>> [round(x, 4) for x in w.tolist()]  # rescaled to ‖Jᵀw‖ = max_norm = 1
      [0.4182, 0.2878]
    """
    del losses, pref
    _check(max_norm, update_weights_every, optim_niter)
    g = _as_gram(gram, "nash_mtl")
    m = g.shape[0]
    if state is None:
        state = nash_mtl_init(m)
    if state.alpha.shape != (m,):
        raise ValueError(
            f"nash_mtl: the state was built for {state.alpha.shape[0]} tasks, got m={m}."
        )
    dtype = state.alpha.dtype

    def solve(_):
        res = alpha_fair_root(g, 1.0, ridge=ridge, num_iters=num_iters)
        alpha = jnp.where(res.ok, res.weights.astype(dtype), state.alpha)
        return jnp.where(res.stationary, jnp.zeros_like(alpha), alpha)

    def reuse(_):
        return state.alpha

    if int(update_weights_every) == 1:
        alpha = solve(None)
    else:
        alpha = jax.lax.cond(state.step % int(update_weights_every) == 0, solve, reuse, None)
    new_state = NashMTLState(alpha=alpha, step=state.step + 1)
    w = alpha.astype(g.dtype)
    if max_norm > 0 and not libmtl:
        norm = jnp.sqrt(jnp.maximum(w @ g @ w, 0.0))
        w = jnp.where(norm > max_norm, w * (max_norm / jnp.where(norm > 0, norm, 1.0)), w)
    return w, new_state


def nash_mtl_weighting(
    num_tasks: int,
    max_norm: float = 1.0,
    update_weights_every: int = 1,
    optim_niter: int = 20,
    libmtl: bool = False,
    ridge: float = 1e-8,
    num_iters: int = 30,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`nash_mtl` (state sized by num_tasks).

    ``weights(G, losses, state, pref)`` solves the bargaining condition ``Gα = 1/α``
    (``α > 0``) with the compiled root finder, then rescales so that ``‖Jᵀα‖ ≤ max_norm``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.nash_mtl_weighting(num_tasks=2)
      >>> w, state = wt.weights(G, None, wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [0.4182, 0.2878]
      >>> bool(jnp.all(w > 0))
      True
    """
    _check(max_norm, update_weights_every, optim_niter)
    nash_mtl_init(num_tasks)

    def fn(gram: Array, losses: Array | None, state: NashMTLState, pref: Array | None):
        return nash_mtl_weights(
            gram, losses, state, max_norm=max_norm, update_weights_every=update_weights_every,
            optim_niter=optim_niter, libmtl=libmtl, ridge=ridge, num_iters=num_iters,
        )

    return Weighting(init=lambda: nash_mtl_init(num_tasks), weights=fn, name="nash_mtl")


def _clip_shared(
    base: optax.GradientTransformationExtraArgs,
    max_norm: float,
    shared: PyTree | Callable[[PyTree], PyTree] | None,
) -> optax.GradientTransformationExtraArgs:
    """LibMTL's ``clip_grad_norm_(shared_params, max_norm)`` applied after the weighted update."""

    def update(updates, state, params=None, **extra):
        upd, new_state = base.update(updates, state, params, **extra)
        if shared is None:
            mask = jax.tree_util.tree_map(lambda _: True, upd)
        elif callable(shared):
            mask = shared(upd if params is None else params)
        else:
            mask = shared
        flags = jax.tree_util.tree_leaves(mask)
        leaves, treedef = jax.tree_util.tree_flatten(upd)
        if len(flags) != len(leaves):
            raise ValueError(
                f"nash_mtl: `shared` must be a pytree of bools with one entry per parameter leaf "
                f"({len(leaves)}), got {len(flags)}."
            )
        pairs = list(zip(leaves, flags, strict=True))
        sq = [jnp.sum(jnp.square(x.astype(jnp.float32))) for x, f in pairs if f]
        if not sq:
            return upd, new_state
        norm = jnp.sqrt(sum(sq))
        coef = jnp.minimum(1.0, max_norm / (norm + 1e-6))
        out = [(x * coef).astype(x.dtype) if f else x for x, f in pairs]
        return jax.tree_util.tree_unflatten(treedef, out), new_state

    return _TransformType(base.init, update)


def nash_mtl(
    max_norm: float = 1.0,
    update_weights_every: int = 1,
    optim_niter: int = 20,
    *,
    num_tasks: int,
    libmtl: bool = False,
    shared: PyTree | Callable[[PyTree], PyTree] | None = None,
    ridge: float = 1e-8,
    num_iters: int = 30,
) -> optax.GradientTransformationExtraArgs:
    r"""Nash-MTL as an optax transform (Nash bargaining solution, ``g_iᵀu = 1/α_i > 0``).

    Args:
      max_norm: bound on the update norm (default ``1.0``; ``0`` disables).
      update_weights_every: recompute the weights every k steps (default ``1``).
      optim_niter: accepted for compatibility, ignored (the root is solved directly).
      num_tasks: m (required: the state holds the previous weights).
      libmtl: LibMTL / official behaviour: raw α, then clip the norm of the ``shared`` leaves.
      shared: with ``libmtl``, which parameter leaves are shared (bool pytree or callable);
        default all.
      ridge, num_iters: root-solver settings (see :func:`paretojax.core.root.alpha_fair_root`).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.nash_mtl(num_tasks=2)
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.0542, 0.7061, 0.7061]
    """
    weighting = nash_mtl_weighting(
        num_tasks, max_norm, update_weights_every, optim_niter, libmtl, ridge, num_iters
    )
    base = as_transform(weighting, num_tasks)
    if libmtl and max_norm > 0:
        return _clip_shared(base, max_norm, shared)
    if shared is not None:
        raise ValueError("nash_mtl: `shared` is only used with libmtl=True.")
    return base


INFO = MethodInfo(
    name="nash_mtl",
    family="weighting",
    factory=nash_mtl,
    description="Nash-MTL: Nash bargaining weights solving Gα = 1/α, update norm ≤ max_norm.",
    reference="Navon et al., ICML 2022; root of the official CCP fixed point + TorchJD max_norm",
    properties=frozenset({"NC"}),
)
