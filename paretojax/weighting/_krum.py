r"""Krum / Multi-Krum: Byzantine-robust selection of task gradients.

.. math::

    D_{ij} = \sqrt{\max(G_{ii} + G_{jj} - 2G_{ij},\,0)},\qquad
    \text{score}_i = \sum_{j \in N_i} D_{ij},

where ``N_i`` are the ``m − f − 2`` closest other rows; the ``n_selected`` rows with the lowest
scores get weight ``1/n_selected`` (Multi-Krum averages them), the others 0. Needs
``m ≥ f + 3`` and ``m ≥ n_selected``. Ties are broken by the lower index.

Paper: Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine
Tolerant Gradient Descent", NeurIPS 2017. Reference matched: TorchJD ``_krum.py`` (Euclidean
distances; ``n_byzantine`` = f required, ``n_selected = 1``). Flag ``squared=True``: squared
distances, as in the paper.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform
from paretojax.weighting._imtl_g import _as_gram

Array = jax.Array

__all__ = ["krum", "krum_weights", "krum_weighting"]


def _check(n_byzantine: int, n_selected: int) -> None:
    if not isinstance(n_byzantine, int) or n_byzantine < 0:
        raise ValueError(f"krum: n_byzantine must be a non-negative int, got {n_byzantine!r}.")
    if not isinstance(n_selected, int) or n_selected < 1:
        raise ValueError(f"krum: n_selected must be a positive int, got {n_selected!r}.")


def krum_weights(
    gram: Array,
    losses: Array | None = None,
    state: Any = None,
    *,
    pref: Array | None = None,
    n_byzantine: int,
    n_selected: int = 1,
    squared: bool = False,
) -> tuple[Array, Any]:
    r"""(Multi-)Krum weights: ``1/n_selected`` on the rows with the lowest Krum scores.

    Args:
      gram: ``[m, m]`` Gram matrix.
      losses, pref: ignored.
      state: passed through (stateless).
      n_byzantine: f, the number of possibly adversarial rows (required).
      n_selected: rows averaged (1 = Krum, > 1 = Multi-Krum).
      squared: score with squared distances (paper) instead of distances (TorchJD).

    Returns:
      ``(weights[m], state)``.

    Raises:
      ValueError: if ``m < f + 3`` or ``m < n_selected``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> j = jnp.array([[1., 1, 1], [1, 0, 1], [75, -666, 23], [1, 2, 3], [2, 0, 1]])
      >>> pj.krum_weights(j @ j.T, n_byzantine=1, n_selected=4)[0].tolist()
      [0.25, 0.25, 0.0, 0.25, 0.25]
    """
    del losses, pref
    _check(n_byzantine, n_selected)
    g = _as_gram(gram, "krum")
    m = g.shape[0]
    if m < n_byzantine + 3:
        raise ValueError(f"krum needs m ≥ n_byzantine + 3 = {n_byzantine + 3} tasks, got m={m}.")
    if m < n_selected:
        raise ValueError(f"krum needs m ≥ n_selected = {n_selected} tasks, got m={m}.")
    diag = jnp.diagonal(g)
    d2 = jnp.maximum(diag[:, None] + diag[None, :] - 2.0 * g, 0.0)
    dist = d2 if squared else jnp.sqrt(d2)
    dist = jnp.where(jnp.eye(m, dtype=bool), jnp.inf, dist)
    k = m - n_byzantine - 2
    scores = jnp.sum(jnp.sort(dist, axis=1)[:, :k], axis=1)
    order = jnp.argsort(scores, stable=True)
    selected = jnp.zeros((m,), bool).at[order[:n_selected]].set(True)
    w = jnp.where(selected, 1.0 / n_selected, 0.0).astype(g.dtype)
    return w, state


def krum_weighting(n_byzantine: int, n_selected: int = 1, squared: bool = False) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`krum`.

    ``weights(G, ...)`` puts weight on the ``n_selected`` gradients with the smallest Krum score
    (sum of distances to their nearest neighbours, computed from ``G``); needs
    ``m ≥ n_byzantine + 3``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> j = jnp.array([[1., 1, 1], [1, 0, 1], [75, -666, 23], [1, 2, 3], [2, 0, 1]])
      >>> wt = pj.krum_weighting(n_byzantine=1, n_selected=4)
      >>> w, _ = wt.weights(j @ j.T, None, None, None)
      >>> w.tolist()  # the outlier (task 3) gets no weight
      [0.25, 0.25, 0.0, 0.25, 0.25]
    """
    _check(n_byzantine, n_selected)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return krum_weights(
            gram, losses, state, n_byzantine=n_byzantine, n_selected=n_selected, squared=squared
        )

    return Weighting(init=None, weights=fn, name="krum")


def krum(
    n_byzantine: int,
    n_selected: int = 1,
    squared: bool = False,
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""(Multi-)Krum as an optax transform: average of the most central task gradients.

    Args:
      n_byzantine: f, the number of possibly adversarial rows (required; ``m ≥ f + 3``).
      n_selected: rows averaged (default 1).
      squared: squared distances (paper) instead of distances (TorchJD, default).
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> j = jnp.array([[1., 1, 1], [1, 0, 1], [75, -666, 23], [1, 2, 3], [2, 0, 1]])
      >>> tx = pj.krum(n_byzantine=1, n_selected=4)
      >>> tx.update({"w": j}, tx.init({"w": jnp.zeros(3)}))[0]["w"].tolist()
      [1.25, 0.75, 1.5]
    """
    return as_transform(krum_weighting(n_byzantine, n_selected, squared), num_tasks)


INFO = MethodInfo(
    name="krum",
    family="weighting",
    factory=krum,
    description="(Multi-)Krum: average the n_selected most central task gradients.",
    reference="Blanchard et al., NeurIPS 2017; TorchJD Krum (squared flag: paper)",
    example_kwargs={"n_byzantine": 0, "n_selected": 1},
    min_tasks=3,
)
