r"""UPGrad: unconflicting projection of gradients (Jacobian descent).

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv 2406.16232 (2024).
Each gradient ``g_i`` is projected onto the dual cone ``{x : Jx ≥ 0}`` of all gradients and the
projections are combined with a preference vector ``p`` (default ``1/m``):

.. math::

    \hat G = \frac{G}{\operatorname{tr} G} + \varepsilon_{reg} I, \qquad
    v^{(i)} = \arg\min_{v \ge p_i e_i} v^\top \hat G v, \qquad
    w = \sum_i v^{(i)}, \qquad u = J^\top w.

By Proposition 1 of the paper, ``Jᵀv^{(i)} = p_i π_J(g_i)`` (the dual-cone projection), so the
update never conflicts with any task (``J u ≥ 0``), is linear under positive scaling of the rows
and permutation invariant.

Reference matched: TorchJD ``aggregation/_upgrad.py`` with ``_utils/gramian.py``
(``normalize``: ``G/tr G``, or ``0`` when ``tr G < norm_eps``; ``regularize``: ``+ reg_eps·I``;
``norm_eps = reg_eps = 1e-4``) and ``_utils/dual_cone.py`` (quadprog on the host). LibMTL
``UPGrad.py`` is a copy of TorchJD. paretojax solves the m QPs with the compiled K3 active-set
kernel (:func:`paretojax.core.boxqp.lower_bounded_qp`) ``vmap``-ed over ``i``; ``solver="exact"``
enumerates supports (``m ≤ 8``).

Golden values (METHODS.md §4): ``G_base → [1.1109, 0.7894]``, ``A(J_base) = [0.2929, 1.9004,
1.9004]``, ``G3 → [0.6749, 1.0125, 0.5209]``. With ``pref_vector = (1, 1)`` and no ridge, UPGrad
equals PCGrad for ``m = 2``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.boxqp import lower_bounded_qp, lower_bounded_qp_exact
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["upgrad", "upgrad_weights", "upgrad_weighting", "normalize_regularize"]

_SOLVERS = ("active_set", "exact")


def normalize_regularize(gram: Array, norm_eps: float = 1e-4, reg_eps: float = 1e-4) -> Array:
    r"""TorchJD's Gram preprocessing: ``G/tr(G)`` (``0`` if ``tr(G) < norm_eps``) ``+ reg_eps·I``.

    The trace is ``‖J‖_F²``, so this is the Gram of the Frobenius-normalised Jacobian; the ridge
    makes the QP strictly convex. The test ``tr(G) < norm_eps`` is absolute, as in TorchJD.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._upgrad import normalize_regularize
      >>> normalize_regularize(jnp.array([[1., 0.], [0., 3.]]), reg_eps=0.0)
      Array([[0.25, 0.  ],
             [0.  , 0.75]], dtype=float32)
    """
    g = jnp.asarray(gram)
    g = g.astype(jnp.promote_types(g.dtype, jnp.float32))
    tr = jnp.trace(g)
    small = ~(tr >= norm_eps)  # also catches a NaN trace
    gn = jnp.where(small, jnp.zeros_like(g), g / jnp.where(small, 1.0, tr))
    return gn + reg_eps * jnp.eye(g.shape[0], dtype=g.dtype)


def _check_hparams(norm_eps: float, reg_eps: float, solver: str, name: str) -> None:
    if not (np.isfinite(norm_eps) and norm_eps >= 0):
        raise ValueError(f"{name}: norm_eps must be a finite number ≥ 0, got {norm_eps!r}.")
    if not (np.isfinite(reg_eps) and reg_eps >= 0):
        raise ValueError(f"{name}: reg_eps must be a finite number ≥ 0, got {reg_eps!r}.")
    if solver not in _SOLVERS:
        raise ValueError(f"{name}: solver must be one of {_SOLVERS}, got {solver!r}.")


def _check_pref_vector(pref_vector: Any, name: str) -> Array | None:
    if pref_vector is None:
        return None
    p = np.asarray(pref_vector, np.float64)
    if p.ndim != 1 or p.shape[0] == 0 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(
            f"{name}: pref_vector must be a non-empty 1-D vector of finite non-negative numbers, "
            f"got {pref_vector!r}."
        )
    return jnp.asarray(p, jnp.float32)


def resolve_pref(
    pref: Array | None, pref_vector: Array | None, m: int, dtype: Any, name: str
) -> Array:
    """The preference used: the call's ``pref`` if given, else ``pref_vector``, else ``1/m``."""
    if pref is not None:
        p = jnp.asarray(pref)
    elif pref_vector is not None:
        p = jnp.asarray(pref_vector)
    else:
        return jnp.full((m,), 1.0 / m, dtype)
    if p.shape != (m,):
        raise ValueError(f"{name}: the preference vector must have shape ({m},), got {p.shape}.")
    return p.astype(dtype)


def _solve(gn: Array, lower: Array, solver: str, max_iter: int | None) -> Array:
    if solver == "exact":
        return lower_bounded_qp_exact(gn, lower)
    return lower_bounded_qp(gn, lower, max_iter=max_iter)


@partial(jax.jit, static_argnums=(2, 3))
def _solve_rows(gn: Array, p: Array, solver: str, max_iter: int | None) -> Array:
    """``Σ_i argmin_{v ≥ p_i e_i} vᵀĜv``: the m QPs ``vmap``-ed (jitted, cached across calls)."""
    return jnp.sum(jax.vmap(lambda low: _solve(gn, low, solver, max_iter))(jnp.diag(p)), axis=0)


def upgrad_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    pref_vector: Array | None = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
) -> tuple[Array, Any]:
    r"""UPGrad weights ``w = Σ_i argmin_{v ≥ p_i e_i} vᵀĜv`` (``Ĝ = G/tr G + reg_eps·I``).

    Args:
      gram: ``(m, m)`` Gram matrix ``JJᵀ``.
      losses, state: unused (stateless); ``state`` is returned unchanged.
      pref: preference of this call (overrides ``pref_vector``); default ``1/m``.
      pref_vector: fixed preference (TorchJD ``pref_vector``; any non-negative vector, e.g.
        ``(1, 1)``).
      norm_eps: trace below which ``G`` is treated as zero (TorchJD 1e-4).
      reg_eps: ridge added after normalisation (TorchJD 1e-4).
      solver: ``"active_set"`` (K3, default) or ``"exact"`` (support enumeration, ``m ≤ 8``).
      max_iter: active-set iteration cap (default ``3m``).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._upgrad import upgrad_weights
      >>> out = upgrad_weights(jnp.array([[18., -22.], [-22., 38.]]))[0]
      >>> [round(x, 4) for x in out.tolist()]
      [1.1109, 0.7894]
    """
    _check_hparams(norm_eps, reg_eps, solver, "upgrad")
    g = jnp.asarray(gram)
    m = g.shape[0]
    gn = normalize_regularize(g, norm_eps, reg_eps)
    p = resolve_pref(pref, pref_vector, m, gn.dtype, "upgrad")
    return _solve_rows(gn, p, solver, max_iter), state


def upgrad_weighting(
    pref_vector: Any = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`upgrad`.

    ``weights(G, ...)`` returns the weights of the mean of the gradients each projected onto
    the dual cone ``{x : Jx ≥ 0}``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.upgrad_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [1.1109, 0.7894]
      >>> bool(jnp.all(G @ w >= -1e-4))  # u = Jᵀw conflicts with no task
      True
    """
    _check_hparams(norm_eps, reg_eps, solver, "upgrad")
    pv = _check_pref_vector(pref_vector, "upgrad")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return upgrad_weights(
            gram, losses, state, pref=pref, pref_vector=pv, norm_eps=norm_eps,
            reg_eps=reg_eps, solver=solver, max_iter=max_iter,
        )

    return Weighting(init=None, weights=fn, name="upgrad")


def upgrad(
    pref_vector: Any = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""UPGrad (Quinton & Rey, 2024): sum of the gradients projected onto their dual cone.

    .. math:: u = J^\top \sum_i \arg\min_{v \ge p_i e_i} v^\top \hat G v

    A preference given to ``update(..., pref=p)`` (on the simplex) overrides ``pref_vector``.
    Non-conflicting, linear under scaling, permutation invariant (tested). Stateless.

    Args:
      pref_vector: fixed preference ``p`` (default ``1/m``, TorchJD).
      norm_eps: trace threshold of the normalisation (1e-4, TorchJD).
      reg_eps: ridge ``ε_reg`` (1e-4, TorchJD).
      solver: ``"active_set"`` (compiled K3, default) or ``"exact"`` (``m ≤ 8``).
      max_iter: active-set iteration cap (default ``3m``).
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.upgrad()
      >>> out = tx.update(jac, tx.init({"w": jnp.zeros(3)}))[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [0.2929, 1.9004, 1.9004]
    """
    return as_transform(
        upgrad_weighting(pref_vector, norm_eps, reg_eps, solver, max_iter), num_tasks
    )


INFO = MethodInfo(
    name="upgrad",
    family="weighting",
    factory=upgrad,
    description="Sum of the task gradients projected onto their dual cone (Jacobian descent).",
    reference="Quinton & Rey, arXiv 2406.16232 (2024); TorchJD _upgrad.py (= LibMTL UPGrad.py)",
    properties=frozenset({"NC", "LUS", "PI", "SS"}),
)
