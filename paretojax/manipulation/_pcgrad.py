r"""PCGrad: gradient surgery (projecting conflicting gradients), in Gram form.

Yu, Kumar, Gupta, Levine, Hausman, Finn, "Gradient Surgery for Multi-Task Learning",
NeurIPS 2020 (Algorithm 1). For each task ``i``, in a fresh random order over ``j``:

.. math::

    g_i^{pc} \leftarrow g_i^{pc} - \frac{\min(g_i^{pc} \cdot g_j, 0)}{\|g_j\|^2} g_j
    \quad (\text{original } g_j), \qquad u = \sum_i g_i^{pc}.

**Gram form (K8).** Writing ``g_i^{pc} = Σ_k c_{ik} g_k`` (``c_i = e_i`` initially), the inner
product is ``g_i^{pc}·g_j = (c_i G)_j`` and the projection is ``c_{ij} ← c_{ij} − (c_i G)_j/G_jj``
when ``(c_i G)_j < 0``. The update is ``Jᵀw`` with ``w = Σ_i c_i`` (sum of the coefficient rows),
so only the ``m × m`` Gram is needed. Each row ``i`` draws ``jax.random.permutation(key_i, m)``
and runs the projections with a ``fori_loop`` over positions; rows are ``vmap``-ed. The key is
carried in the state and split on every call (same key ⇒ same output).

Reference matched: TorchJD ``aggregation/_pcgrad.py`` (skips ``j = i``, no ε, sum of rows) ≡
LibMTL ``PCGrad.py`` (includes ``j = i``, which never triggers, and an ε of 1e-8 in ``‖g_j‖²``).
A zero gradient ``g_j`` (``G_jj = 0``) is never projected on (its inner products are 0).
Golden (order-free for ``m = 2``): ``G_base → [2.2222, 1.5789]``,
``A(J_base) = [0.5848, 3.8012, 3.8012]``. Linear under scaling; not non-conflicting.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["pcgrad", "pcgrad_weights", "pcgrad_weighting", "PCGradState", "make_key", "row_orders"]


class PCGradState(NamedTuple):
    """State of :func:`pcgrad`: the PRNG key (split on every call)."""

    key: Array


def make_key(seed: Any) -> Array:
    """A typed PRNG key from an int seed, a typed key or a raw ``uint32[2]`` key."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return jax.random.key(int(seed))
    dtype = getattr(seed, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return seed
    if dtype == jnp.uint32 and jnp.shape(seed) == (2,):
        return jax.random.wrap_key_data(jnp.asarray(seed))
    raise ValueError(f"seed must be an int or a PRNG key, got {seed!r}.")


@partial(jax.jit, static_argnums=1)
def row_orders(key: Array, m: int) -> Array:
    """``(m, m)`` integer array: row ``i`` is an independent random permutation of ``range(m)``."""
    return jax.vmap(lambda k: jax.random.permutation(k, m))(jax.random.split(key, m))


@jax.jit
def pcgrad_coefficients(gram: Array, orders: Array) -> Array:
    r"""The PCGrad coefficient matrix ``C`` (``g_i^{pc} = Σ_k C_{ik} g_k``) for given orders.

    ``orders[i]`` is the order in which row ``i`` visits the tasks (``i`` itself is skipped).
    """
    g = jnp.asarray(gram)
    m = g.shape[0]
    diag = jnp.diagonal(g)
    tiny = jnp.finfo(g.dtype).tiny

    def row(i: Array, order: Array) -> Array:
        def step(pos: int, c: Array) -> Array:
            j = order[pos]
            inner = c @ g[:, j]
            gjj = diag[j]
            project = (inner < 0.0) & (j != i) & (gjj > tiny)
            coef = jnp.where(project, inner / jnp.where(project, gjj, 1.0), 0.0)
            return c.at[j].add(-coef)

        c0 = jnp.zeros((m,), g.dtype).at[i].set(1.0)
        return lax.fori_loop(0, m, step, c0)

    return jax.vmap(row)(jnp.arange(m), orders)


def pcgrad_weights(
    gram: Array,
    losses: Array | None = None,
    state: PCGradState | None = None,
    *,
    pref: Array | None = None,
) -> tuple[Array, PCGradState]:
    r"""PCGrad weights ``w = Σ_i c_i`` (Gram form, K8), and the state with a fresh key.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax.manipulation._pcgrad import pcgrad_weights, PCGradState
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> out = pcgrad_weights(G, state=PCGradState(jax.random.key(0)))[0]
      >>> [round(x, 4) for x in out.tolist()]
      [2.2222, 1.5789]
    """
    del losses, pref
    g = jnp.asarray(gram)
    g = g.astype(jnp.promote_types(g.dtype, jnp.float32))
    if state is None:
        state = PCGradState(jax.random.key(0))
    key, sub = jax.random.split(state.key)
    coeffs = pcgrad_coefficients(g, row_orders(sub, g.shape[0]))
    return jnp.sum(coeffs, axis=0), PCGradState(key)


def pcgrad_weighting(seed: Any = 0) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`pcgrad`.

    ``weights(G, ...)`` returns the weights ``w`` with ``Jᵀw`` equal to the sum of the
    PCGrad-projected gradients (random projection order drawn from the key in the state).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.pcgrad_weighting(seed=0)
      >>> w, _ = wt.weights(G, None, wt.init(), None)
      >>> [round(float(v), 4) for v in w]
      [2.2222, 1.5789]
      >>> bool(jnp.all(G @ w >= -1e-4))  # m = 2: no conflict left with either task
      True
    """
    key = make_key(seed)

    def fn(gram: Array, losses: Array | None, state: PCGradState, pref: Array | None):
        return pcgrad_weights(gram, losses, state)

    return Weighting(init=lambda: PCGradState(key), weights=fn, name="pcgrad")


def pcgrad(seed: Any = 0, *, num_tasks: int | None = None) -> optax.GradientTransformationExtraArgs:
    r"""PCGrad (Yu et al., NeurIPS 2020): project each gradient off the conflicting ones, sum.

    .. math:: u = \sum_i g_i^{pc} = J^\top \sum_i c_i

    Computed in Gram form (coefficients on the original gradients), with a random task order per
    row drawn from the key in the state (split each call).

    Args:
      seed: int seed or PRNG key of the task orders.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.pcgrad()
      >>> out = tx.update(jac, tx.init({"w": jnp.zeros(3)}))[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [0.5848, 3.8012, 3.8012]
    """
    return as_transform(pcgrad_weighting(seed), num_tasks)


INFO = MethodInfo(
    name="pcgrad",
    family="manipulation",
    factory=pcgrad,
    description="Project each task gradient off the conflicting ones (random order), then sum.",
    reference="Yu et al., NeurIPS 2020; TorchJD _pcgrad.py (= LibMTL PCGrad.py), Gram form",
    properties=frozenset({"LUS"}),
    stochastic=True,
)
