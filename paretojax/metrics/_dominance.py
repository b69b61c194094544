r"""Pareto dominance, non-dominated filtering and non-dominated sorting (METHODS.md §10.4).

Minimisation. :math:`y_i \prec y_j` (``y_i`` dominates ``y_j``) iff
:math:`y_i \le y_j` componentwise and :math:`y_i \ne y_j` (all ≤, any <). Exact duplicates do
not dominate each other: both are non-dominated and share a rank (moocore's ``pareto_rank``
convention). Weakly dominated points (equal in some coordinates, worse in another) are dominated.

The in-``jit`` versions build the n×n dominance relation (O(n²m) work, processed in row blocks so
memory stays O(n·block)); :func:`nondominated_sort` peels fronts in a bounded ``while_loop``
(O(n²) per front). For large n use the host versions (moocore: O(n log n) for m ≤ 3,
Kung et al. beyond).
"""

from __future__ import annotations

# ruff: noqa: F722  (jaxtyping shape strings such as "n m" are not Python expressions)
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import ArrayLike, Bool, Float, Int

Array = jax.Array

__all__ = [
    "dominates",
    "is_dominated",
    "nondominated",
    "nondominated_sort",
    "nondominated_host",
    "nondominated_sort_host",
]

_BLOCK = 1024


def _check(points, name: str) -> Array:
    y = jnp.asarray(points)
    if y.ndim != 2:
        raise ValueError(f"{name}: points must be a 2-D array [n, m], got shape {y.shape}.")
    if y.shape[1] < 1:
        raise ValueError(f"{name}: points need at least one objective, got shape {y.shape}.")
    return y


def dominates(a: Float[ArrayLike, "*b m"], b: Float[ArrayLike, "*b m"]) -> Bool[Array, "*b"]:
    r"""``a ≺ b``: all(a ≤ b) and any(a < b) along the last axis (broadcasts over the rest).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import dominates
      >>> bool(dominates(jnp.array([0.1, 0.5]), jnp.array([0.2, 0.5])))
      True
      >>> bool(dominates(jnp.array([0.2, 0.5]), jnp.array([0.2, 0.5])))
      False
    """
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    return jnp.all(a <= b, axis=-1) & jnp.any(a < b, axis=-1)


def _dominance_counts(y: Array, block: int = _BLOCK) -> Array:
    """``D[i, j] = y_i ≺ y_j`` as an n×n boolean matrix (rows computed block by block)."""
    n = y.shape[0]

    def rows(yb):
        le = jnp.all(yb[:, None, :] <= y[None, :, :], axis=2)
        lt = jnp.any(yb[:, None, :] < y[None, :, :], axis=2)
        return le & lt

    if n <= block:
        return rows(y)
    pad = (-n) % block
    yp = jnp.concatenate([y, jnp.full((pad, y.shape[1]), jnp.inf, y.dtype)])
    out = lax.map(rows, yp.reshape(-1, block, y.shape[1]))
    return out.reshape(-1, n)[:n]


def is_dominated(points: Float[ArrayLike, "n m"]) -> Bool[Array, " n"]:
    """Boolean mask ``[n]``: True where some other point dominates the point (jit-able).

    NaN coordinates compare false, so a point with a NaN is neither dominated nor dominating.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import is_dominated
      >>> is_dominated(jnp.array([[0.2, 0.8], [0.5, 0.5], [0.6, 0.6]])).tolist()
      [False, False, True]
    """
    y = _check(points, "is_dominated")
    n = y.shape[0]
    if n == 0:
        return jnp.zeros((0,), bool)
    block = _BLOCK

    def any_dominator(yb):
        le = jnp.all(yb[:, None, :] <= y[None, :, :], axis=2)
        lt = jnp.any(yb[:, None, :] < y[None, :, :], axis=2)
        return jnp.any(le & lt, axis=0)

    if n <= block:
        return any_dominator(y)
    pad = (-n) % block
    yp = jnp.concatenate([y, jnp.full((pad, y.shape[1]), jnp.inf, y.dtype)])
    return jnp.any(lax.map(any_dominator, yp.reshape(-1, block, y.shape[1])), axis=0)


def nondominated(points: Float[ArrayLike, "n m"], *, keep_duplicates: bool = True) -> Bool[Array, " n"]:
    """Boolean mask ``[n]`` of the non-dominated points (jit-able, O(n²m)).

    ``keep_duplicates=True`` (default, strict Pareto dominance): every copy of a non-dominated
    point is kept. ``False``: only the first copy (lowest index) is kept, as moocore's
    ``is_nondominated(keep_weakly=False)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> y = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.6, 0.6], [0.5, 0.5]])
      >>> pj.nondominated(y).tolist()
      [True, True, False, True]
      >>> pj.nondominated(y, keep_duplicates=False).tolist()
      [True, True, False, False]
    """
    y = _check(points, "nondominated")
    keep = ~is_dominated(y)
    if keep_duplicates or y.shape[0] == 0:
        return keep
    n = y.shape[0]
    eq = jnp.all(y[:, None, :] == y[None, :, :], axis=2)
    idx = jnp.arange(n)
    earlier_copy = jnp.any(eq & (idx[:, None] < idx[None, :]), axis=0)
    return keep & ~earlier_copy


def nondominated_sort(
    points: Float[ArrayLike, "n m"], *, max_fronts: int | None = None
) -> Int[Array, " n"]:
    """Pareto ranks ``[n]`` (0 = non-dominated front) by peeling fronts (jit-able).

    Rank r = points not dominated by any point still unranked after removing fronts 0..r−1
    (Deb et al. 2002 fronts). Duplicates share a rank. A bounded ``while_loop`` runs at most
    ``max_fronts`` rounds (default n, always enough); points left unranked when the bound is hit
    get rank ``max_fronts``. O(n²m) to build the relation plus O(n²) per front.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.metrics import nondominated_sort
      >>> y = jnp.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.9], [0.6, 0.6], [0.7, 0.7]])
      >>> nondominated_sort(y).tolist()
      [0, 0, 0, 1, 2]
    """
    y = _check(points, "nondominated_sort")
    n = y.shape[0]
    if n == 0:
        return jnp.zeros((0,), jnp.int32)
    bound = n if max_fronts is None else int(max_fronts)
    if bound < 1:
        raise ValueError(f"nondominated_sort: max_fronts must be ≥ 1, got {max_fronts}.")
    dom = _dominance_counts(y)

    def cond(st):
        r, rank, remaining = st
        return (r < bound) & jnp.any(remaining)

    def body(st):
        r, rank, remaining = st
        blocked = jnp.any(dom & remaining[:, None], axis=0)
        front = remaining & ~blocked
        rank = jnp.where(front, r, rank)
        return r + 1, rank, remaining & ~front

    init = (jnp.zeros((), jnp.int32), jnp.full((n,), bound, jnp.int32), jnp.ones((n,), bool))
    _, rank, _ = lax.while_loop(cond, body, init)
    return rank


def nondominated_host(points, *, keep_duplicates: bool = True) -> np.ndarray:
    """Host (moocore) version of :func:`nondominated` for large n (NumPy in and out).

    Example:
      >>> import numpy as np
      >>> from paretojax.metrics import nondominated_host
      >>> y = np.array([[1., 3.], [2., 2.], [3., 1.], [3., 3.]])
      >>> nondominated_host(y).tolist()
      [True, True, True, False]
    """
    import moocore

    y = np.asarray(points, np.float64)
    if y.ndim != 2:
        raise ValueError(f"nondominated_host: points must be [n, m], got shape {y.shape}.")
    if y.shape[0] == 0:
        return np.zeros(0, bool)
    return np.asarray(moocore.is_nondominated(y, keep_weakly=keep_duplicates))


def nondominated_sort_host(points) -> np.ndarray:
    """Host (moocore ``pareto_rank``) version of :func:`nondominated_sort` (0-based ranks).

    Example:
      >>> import numpy as np
      >>> from paretojax.metrics import nondominated_sort_host
      >>> y = np.array([[1., 3.], [2., 2.], [3., 1.], [3., 3.], [4., 4.]])
      >>> nondominated_sort_host(y).tolist()
      [0, 0, 0, 1, 2]
    """
    import moocore

    y = np.asarray(points, np.float64)
    if y.ndim != 2:
        raise ValueError(f"nondominated_sort_host: points must be [n, m], got shape {y.shape}.")
    if y.shape[0] == 0:
        return np.zeros(0, np.int64)
    return np.asarray(moocore.pareto_rank(y))
