r"""CAGrad: conflict-averse gradient descent.

With ``p = 1/m``, ``g₀ = Jᵀp`` (the mean gradient) and ``√φ = c‖g₀‖``:

.. math::

    w^\star = \arg\min_{w \in \Delta} w^\top G p + \sqrt{\varphi}\,\sqrt{w^\top G w},\qquad
    u = \Big(g_0 + \frac{\sqrt\varphi}{\|g_w\|} g_w\Big) / s,\quad g_w = J^\top w^\star,

i.e. weights ``(p + (c‖g₀‖/‖g_w‖) w*) / s`` with ``s = 1`` (``rescale=0``), ``1 + c²``
(``rescale=1``, default) or ``1 + c`` (``rescale=2``). ``u`` maximises the worst-task improvement
``min_i g_iᵀu`` within the ball ``‖u − g₀‖ ≤ c‖g₀‖``; for ``c ≥ 1`` it is non-conflicting
(``g_iᵀu ≥ 0``), for ``c = 0`` it is the mean gradient.

Paper: Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
NeurIPS 2021. Reference matched: official ``Cranial-XIX/CAGrad`` / LibMTL ``CAGrad.py``
(``c = 0.5``, ``rescale = 1``, ``ε = 1e-8`` inside the square roots). Inner problem: K4,
:func:`paretojax.core.cagrad_qp.cagrad_qp` (golden section for m = 2, spectral projected gradient
plus exact active-set polishing for m > 2) instead of SLSQP.

Flags where references disagree:

* ``torchjd=True`` — TorchJD ``CAGrad``: ``rescale = 0``; ``G`` trace-normalised, and set to zero
  when ``tr G < norm_eps`` (TorchJD's absolute threshold, so tiny gradients give a zero update);
  no ``ε`` in ``‖g₀‖``.
* degenerate inner optimum, ``‖g_w‖ < norm_eps`` on the trace-normalised problem (then
  ``f* ≈ 0`` and ``g_w/‖g_w‖`` is solver noise; LibMTL divides by ``‖g_w‖ + 1e-8`` and returns an
  arbitrary direction): every ``u`` of the ball with ``min_i g_iᵀu ≥ 0`` is optimal. Default: the
  centre ``g₀`` (weights ``p``, rescaled) when it conflicts with no task — e.g. when one task's
  gradient is zero — else zero (a Pareto-stationary point). ``torchjd=True``: zero, as TorchJD.

Scale: everything is computed on ``G / tr G`` (the weights are scale invariant); LibMTL applies its
``1e-8`` at the raw scale, which changes its weights for gradients of norm ≲ 1e-4. The factor is
``λ = √φ/√(‖g_w‖² + ε)`` — consistent with the ε-smoothed inner problem, so that its optimality
conditions make ``u`` non-conflicting for ``c ≥ 1`` — where LibMTL uses ``√φ/(‖g_w‖ + 1e-8)``
(relative difference ``O(ε/‖g_w‖²)``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.cagrad_qp import cagrad_qp
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._imtl_g import _as_gram, _trace_normalize

Array = jax.Array

__all__ = ["cagrad", "cagrad_weights", "cagrad_weighting"]

_RESCALES = (0, 1, 2)


def _resolve(c: Any, rescale: int | None, torchjd: bool) -> int:
    if isinstance(c, (int, float)) and not c >= 0.0:
        raise ValueError(f"cagrad: c must be a non-negative float, got {c}.")
    if rescale is None:
        rescale = 0 if torchjd else 1
    if rescale not in _RESCALES:
        raise ValueError(f"cagrad: rescale must be one of {_RESCALES}, got {rescale!r}.")
    return rescale


def cagrad_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    c: float = 0.5,
    rescale: int | None = None,
    torchjd: bool = False,
    eps: float = 1e-8,
    norm_eps: float = 1e-4,
    num_iters: int = 200,
) -> tuple[Array, Any]:
    r"""CAGrad weights ``(p + (c‖g₀‖/‖g_w‖) w*) / s`` (see the module docstring).

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses, pref: ignored (``p = 1/m`` as in every reference).
      state: passed through (stateless).
      c: radius factor of the ball around ``g₀`` (default ``0.5``, LibMTL / official); may be a
        traced scalar (e.g. to ``vmap`` over c).
      rescale: ``0`` (×1), ``1`` (÷(1 + c²), default) or ``2`` (÷(1 + c)); ``0`` under ``torchjd``.
      torchjd: TorchJD behaviour (see module docstring).
      eps: the ``1e-8`` of the references inside the square roots (on the normalised problem).
      norm_eps: threshold on ``‖g_w‖`` (normalised) below which the inner optimum is treated
        as degenerate (see the module docstring).
      num_iters: projected-gradient iterations of the K4 solver (m > 2).

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> g = jnp.array([[18., -22.], [-22., 38.]])
      >>> [round(x, 4) for x in pj.cagrad_weights(g, rescale=0)[0].tolist()]
      [0.7041, 0.5]
      >>> [round(x, 4) for x in pj.cagrad_weights(g)[0].tolist()]  # rescale=1: ×1/(1 + 0.5²)
      [0.5633, 0.4]
    """
    del losses, pref
    rescale = _resolve(c, rescale, torchjd)
    g = _as_gram(gram, "cagrad")
    m = g.shape[0]
    dtype = g.dtype
    p = jnp.full((m,), 1.0 / m, dtype)
    gn, tr = _trace_normalize(g)
    if torchjd:
        gn = jnp.where(tr < norm_eps, jnp.zeros_like(gn), gn)
        n0 = jnp.sqrt(jnp.maximum(p @ gn @ p, 0.0))
        sqrt_phi = c * n0
        eps = 0.0  # TorchJD solves the exact problem (Clarabel)
    else:
        n0 = jnp.sqrt(jnp.maximum(p @ gn @ p, 0.0) + eps)
        sqrt_phi = c * n0 + eps
    b = gn @ p
    w_star = cagrad_qp(gn, b, sqrt_phi, eps=eps, num_iters=num_iters)
    q = jnp.maximum(w_star @ gn @ w_star, 0.0)
    gw = jnp.sqrt(q)
    # λ = √φ/√(‖g_w‖² + ε), consistent with the smoothed inner problem, so that its KKT
    # conditions give g_iᵀu ≥ μ exactly (non-conflicting for c ≥ 1). LibMTL: √φ/(‖g_w‖ + 1e-8).
    lam = sqrt_phi / jnp.sqrt(jnp.maximum(q + eps, jnp.finfo(dtype).tiny))
    w = p + lam * w_star
    # Degenerate inner optimum (‖g_w‖ ≈ 0, so f* ≈ 0 and g_w/‖g_w‖ is solver noise): any u in the
    # ball with min_i g_iᵀu ≥ 0 is optimal. Default: the ball's centre g₀ when it conflicts with
    # no task (e.g. a task with a zero gradient), else 0 (Pareto stationary). TorchJD: always 0.
    degenerate = gw < norm_eps
    if torchjd:
        fallback = jnp.zeros((m,), dtype)
    else:
        gp = gn @ p
        tol = 10.0 * float(jnp.finfo(dtype).eps) * jnp.max(jnp.abs(gn))
        fallback = jnp.where(jnp.min(gp) >= -tol, p, jnp.zeros((m,), dtype))
    w = jnp.where(degenerate, fallback, w)
    if rescale == 1:
        w = w / (1.0 + c**2)
    elif rescale == 2:
        w = w / (1.0 + c)
    return w, state


def cagrad_weighting(
    c: float = 0.5,
    rescale: int | None = None,
    torchjd: bool = False,
    eps: float = 1e-8,
    norm_eps: float = 1e-4,
    num_iters: int = 200,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`cagrad`.

    ``weights(G, ...)`` returns ``(p + (c‖g₀‖/‖g_w‖) w*) / s`` (module docstring; ``c = 0.5``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.cagrad_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.5633, 0.4]
    """
    _resolve(c, rescale, torchjd)
    if not (eps >= 0.0 and norm_eps >= 0.0) or int(num_iters) < 1:
        raise ValueError("cagrad: eps and norm_eps must be ≥ 0 and num_iters ≥ 1.")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return cagrad_weights(
            gram, losses, state, c=c, rescale=rescale, torchjd=torchjd, eps=eps,
            norm_eps=norm_eps, num_iters=num_iters,
        )

    return Weighting(init=None, weights=fn, name="cagrad")


def cagrad(
    c: float = 0.5,
    rescale: int | None = None,
    torchjd: bool = False,
    *,
    eps: float = 1e-8,
    norm_eps: float = 1e-4,
    num_iters: int = 200,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""CAGrad as an optax transform (conflict-averse update in a ball around the mean gradient).

    See :func:`cagrad_weights` for the arguments and the module docstring for the maths.
    Defaults follow LibMTL / the official code (``c = 0.5``, ``rescale = 1``); ``torchjd=True``
    reproduces TorchJD (``rescale = 0``). Non-conflicting for ``c ≥ 1``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.cagrad(c=0.5, torchjd=True)
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.1835, 1.2041, 1.2041]
    """
    return as_transform(cagrad_weighting(c, rescale, torchjd, eps, norm_eps, num_iters), num_tasks)


INFO = MethodInfo(
    name="cagrad",
    family="weighting",
    factory=cagrad,
    description="CAGrad: maximise the worst-task improvement in a ball around the mean gradient.",
    reference="Liu et al., NeurIPS 2021; official Cranial-XIX/CAGrad = LibMTL (torchjd flag)",
)
