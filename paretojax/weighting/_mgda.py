r"""MGDA: the multiple-gradient descent algorithm (min-norm point of the convex hull).

.. math::

    w^\star = \arg\min_{w \in \Delta^{m-1}} \Big\| \sum_i w_i \hat g_i \Big\|^2
            = \arg\min_{w \in \Delta} w^\top \hat G w, \qquad
    \hat G = N^{-1} G N^{-1},\quad u = \sum_i w^\star_i g_i .

The normalisers ``n_i`` are ``1`` (``"none"``), ``‖g_i‖ = √G_ii`` (``"l2"``), ``L_i``
(``"loss"``) or ``L_i‖g_i‖`` (``"loss+"``), as in LibMTL ``MGDA.py``. The update combines the
**raw** gradients with ``w*`` (official isl-org code and LibMTL's representation mode);
``combine="normalized"`` reproduces LibMTL's parameter mode, which combines ``ĝ_i`` (weights
``w_i / n_i``) — kept only for reproduction.

The direction ``d = Σ w*_i g_i`` (normalisation ``"none"``) is a common descent direction:
``g_i·d ≥ ‖d‖²`` for every task (the KKT conditions of the min-norm problem), and ``d = 0``
exactly at Pareto-stationary points.

Papers: Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective optimization",
C. R. Math. 2012; Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018. Solver: :func:`paretojax.min_norm` (exact to tolerance by default; ``"frank_wolfe"``
for TorchJD parity, ``"pgd"`` for LibMTL parity, ``"exact"`` for enumeration).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.qp import min_norm
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["mgda", "mgda_weights", "mgda_weighting"]

NORMALIZATIONS = ("none", "l2", "loss", "loss+")
COMBINES = ("raw", "normalized")
SOLVERS = ("active_set", "frank_wolfe", "pgd", "exact")

# Floors that keep normalisers finite for zero gradients / zero losses (LibMTL adds no floor and
# divides by zero; a zero-norm task simply receives no normalisation).
_TINY = 1e-20


def _normalizers(gram: Array, losses: Array | None, normalization: str) -> Array:
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0.0))
    if normalization == "none":
        return jnp.ones_like(norms)
    if normalization == "l2":
        n = norms
    elif normalization == "loss":
        n = jnp.abs(losses).astype(gram.dtype)
    else:  # "loss+"
        n = jnp.abs(losses).astype(gram.dtype) * norms
    return jnp.where(n > _TINY, n, 1.0)


def _check(normalization: str, solver: str, combine: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"mgda: normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")
    if solver not in SOLVERS:
        raise ValueError(f"mgda: solver must be one of {SOLVERS}, got {solver!r}.")
    if combine not in COMBINES:
        raise ValueError(f"mgda: combine must be one of {COMBINES}, got {combine!r}.")


def mgda_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    normalization: str = "none",
    solver: str = "active_set",
    combine: str = "raw",
) -> tuple[Array, Any]:
    r"""MGDA task weights from the Gram matrix.

    Args:
      gram: ``[m, m]`` Gram matrix ``G = J Jᵀ``.
      losses: ``[m]`` losses (required by ``"loss"`` and ``"loss+"``).
      state: passed through (MGDA is stateless).
      pref: ignored (MGDA has no preference).
      normalization: ``"none"`` (default, LibMTL default), ``"l2"``, ``"loss"``, ``"loss+"``.
      solver: min-norm solver, see :func:`paretojax.min_norm`.
      combine: ``"raw"`` (default) returns ``w*`` to combine the raw gradients;
        ``"normalized"`` returns ``w*/n`` (LibMTL parameter mode).

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, _ = pj.mgda_weights(jnp.array([[18., -22.], [-22., 38.]]))
      >>> [round(float(v), 4) for v in w]
      [0.6, 0.4]
    """
    del pref
    _check(normalization, solver, combine)
    gram = jnp.asarray(gram)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"mgda: gram must be square [m, m], got {gram.shape}.")
    if normalization in ("loss", "loss+"):
        if losses is None:
            raise ValueError(f"mgda: normalization={normalization!r} needs the task losses.")
        losses = jnp.asarray(losses)
        if losses.shape != gram.shape[:1]:
            raise ValueError(f"mgda: losses must have shape ({gram.shape[0]},), got {losses.shape}.")
    n = _normalizers(gram, losses, normalization)
    g_hat = gram / (n[:, None] * n[None, :])
    w = min_norm(g_hat, solver=solver)
    if combine == "normalized":
        w = w / n
    return w, state


def mgda_weighting(
    normalization: str = "none", solver: str = "active_set", combine: str = "raw"
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`mgda`.

    ``weights(G, losses, state, pref)`` returns the min-norm weights ``w*`` of :func:`mgda_weights`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.mgda_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.6, 0.4]
      >>> bool(jnp.allclose(w, pj.mgda_weights(G)[0]))
      True
    """
    _check(normalization, solver, combine)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return mgda_weights(
            gram, losses, state, normalization=normalization, solver=solver, combine=combine
        )

    return Weighting(
        init=None, weights=fn, name="mgda", needs_losses=normalization in ("loss", "loss+")
    )


def mgda(
    normalization: str = "none",
    solver: str = "active_set",
    combine: str = "raw",
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""MGDA as an optax transform: per-task gradients in, the min-norm common direction out.

    ``update(jac, state, params=None, *, task_losses=None)``; ``task_losses`` is required by the
    ``"loss"``/``"loss+"`` normalisations. See :func:`mgda_weights` for the arguments and the
    module docstring for the maths.

    Example:
      >>> import jax, jax.numpy as jnp, optax, paretojax as pj
      >>> def losses(p):
      ...     return jnp.stack([jnp.sum((p["x"] - 1.0) ** 2), jnp.sum((p["x"] + 1.0) ** 2)])
      >>> params = {"x": jnp.array([0.5, -2.0])}
      >>> tx = optax.chain(pj.mgda(), optax.sgd(0.1))
      >>> state = tx.init(params)
      >>> f, jac = pj.value_and_jacobian(losses)(params)
      >>> updates, state = jax.jit(tx.update)(jac, state, params, task_losses=f)
      >>> params = optax.apply_updates(params, updates)
    """
    return as_transform(mgda_weighting(normalization, solver, combine), num_tasks)


INFO = MethodInfo(
    name="mgda",
    family="weighting",
    factory=mgda,
    description="Min-norm point of the gradients' convex hull (common descent direction).",
    reference="Désidéri 2012; Sener & Koltun 2018; TorchJD (frank_wolfe) / LibMTL (pgd, normalisations)",
    properties=frozenset({"NC", "PI", "W"}),
)
