r"""Gram-only mode: the ``m × m`` Gram of the loss Jacobian without ever holding ``J``.

A gradient-balancing step needs only ``G = J Jᵀ`` (to choose the weights) and ``Jᵀ w`` (the
update). Both are available from one linearisation of the loss vector ``f`` at ``θ``:

.. math::

    G_{:, i} = J\,(J^\top e_i) = \mathrm{jvp}\big(f, \theta, \mathrm{vjp}(f, \theta, e_i)\big),
    \qquad u = J^\top w = \mathrm{vjp}(f, \theta, w).

Column ``i`` of the Gram is the JVP of the task-``i`` gradient, so the Gram is built ``k``
columns at a time (``chunk_size=k``) holding at most ``k`` parameter-sized gradients; the
update is **one extra backward** of ``Σ_i w_i f_i`` through the same stored forward pass. Peak
memory is the forward residuals plus ``k × d`` (against ``m × d`` for the Jacobian path); the
price is ``m`` extra JVPs (about one more Jacobian's worth of compute). This is METHODS.md §9
"Gram without J" in a model-agnostic form: it needs no knowledge of the layers, unlike TorchJD's
*autogram* (which sums ``⟨X Xᵀ, Δ_i Δ_jᵀ⟩`` over dense layers from hooked activations).

Loss-level weightings (``uses_gram=False``, e.g. ``pj.linear_weighting``) skip the Gram: the
step is then a single backward pass — the floor of any Jacobian-based step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from paretojax.core.jacobian import accumulation_dtype, check_chunk_size

Array = jax.Array
PyTree = Any

__all__ = ["value_and_gram"]


def _linearize(
    fun: Callable[..., Any], params: PyTree, args: tuple[Any, ...], has_aux: bool
) -> tuple[Array, Any, Callable[[PyTree], Array], Callable[[Array], PyTree]]:
    """``(losses, aux, jvp, vjp)`` from one forward pass of ``fun(params, *args)``."""

    def f(p: PyTree) -> Any:
        return fun(p, *args)

    if has_aux:
        losses, f_jvp, aux = jax.linearize(f, params, has_aux=True)
    else:
        (losses, f_jvp), aux = jax.linearize(f, params), None
    losses = jnp.asarray(losses)
    if losses.ndim != 1:
        raise ValueError(f"Gram-only mode expects a 1-D loss vector, got shape {losses.shape}.")
    if losses.shape[0] == 0:
        raise ValueError("The loss function returned an empty loss vector (m = 0).")
    transpose = jax.linear_transpose(f_jvp, params)

    def f_vjp(ct: Array) -> PyTree:
        return transpose(ct)[0]

    return losses, aux, f_jvp, f_vjp


def _gram_from_linearization(
    losses: Array, f_jvp: Callable[[PyTree], Array], f_vjp: Callable[[Array], PyTree],
    chunk: int | None,
) -> Array:
    m = losses.shape[0]
    # `+ zeros_like(losses)` gives the cotangents the losses' varying-axis type (shard_map).
    eye = jnp.eye(m, dtype=losses.dtype) + jnp.zeros_like(losses)[None, :]

    def column(e: Array) -> Array:
        return f_jvp(f_vjp(e))

    if chunk is None or chunk >= m:
        cols = jax.vmap(column)(eye)
    else:
        cols = jax.lax.map(column, eye, batch_size=chunk)
    g = cols.astype(accumulation_dtype(losses.dtype))
    return 0.5 * (g + g.T)


def value_and_gram(
    fun: Callable[..., Any], has_aux: bool = False, *, chunk_size: int | None = 1
) -> Callable[..., Any]:
    r"""Wrap ``fun(params, *args) -> losses[m]`` into ``(params, *args) -> (losses, G)``.

    .. math:: G = J J^\top,\quad G_{:,i} = J (J^\top e_i)\ \text{(a JVP of a VJP)}

    The Gram of the loss Jacobian w.r.t. ``params`` computed without materialising ``J``:
    ``chunk_size`` task gradients are alive at a time (default 1; ``None`` = all ``m`` at
    once, fastest but holding ``m × d`` transiently). Equals ``pj.gram(J)`` to rounding; the
    products are accumulated in the dtype of the losses (float32 losses → float32 Gram).
    The trick is the forward-over-reverse Gram of METHODS.md §9 ("Gram without J").

    Args:
      fun: ``(params, *args) -> losses[m]`` (or ``(losses, aux)`` with ``has_aux``).
      has_aux: whether ``fun`` returns ``(losses, aux)``.
      chunk_size: number of Gram columns computed at once.

    Returns:
      A function returning ``(losses, G)``, or ``((losses, aux), G)`` when ``has_aux``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.core._autogram import value_and_gram
      >>> f = lambda p: jnp.stack([jnp.sum(p["a"] * jnp.array([-4., 1., 1.])),
      ...                          jnp.sum(p["a"] * jnp.array([6., 1., 1.]))])
      >>> losses, G = value_and_gram(f)({"a": jnp.ones(3)})
      >>> G
      Array([[ 18., -22.],
             [-22.,  38.]], dtype=float32)
    """
    chunk = check_chunk_size(chunk_size)

    def wrapped(params: PyTree, *args: Any) -> Any:
        losses, aux, f_jvp, f_vjp = _linearize(fun, params, args, has_aux)
        g = _gram_from_linearization(losses, f_jvp, f_vjp, chunk)
        return ((losses, aux), g) if has_aux else (losses, g)

    return wrapped
