r"""The :class:`Problem` record shared by every benchmark problem, and small host-side helpers.

A problem is a pure JAX function ``f(x) -> [m]`` of **one** decision vector ``x ∈ [lower, upper]``
(raw units, minimisation), so ``jax.vmap(problem.fn)`` evaluates a batch and ``jax.jacrev``
gives the ``m × n`` Jacobian. Everything else (bounds, fronts, ideal/nadir, HV reference point,
provenance) is host-side metadata in NumPy ``float64``.

Conventions (METHODS.md §12):

* ``pareto_front(n)`` returns about ``n`` points ``[k, m]`` of the true front (closed form), or the
  shipped reference front (RE suite). When both are known, ``pareto_set(n)[i]`` maps to
  ``pareto_front(n)[i]`` row by row: ``vmap(f)(pareto_set(n)) ≈ pareto_front(n)``.
* ``hv_ref`` is the conventional hypervolume reference point *in the problem's own objective
  space* (raw, or normalised when ``normalized=True``); ``hv_true`` is the hypervolume of the true
  (or reference) front at ``hv_ref`` where it is known in closed form or published, else ``None``.
* ``source`` names the definition followed (paper and repository); two problems that share a
  name in the literature but differ (``stch_f3`` / ``pslmobo_f3``) have different sources.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = ["Problem", "as_float", "simplex_grid", "count_simplex_points", "nondominated_mask"]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A multi-objective benchmark problem (minimisation).

    Attributes:
      name: registry name, e.g. ``"zdt1"``.
      fn: pure JAX function ``f(x: [n_var]) -> [n_obj]``; jit/vmap/grad-safe.
      n_var: number of decision variables.
      n_obj: number of objectives ``m``.
      lower, upper: box bounds ``[n_var]`` (``±inf`` for unconstrained problems).
      ideal, nadir: ``[m]`` ideal and nadir points of the (reference) front, ``None`` if unknown.
      hv_ref: conventional HV reference point ``[m]`` in this problem's objective space.
      hv_true: HV of the true/reference front at ``hv_ref`` (closed form or published), or None.
      source: the definition followed (paper; repository and file).
      description: one line.
      integer: decision variables are rounded to integers inside ``fn`` (RE36 suite variant).
      normalized: objectives are returned as ``(f − ideal) / (nadir − ideal)``.
      params: the keyword arguments the problem was built with.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> p = pj.problems.get("zdt1")
      >>> p(jnp.zeros(30)).tolist()
      [0.0, 1.0]
      >>> jax.vmap(p.fn)(jnp.asarray(p.pareto_set(5))).shape
      (5, 2)
    """

    name: str
    fn: Callable[[Array], Array]
    n_var: int
    n_obj: int
    lower: np.ndarray
    upper: np.ndarray
    ideal: np.ndarray | None
    nadir: np.ndarray | None
    hv_ref: np.ndarray | None
    hv_true: float | None
    source: str
    description: str
    integer: bool = False
    normalized: bool = False
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    front_fn: Callable[[int], np.ndarray] | None = dataclasses.field(default=None, repr=False)
    set_fn: Callable[[int], np.ndarray] | None = dataclasses.field(default=None, repr=False)

    # ----------------------------------------------------------------------------- evaluation
    def __call__(self, x: Any) -> Array:
        """``f(x)`` for one decision vector ``[n_var]`` (a jitted ``fn``; composes with
        jit/vmap/grad like ``fn`` itself)."""
        return self._jitted(x)

    @functools.cached_property
    def _jitted(self) -> Callable[[Array], Array]:
        return jax.jit(self.fn)

    @functools.cached_property
    def batched(self) -> Callable[[Array], Array]:
        """``jax.jit(jax.vmap(fn))``: ``[k, n_var] -> [k, n_obj]`` (compiled once per shape)."""
        return jax.jit(jax.vmap(self.fn))

    def evaluate(self, x: Any) -> Array:
        """``f`` on one vector ``[n_var]`` or a batch ``[..., n_var]`` (jitted and vmapped)."""
        x = as_float(x)
        if x.ndim == 0 or x.shape[-1] != self.n_var:
            raise ValueError(f"{self.name}: x must end with n_var={self.n_var}, got {x.shape}.")
        lead = x.shape[:-1]
        y = self.batched(x.reshape((-1, self.n_var)))
        return y.reshape((*lead, self.n_obj))

    # ---------------------------------------------------------------------------- fronts/sets
    @property
    def has_pareto_front(self) -> bool:
        return self.front_fn is not None

    @property
    def has_pareto_set(self) -> bool:
        return self.set_fn is not None

    def pareto_front(self, n: int = 100) -> np.ndarray:
        """About ``n`` points ``[k, m]`` (float64) of the true front, or the reference front.

        Raises:
          ValueError: when no front is known for this problem.
        """
        if self.front_fn is None:
            raise ValueError(f"{self.name}: no Pareto front is known for this problem.")
        if n < 1:
            raise ValueError(f"n must be ≥ 1, got {n}.")
        return np.asarray(self.front_fn(int(n)), np.float64)

    def pareto_set(self, n: int = 100) -> np.ndarray:
        """About ``n`` Pareto-optimal decision vectors ``[k, n_var]``, row-aligned with
        :meth:`pareto_front` (``f(pareto_set(n)[i]) = pareto_front(n)[i]``).

        Raises:
          ValueError: when the Pareto set is not known in closed form (RE suite, ...).
        """
        if self.set_fn is None:
            raise ValueError(
                f"{self.name}: the Pareto set is not known in closed form for this problem."
            )
        if n < 1:
            raise ValueError(f"n must be ≥ 1, got {n}.")
        return np.asarray(self.set_fn(int(n)), np.float64)

    # ----------------------------------------------------------------------------- utilities
    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper)))

    def from_unit(self, u: Any) -> Array:
        """Map ``u ∈ [0,1]^n`` to the box: ``lower + u (upper − lower)`` (PSL models' output)."""
        self._need_bounds("from_unit")
        u = as_float(u)
        lo, hi = self._box(u)
        return lo + u * (hi - lo)

    def to_unit(self, x: Any) -> Array:
        """Inverse of :meth:`from_unit`."""
        self._need_bounds("to_unit")
        x = as_float(x)
        lo, hi = self._box(x)
        return (x - lo) / (hi - lo)

    def clip(self, x: Any) -> Array:
        """Clip ``x`` to the box."""
        x = as_float(x)
        lo, hi = self._box(x)
        return jnp.clip(x, lo, hi)

    def sample(self, key: Array, num: int) -> Array:
        """``num`` points uniform in the box, ``[num, n_var]`` (float32)."""
        self._need_bounds("sample")
        return self.from_unit(jax.random.uniform(key, (num, self.n_var)))

    def normalize(self, f: Any) -> Any:
        """``(f − ideal) / (nadir − ideal)`` (the STCH / PSL normalisation)."""
        if self.ideal is None or self.nadir is None:
            raise ValueError(f"{self.name}: ideal/nadir unknown, cannot normalise.")
        if isinstance(f, np.ndarray):
            return (f - self.ideal) / (self.nadir - self.ideal)
        f = as_float(f)
        shape = (1,) * (f.ndim - 1) + (self.n_obj,)
        lo = jnp.asarray(self.ideal, f.dtype).reshape(shape)
        return (f - lo) / (jnp.asarray(self.nadir, f.dtype).reshape(shape) - lo)

    def _box(self, x: Array) -> tuple[Array, Array]:
        """Bounds broadcast to ``x``'s rank (explicitly: rank promotion may be disabled)."""
        if x.ndim == 0 or x.shape[-1] != self.n_var:
            raise ValueError(f"{self.name}: x must end with n_var={self.n_var}, got {x.shape}.")
        shape = (1,) * (x.ndim - 1) + (self.n_var,)
        return (
            jnp.asarray(self.lower, x.dtype).reshape(shape),
            jnp.asarray(self.upper, x.dtype).reshape(shape),
        )

    def _need_bounds(self, what: str) -> None:
        if not self.bounded:
            raise ValueError(f"{self.name} is unconstrained (infinite bounds); {what} needs a box.")

    def __repr__(self) -> str:
        return (
            f"Problem({self.name!r}, n_var={self.n_var}, n_obj={self.n_obj}, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------------- helpers
def as_float(x: Any) -> Array:
    """``jnp.asarray(x)`` promoted to a floating dtype (integer inputs become float32/64)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def check_x(name: str, x: Array, n_var: int) -> Array:
    """Shape check at the API edge (static, so it also runs under jit)."""
    x = as_float(x)
    if x.shape != (n_var,):
        raise ValueError(
            f"{name}: f takes one decision vector of shape ({n_var},), got {x.shape}; "
            "use jax.vmap(problem.fn) or problem.evaluate for batches."
        )
    return x


def count_simplex_points(m: int, h: int) -> int:
    """Number of Das–Dennis points ``C(H + m − 1, m − 1)``."""
    return math.comb(h + m - 1, m - 1)


def simplex_grid(m: int, n: int) -> np.ndarray:
    """Float64 simplex grid with about ``n`` points.

    m = 1: ``[[1]]``; m = 2: exactly ``n`` points ``(t, 1 − t)``, ``t = linspace(0, 1, n)``;
    m ≥ 3: the Das–Dennis lattice with the largest ``H`` such that ``C(H + m − 1, m − 1) ≤ n``
    (at least ``H = 1``, the m corners).
    """
    if m == 1:
        return np.ones((1, 1))
    if m == 2:
        t = np.linspace(0.0, 1.0, max(n, 2))
        return np.stack([t, 1.0 - t], axis=1)
    h = 1
    while count_simplex_points(m, h + 1) <= n:
        h += 1
    pts = []

    # recursive compositions of h into m non-negative parts
    def rec(prefix: list[int], left: int, k: int) -> None:
        if k == 1:
            pts.append([*prefix, left])
            return
        for v in range(left, -1, -1):
            rec([*prefix, v], left - v, k - 1)

    rec([], h, m)
    return np.asarray(pts, np.float64) / h


def nondominated_mask(y: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``y`` ``[k, m]`` (minimisation; host, O(k²m)
    in chunks). Duplicates are all kept."""
    y = np.asarray(y, np.float64)
    k = y.shape[0]
    keep = np.ones(k, bool)
    chunk = max(1, 4_000_000 // max(k * y.shape[1], 1))
    for s in range(0, k, chunk):
        a = y[s : s + chunk, None, :]  # candidates
        le = np.all(y[None, :, :] <= a, axis=2)
        lt = np.any(y[None, :, :] < a, axis=2)
        keep[s : s + chunk] = ~np.any(le & lt, axis=1)
    return keep
