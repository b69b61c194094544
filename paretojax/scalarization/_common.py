r"""Shared plumbing of the scalarizations: input checks, normalisation, the ∂s/∂f weighting.

Every scalarization ``s(losses, pref, *, ideal=None, nadir=None, z=None, ...)`` works on

.. math:: \hat f = \frac{f - \text{ideal}}{\text{nadir} - \text{ideal}}, \qquad f' = \hat f - z,

where ``ideal`` defaults to 0, ``nadir - ideal`` to 1 (no normalisation) and the reference
point ``z`` to 0 (the STCH PSL protocol normalises with ideal/nadir and uses ``z = 0`` on the
normalised losses; LibMOON uses ``z = 0`` on raw losses).

As an optax transform a scalarization becomes the loss-level weighting ``w = ∂s/∂f`` (one
``jax.grad`` of an ``m``-vector function, no Gram matrix): the update ``Σ_i w_i ∇f_i`` is exactly
the gradient of ``s(f(θ))`` with respect to θ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paretojax.core.simplex import check_pref, is_tracer
from paretojax.transforms import Weighting

Array = jax.Array

__all__ = [
    "prepare",
    "scalarization_weighting",
    "safe_norm",
    "check_positive",
    "map_states",
]

#: Floor of the preference in the inverse (``f ∝ p``) semantics (LibMOON mTche divides by p).
PREF_FLOOR = 1e-8


def _float_dtype(x: Array) -> Any:
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32


def _as_vector(x: Any, m: int, dtype: Any, name: str, fn: str) -> Array:
    a = jnp.asarray(x, dtype)
    if a.ndim == 0:
        return jnp.full((m,), a, dtype)
    if a.shape != (m,):
        raise ValueError(f"{fn}: {name} must be a scalar or have shape ({m},), got {a.shape}.")
    return a


def check_positive(x: Any, name: str, fn: str, *, allow_zero: bool = False) -> float:
    """Validate a scalar hyperparameter at the API edge (must be finite and > 0).

    A traced value (e.g. injected by ``optax.inject_hyperparams``) cannot be checked and is
    returned unchanged.
    """
    if is_tracer(x):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{fn}: {name} must be a positive number, got {x!r}.") from err
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{fn}: {name} must be finite and {bound}, got {x!r}.")
    return v


def prepare(
    losses: Any,
    pref: Any,
    *,
    ideal: Any = None,
    nadir: Any = None,
    z: Any = None,
    fn: str,
) -> tuple[Array, Array]:
    """Validate and normalise: returns ``(f', p)`` with ``f' = (f - ideal)/(nadir - ideal) - z``.

    * ``losses`` must be a 1-D vector ``[m]`` (use ``jax.vmap`` for batches);
    * ``pref`` ``None`` means the uniform preference ``1/m``; otherwise it must have shape
      ``(m,)`` and, when concrete, lie on the simplex (non-negative, sums to 1) — a
      :class:`ValueError` says how to normalise it. Inside ``jit`` a traced preference is used as
      given (the scalarizations are defined for any non-negative ``p``; the optax transforms
      skip steps whose preference is off the simplex);
    * ``nadir - ideal`` must be positive when concrete; traced values are floored at 1e-12.
    """
    f = jnp.asarray(losses)
    if f.ndim != 1 or f.shape[0] == 0:
        raise ValueError(
            f"{fn}: losses must be a non-empty 1-D vector [m] (vmap for batches), got shape "
            f"{f.shape}."
        )
    dtype = _float_dtype(f)
    f = f.astype(dtype)
    m = f.shape[0]
    if pref is None:
        p = jnp.full((m,), 1.0 / m, dtype)
    else:
        p = check_pref(pref, m, name=f"{fn}: pref").astype(dtype)
    if ideal is not None:
        f = f - _as_vector(ideal, m, dtype, "ideal", fn)
    if nadir is not None:
        lo = jnp.zeros((m,), dtype) if ideal is None else _as_vector(ideal, m, dtype, "ideal", fn)
        span = _as_vector(nadir, m, dtype, "nadir", fn) - lo
        if not is_tracer(span) and not np.all(np.asarray(span) > 0):
            raise ValueError(
                f"{fn}: nadir must exceed ideal in every objective (nadir - ideal = "
                f"{np.asarray(span)})."
            )
        f = f / jnp.maximum(span, 1e-12)
    if z is not None:
        f = f - _as_vector(z, m, dtype, "z", fn)
    return f, p


def safe_norm(x: Array, eps: float = 0.0) -> Array:
    """``sqrt(max(‖x‖², eps²))``: finite value and gradient at ``x = 0`` when ``eps > 0``."""
    sq = jnp.sum(x * x)
    return jnp.sqrt(jnp.maximum(sq, eps * eps)) if eps > 0 else jnp.sqrt(sq)


def scalarization_weighting(
    loss_fn: Callable[..., Array],
    *,
    name: str,
    pref: Any = None,
    **kwargs: Any,
) -> Weighting:
    """The :class:`~paretojax.Weighting` ``w = ∂s/∂f`` of ``s = loss_fn(f, p, **kw)``.

    The preference is the one passed to ``update(..., pref=p)`` if any, else the ``pref`` fixed
    here, else uniform ``1/m``. Stateless, ``uses_gram=False``.
    """
    fixed = None
    if pref is not None:
        fixed = jnp.asarray(pref)
        if fixed.ndim != 1:
            raise ValueError(f"{name}: pref must be a 1-D vector, got shape {fixed.shape}.")
        check_pref(fixed, fixed.shape[0], name=f"{name}: pref")

    def weights(gram: Array, losses: Array | None, state: Any, p: Array | None):
        m = gram.shape[0]
        if p is None:
            if fixed is not None:
                if fixed.shape != (m,):
                    raise ValueError(
                        f"{name}: the fixed pref has shape {fixed.shape} but there are {m} tasks."
                    )
                p = fixed
        if losses is None:  # pragma: no cover - needs_losses=True makes the glue raise first
            raise ValueError(f"{name} needs task_losses.")
        f0 = jnp.asarray(losses)
        w = jax.grad(lambda f: loss_fn(f, p, **kwargs))(f0.astype(_float_dtype(f0)))
        return w, state

    return Weighting(init=None, weights=weights, name=name, needs_losses=True, uses_gram=False)


def map_states(tree: Any, cls: type, fn: Callable[[Any], Any], name: str) -> Any:
    """Apply ``fn`` to every ``cls`` node of ``tree`` (e.g. a method state inside an
    ``optax.chain`` state), leaving the rest untouched. Used by the ``*_epoch_end`` helpers.

    Raises:
      ValueError: if ``tree`` contains no ``cls`` node (a wrong state was passed).
    """
    found = []

    def visit(x: Any) -> Any:
        if isinstance(x, cls):
            found.append(True)
            return fn(x)
        return x

    out = jax.tree_util.tree_map(visit, tree, is_leaf=lambda x: isinstance(x, cls))
    if not found:
        raise ValueError(f"{name}_epoch_end: no {cls.__name__} found in the given state.")
    return out
