r"""Set-level hypervolume-gradient ascent weights (finite Pareto sets).

Emmerich & Deutz, "Time complexity and zeros of the hypervolume indicator gradient field", 2014;
Wang, Deutz, Bäck, Emmerich, "Hypervolume indicator gradient ascent multi-objective
optimization", EMO 2017; Deist et al. 2021 (HIGA-MO style multi-front weights). Reference
behaviour: LibMOON ``libmoon/solver/gradient/methods/gradhv_solver.py`` (``HVMaxSolver``).

For the K objective vectors ``F ∈ R^{K×m}`` of a finite set:

1. dynamic reference ``r = max(r₀, 1.1 · max_k F_k)`` (per objective; ``r₀`` omitted: no floor);
2. non-dominated sort; for each front, ``∂HV/∂y`` of that front alone w.r.t. ``r``
   (:func:`paretojax.metrics.hv_gradient`, exact Emmerich–Deutz), so dominated points get the
   gradient of their own front;
3. each row normalised to unit length (``obj_space_normalize``; a zero row stays zero);
4. objective weights ``α_k = −(normalised ∂HV/∂f_k) ≥ 0``: the finite-set driver steps each
   solution along ``Σ_i α_{ki} ∇f_i(x_k)``, i.e. descent on −HV.

Conventions of :func:`~paretojax.metrics.hv_gradient`: weakly dominated points and duplicates
(after the first copy) get a zero gradient. Everything is jit/vmap-safe; m ≤ 3 is exact in JAX
(m ≥ 4 goes through moocore on the host and is not meant for training loops).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from paretojax.metrics import hv_gradient, nondominated_sort

Array = jax.Array

__all__ = ["hv_grad_weights", "dynamic_reference"]


def dynamic_reference(losses: Array, ref: Any = None, scale: float = 1.1) -> Array:
    """``max(ref, scale · max_k F_k)`` per objective (LibMOON ``HVMaxSolver``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[1., 4.], [2., 3.]])  # K = 2 solutions, m = 2 objectives
      >>> [round(float(v), 4) for v in pj.dynamic_reference(F)]  # 1.1 · column max
      [2.2, 4.4]
      >>> [round(float(v), 4) for v in pj.dynamic_reference(F, ref=jnp.array([5., 0.]))]
      [5.0, 4.4]
    """
    y = jnp.asarray(losses)
    r = scale * jnp.max(y, axis=0)
    if ref is not None:
        r = jnp.maximum(jnp.asarray(ref, r.dtype), r)
    return r


def hv_grad_weights(
    losses: Array,
    ref: Any = None,
    *,
    scale: float = 1.1,
    normalize: bool = True,
    multi_front: bool = True,
    dynamic: bool = True,
) -> Array:
    r"""Objective-space HV-ascent weights ``α ∈ R^{K×m}`` of a finite set (see module).

    Args:
      losses: ``[K, m]`` objective vectors of the K solutions (minimisation).
      ref: the floor ``r₀`` of the dynamic reference point ``[m]`` (LibMOON: the problem's HV
        reference, ``(1, 1)`` on Fonseca–Fleming); ``None`` for ``1.1 · max F`` alone.
      scale: factor of the dynamic reference (1.1).
      normalize: unit-normalise each solution's gradient (LibMOON ``obj_space_normalize=True``).
      multi_front: give dominated points the gradient of their own non-dominated front (True);
        False leaves them at zero.
      dynamic: use the dynamic reference ``max(ref, scale · max F)`` (LibMOON, default); False
        uses ``ref`` itself (required then), i.e. ascent on the HV that is reported. On
        Fonseca–Fleming with ref (1, 1) the dynamic rule converges to HV ≈ 0.2857 (the extreme
        points serve the moving reference ≈ 1.07), the static one to ≈ 0.2902 (the optimum).

    Returns:
      ``α = −∂HV/∂F`` (row-normalised), ``[K, m]``, non-negative.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> a = pj.hv_grad_weights(F, jnp.ones(2), normalize=False)
      >>> [[round(float(v), 6) for v in row] for row in a]
      [[0.2, 0.3], [0.3, 0.3], [0.4, 0.2]]
    """
    y = jnp.asarray(losses)
    if y.ndim != 2:
        raise ValueError(f"hv_grad_weights: losses must be [K, m], got shape {y.shape}.")
    k, m = y.shape
    if ref is not None and jnp.shape(ref) != (m,):
        raise ValueError(f"hv_grad_weights: ref must have shape ({m},), got {jnp.shape(ref)}.")
    y = jax.lax.stop_gradient(y.astype(jnp.result_type(y.dtype, jnp.float32)))
    if dynamic:
        r = dynamic_reference(y, ref, scale)
    else:
        if ref is None:
            raise ValueError("hv_grad_weights: dynamic=False needs an explicit ref.")
        r = jnp.asarray(ref, y.dtype)
    if multi_front:
        rank = nondominated_sort(y)
        levels = jnp.arange(k)

        def front_grad(level: Array) -> Array:
            yl = jnp.where((rank == level)[:, None], y, r[None, :])
            return hv_gradient(yl, r)

        grads = jax.vmap(front_grad)(levels)  # [K levels, K, m]
        rk = jnp.clip(rank, 0, k - 1)
        g = jnp.take_along_axis(grads, rk[None, :, None], axis=0)[0]
        g = jnp.where((rank < k)[:, None], g, 0.0)
    else:
        g = hv_gradient(y, r)
    alpha = -g
    if normalize:
        n = jnp.sqrt(jnp.sum(alpha * alpha, axis=1, keepdims=True))
        tiny = n <= 1e-12
        alpha = jnp.where(tiny, alpha, alpha / jnp.where(tiny, 1.0, n))
    return alpha
