r"""Well-spread preference sets on the simplex by Riesz s-energy minimisation (host side).

Blank, Deb, Dhebar, Bandaru & Seada, "Generating well-spaced points on a unit simplex for
evolutionary many-objective optimization", IEEE TEVC 25(1), 2021; reference implementation
pymoo ``pymoo/util/ref_dirs/energy.py`` (``get_reference_directions("energy", m, K, seed)``),
which LibMOON uses for m ≥ 3 preference sets (seed 1).

.. math:: \min_{x_1..x_K \in \Delta}\ \log\Big(\operatorname{mean}_{i<j}\|x_i - x_j\|^{-s}\Big),
          \qquad s = 2m.

Algorithm (METHODS.md §11), matching pymoo's defaults:

1. **Init** ("reduction"): the boundary points of the Das–Dennis lattice with the largest ``H``
   such that ``C(H+m−1, m−1) ≤ K`` are kept fixed, the rest are chosen by greedy farthest-point
   selection from 10 000 uniform samples on Δ and refined by k-means (boundary centroids fixed,
   ≤ 1000 iterations, tolerance 1e-4).
2. **Descent**: Adam (α = 0.005, β = (0.9, 0.999)) on the log-energy; the gradient is projected
   on ``Σ = 0`` and divided by its largest row norm; points are projected back on Δ; after 30
   non-improving steps the learning rate is halved and the best set restored; stop after 1000
   iterations or when the mean movement is below 1e-5.

Deviations from pymoo (documented, harmless): the re-projection on Δ is the exact Euclidean one
(pymoo clips negative coordinates and re-projects the rest, recursively), and the best set is the
best *evaluated* set (pymoo stores the post-step set with the pre-step energy).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["riesz_prefs", "riesz_energy"]


def _project_simplex_np(v: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection on the simplex (sort-based, float64)."""
    m = v.shape[1]
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    idx = np.arange(1, m + 1)
    rho = np.sum(u - css / idx > 0, axis=1)
    tau = css[np.arange(v.shape[0]), rho - 1] / rho
    return np.maximum(v - tau[:, None], 0.0)


def _pair_logd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = x[:, None, :] - x[None, :, :]
    d = np.sqrt(np.sum(diff * diff, axis=2))
    np.fill_diagonal(d, np.inf)
    d = np.maximum(d, 1e-300)
    return diff, np.log(d)


def _logsumexp(a: np.ndarray) -> float:
    mx = np.max(a)
    return float(mx + np.log(np.sum(np.exp(a - mx))))


def _energy_and_grad(x: np.ndarray, s: float) -> tuple[float, np.ndarray]:
    """``log mean_{i<j} d_ij^{-s}`` and its gradient (overflow-safe via log-sum-exp)."""
    k = x.shape[0]
    diff, logd = _pair_logd(x)
    iu = np.triu_indices(k, 1)
    lse = _logsumexp(-s * logd[iu])
    energy = lse - math.log(len(iu[0]))
    # ∂/∂x_i Σ_{j≠i} d_ij^{-s} = Σ_j −s d_ij^{-s-2} (x_i − x_j), divided by Σ_{k<l} d_kl^{-s}.
    w = np.exp(-(s + 2.0) * logd - lse)  # diagonal: exp(-inf) = 0
    grad = -s * np.einsum("ij,ijk->ik", w, diff)
    return energy, grad


def riesz_energy(points, s: float | None = None) -> float:
    """``log mean_{i<j} ‖x_i − x_j‖^{−s}`` of a point set ``[K, m]`` (default ``s = 2m``)."""
    x = np.asarray(points, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"riesz_energy needs [K ≥ 2, m] points, got shape {x.shape}.")
    return _energy_and_grad(x, 2.0 * x.shape[1] if s is None else float(s))[0]


def _das_dennis_boundary(m: int, h: int) -> np.ndarray:
    pts: list[list[int]] = []

    def rec(prefix: list[int], left: int, k: int) -> None:
        if k == 1:
            pts.append([*prefix, left])
            return
        for v in range(left, -1, -1):
            rec([*prefix, v], left - v, k - 1)

    rec([], h, m)
    arr = np.asarray(pts, np.float64) / h
    return arr[np.any(arr == 0.0, axis=1)]


def _farthest_selection(x: np.ndarray, k: int, selected: list[int], rng) -> list[int]:
    chosen = list(selected)
    if not chosen:
        chosen = [int(rng.integers(len(x)))]
    dmin = np.min(np.linalg.norm(x[:, None, :] - x[None, chosen, :], axis=2), axis=1)
    while len(chosen) < k:
        j = int(np.argmax(dmin))
        chosen.append(j)
        dmin = np.minimum(dmin, np.linalg.norm(x - x[j], axis=1))
    return chosen


def _kmeans(
    x: np.ndarray, c: np.ndarray, n_fixed: int, max_iter: int = 1000, tol: float = 1e-4
) -> np.ndarray:
    c = c.copy()
    xsq = np.sum(x * x, axis=1)[:, None]
    for _ in range(max_iter):
        last = c.copy()
        d2 = xsq - 2.0 * x @ c.T + np.sum(c * c, axis=1)[None, :]
        lab = np.argmin(d2, axis=1)
        counts = np.bincount(lab, minlength=len(c))
        sums = np.zeros_like(c)
        np.add.at(sums, lab, x)
        free = np.arange(len(c)) >= n_fixed
        upd = free & (counts > 0)
        c[upd] = sums[upd] / counts[upd, None]
        c = _project_simplex_np(c)
        c /= c.sum(axis=1, keepdims=True)
        if np.abs(c - last).sum(axis=1).mean() < tol:
            break
    return c


def _reduction_init(m: int, k: int, rng) -> np.ndarray:
    samples = rng.dirichlet(np.ones(m), size=10_000)
    h = 0
    while math.comb(h + 1 + m - 1, m - 1) <= k:
        h += 1
    edges = _das_dennis_boundary(m, h) if h >= 1 else np.zeros((0, m))
    pool = np.vstack([edges, samples])
    idx = _farthest_selection(pool, k, list(range(len(edges))), rng)
    return _kmeans(pool, pool[idx].copy(), len(edges))


def _adam_descent(
    x: np.ndarray, s: float, max_iter: int, tol: float, patience: int = 30
) -> np.ndarray:
    alpha, b1, b2, eps = 0.005, 0.9, 0.999, 1e-8
    mom = np.zeros_like(x)
    vel = np.zeros_like(x)
    t = 0
    best, best_obj, stall = x.copy(), np.inf, 0
    for _ in range(max_iter):
        obj, grad = _energy_and_grad(x, s)
        if obj < best_obj:
            best, best_obj, stall = x.copy(), obj, 0
        else:
            stall += 1
        g = grad - grad.mean(axis=1, keepdims=True)  # project on Σ = 0
        g /= max(np.linalg.norm(g, axis=1).max(), 1e-24)
        t += 1
        mom = b1 * mom + (1 - b1) * g
        vel = b2 * vel + (1 - b2) * g * g
        step = alpha * (mom / (1 - b1**t)) / (np.sqrt(vel / (1 - b2**t)) + eps)
        new = _project_simplex_np(x - step)
        new /= new.sum(axis=1, keepdims=True)
        delta = np.abs(new - x).mean()
        if not np.isfinite(obj) or delta < tol:
            x = new
            break
        if stall > patience:  # halve the learning rate and restart from the best set
            alpha /= 2.0
            mom, vel, t, stall = np.zeros_like(x), np.zeros_like(x), 0, 0
            new = best.copy()
        x = new
    obj = _energy_and_grad(x, s)[0]
    return x if obj < best_obj else best


def riesz_prefs(
    num_objectives: int,
    num_points: int,
    seed: int = 1,
    *,
    s: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-5,
    eps: float = 0.0,
) -> jax.Array:
    r"""``num_points`` well-spread preferences on the simplex (Riesz s-energy, pymoo "energy").

    Args:
      num_objectives: m ≥ 1.
      num_points: K ≥ 1.
      seed: NumPy seed of the initial sampling (LibMOON uses 1).
      s: Riesz exponent, default ``2m`` (pymoo's ``d``).
      max_iter: Adam iterations (pymoo 1000).
      tol: stop when the mean movement of the points is below ``tol`` (pymoo 1e-5).
      eps: if > 0, clip the result to ``[eps, 1]`` and renormalise (LibMOON keeps every
        preference strictly positive this way).

    Returns:
      ``[K, m]`` float32 array of points with ``p ≥ 0`` and ``Σp = 1``. K = 1 gives the centre.

    Example:
      >>> import paretojax as pj
      >>> p = pj.riesz_prefs(3, 10)
      >>> p.shape, bool(abs(p.sum(1) - 1).max() < 1e-6), bool(p.min() >= 0)
      ((10, 3), True, True)
    """
    m, k = int(num_objectives), int(num_points)
    if m < 1:
        raise ValueError(f"num_objectives must be ≥ 1, got {num_objectives}.")
    if k < 1:
        raise ValueError(f"num_points must be ≥ 1, got {num_points}.")
    if not 0.0 <= eps < 1.0 / m:
        raise ValueError(f"eps must lie in [0, 1/m), got {eps}.")
    if max_iter < 0:
        raise ValueError(f"max_iter must be ≥ 0, got {max_iter}.")
    if m == 1:
        if k != 1:
            raise ValueError("With one objective the simplex is a single point; use num_points=1.")
        return jnp.ones((1, 1), jnp.float32)
    if k == 1:
        return jnp.full((1, m), 1.0 / m, jnp.float32)
    rng = np.random.default_rng(seed)
    x = _reduction_init(m, k, rng)
    x = _adam_descent(x, 2.0 * m if s is None else float(s), int(max_iter), float(tol))
    if eps > 0:
        x = np.clip(x, eps, 1.0)
    x = x / x.sum(axis=1, keepdims=True)
    out = np.asarray(x, np.float32)
    out = np.maximum(out, 0.0)
    return jnp.asarray(out / out.sum(axis=1, keepdims=True))
