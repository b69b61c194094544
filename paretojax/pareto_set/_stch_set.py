r"""Set scalarizations for "few for many": TCH-Set, STCH-Set and SoM (METHODS.md §6).

K solutions ``x¹..x^K`` are optimised jointly so that every one of m ≫ K objectives is served
well by *at least one* of them. The input of every loss here is the objective matrix
``F ∈ R^{K×m}``, ``F[k, i] = f_i(x^k)``.

.. math::

    \text{TCH-Set}(F) &= \max_i \lambda_i\,(\min_k F_{ki} - z_i) \\
    \text{STCH-Set}_\mu(F) &= \mu \log \sum_i \exp\!\Big(\frac{\lambda_i(s_i - z_i)}{\mu}\Big),
    \qquad s_i = -\mu \log \sum_k \exp(-F_{ki}/\mu) \\
    \text{SoM}(F) &= \sum_i \min_k F_{ki}
    \quad(\text{smooth flag: } \min_k \to -\mu\log\sum_k \exp(-F_{ki}/\mu))

Defaults ``λ = 1``, ``z = 0``, ``μ = 0.1`` (official ``Xi-L/STCH-Set``; one μ for both the inner
smooth minimum and the outer smooth maximum, as in the paper). Both log-sum-exps are max-shifted
(``jax.nn.logsumexp``), so huge and tiny objective values stay finite. The gradients
``∂S/∂F ∈ R^{K×m}`` are the per-solution objective weights the finite-set driver needs:
:func:`stch_set_weighting` & co. wrap them as :class:`~paretojax.pareto_set.SetWeighting`
(``uses_gram=False``), so ``run_finite_set(..., method=pj.stch_set_weighting())`` is plain
gradient descent on the set loss.

Papers: Lin, Liu, Zhang, Liu, Wang, Zhang, "Few for Many: Tchebycheff Set Scalarization for
Many-Objective Optimization", ICLR 2025 (TCH-Set / STCH-Set); Ding, Chen, Wang, Yin, "Efficient
algorithms for sum-of-minimum optimization", ICML 2024 (SoM).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from paretojax.pareto_set._driver import SetWeighting

Array = jax.Array

__all__ = [
    "smooth_min_over_set",
    "stch_set_loss",
    "tch_set_loss",
    "som_loss",
    "stch_set_weighting",
    "tch_set_weighting",
    "som_weighting",
]


def _check_f(f: Any, who: str) -> Array:
    y = jnp.asarray(f)
    if y.ndim != 2 or y.shape[0] < 1 or y.shape[1] < 1:
        raise ValueError(f"{who}: F must be a non-empty [K, m] matrix, got shape {y.shape}.")
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.float32)
    return y


def _check_mu(mu: Any, who: str) -> float:
    try:
        v = float(mu)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: mu must be a positive float, got {mu!r}.") from None
    if not v > 0 or v == float("inf"):
        raise ValueError(f"{who}: mu must be a positive finite float, got {mu!r}.")
    return v


def _vec(v: Any, m: int, default: float, dtype: Any, who: str, name: str) -> Array:
    if v is None:
        return jnp.full((m,), default, dtype)
    a = jnp.asarray(v, dtype)
    if a.ndim == 0:
        return jnp.full((m,), a, dtype)
    if a.shape != (m,):
        raise ValueError(f"{who}: {name} must be a scalar or have shape ({m},), got {a.shape}.")
    return a


def smooth_min_over_set(f: Array, mu: float) -> Array:
    r"""``s_i = −μ log Σ_k exp(−F_{ki}/μ)`` for each objective i (``[K, m] -> [m]``).

    ``min_k F_{ki} − μ log K ≤ s_i ≤ min_k F_{ki}``; K = 1 gives ``F[0]`` exactly.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.smooth_min_over_set(jnp.array([[1.0, 5.0]]), 0.1).tolist()
      [1.0, 5.0]
    """
    y = _check_f(f, "smooth_min_over_set")
    mu = _check_mu(mu, "smooth_min_over_set")
    return -mu * jax.nn.logsumexp(-y / mu, axis=0)


def stch_set_loss(f: Array, *, mu: float = 0.1, lam: Any = None, z: Any = None) -> Array:
    r"""STCH-Set: ``μ log Σ_i exp(λ_i(s_i − z_i)/μ)`` with ``s_i`` the smooth min over the set.

    Args:
      f: objective matrix ``[K, m]`` (row k = objectives of solution k).
      mu: smoothing of both the inner smooth min and the outer smooth max (default 0.1, official
        ``Xi-L/STCH-Set``). ``TCH-Set − λ_max μ log K ≤ STCH-Set ≤ TCH-Set + μ log m`` for λ ≥ 0.
      lam: objective weights ``[m]`` (default 1).
      z: ideal point ``[m]`` (default 0).

    Returns:
      the scalar loss (differentiable; with λ = 1, ``∂/∂F`` is a ``[K, m]`` matrix of
      non-negative weights summing to 1: outer softmax over i times inner softmin over k).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[0.0, 1.0], [1.0, 0.0]])
      >>> round(float(pj.stch_set_loss(F, mu=1e-3)), 4)
      0.0007
    """
    y = _check_f(f, "stch_set_loss")
    mu = _check_mu(mu, "stch_set_loss")
    m = y.shape[1]
    lam_ = _vec(lam, m, 1.0, y.dtype, "stch_set_loss", "lam")
    z_ = _vec(z, m, 0.0, y.dtype, "stch_set_loss", "z")
    s = -mu * jax.nn.logsumexp(-y / mu, axis=0)
    return mu * jax.nn.logsumexp(lam_ * (s - z_) / mu)


def tch_set_loss(f: Array, *, lam: Any = None, z: Any = None) -> Array:
    r"""TCH-Set: ``max_i λ_i(min_k F_{ki} − z_i)`` (non-smooth; subgradient from ``max``/``min``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> float(pj.tch_set_loss(jnp.array([[0.2, 3.0], [1.0, 0.5]])))
      0.5
    """
    y = _check_f(f, "tch_set_loss")
    m = y.shape[1]
    lam_ = _vec(lam, m, 1.0, y.dtype, "tch_set_loss", "lam")
    z_ = _vec(z, m, 0.0, y.dtype, "tch_set_loss", "z")
    return jnp.max(lam_ * (jnp.min(y, axis=0) - z_))


def som_loss(f: Array, smooth_mu: float | None = None) -> Array:
    r"""Sum of minimum ``Σ_i min_k F_{ki}``; ``smooth_mu`` → ``Σ_i −μ log Σ_k exp(−F_{ki}/μ)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> round(float(pj.som_loss(jnp.array([[0.2, 3.0], [1.0, 0.5]]))), 6)
      0.7
    """
    y = _check_f(f, "som_loss")
    if smooth_mu is None:
        return jnp.sum(jnp.min(y, axis=0))
    mu = _check_mu(smooth_mu, "som_loss")
    return jnp.sum(-mu * jax.nn.logsumexp(-y / mu, axis=0))


def _set_weighting(loss, name: str) -> SetWeighting:
    grad = jax.grad(loss)

    def weights(g: Array, losses: Array, state: Any, prefs: Any):
        del g, prefs
        return grad(losses), state

    return SetWeighting(init=None, weights=weights, name=name, uses_gram=False)


def stch_set_weighting(*, mu: float = 0.1, lam: Any = None, z: Any = None) -> SetWeighting:
    """STCH-Set as a :class:`SetWeighting`: ``α = ∂ stch_set_loss / ∂F`` (prefs are ignored).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> sw = pj.stch_set_weighting()
      >>> sw.weights(jnp.zeros((2, 3, 0)), jnp.ones((2, 3)), None, None)[0].shape
      (2, 3)
    """
    mu = _check_mu(mu, "stch_set_weighting")
    return _set_weighting(lambda y: stch_set_loss(y, mu=mu, lam=lam, z=z), "stch_set")


def tch_set_weighting(*, lam: Any = None, z: Any = None) -> SetWeighting:
    """TCH-Set as a :class:`SetWeighting` (subgradient ``∂ tch_set_loss / ∂F``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[0.2, 3.0], [1.0, 0.5]])
      >>> a, _ = pj.tch_set_weighting().weights(jnp.zeros((2, 2, 0)), F, None, None)
      >>> a.tolist()  # only the worst objective (i = 2) at its best solution (k = 2)
      [[0.0, 0.0], [0.0, 1.0]]
    """
    return _set_weighting(lambda y: tch_set_loss(y, lam=lam, z=z), "tch_set")


def som_weighting(smooth_mu: float | None = None) -> SetWeighting:
    """SoM as a :class:`SetWeighting` (``∂ som_loss / ∂F``; each objective pulls its best k).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[0.2, 3.0], [1.0, 0.5]])  # K = 2 solutions, m = 2 objectives
      >>> a, _ = pj.som_weighting().weights(jnp.zeros((2, 2, 0)), F, None, None)
      >>> a.tolist()  # objective i pulls its best solution argmin_k F[k, i]
      [[1.0, 0.0], [0.0, 1.0]]
    """
    if smooth_mu is not None:
        smooth_mu = _check_mu(smooth_mu, "som_weighting")
    return _set_weighting(lambda y: som_loss(y, smooth_mu), "som")
