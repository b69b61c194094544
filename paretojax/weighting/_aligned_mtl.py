r"""Aligned-MTL: independent component alignment.

.. math::

    G = V\Lambda V^\top,\quad B = \sqrt{s}\,V_r\Lambda_r^{-1/2}V_r^\top,\quad w = B p,\quad
    u = J^\top w ,

with the ``r`` eigenpairs above ``tol = λ_max · m · eps(dtype)`` (identity ``B`` when ``r = 0``).
The aligned gradients ``JᵀB`` are orthogonal with equal norms ``√s`` (the condition number of the
aligned system is 1); ``s`` is the smallest kept eigenvalue (``scale_mode="min"``, default), their
median (``"median"``, the lower median as ``torch.median``) or their mean (``"rmse"``). ``p = 1/m``
(or the ``pref`` extra argument).

Paper: Senushkin, Patakin, Kuznetsov, Konushin, "Independent Component Alignment for Multi-Task
Learning", CVPR 2023 (official ``SamsungLabs/MTL`` ``optim/aligned/solver.py`` for the scale
modes). Reference matched: TorchJD ``_aligned_mtl.py`` (``p = 1/m``). Flag ``libmtl=True``:
``p = 1`` (weights ×m), as LibMTL ``Aligned_MTL.py`` and the official code sum the aligned
gradients (LibMTL calls the removed ``torch.symeig`` and no longer runs).

The weights are scale invariant; ``G`` is trace-normalised before ``eigh``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._imtl_g import _as_gram, _trace_normalize

Array = jax.Array

__all__ = ["aligned_mtl", "aligned_mtl_weights", "aligned_mtl_weighting"]

SCALE_MODES = ("min", "median", "rmse")


def _check(scale_mode: str) -> None:
    if scale_mode not in SCALE_MODES:
        raise ValueError(
            f"aligned_mtl: scale_mode must be one of {SCALE_MODES}, got {scale_mode!r}."
        )


def aligned_mtl_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    scale_mode: str = "min",
    libmtl: bool = False,
) -> tuple[Array, Any]:
    r"""Aligned-MTL weights ``w = √s V_rΛ_r^{-1/2}V_rᵀ p``.

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses: ignored.
      state: passed through (stateless).
      pref: ``p`` (default ``1/m``; ``1`` under ``libmtl``).
      scale_mode: ``"min"`` (default), ``"median"`` or ``"rmse"``.
      libmtl: ``p = 1`` (LibMTL / official code).

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> g = jnp.array([[18., -22.], [-22., 38.]])
      >>> [round(x, 4) for x in pj.aligned_mtl_weights(g)[0].tolist()]
      [0.5591, 0.4083]
    """
    del losses
    _check(scale_mode)
    g = _as_gram(gram, "aligned_mtl")
    m = g.shape[0]
    dtype = g.dtype
    if pref is None:
        p = jnp.full((m,), 1.0 if libmtl else 1.0 / m, dtype)
    else:
        p = jnp.asarray(pref, dtype)
        if p.shape != (m,):
            raise ValueError(f"aligned_mtl: pref must have shape ({m},), got {p.shape}.")
        if libmtl:
            p = p * m
    gn, _ = _trace_normalize(g)
    lam, vec = jnp.linalg.eigh(gn)  # ascending
    tol = jnp.max(lam) * m * float(jnp.finfo(dtype).eps)
    keep = lam > tol
    r = jnp.sum(keep)
    if scale_mode == "min":
        s = jnp.min(jnp.where(keep, lam, jnp.inf))
    elif scale_mode == "median":
        asc = jnp.sort(jnp.where(keep, lam, jnp.inf))  # kept values first, ascending
        s = asc[jnp.maximum(r - 1, 0) // 2]
    else:  # "rmse": mean kept eigenvalue
        s = jnp.sum(jnp.where(keep, lam, 0.0)) / jnp.maximum(r, 1)
    inv_sqrt = jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, lam, 1.0)), 0.0)
    s = jnp.where(r > 0, s, 1.0)
    w = jnp.sqrt(s) * (vec @ (inv_sqrt * (vec.T @ p)))
    w = jnp.where(r > 0, w, p)
    return w, state


def aligned_mtl_weighting(scale_mode: str = "min", libmtl: bool = False) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`aligned_mtl`.

    ``weights(G, ...)`` returns ``w = B p`` with ``B = √s V_r Λ_r^{-1/2} V_rᵀ`` from the
    eigendecomposition of ``G`` (module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.aligned_mtl_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.5591, 0.4083]
    """
    _check(scale_mode)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return aligned_mtl_weights(
            gram, losses, state, pref=pref, scale_mode=scale_mode, libmtl=libmtl
        )

    return Weighting(init=None, weights=fn, name="aligned_mtl")


def aligned_mtl(
    scale_mode: str = "min", libmtl: bool = False, *, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""Aligned-MTL as an optax transform (eigen-aligned, equal-norm task components).

    Args:
      scale_mode: ``"min"`` (default), ``"median"`` or ``"rmse"``.
      libmtl: ``p = 1`` instead of ``1/m`` (weights ×m; LibMTL / official code).
      num_tasks: m, to record the weights in the state.

    The optional ``pref`` extra argument replaces ``p``. Permutation invariant.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.aligned_mtl()
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.2133, 0.9673, 0.9673]
    """
    return as_transform(aligned_mtl_weighting(scale_mode, libmtl), num_tasks)


INFO = MethodInfo(
    name="aligned_mtl",
    family="weighting",
    factory=aligned_mtl,
    description="Aligned-MTL: align the task gradients' principal components to equal norms.",
    reference="Senushkin et al., CVPR 2023; TorchJD AlignedMTL (libmtl flag: p = 1)",
    properties=frozenset({"PI"}),
)
