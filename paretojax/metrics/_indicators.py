r"""Distance, distribution and preference indicators (METHODS.md §10.2, LibMOON §1.1).

All functions take plain arrays ``[n, m]`` (minimisation), are ``jit``/``vmap``-safe and return
scalars. Distances use a NaN-free Euclidean norm (zero distance has zero gradient), so every
indicator here can also be differentiated (e.g. soft Lmin as a uniformity regulariser).
Reference conventions follow moocore for IGD / IGD+ (LibMOON lists IGD but does not implement
it) and LibMOON ``libmoon/metrics/metrics.py`` for the finite-set indicators; LibMOON *reports*
spacing and sparsity multiplied by 100 — the functions here return the raw values and
:func:`finite_set_indicators` applies LibMOON's scaling.
"""

from __future__ import annotations

# ruff: noqa: F722  (jaxtyping shape strings such as "n m" are not Python expressions)
from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from paretojax.metrics._dominance import nondominated
from paretojax.metrics._hypervolume import hypervolume

Array = jax.Array

__all__ = [
    "igd",
    "igd_plus",
    "gd",
    "spacing",
    "lmin",
    "soft_lmin",
    "sparsity",
    "inner_product",
    "cross_angle",
    "pbi_metric",
    "span",
    "worst_objective",
    "average_objective",
    "normalize",
    "finite_set_indicators",
]


def _as_points(x, name: str, what: str = "points", min_n: int = 0) -> Array:
    y = jnp.asarray(x)
    if y.ndim != 2:
        raise ValueError(f"{name}: {what} must be a 2-D array [n, m], got shape {y.shape}.")
    if y.shape[0] < min_n:
        raise ValueError(f"{name}: needs at least {min_n} {what}, got {y.shape[0]}.")
    dt = jnp.result_type(y.dtype, jnp.float32)
    return y.astype(dt)


def _pair(a, b, name: str) -> tuple[Array, Array]:
    a = _as_points(a, name, "points", 1)
    b = _as_points(b, name, "reference_front points", 1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name}: points and reference_front need the same m, got {a.shape[1]} and {b.shape[1]}."
        )
    dt = jnp.result_type(a.dtype, b.dtype)
    return a.astype(dt), b.astype(dt)


def _safe_norm(d: Array, axis: int = -1) -> Array:
    sq = jnp.sum(d * d, axis=axis)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def _pairwise(a: Array, b: Array) -> Array:
    return _safe_norm(a[:, None, :] - b[None, :, :])


def igd(points: Float[ArrayLike, "n m"], reference_front: Float[ArrayLike, "k m"]) -> Float[Array, ""]:
    r"""Inverted generational distance (Coello & Cortés 2005; moocore's ``igd``, p = 1).

    .. math:: IGD(A, R) = \frac{1}{|R|} \sum_{r \in R} \min_{a \in A} \|r - a\|_2

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> a = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> r = jnp.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
      >>> round(float(pj.igd(a, r)), 5)
      0.16882
    """
    a, r = _pair(points, reference_front, "igd")
    return _igd(a, r)


def igd_plus(
    points: Float[ArrayLike, "n m"], reference_front: Float[ArrayLike, "k m"]
) -> Float[Array, ""]:
    r"""IGD+ (Ishibuchi et al., EMO 2015), weakly Pareto-compliant; moocore's ``igd_plus``.

    .. math:: IGD^+(A, R) = \frac{1}{|R|} \sum_{r \in R} \min_{a \in A}
       \|\max(a - r, 0)\|_2

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> a = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> r = jnp.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
      >>> round(float(pj.igd_plus(a, r)), 6)
      0.1
    """
    a, r = _pair(points, reference_front, "igd_plus")
    return _igd_plus(a, r)


def gd(points: Float[ArrayLike, "n m"], reference_front: Float[ArrayLike, "k m"]) -> Float[Array, ""]:
    r"""Generational distance (p = 1): :math:`\frac{1}{|A|}\sum_{a} \min_{r \in R}\|a - r\|_2`.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import gd
      >>> a = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> r = jnp.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
      >>> round(float(gd(a, r)), 5)
      0.16882
    """
    a, r = _pair(points, reference_front, "gd")
    return _igd(r, a)


def _offdiag_distances(y: Array) -> tuple[Array, Array]:
    d = _pairwise(y, y)
    eye = jnp.eye(y.shape[0], dtype=bool)
    return d, eye


@jax.jit
def _igd(a: Array, r: Array) -> Array:
    # mean over r of the distance to the nearest a
    return jnp.mean(jnp.min(_pairwise(r, a), axis=1))


@jax.jit
def _igd_plus(a: Array, r: Array) -> Array:
    d = _safe_norm(jnp.maximum(a[None, :, :] - r[:, None, :], 0.0))
    return jnp.mean(jnp.min(d, axis=1))


@jax.jit
def _lmin(y: Array) -> Array:
    d, eye = _offdiag_distances(y)
    return jnp.min(jnp.where(eye, jnp.inf, d))


@jax.jit
def _soft_lmin(y: Array, k: Array) -> Array:
    d, eye = _offdiag_distances(y)
    return -jax.nn.logsumexp(jnp.where(eye, -jnp.inf, -k * d)) / k


@partial(jax.jit, static_argnums=1)
def _spacing(y: Array, ddof: int) -> Array:
    d, eye = _offdiag_distances(y)
    return jnp.std(jnp.min(jnp.where(eye, jnp.inf, d), axis=1), ddof=ddof)


def lmin(points: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Smallest pairwise distance :math:`\min_{j \ne k}\|y_j - y_k\|` (LibMOON ``compute_lmin``).

    Needs n ≥ 2. Example:

      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import lmin
      >>> round(float(lmin(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]))), 6)
      0.424264
    """
    return _lmin(_as_points(points, "lmin", min_n=2))


def soft_lmin(points: Float[ArrayLike, "n m"], k: float = 20.0) -> Float[Array, ""]:
    r"""Soft minimum distance (LibMOON ``compute_soft_lmin``, K = 20):

    .. math:: -\frac{1}{K} \log \sum_{j \ne k} e^{-K \|y_j - y_k\|}

    over *ordered* pairs (each pair counted twice, as LibMOON's off-diagonal sum). Needs n ≥ 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import soft_lmin
      >>> round(float(soft_lmin(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]))), 6)
      0.379668
    """
    y = _as_points(points, "soft_lmin", min_n=2)
    if not k > 0:
        raise ValueError(f"soft_lmin: k must be > 0, got {k}.")
    return _soft_lmin(y, jnp.asarray(k, y.dtype))


def spacing(points: Float[ArrayLike, "n m"], *, ddof: int = 0) -> Float[Array, ""]:
    r"""Spacing: standard deviation of the nearest-neighbour distances
    :math:`d_k = \min_{j \ne k}\|y_j - y_k\|`.

    ``ddof=0`` is LibMOON's ``compute_spacing`` (``np.std``; LibMOON reports it ×100);
    ``ddof=1`` is Schott (1995). Needs n ≥ 2 (n ≥ 3 is needed for a non-trivial value).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import spacing
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> round(float(spacing(p)), 6), round(float(spacing(p, ddof=1)), 6)
      (0.035702, 0.043726)
    """
    y = _as_points(points, "spacing", min_n=2)
    if ddof not in (0, 1):
        raise ValueError(f"spacing: ddof must be 0 (LibMOON) or 1 (Schott), got {ddof}.")
    return _spacing(y, ddof)


def sparsity(points: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Sparsity (LibMOON ``compute_sparsity``, after PSL-MIT): on the non-dominated subset
    :math:`P` (duplicates kept), :math:`\sum_i \sum_t (s^{(i)}_{t+1} - s^{(i)}_t)^2 / (|P| - 1)`
    where :math:`s^{(i)}` are the sorted values of objective i; 0 when :math:`|P| \le 1`.
    LibMOON reports it ×100.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import sparsity
      >>> round(float(sparsity(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1], [0.9, 0.9]]))), 6)
      0.215
    """
    y = _as_points(points, "sparsity")
    if y.shape[0] == 0:
        return jnp.zeros((), y.dtype)
    return _sparsity(y)


@jax.jit
def _sparsity(y: Array) -> Array:
    nd = nondominated(y)
    cnt = jnp.sum(nd)
    top = jnp.max(jnp.where(nd[:, None], y, -jnp.inf), axis=0)
    v = jnp.sort(jnp.where(nd[:, None], y, top[None, :]), axis=0)  # dominated ones sit at the top
    gaps = jnp.sum((v[1:] - v[:-1]) ** 2)
    return jnp.where(cnt > 1, gaps / jnp.maximum(cnt - 1, 1).astype(y.dtype), 0.0)


def _with_prefs(points, prefs, name: str) -> tuple[Array, Array]:
    y = _as_points(points, name, min_n=1)
    p = jnp.asarray(prefs)
    if p.shape != y.shape:
        raise ValueError(
            f"{name}: prefs must have the shape of points {y.shape} (one preference per "
            f"solution), got {p.shape}."
        )
    dt = jnp.result_type(y.dtype, p.dtype, jnp.float32)
    return y.astype(dt), p.astype(dt)


def inner_product(points: Float[ArrayLike, "n m"], prefs: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Mean inner product :math:`\frac1n\sum_k \langle y_k, p_k\rangle` (LibMOON
    ``compute_inner_product``; raw, un-normalised preferences).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import inner_product
      >>> float(inner_product(jnp.array([[1.0, 2.0]]), jnp.array([[0.5, 0.5]])))
      1.5
    """
    y, p = _with_prefs(points, prefs, "inner_product")
    return jnp.mean(jnp.sum(y * p, axis=1))


def cross_angle(points: Float[ArrayLike, "n m"], prefs: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Mean angle in degrees between each solution and its preference (LibMOON
    ``compute_cross_angle``): :math:`\frac1n \sum_k \arccos\big(\mathrm{clip}(\cos(y_k, p_k),
    -1, 1)\big) \cdot 180/\pi`. A zero vector counts as cos = 0 (90°) instead of NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import cross_angle
      >>> round(float(cross_angle(jnp.array([[1.0, 1.0], [1.0, 0.0]]), jnp.array([[0.5, 0.5], [0.5, 0.5]]))), 4)
      22.5
    """
    y, p = _with_prefs(points, prefs, "cross_angle")
    return _cross_angle(y, p)


@jax.jit
def _cross_angle(y: Array, p: Array) -> Array:
    den = _safe_norm(y) * _safe_norm(p)
    pos = den > 0
    cos = jnp.where(pos, jnp.sum(y * p, axis=1) / jnp.where(pos, den, 1.0), 0.0)
    cos = jnp.clip(cos, -1.0, 1.0)
    return jnp.mean(jnp.degrees(jnp.arccos(cos)))


def pbi_metric(
    points: Float[ArrayLike, "n m"], prefs: Float[ArrayLike, "n m"], theta: float = 5.0
) -> Float[Array, ""]:
    r"""Mean penalty-based boundary intersection value (LibMOON ``compute_pbi``, θ = 5):
    with :math:`\hat p = p/\|p\|`, :math:`d_1 = \langle y, \hat p\rangle`,
    :math:`d_2 = \|y - d_1 \hat p\|`, returns :math:`\frac1n\sum_k d_{1,k} + \theta d_{2,k}`.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import pbi_metric
      >>> round(float(pbi_metric(jnp.array([[1.0, 0.0]]), jnp.array([[0.5, 0.5]]))), 5)
      4.24264
    """
    y, p = _with_prefs(points, prefs, "pbi_metric")
    return _pbi(y, p, jnp.asarray(theta, y.dtype))


@jax.jit
def _pbi(y: Array, p: Array, theta: Array) -> Array:
    pn = _safe_norm(p)
    phat = p / jnp.where(pn > 0, pn, 1.0)[:, None]
    d1 = jnp.sum(y * phat, axis=1)
    d2 = _safe_norm(y - d1[:, None] * phat)
    return jnp.mean(d1 + theta * d2)


def span(points: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Smallest objective range :math:`\min_i (\max_k y_{k,i} - \min_k y_{k,i})` (LibMOON).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import span
      >>> round(float(span(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]))), 6)
      0.6
    """
    y = _as_points(points, "span", min_n=1)
    return jnp.min(jnp.max(y, axis=0) - jnp.min(y, axis=0))


def worst_objective(points: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Worst best-objective of a solution set, :math:`\max_i \min_k y_{k,i}` (set methods).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import worst_objective
      >>> round(float(worst_objective(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]))), 6)
      0.2
    """
    y = _as_points(points, "worst_objective", min_n=1)
    return jnp.max(jnp.min(y, axis=0))


def average_objective(points: Float[ArrayLike, "n m"]) -> Float[Array, ""]:
    r"""Average best-objective of a solution set, :math:`\frac1m\sum_i \min_k y_{k,i}`.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import average_objective
      >>> round(float(average_objective(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]))), 6)
      0.15
    """
    y = _as_points(points, "average_objective", min_n=1)
    return jnp.mean(jnp.min(y, axis=0))


def normalize(
    points: Float[ArrayLike, "n m"], ideal: Float[ArrayLike, " m"], nadir: Float[ArrayLike, " m"]
) -> Float[Array, "n m"]:
    r"""Affine normalisation :math:`(y - z^{ideal}) / (z^{nadir} - z^{ideal})` (explicit bounds).

    Raises if a coordinate of ``nadir - ideal`` is not positive (checked when concrete).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import normalize
      >>> normalize(jnp.array([[1.0, 10.0]]), jnp.array([0.0, 0.0]), jnp.array([2.0, 20.0])).tolist()
      [[0.5, 0.5]]
    """
    y = _as_points(points, "normalize")
    lo = jnp.asarray(ideal, y.dtype)
    hi = jnp.asarray(nadir, y.dtype)
    m = y.shape[1]
    if lo.shape != (m,) or hi.shape != (m,):
        raise ValueError(
            f"normalize: ideal and nadir must have shape ({m},), got {lo.shape} and {hi.shape}."
        )
    scale = hi - lo
    if not isinstance(scale, jax.core.Tracer) and not bool(jnp.all(scale > 0)):
        raise ValueError(f"normalize: nadir - ideal must be > 0 in every objective, got {scale}.")
    return (y - lo[None, :]) / scale[None, :]


def finite_set_indicators(
    points: Float[ArrayLike, "n m"], prefs: Float[ArrayLike, "n m"], ref: Float[ArrayLike, " m"]
) -> dict[str, Array]:
    """LibMOON's finite-set indicator table (``compute_indicators``) for one solution set.

    Keys and scaling as in LibMOON's published tables (METHODS.md §1.1): ``lmin``,
    ``soft_lmin``, ``spacing`` (×100, ddof 0), ``sparsity`` (×100), ``hv`` (w.r.t. the explicit
    ``ref``; LibMOON uses ``ones(m)`` on raw objectives), ``inner_product``, ``cross_angle``
    (degrees), ``pbi`` (θ = 5), ``span``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import finite_set_indicators
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> out = finite_set_indicators(p, p / p.sum(1, keepdims=True), jnp.ones(2))
      >>> round(float(out["hv"]), 6), round(float(out["spacing"]), 4)
      (0.39, 3.5702)
    """
    y, p = _with_prefs(points, prefs, "finite_set_indicators")
    if y.shape[0] < 2:
        raise ValueError("finite_set_indicators: needs at least 2 solutions (Lmin, spacing).")
    return {
        "lmin": lmin(y),
        "soft_lmin": soft_lmin(y),
        "spacing": 100.0 * spacing(y),
        "sparsity": 100.0 * sparsity(y),
        "hv": hypervolume(y, ref),
        "inner_product": inner_product(y, p),
        "cross_angle": cross_angle(y, p),
        "pbi": pbi_metric(y, p),
        "span": span(y),
    }
