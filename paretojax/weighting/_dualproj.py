r"""DualProj: project the (preference-weighted) mean gradient onto the dual cone of the gradients.

Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning", NeurIPS 2017 (Eq. 11);
used as an aggregator in Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization",
arXiv 2406.16232 (2024):

.. math::

    \hat G = \frac{G}{\operatorname{tr} G} + \varepsilon_{reg} I, \qquad
    w = \arg\min_{v \ge p} v^\top \hat G v, \qquad u = J^\top w,

i.e. ``u = π_J(Jᵀp)``, the projection of ``Jᵀp`` onto ``{x : Jx ≥ 0}``. Non-conflicting and
permutation invariant; not linear under scaling (one projection of a sum, not a sum of
projections). ``p = 1/m`` by default (TorchJD ``pref_vector``).

Reference matched: TorchJD ``aggregation/_dualproj.py`` (same ``normalize``/``regularize`` as
UPGrad, ``norm_eps = reg_eps = 1e-4``, quadprog on the host). paretojax uses one compiled K3
solve (:func:`paretojax.core.boxqp.lower_bounded_qp`).

Golden values (METHODS.md §4): ``G_base → [0.6109, 0.5]``, ``A(J_base) = [0.5563, 1.1109,
1.1109]``, ``G3 → [0.33333, 0.50391, 0.33333]``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._upgrad import (
    _check_hparams,
    _check_pref_vector,
    _solve,
    normalize_regularize,
    resolve_pref,
)

Array = jax.Array

__all__ = ["dualproj", "dualproj_weights", "dualproj_weighting"]


def dualproj_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    pref_vector: Array | None = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
) -> tuple[Array, Any]:
    r"""DualProj weights ``w = argmin_{v ≥ p} vᵀĜv`` (``Ĝ = G/tr G + reg_eps·I``).

    Arguments as :func:`paretojax.weighting._upgrad.upgrad_weights`.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._dualproj import dualproj_weights
      >>> out = dualproj_weights(jnp.array([[18., -22.], [-22., 38.]]))[0]
      >>> [round(x, 4) for x in out.tolist()]
      [0.6109, 0.5]
    """
    _check_hparams(norm_eps, reg_eps, solver, "dualproj")
    g = jnp.asarray(gram)
    gn = normalize_regularize(g, norm_eps, reg_eps)
    p = resolve_pref(pref, pref_vector, g.shape[0], gn.dtype, "dualproj")
    return _solve(gn, p, solver, max_iter), state


def dualproj_weighting(
    pref_vector: Any = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`dualproj`.

    ``weights(G, ...)`` returns the weights of the mean gradient projected onto the dual cone
    ``{x : Jx ≥ 0}`` of the gradients.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.dualproj_weighting()
      >>> w, _ = wt.weights(G, None, None, None)
      >>> [round(float(v), 4) for v in w]
      [0.6109, 0.5]
      >>> bool(jnp.allclose(w, pj.dualproj_weights(G)[0]))
      True
    """
    _check_hparams(norm_eps, reg_eps, solver, "dualproj")
    pv = _check_pref_vector(pref_vector, "dualproj")

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return dualproj_weights(
            gram, losses, state, pref=pref, pref_vector=pv, norm_eps=norm_eps,
            reg_eps=reg_eps, solver=solver, max_iter=max_iter,
        )

    return Weighting(init=None, weights=fn, name="dualproj")


def dualproj(
    pref_vector: Any = None,
    norm_eps: float = 1e-4,
    reg_eps: float = 1e-4,
    solver: str = "active_set",
    max_iter: int | None = None,
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""DualProj (GEM, Lopez-Paz & Ranzato 2017): ``u = π_J(Jᵀp)``, the projection of the
    weighted mean gradient onto the dual cone of the task gradients.

    .. math:: u = J^\top \arg\min_{v \ge p} v^\top \hat G v

    A preference given to ``update(..., pref=p)`` overrides ``pref_vector``. Stateless.

    Args:
      pref_vector: fixed preference (default ``1/m``, TorchJD).
      norm_eps: trace threshold of the normalisation (1e-4, TorchJD).
      reg_eps: ridge (1e-4, TorchJD).
      solver: ``"active_set"`` (compiled K3, default) or ``"exact"`` (``m ≤ 8``).
      max_iter: active-set iteration cap (default ``3m``).
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.dualproj()
      >>> out = tx.update(jac, tx.init({"w": jnp.zeros(3)}))[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [0.5563, 1.1109, 1.1109]
    """
    return as_transform(
        dualproj_weighting(pref_vector, norm_eps, reg_eps, solver, max_iter), num_tasks
    )


INFO = MethodInfo(
    name="dualproj",
    family="weighting",
    factory=dualproj,
    description="Mean gradient projected onto the dual cone of the task gradients (GEM).",
    reference="Lopez-Paz & Ranzato, NeurIPS 2017; TorchJD _dualproj.py",
    properties=frozenset({"NC", "PI", "SS"}),
)
