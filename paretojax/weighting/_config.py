r"""ConFIG: conflict-free inverse gradients (exact Gram form).

With unit rows ``u_i = g_i/‖g_i‖`` and ``U = [u_1; …; u_m]``:

.. math::

    v = U^{+} p,\quad \hat u = v/\|v\|,\quad u = \Big(\sum_i g_i^\top \hat u\Big)\hat u ,

so ``û`` has equal (``p``-weighted) cosine with every task gradient and the length is the sum of
the projections. Exact Gram form (derived; no Jacobian rows needed): ``n = √diag G``,
``Ĝ = G ⊘ (n nᵀ)``, ``a = (Ĝ⁺ p) ⊘ n``, then ``v = Jᵀa`` and

.. math::

    w = \frac{\mathbf 1^\top G a}{a^\top G a}\, a, \qquad u = J^\top w .

Zero rows get ``a_i = 0`` (TorchJD's ``nan_to_num`` on ``g_i/‖g_i‖``). ``p = 1`` (TorchJD's
default ``SumWeighting``), or the ``pref`` extra argument (only its direction matters).

Paper: Liu, Chu, Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed Neural
Networks", ICLR 2025. Reference matched: TorchJD ``_config.py``. Linear under scaling (positive
row scalings leave ``û`` unchanged and scale the length linearly) and permutation invariant.
``Ĝ⁺`` uses ``eigh`` with relative cutoff ``m·eps(dtype)``; TorchJD's ``pinv(U)`` cuts singular
values of ``U`` (a much smaller threshold on ``Ĝ``'s eigenvalues, below their rounding noise), so
results can differ on numerically rank-deficient inputs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._imtl_g import _as_gram, _psd_pinv_apply, _trace_normalize

Array = jax.Array

__all__ = ["config", "config_weights", "config_weighting"]


def config_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    rcond: float | None = None,
) -> tuple[Array, Any]:
    r"""ConFIG weights ``w = (1ᵀGa / aᵀGa) a`` with ``a = (Ĝ⁺p) ⊘ n``.

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses: ignored.
      state: passed through (stateless).
      pref: ``p`` (default ones; only its direction matters).
      rcond: relative eigenvalue cutoff of ``Ĝ⁺`` (default ``m·eps(dtype)``).

    Returns:
      ``(weights[m], state)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> g = jnp.array([[18., -22.], [-22., 38.]])
      >>> [round(x, 4) for x in pj.config_weights(g)[0].tolist()]
      [1.2265, 0.8441]
    """
    del losses
    g = _as_gram(gram, "config")
    m = g.shape[0]
    dtype = g.dtype
    if pref is None:
        p = jnp.ones((m,), dtype)
    else:
        p = jnp.asarray(pref, dtype)
        if p.shape != (m,):
            raise ValueError(f"config: pref must have shape ({m},), got {p.shape}.")
    # Work on G / tr G: a scales by √tr and the coefficient by 1/√tr, so w = coef·a is unchanged.
    gn, tr = _trace_normalize(g)
    n = jnp.sqrt(jnp.maximum(jnp.diagonal(gn), 0.0))
    nz = n > jnp.sqrt(jnp.finfo(dtype).tiny) * 1e3
    ninv = jnp.where(nz, 1.0 / jnp.where(nz, n, 1.0), 0.0)
    g_hat = gn * ninv[:, None] * ninv[None, :]
    a = _psd_pinv_apply(g_hat, p, rcond) * ninv
    ga = gn @ a
    aga = a @ ga
    ok = aga > jnp.finfo(dtype).tiny * 1e3
    coef = jnp.where(ok, jnp.sum(ga) / jnp.where(ok, aga, 1.0), 0.0)
    w = coef * a
    return jnp.where(tr > 0, w, jnp.zeros_like(w)), state


def config_weighting(rcond: float | None = None) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`config`.

    ``weights(G, ...)`` returns ``w = (1ᵀGa / aᵀGa) a`` with ``a = (Ĝ⁺p) ⊘ √diag G`` (the exact
    Gram form of the module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.config_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [1.2265, 0.8441]
    """
    if rcond is not None and not rcond >= 0.0:
        raise ValueError(f"config: rcond must be ≥ 0, got {rcond}.")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return config_weights(gram, losses, state, pref=pref, rcond=rcond)

    return Weighting(init=None, weights=fn, name="config")


def config(
    rcond: float | None = None, *, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""ConFIG as an optax transform (equal-cosine direction, length = sum of projections).

    Args:
      rcond: relative eigenvalue cutoff of the pseudo-inverse (default ``m·eps(dtype)``).
      num_tasks: m, to record the weights in the state.

    The optional ``pref`` extra argument replaces ``p = 1``. Linear under scaling, permutation
    invariant. Reference: TorchJD ``ConFIG``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.config()
      >>> u, _ = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.1588, 2.0706, 2.0706]
    """
    return as_transform(config_weighting(rcond), num_tasks)


INFO = MethodInfo(
    name="config",
    family="manipulation",
    factory=config,
    description="ConFIG: conflict-free direction with equal cosine to every task (Gram form).",
    reference="Liu, Chu, Thuerey, ICLR 2025; TorchJD ConFIG",
    properties=frozenset({"LUS", "PI"}),
)
