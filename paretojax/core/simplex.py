r"""Simplex utilities: projection, preference sampling and uniform grids.

The probability simplex is :math:`\Delta^{m-1} = \{w \in R^m : w \ge 0, \sum_i w_i = 1\}`.
"""

from __future__ import annotations

# ruff: noqa: F722  (jaxtyping shape strings such as "n m" are not Python expressions)
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Bool, Float

Array = jax.Array

__all__ = [
    "project_simplex",
    "sample_dirichlet",
    "das_dennis",
    "linspace_prefs",
    "check_pref",
    "is_tracer",
]


def is_tracer(x: Any) -> bool:
    """True when ``x`` is an abstract value inside ``jit``/``vmap``/``grad`` (not inspectable)."""
    return isinstance(x, jax.core.Tracer)


def project_simplex(v: Float[ArrayLike, "*b m"], scale: float = 1.0) -> Float[Array, "*b m"]:
    r"""Exact Euclidean projection onto the (scaled) simplex along the last axis.

    .. math:: \Pi_\Delta(v) = \arg\min_{w \ge 0,\ \sum w = s} \|w - v\|_2

    Sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et al. 2008): with ``u`` sorted
    descending and ``c = cumsum(u)``, ``ρ = max{j : u_j − (c_j − s)/j > 0}``,
    ``τ = (c_ρ − s)/ρ`` and ``w = max(v − τ, 0)``. Works on batches ``[..., m]`` directly.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.project_simplex(jnp.array([0.5, 2.0, -1.0]))
      Array([0., 1., 0.], dtype=float32)
    """
    v = jnp.asarray(v)
    if v.ndim == 0 or v.shape[-1] == 0:
        raise ValueError(f"project_simplex needs a non-empty last axis, got shape {v.shape}.")
    m = v.shape[-1]
    u = -jnp.sort(-v, axis=-1)
    css = jnp.cumsum(u, axis=-1) - scale
    idx = jnp.arange(1, m + 1, dtype=v.dtype).reshape((1,) * (v.ndim - 1) + (m,))
    cond = u - css / idx > 0
    rho = jnp.sum(cond, axis=-1, keepdims=True)  # ≥ 1 always (the first entry satisfies it)
    tau = jnp.take_along_axis(css, rho - 1, axis=-1) / rho.astype(v.dtype)
    return jnp.maximum(v - tau, 0.0)


def sample_dirichlet(
    key: Array, num_objectives: int, num_samples: int | None = None, concentration: Any = 1.0
) -> Float[Array, "*k m"]:
    r"""Preferences drawn from ``Dirichlet(β·1)`` (β = 1: uniform on the simplex).

    Concentrations used in the literature: PHN 0.2, COSMOS 1.2, STCH / LibMOON 1, PARM 0.5.

    Returns:
      ``[num_objectives]`` or ``[num_samples, num_objectives]``.

    Example:
      >>> import jax, paretojax as pj
      >>> pj.sample_dirichlet(jax.random.key(0), 3, 5).shape
      (5, 3)
    """
    if num_objectives < 1:
        raise ValueError(f"num_objectives must be ≥ 1, got {num_objectives}.")
    alpha = jnp.broadcast_to(jnp.asarray(concentration, jnp.float32), (num_objectives,))
    shape = () if num_samples is None else (num_samples,)
    return jax.random.dirichlet(key, alpha, shape=shape)


def das_dennis(num_objectives: int, num_partitions: int) -> Float[Array, "k m"]:
    r"""Das–Dennis simplex-lattice: all ``p`` with ``p_i ∈ {0, 1/H, …, 1}`` and ``Σ p = 1``.

    There are ``C(H + m − 1, m − 1)`` points (Das & Dennis, SIAM J. Optim. 1998), e.g. m = 3,
    H = 12 → 91; m = 3, H = 44 → 1035. Built on the host from integer compositions (static shape).

    Example:
      >>> import paretojax as pj
      >>> pj.das_dennis(2, 4)[:, 0].tolist()
      [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    m, h = int(num_objectives), int(num_partitions)
    if m < 1 or h < 0 or (m > 1 and h < 1):
        raise ValueError(f"das_dennis needs m ≥ 1 and H ≥ 1, got m={m}, H={h}.")
    if m == 1:
        return jnp.ones((1, 1), jnp.float32)
    # Stars and bars: choose m-1 bar positions among H+m-1 slots.
    points = []
    for bars in itertools.combinations(range(h + m - 1), m - 1):
        edges = (-1, *bars, h + m - 1)
        points.append([edges[i + 1] - edges[i] - 1 for i in range(m)])
    pts = np.asarray(points, np.float64)[::-1] / h
    assert pts.shape[0] == math.comb(h + m - 1, m - 1)
    return jnp.asarray(pts, jnp.float32)


def linspace_prefs(num: int, eps: float = 0.0) -> Float[Array, "k 2"]:
    r"""Two-objective preferences ``p₁ = linspace(ε, 1 − ε, K)``, ``p₂ = 1 − p₁``.

    LibMOON's finite-set protocol uses ``ε = 0.01, K = 8``; the STCH evaluation ``ε = 0, K = 100``.

    Example:
      >>> import paretojax as pj
      >>> pj.linspace_prefs(3).tolist()
      [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    """
    if num < 1:
        raise ValueError(f"num must be ≥ 1, got {num}.")
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"eps must lie in [0, 0.5), got {eps}.")
    p1 = jnp.linspace(eps, 1.0 - eps, num, dtype=jnp.float32)
    return jnp.stack([p1, 1.0 - p1], axis=-1)


def check_pref(
    pref: Float[ArrayLike, " m"], m: int, *, name: str = "pref", atol: float = 1e-5
) -> Float[Array, " m"]:
    """Validate a preference vector at the API edge.

    Shapes are always checked (they are static). Values are checked when concrete; inside ``jit``
    they cannot raise, and callers treat an invalid traced preference as a skipped step (see
    :func:`pref_is_valid`).

    Raises:
      ValueError: wrong shape, negative or non-finite entries, or a sum different from 1.
    """
    p = jnp.asarray(pref)
    if p.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},) (one entry per task), got {p.shape}.")
    if not is_tracer(p):
        pn = np.asarray(p, np.float64)
        if not np.all(np.isfinite(pn)):
            raise ValueError(f"{name} has non-finite entries: {pn}.")
        if np.any(pn < -atol):
            raise ValueError(f"{name} must be non-negative (a point of the simplex), got {pn}.")
        if abs(pn.sum() - 1.0) > max(atol, 1e-3 if p.dtype == jnp.float16 else atol):
            raise ValueError(
                f"{name} must sum to 1 (a point of the simplex), got sum {pn.sum():.6g}. "
                "Normalise it with p / p.sum() or pj.project_simplex(p)."
            )
    return p


def pref_is_valid(pref: Float[ArrayLike, " m"], atol: float = 1e-4) -> Bool[Array, ""]:
    """Traced check that ``pref`` lies on the simplex (a boolean scalar)."""
    p = jnp.asarray(pref)
    return (
        jnp.all(jnp.isfinite(p)) & jnp.all(p >= -atol) & (jnp.abs(jnp.sum(p) - 1.0) <= atol * p.size)
    )
