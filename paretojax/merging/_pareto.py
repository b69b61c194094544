r"""Pareto Merging: a preference-conditioned low-rank tensor on top of a base merge.

Chen & Kwok, "Pareto Merging: multi-objective optimization for preference-aware model merging",
ICML 2025 (no public code; METHODS.md §8). For every weight matrix :math:`W\in R^{d_{in}\times
d_{out}}` of the merged model (stored ``x @ W``),

.. math:: \theta(\gamma) = \theta_{base} + \Delta(\gamma),\qquad
          \Delta(\gamma)^\top = \sum_k \gamma_k A\,G_{::k}B^\top,\quad
          A\in R^{d_{out}\times r},\ B\in R^{d_{in}\times r},\ G\in R^{r\times r\times K}

— the tensor :math:`G\times_1A\times_2B\times_3\gamma` — with :math:`r(d_{out}+d_{in})+r^2K`
parameters per matrix (vs :math:`K r(d_{out}+d_{in})` for K LoRAs). Training minimises
:math:`E_{\gamma\sim Dir(\beta)}\sum_k\gamma_k f_k(\theta(\gamma))` over ``(A, B, G)`` with
:math:`f_k` the data-free distance :math:`\|\theta-\theta_k\|^2` (per-layer normalised by
:math:`\|\tau_k^l\|^2`) or the mean prediction entropy on unlabelled task-k inputs.
Ranks/inits are unpublished: default r = 8, ``G_{::k} = I``, ``A ~ N(0, 1/d_out)``, ``B = 0``
(so Δ = 0 at initialisation, as in LoRA).

Note: with the un-normalised data-free objective and enough rank, the minimiser of
:math:`\sum_k\gamma_k\|\theta-\theta_k\|^2` is :math:`\theta_0+\sum_k\gamma_k\tau_k`, i.e.
preference-weighted task arithmetic with λ = 1/K; gains over that baseline need the data-based
(entropy) objective or a better base (the paper's setting, METHODS.md §1.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.simplex import check_pref
from paretojax.merging._base import _check_stacked, task_arithmetic

Array = jax.Array
Params = dict[str, Array]

__all__ = [
    "ParetoMergingParams",
    "init_pareto_merging",
    "pareto_delta",
    "pareto_merge",
    "pareto_merging_losses",
    "preference_task_arithmetic",
    "train_pareto_merging",
]


class ParetoMergingParams(NamedTuple):
    """Factors per weight matrix (dicts keyed like the 2-D leaves of the model).

    Attributes:
      a: ``{name: [d_out, r]}``.
      b: ``{name: [d_in, r]}``.
      g: ``{name: [r, r, K]}`` (the core tensor).
    """

    a: Params
    b: Params
    g: Params


def _matrices(theta: Params) -> list[str]:
    if not isinstance(theta, dict):
        raise ValueError("Pareto merging expects a flat dict of parameters.")
    names = sorted(k for k, v in theta.items() if jnp.ndim(v) == 2)
    if not names:
        raise ValueError("no 2-D weight matrices to attach Pareto-merging factors to.")
    return names


def init_pareto_merging(
    key: Array, theta: Params, num_tasks: int, rank: int = 8
) -> ParetoMergingParams:
    r"""Initial factors for every 2-D leaf of ``theta`` (Δ(γ) = 0 for all γ).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> pm = merging.init_pareto_merging(jax.random.key(0), {"w": jnp.zeros((5, 3))}, 4, rank=2)
      >>> sum(x.size for x in jax.tree.leaves(pm)) == 2 * (3 + 5) + 2 * 2 * 4
      True
    """
    if num_tasks < 2:
        raise ValueError(f"num_tasks must be ≥ 2, got {num_tasks}.")
    if rank < 1:
        raise ValueError(f"rank must be ≥ 1, got {rank}.")
    names = _matrices(theta)
    keys = jax.random.split(key, len(names))
    a, b, g = {}, {}, {}
    for kk, n in zip(keys, names, strict=True):
        d_in, d_out = theta[n].shape
        a[n] = jax.random.normal(kk, (d_out, rank)) / jnp.sqrt(d_out)
        b[n] = jnp.zeros((d_in, rank))
        g[n] = jnp.broadcast_to(jnp.eye(rank)[:, :, None], (rank, rank, num_tasks))
    return ParetoMergingParams(a, b, g)


def pareto_delta(pm: ParetoMergingParams, gamma: Array) -> Params:
    r"""``{name: Δ(γ)ᵀ [d_in, d_out]}`` with :math:`\Delta(\gamma)=A(\sum_k\gamma_kG_{::k})B^\top`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> pm = merging.init_pareto_merging(jax.random.key(0), {"w": jnp.zeros((5, 3))}, 2, 2)
      >>> merging.pareto_delta(pm, jnp.array([0.5, 0.5]))["w"].shape
      (5, 3)
    """
    k = next(iter(pm.g.values())).shape[-1]
    gamma = check_pref(gamma, k, name="gamma")
    out = {}
    for n in pm.a:
        core = jnp.tensordot(pm.g[n], gamma, axes=([2], [0]))  # [r, r]
        out[n] = pm.b[n] @ core.T @ pm.a[n].T
    return out


def pareto_merge(base: Params, pm: ParetoMergingParams, gamma: Array) -> Params:
    """Merged parameters θ(γ) = θ_base + Δ(γ) (non-matrix leaves are θ_base's).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> base = {"w": jnp.ones((5, 3)), "b": jnp.zeros(3)}
      >>> pm = merging.init_pareto_merging(jax.random.key(0), base, 2, 2)
      >>> bool(jnp.all(merging.pareto_merge(base, pm, jnp.array([1., 0.]))["w"] == 1.0))
      True
    """
    delta = pareto_delta(pm, gamma)
    return {n: v + delta[n] if n in delta else v for n, v in base.items()}


def preference_task_arithmetic(theta0: Params, taus: Params, gamma: Array,
                               lam: float = 0.3) -> Params:
    r"""The baseline :math:`\theta_0 + \lambda K\sum_k\gamma_k\tau_k` (METHODS.md §8).

    At γ = 1/K it is plain task arithmetic with coefficient λ.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax import merging
      >>> taus = {"w": jnp.array([[1., 0.], [0., 1.]])}
      >>> merging.preference_task_arithmetic({"w": jnp.zeros(2)}, taus, jnp.array([1., 0.]))["w"]
      Array([0.6, 0. ], dtype=float32)
    """
    k = _check_stacked(taus)
    gamma = check_pref(gamma, k, name="gamma")
    return task_arithmetic(theta0, taus, lam * k * gamma)


def pareto_merging_losses(theta: Params, thetas: Params, theta0: Params | None = None) -> Array:
    r"""Data-free objectives :math:`f_k=\sum_l\|\theta^l-\theta_k^l\|^2/\|\tau_k^l\|^2` ``[K]``.

    With ``theta0`` given each leaf is normalised by :math:`\|\tau_k^l\|^2` (the per-layer
    normalisation of METHODS.md §8; leaves with τ = 0 are skipped); without it the raw squared
    distance is returned.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax import merging
      >>> thetas = {"w": jnp.array([[1., 0.], [0., 2.]])}
      >>> merging.pareto_merging_losses({"w": jnp.zeros(2)}, thetas)
      Array([1., 4.], dtype=float32)
    """
    _check_stacked(thetas, "thetas")
    total = 0.0
    for n, th in theta.items():
        d = jnp.sum(jnp.square(th[None] - thetas[n]).reshape(thetas[n].shape[0], -1), axis=1)
        if theta0 is not None:
            tau2 = jnp.sum(jnp.square(thetas[n] - theta0[n][None]).reshape(d.shape[0], -1), 1)
            d = jnp.where(tau2 > 0, d / jnp.where(tau2 > 0, tau2, 1.0), 0.0)
        total = total + d
    return total


def train_pareto_merging(
    key: Array,
    base: Params,
    pm: ParetoMergingParams,
    objective_fn: Callable[[Params], Array],
    *,
    steps: int = 500,
    lr: float = 1e-2,
    beta: float = 1.0,
    num_prefs: int = 1,
) -> tuple[ParetoMergingParams, Array]:
    r"""Train the factors: minimise :math:`E_{\gamma\sim Dir(\beta)}\sum_k\gamma_kf_k(\theta(\gamma))`.

    ``objective_fn(θ) -> [K]`` (e.g. :func:`pareto_merging_losses` or the zoo's per-task
    entropies). Each Adam step draws ``num_prefs`` preferences (1 in the paper: one γ per batch)
    and averages the weighted objectives; the whole run is one compiled ``lax.scan``.

    Returns:
      ``(trained factors, [steps] training objective)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> thetas = {"w": jnp.stack([jnp.eye(3), -jnp.eye(3)])}
      >>> base = {"w": jnp.zeros((3, 3))}
      >>> pm = merging.init_pareto_merging(jax.random.key(0), base, 2, rank=3)
      >>> f = lambda th: merging.pareto_merging_losses(th, thetas)
      >>> pm, hist = merging.train_pareto_merging(jax.random.key(1), base, pm, f, steps=300)
      >>> float(f(merging.pareto_merge(base, pm, jnp.array([1., 0.])))[0]) < 1.5  # 3 at init
      True
    """
    k = next(iter(pm.g.values())).shape[-1]
    if steps < 1 or num_prefs < 1 or beta <= 0:
        raise ValueError("need steps ≥ 1, num_prefs ≥ 1 and beta > 0.")
    opt = optax.adam(lr)

    def loss(p, gammas):
        def one(g):
            return jnp.dot(g, objective_fn(pareto_merge(base, p, g)))

        return jnp.mean(jax.vmap(one)(gammas))

    @jax.jit
    def run(p, key):
        def step(carry, kk):
            p, s = carry
            gammas = jax.random.dirichlet(kk, jnp.full((k,), beta), (num_prefs,))
            val, g = jax.value_and_grad(loss)(p, gammas)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), val

        (p, _), hist = jax.lax.scan(step, (p, opt.init(p)), jax.random.split(key, steps))
        return p, hist

    return run(pm, key)
