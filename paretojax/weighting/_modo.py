r"""MoDo: multi-objective gradient with double sampling.

Chen, Fernando, Ying, Chen, "Three-Way Trade-Off in Multi-Objective Learning: Optimization,
Generalization and Conflict-Avoidance", NeurIPS 2023 (JMLR 2024). Three independent mini-batches
give Jacobians ``J₁, J₂, J₃``; the weights take one projected-gradient step (K7) on
``½‖J λ‖² + ½ρ‖λ‖²`` with the *unbiased* cross-batch estimate ``M = J₁J₂ᵀ`` of ``JJᵀ``:

.. math:: λ \leftarrow \Pi_\Delta\big(λ - γ (M λ + ρ λ)\big), \qquad u = J_3^\top λ.

``λ₀ = 1/m``, ``γ = 1e-3``, ``ρ = 0.1`` (LibMTL ``MoDo.py``, which also divides the task-head
gradients by 3 because its three backward passes accumulate there — in JAX each Jacobian is taken
once, so nothing to undo). ``M`` is computed leaf by leaf (the parameters are never flattened)
and is not symmetric.

**Calling pattern.** The optax update takes the batch-3 Jacobian as ``updates`` and the two others
as keyword extra args::

    tx = optax.chain(pj.modo(num_tasks=m), optax.sgd(lr))
    _, j1 = pj.value_and_jacobian(loss_vector)(params, batch1)
    _, j2 = pj.value_and_jacobian(loss_vector)(params, batch2)
    _, j3 = pj.value_and_jacobian(loss_vector)(params, batch3)
    updates, state = tx.update(j3, state, params, jac1=j1, jac2=j2)

A missing ``jac1``/``jac2`` defaults to ``updates`` (``J₃``): passing only ``jac1`` is the
two-batch variant ``M = J₁J₃ᵀ``; passing neither uses the single-batch Gram (deterministic MoDo,
biased under sampling). TorchJD's two-batch example instead updates with the mean of the two
batches: pass ``updates = (J₁ + J₂)/2`` with ``jac1=J₁, jac2=J₂``.

Flags where the references disagree: ``gamma=0.1`` is TorchJD's default (``_modo.py``);
``simplex="softmax"`` is TorchJD's ``λ ← softmax(λ − γ(Mλ + ρλ))`` instead of the projection of
the paper and LibMTL (TorchJD also defaults ``rho`` to 0 in later versions).

Golden (``J₁ = J₂ = J₃ = J_base``, one step from ``1/m``): ``γ = 1e-3`` → ``λ = [0.505, 0.495]``,
update ``[0.95, 1, 1]``; ``γ = 0.1`` → ``λ = [1, 0]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.jacobian import accumulation_dtype, combine, num_tasks as _num_tasks
from paretojax.core.simplex import pref_is_valid, project_simplex
from paretojax.registry import MethodInfo
from paretojax.transforms import TransformState, finite_all, validate_inputs

Array = jax.Array
PyTree = Any

__all__ = ["modo", "modo_weights", "MoDoState", "cross_matrix", "cross_batch_transform"]

_SIMPLEX = ("projection", "softmax")


class MoDoState(NamedTuple):
    """State of :func:`modo`: the current task weights ``λ`` (on the simplex)."""

    weights: Array


def cross_matrix(jac1: PyTree, jac2: PyTree) -> Array:
    r"""Cross-batch matrix ``M = J₁J₂ᵀ`` (``m × m``, not symmetric), summed leaf by leaf.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._modo import cross_matrix
      >>> cross_matrix({"a": jnp.eye(2)}, {"a": jnp.array([[1., 2.], [3., 4.]])})
      Array([[1., 3.],
             [2., 4.]], dtype=float32)
    """
    m = _num_tasks(jac1)
    if _num_tasks(jac2) != m:
        raise ValueError(f"cross_matrix: the Jacobians disagree on m ({m} vs {_num_tasks(jac2)}).")
    l1, t1 = jax.tree_util.tree_flatten(jac1)
    l2, t2 = jax.tree_util.tree_flatten(jac2)
    if t1 != t2 or any(a.shape != b.shape for a, b in zip(l1, l2, strict=True)):
        raise ValueError("cross_matrix: the Jacobians of the batches must have the same structure.")
    dtype = accumulation_dtype(jnp.result_type(*l1, *l2))
    out = jnp.zeros((m, m), dtype)
    for a, b in zip(l1, l2, strict=True):
        out = out + jnp.reshape(a, (m, -1)).astype(dtype) @ jnp.reshape(b, (m, -1)).astype(dtype).T
    return out


def cross_batch_transform(
    weights_fn: Callable[[Array, Any, Any, Any], tuple[Array, Any]],
    init_fn: Callable[[], Any],
    *,
    num_tasks: int,
    name: str,
    needs_losses: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """Transform for methods whose weights use a cross-batch matrix ``M = J₁J₂ᵀ`` (MoDo, SDMGrad).

    ``update(updates, state, params=None, *, jac1=None, jac2=None, task_losses=None, pref=None)``
    computes ``M`` from ``jac1``/``jac2`` (each defaults to ``updates``), the weights
    ``w = weights_fn(M, losses, inner, pref)`` and returns ``Σ_i w_i updates_i``. Same validation
    and non-finite policy as :func:`paretojax.weighting_transform` (a bad step is skipped: zero
    update, unchanged state, ``skipped`` incremented); the weights are logged in
    ``state.weights``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> diag = lambda M, losses, inner, pref: (jnp.diagonal(M), inner)  # w_i = g¹_i · g²_i
      >>> tx = pj.cross_batch_transform(diag, lambda: (), num_tasks=2, name="diag")
      >>> j1, j2 = {"w": jnp.array([[1., 0.], [0., 2.]])}, {"w": jnp.array([[3., 0.], [0., 1.]])}
      >>> u, st = tx.update(j1, tx.init(None), jac1=j1, jac2=j2)
      >>> (st.weights.tolist(), u["w"].tolist())  # u = 3·g₁ + 2·g₂
      ([3.0, 2.0], [3.0, 4.0])
    """

    def init(params: PyTree) -> TransformState:
        del params
        weights = jnp.zeros((num_tasks,), jnp.float32)
        return TransformState(init_fn(), weights, jnp.zeros((), jnp.int32))

    def update(
        updates: PyTree,
        state: TransformState,
        params: PyTree | None = None,
        *,
        jac1: PyTree | None = None,
        jac2: PyTree | None = None,
        task_losses: Any = None,
        pref: Any = None,
        **extra: Any,
    ) -> tuple[PyTree, TransformState]:
        del params, extra
        m, losses, p = validate_inputs(
            updates, task_losses, pref, needs_losses=needs_losses, needs_pref=False,
            num_tasks_expected=num_tasks, method=name,
        )
        j1 = updates if jac1 is None else jac1
        j2 = updates if jac2 is None else jac2
        for j, nm in ((j1, "jac1"), (j2, "jac2")):
            if jax.tree_util.tree_structure(j) != jax.tree_util.tree_structure(updates):
                raise ValueError(f"{name}: {nm} must have the same pytree structure as updates.")
        mat = cross_matrix(j1, j2)
        ok = finite_all((mat, losses, p))
        if p is not None:
            ok = ok & pref_is_valid(p)
        m_in = jnp.where(ok, mat, jnp.eye(m, dtype=mat.dtype))
        l_in = None if losses is None else jnp.where(ok, losses, jnp.ones_like(losses))
        p_in = None if p is None else jnp.where(ok, p, jnp.full_like(p, 1.0 / m))
        w, new_inner = weights_fn(m_in, l_in, state.inner, p_in)
        ok = ok & jnp.all(jnp.isfinite(w))
        w = jnp.where(ok, w, jnp.zeros_like(w))
        upd = combine(w, updates)
        ok = ok & finite_all(upd)
        upd = jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), upd)
        new_state = TransformState(
            jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new_inner, state.inner),
            jnp.where(ok, w, jnp.zeros_like(w)).astype(jnp.float32),
            state.skipped + jnp.where(ok, 0, 1).astype(jnp.int32),
        )
        return upd, new_state

    return optax.GradientTransformationExtraArgs(init, update)


def _check(gamma: float, rho: float, simplex: str) -> None:
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"modo: gamma must be a finite number > 0, got {gamma!r}.")
    if not (np.isfinite(rho) and rho >= 0):
        raise ValueError(f"modo: rho must be a finite number ≥ 0, got {rho!r}.")
    if simplex not in _SIMPLEX:
        raise ValueError(f"modo: simplex must be one of {_SIMPLEX}, got {simplex!r}.")


def _check_num_tasks(num_tasks: Any, name: str) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ValueError(f"{name}: num_tasks must be a positive int, got {num_tasks!r}.")
    return int(num_tasks)


def modo_weights(
    cross: Array,
    losses: Array | None = None,
    state: MoDoState | None = None,
    *,
    pref: Array | None = None,
    gamma: float = 1e-3,
    rho: float = 0.1,
    simplex: str = "projection",
) -> tuple[Array, MoDoState]:
    r"""One MoDo step ``λ ← Π_Δ(λ − γ(Mλ + ρλ))`` on the cross-batch matrix ``M = J₁J₂ᵀ``.

    Returns the new ``λ`` (the weights of ``J₃``) and the new state. ``state=None`` starts from
    ``λ = 1/m``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._modo import modo_weights
      >>> out = modo_weights(jnp.array([[18., -22.], [-22., 38.]]))[0]
      >>> [round(x, 4) for x in out.tolist()]
      [0.505, 0.495]
    """
    del losses, pref
    _check(gamma, rho, simplex)
    mat = jnp.asarray(cross)
    mat = mat.astype(jnp.promote_types(mat.dtype, jnp.float32))
    m = mat.shape[0]
    lam = jnp.full((m,), 1.0 / m, mat.dtype) if state is None else state.weights.astype(mat.dtype)
    z = lam - gamma * (mat @ lam + rho * lam)
    new = project_simplex(z) if simplex == "projection" else jax.nn.softmax(z)
    return new, MoDoState(new.astype(lam.dtype if state is None else state.weights.dtype))


def modo(
    num_tasks: int,
    gamma: float = 1e-3,
    rho: float = 0.1,
    simplex: str = "projection",
) -> optax.GradientTransformationExtraArgs:
    r"""MoDo (Chen et al., NeurIPS 2023): double-sampling stochastic MGDA.

    .. math:: λ \leftarrow \Pi_\Delta(λ - γ(J_1J_2^\top λ + ρλ)), \qquad u = J_3^\top λ

    Call ``update(j3, state, params, jac1=j1, jac2=j2)`` with Jacobians of three independent
    mini-batches (see the module docstring for the two-batch and single-batch variants).

    Args:
      num_tasks: m (required: ``λ`` is state).
      gamma: step size of ``λ`` (1e-3, LibMTL; TorchJD uses 0.1).
      rho: ℓ2 regularisation of ``λ`` (0.1, LibMTL).
      simplex: ``"projection"`` (paper/LibMTL, default) or ``"softmax"`` (TorchJD).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> j = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.modo(num_tasks=2)
      >>> u, st = tx.update(j, tx.init({"w": jnp.zeros(3)}), jac1=j, jac2=j)
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.95, 1.0, 1.0]
    """
    _check(gamma, rho, simplex)
    m = _check_num_tasks(num_tasks, "modo")

    def fn(mat: Array, losses: Any, inner: MoDoState, pref: Any):
        return modo_weights(mat, losses, inner, gamma=gamma, rho=rho, simplex=simplex)

    return cross_batch_transform(
        fn, lambda: MoDoState(jnp.full((m,), 1.0 / m, jnp.float32)), num_tasks=m, name="modo"
    )


INFO = MethodInfo(
    name="modo",
    family="weighting",
    factory=modo,
    description="Double-sampling stochastic MGDA: λ by projected gradient on J₁J₂ᵀ, update J₃ᵀλ.",
    reference="Chen et al., NeurIPS 2023 / JMLR 2024; LibMTL MoDo.py (TorchJD _modo.py: flags)",
    requires=("jac1", "jac2"),
    example_kwargs=lambda m: {"num_tasks": m},
    properties=frozenset({"W"}),
)
