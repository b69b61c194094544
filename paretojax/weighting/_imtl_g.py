r"""IMTL-G: impartial multi-task learning, gradient part.

.. math::

    w \propto G^{+}\sqrt{\operatorname{diag} G}, \qquad \textstyle\sum_i w_i = 1, \qquad
    u = J^\top w .

The update ``u`` has equal projections on every unit task gradient (``u·g_i/‖g_i‖`` is the same
for all i) and its weights sum to one; the pseudo-inverse form (Quinton & Rey, "Jacobian Descent
for Multi-Objective Optimization", 2024) is robust to linearly dependent gradients. If
``|Σ_i v_i| < 1e-12`` (after trace normalisation) the weights are zero.

Paper: Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, "Towards Impartial Multi-task Learning",
ICLR 2021. Reference matched: TorchJD ``_imtl_g.py`` (pseudo-inverse form). Do not copy: LibMTL's
closed form ``α_{2..m} = g₁Uᵀ(DUᵀ)⁻¹`` is identical at full rank and crashes when singular.

JAX: ``G`` is divided by its trace (the weights are scale invariant) and ``G⁺`` is applied through
``eigh`` with a relative cutoff ``rcond·λ_max`` (default ``rcond = m·eps(dtype)``, the
``torch.linalg.pinv`` default).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["imtl_g", "imtl_g_weights", "imtl_g_weighting"]


def _as_gram(gram: Any, name: str) -> Array:
    g = jnp.asarray(gram)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] == 0:
        raise ValueError(f"{name}: gram must be a square [m, m] matrix with m ≥ 1, got {g.shape}.")
    g = g.astype(jnp.promote_types(g.dtype, jnp.float32))
    return 0.5 * (g + g.T)


def _trace_normalize(g: Array) -> tuple[Array, Array]:
    """``(G / tr G, tr G)``; a zero (or non-finite) trace gives the zero matrix."""
    tr = jnp.trace(g)
    ok = jnp.isfinite(tr) & (tr > jnp.finfo(g.dtype).tiny * 1e3)
    return jnp.where(ok, g / jnp.where(ok, tr, 1.0), jnp.zeros_like(g)), jnp.where(ok, tr, 0.0)


def _psd_pinv_apply(g: Array, v: Array, rcond: float | None = None) -> Array:
    """``G⁺ v`` for a symmetric PSD ``G`` via ``eigh`` (drops ``|λ| ≤ rcond·λ_max``)."""
    m = g.shape[0]
    if rcond is None:
        rcond = m * float(jnp.finfo(g.dtype).eps)
    lam, vec = jnp.linalg.eigh(g)
    cut = rcond * jnp.max(jnp.abs(lam))
    keep = jnp.abs(lam) > cut
    inv = jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
    return vec @ (inv * (vec.T @ v))


def imtl_g_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    rcond: float | None = None,
) -> tuple[Array, Any]:
    r"""IMTL-G weights ``w = G⁺√diag(G) / Σ(G⁺√diag(G))`` (zero if the sum vanishes).

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses, pref: ignored.
      state: passed through (stateless).
      rcond: relative eigenvalue cutoff of the pseudo-inverse (default ``m·eps(dtype)``).

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> w, _ = pj.imtl_g_weights(jnp.array([[18., -22.], [-22., 38.]]))
      >>> [round(x, 4) for x in w.tolist()]
      [0.5923, 0.4077]
    """
    del losses, pref
    g, _ = _trace_normalize(_as_gram(gram, "imtl_g"))
    d = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0))
    v = _psd_pinv_apply(g, d, rcond)
    s = jnp.sum(v)
    small = jnp.abs(s) < 1e-12
    w = jnp.where(small, jnp.zeros_like(v), v / jnp.where(small, 1.0, s))
    return w, state


def imtl_g_weighting(rcond: float | None = None) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`imtl_g`.

    ``weights(G, ...)`` returns ``w ∝ G⁺ √diag G`` normalised to ``Σ w_i = 1``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.imtl_g_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.5923, 0.4077]
      >>> round(float(w.sum()), 4)
      1.0
    """
    if rcond is not None and not rcond >= 0.0:
        raise ValueError(f"imtl_g: rcond must be ≥ 0, got {rcond}.")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return imtl_g_weights(gram, losses, state, rcond=rcond)

    return Weighting(init=None, weights=fn, name="imtl_g")


def imtl_g(
    rcond: float | None = None, *, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""IMTL-G as an optax transform: the update with equal projections on all unit gradients.

    ``u = Jᵀw`` with ``w ∝ G⁺√diag(G)``, ``Σw = 1`` (see :func:`imtl_g_weights`). Permutation
    invariant. Reference: TorchJD ``IMTLG``.

    Args:
      rcond: relative eigenvalue cutoff of the pseudo-inverse (default ``m·eps(dtype)``).
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.imtl_g()
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.0767, 1.0, 1.0]
    """
    return as_transform(imtl_g_weighting(rcond), num_tasks)


INFO = MethodInfo(
    name="imtl_g",
    family="weighting",
    factory=imtl_g,
    description="IMTL-G: update with equal projections on every unit task gradient (pinv form).",
    reference="Liu et al., ICLR 2021; TorchJD IMTLG (pseudo-inverse form)",
    properties=frozenset({"PI"}),
)
