r"""PSL-MLP: a Pareto-set model ``x(p)`` mapping a preference to a decision vector.

.. math::

    x(p) = \ell + (u - \ell) \odot \sigma\big(W_L\,\mathrm{relu}(\cdots \mathrm{relu}(W_1 p + b_1)
    \cdots) + b_L\big), \qquad p \in \Delta^{m-1},

with ``[ℓ, u]`` the problem's box (``[0, 1]ⁿ`` when no bounds are given). Trained with
:func:`paretojax.fit_psl` so that, for every preference, ``f(x(p))`` is the solution of the
scalarised problem ``s(f; p)``.

Papers: Lin, Yang, Zhang, Zhang, "Pareto Set Learning for Expensive Multi-Objective
Optimization", NeurIPS 2022 (PSL-MOBO); Lin et al., "Smooth Tchebycheff Scalarization for
Multi-Objective Optimization", ICML 2024 (STCH). Defaults follow the official STCH PSL code
(``Xi-L/STCH`` ``STCH_PSL/run_stch_psl.py``): ``m → 512 → 512 → n`` with ReLU and a sigmoid
output; LibMOON's PSL tables use ``hidden=(256, 256, 256, 256)`` (METHODS.md §1.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.core.simplex import check_pref

Array = jax.Array

__all__ = ["ParetoSetMLP", "check_num_objectives"]


def check_num_objectives(m: Any, name: str = "num_objectives") -> int:
    """``m ≥ 2`` objectives as a Python int (a Pareto set needs at least two)."""
    if isinstance(m, bool) or int(m) != m or int(m) < 2:
        raise ValueError(f"{name} must be an integer ≥ 2, got {m!r}.")
    return int(m)


class Bounds(nnx.Variable):
    """A non-trainable box bound (kept out of ``nnx.Param`` so optimisers skip it)."""


def _bound(v: Any, n: int, default: float, name: str) -> np.ndarray:
    b = np.full((n,), default, np.float64) if v is None else np.asarray(v, np.float64)
    if b.ndim == 0:
        b = np.full((n,), float(b))
    if b.shape != (n,):
        raise ValueError(f"ParetoSetMLP: {name} must be a scalar or have shape ({n},), got {b.shape}.")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"ParetoSetMLP: {name} must be finite (a sigmoid maps to a box), got {b}.")
    return b


class ParetoSetMLP(nnx.Module):
    r"""PSL-MLP ``p ↦ x(p) ∈ [lower, upper]`` (ReLU hidden layers, sigmoid output scaled to the box).

    Args:
      num_objectives: ``m ≥ 2`` (the input size).
      num_vars: ``n``, the decision-vector size.
      hidden: hidden widths (default ``(512, 512)``, the official STCH PSL model).
      lower, upper: box bounds (scalars or ``[n]``; default ``[0, 1]ⁿ``). A problem's
        ``lower``/``upper`` map the sigmoid output to its box, as ``problem.from_unit`` does.
      rngs: ``nnx.Rngs`` for the initialisation (default ``nnx.Rngs(0)``).

    Call with one preference ``[m]`` (validated when concrete: shape, finite, on the simplex);
    batch preferences with ``jax.vmap`` or :func:`paretojax.psl_front`.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.ParetoSetMLP(2, 6, hidden=(32, 32), rngs=nnx.Rngs(0))
      >>> model(jnp.array([0.3, 0.7])).shape
      (6,)
      >>> x = jax.vmap(model)(pj.linspace_prefs(5))
      >>> x.shape, bool(((x >= 0) & (x <= 1)).all())
      ((5, 6), True)
    """

    def __init__(
        self,
        num_objectives: int,
        num_vars: int,
        *,
        hidden: Sequence[int] = (512, 512),
        lower: Any = None,
        upper: Any = None,
        rngs: nnx.Rngs | None = None,
    ) -> None:
        m = check_num_objectives(num_objectives)
        if isinstance(num_vars, bool) or int(num_vars) != num_vars or int(num_vars) < 1:
            raise ValueError(f"ParetoSetMLP: num_vars must be a positive integer, got {num_vars!r}.")
        n = int(num_vars)
        widths = tuple(int(h) for h in hidden)
        if any(h < 1 for h in widths):
            raise ValueError(f"ParetoSetMLP: hidden widths must be positive, got {hidden!r}.")
        lo = _bound(lower, n, 0.0, "lower")
        hi = _bound(upper, n, 1.0, "upper")
        if not np.all(hi > lo):
            raise ValueError("ParetoSetMLP: upper must exceed lower in every coordinate.")
        rngs = nnx.Rngs(0) if rngs is None else rngs
        sizes = (m, *widths, n)
        self.num_objectives = m
        self.num_vars = n
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.lower = Bounds(jnp.asarray(lo, jnp.float32))
        self.scale = Bounds(jnp.asarray(hi - lo, jnp.float32))

    def __call__(self, pref: Any) -> Array:
        p = check_pref(pref, self.num_objectives, name="ParetoSetMLP: pref").astype(jnp.float32)
        h = p
        for layer in self.layers[:-1]:
            h = jax.nn.relu(layer(h))
        u = jax.nn.sigmoid(self.layers[-1](h))
        return self.lower[...] + self.scale[...] * u
