r"""Pareto Merging: a preference-conditioned low-rank tensor on top of a base merge.

Chen & Kwok, "Pareto Merging: multi-objective optimization for preference-aware model merging",
ICML 2025 (no public code; METHODS.md §8). For every weight matrix :math:`W\in R^{d_{in}\times
d_{out}}` of the merged model (stored ``x @ W``),

.. math:: \theta(\gamma) = \theta_{base} + \Delta(\gamma),\qquad
          \Delta(\gamma)^\top = \sum_k \gamma_k A\,G_{::k}B^\top,\quad
          A\in R^{d_{out}\times r},\ B\in R^{d_{in}\times r},\ G\in R^{r\times r\times K}

— the tensor :math:`G\times_1A\times_2B\times_3\gamma` — with :math:`r(d_{out}+d_{in})+r^2K`
parameters per matrix (vs :math:`K r(d_{out}+d_{in})` for K LoRAs). :math:`\theta_{base}` is a
fixed merge (task arithmetic, TIES) or AdaMerging's :math:`\theta_0^l+\sum_k\lambda_k^l
\tau_k^l` with the layer-wise λ trained jointly with the factors (``lam_init``). Training
minimises :math:`E_{\gamma\sim Dir(\beta)}\sum_k\gamma_k f_k(\theta(\gamma))` over
``(A, B, G[, λ])`` with :math:`f_k` the data-free distance :math:`\|\theta-\theta_k\|^2`
(per-layer normalised by :math:`\|\tau_k^l\|^2`) or a data-based loss on unlabelled task-k
inputs (any ``objective_fn``; see :func:`paretojax.merging.merging_fronts`).
Ranks/inits are unpublished: default r = 8, ``G_{::k} = I``, ``A ~ N(0, 1/d_out)``, ``B = 0``
(so Δ = 0 at initialisation, as in LoRA). Deviation (opt-in, ``vectors=True``): 1-D leaves
(biases) get the same factorisation as ``[1, d]`` matrices.

Note: with the un-normalised data-free objective and enough rank, the minimiser of
:math:`\sum_k\gamma_k\|\theta-\theta_k\|^2` is :math:`\theta_0+\sum_k\gamma_k\tau_k`, i.e.
preference-weighted task arithmetic with λ = 1/K; gains over that baseline need a data-based
objective and/or a learned base (the paper's AdaMerging+PM setting, METHODS.md §1.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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
    r"""Factors per weight matrix (dicts keyed like the leaves of the model they attach to).

    Attributes:
      a: ``{name: [d_out, r]}``.
      b: ``{name: [d_in, r]}`` (``d_in = 1`` for a vector leaf, see ``vectors``).
      g: ``{name: [r, r, K]}`` (the core tensor).
      lam: ``None`` (fixed base) or ``{leaf: [K]}`` layer-wise AdaMerging coefficients
        :math:`\lambda_k^l`, trained jointly with the factors; then ``base`` in
        :func:`pareto_merge` is :math:`\theta_0` and ``taus`` must be passed.
    """

    a: Params
    b: Params
    g: Params
    lam: Params | None = None


def _matrices(theta: Params, vectors: bool = False) -> list[str]:
    if not isinstance(theta, dict):
        raise ValueError("Pareto merging expects a flat dict of parameters.")
    dims = (1, 2) if vectors else (2,)
    names = sorted(k for k, v in theta.items() if jnp.ndim(v) in dims)
    if not names:
        raise ValueError("no 2-D weight matrices to attach Pareto-merging factors to.")
    return names


def init_pareto_merging(
    key: Array,
    theta: Params,
    num_tasks: int,
    rank: int = 8,
    *,
    vectors: bool = False,
    lam_init: float | None = None,
) -> ParetoMergingParams:
    r"""Initial factors for every 2-D leaf of ``theta`` (Δ(γ) = 0 for all γ).

    ``vectors=True`` also attaches factors to 1-D leaves (biases), each treated as a
    ``[1, d]`` matrix, so :math:`\Delta b(\gamma)=A(\sum_k\gamma_kG_{::k})b` (a deviation: the
    paper conditions weight matrices only, whose biases are negligible in a ViT but not in a
    small MLP). ``lam_init`` (e.g. 0.3) adds trainable layer-wise AdaMerging coefficients
    :math:`\lambda_k^l` for every leaf (the AdaMerging base of the paper, trained jointly).

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
    names = _matrices(theta, vectors)
    keys = jax.random.split(key, len(names))
    a, b, g = {}, {}, {}
    for kk, n in zip(keys, names, strict=True):
        d_in, d_out = (1, theta[n].shape[0]) if jnp.ndim(theta[n]) == 1 else theta[n].shape
        a[n] = jax.random.normal(kk, (d_out, rank)) / jnp.sqrt(d_out)
        b[n] = jnp.zeros((d_in, rank))
        g[n] = jnp.broadcast_to(jnp.eye(rank)[:, :, None], (rank, rank, num_tasks))
    lam = None
    if lam_init is not None:
        lam = {n: jnp.full((num_tasks,), lam_init, jnp.float32) for n in sorted(theta)}
    return ParetoMergingParams(a, b, g, lam)


def pareto_delta(pm: ParetoMergingParams, gamma: Array) -> Params:
    r"""``{name: Δ(γ)ᵀ [d_in, d_out]}`` with :math:`\Delta(\gamma)=A(\sum_k\gamma_kG_{::k})B^\top`.

    Vector leaves (``vectors=True``) come back as ``[1, d]``; :func:`pareto_merge` reshapes.

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


def pareto_merge(
    base: Params, pm: ParetoMergingParams, gamma: Array, taus: Params | None = None
) -> Params:
    r"""Merged parameters θ(γ) = θ_base + Δ(γ) (leaves without factors are θ_base's).

    With ``pm.lam`` set, ``base`` is :math:`\theta_0` and
    :math:`\theta_{base}^l=\theta_0^l+\sum_k\lambda_k^l\tau_k^l` (``taus`` required).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> base = {"w": jnp.ones((5, 3)), "b": jnp.zeros(3)}
      >>> pm = merging.init_pareto_merging(jax.random.key(0), base, 2, 2)
      >>> bool(jnp.all(merging.pareto_merge(base, pm, jnp.array([1., 0.]))["w"] == 1.0))
      True
      >>> ada = merging.init_pareto_merging(jax.random.key(0), base, 2, 2, lam_init=0.5)
      >>> taus = {"w": jnp.ones((2, 5, 3)), "b": jnp.ones((2, 3))}
      >>> merging.pareto_merge(base, ada, jnp.array([1., 0.]), taus)["b"]  # θ0 + Σ_k λ_k τ_k
      Array([1., 1., 1.], dtype=float32)
    """
    delta = pareto_delta(pm, gamma)
    if pm.lam is not None:
        if taus is None:
            raise ValueError("pm has AdaMerging coefficients (lam): pass the task vectors taus.")
        _check_stacked(taus)
        base = {n: v + jnp.tensordot(pm.lam[n], taus[n], axes=1) for n, v in base.items()}
    return {n: v + delta[n].reshape(v.shape) if n in delta else v for n, v in base.items()}


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
    objective_fn: Callable[..., Array],
    *,
    steps: int = 500,
    lr: float = 1e-2,
    beta: float = 1.0,
    num_prefs: int = 1,
    taus: Params | None = None,
    batch_fn: Callable[[Array], Any] | None = None,
) -> tuple[ParetoMergingParams, Array]:
    r"""Train the factors: minimise :math:`E_{\gamma\sim Dir(\beta)}\sum_k\gamma_kf_k(\theta(\gamma))`.

    ``objective_fn(θ) -> [K]`` (e.g. :func:`pareto_merging_losses` or the zoo's per-task
    entropies), or ``objective_fn(θ, batch) -> [K]`` with ``batch = batch_fn(key)`` drawn once
    per step (minibatches of unlabelled inputs). Each Adam step draws ``num_prefs`` preferences
    (1 in the paper: one γ per batch) and averages the weighted objectives; with ``pm.lam`` set
    the AdaMerging coefficients are trained jointly (``taus`` required). The whole run is one
    compiled ``lax.scan``.

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
    if pm.lam is not None and taus is None:
        raise ValueError("pm has AdaMerging coefficients (lam): pass the task vectors taus.")
    opt = optax.adam(lr)

    def loss(p, gammas, batch):
        def one(g):
            th = pareto_merge(base, p, g, taus)
            return jnp.dot(g, objective_fn(th) if batch_fn is None else objective_fn(th, batch))

        return jnp.mean(jax.vmap(one)(gammas))

    @jax.jit
    def run(p, key):
        def step(carry, kk):
            p, s = carry
            kg, kb = jax.random.split(kk)
            gammas = jax.random.dirichlet(kg, jnp.full((k,), beta), (num_prefs,))
            batch = None if batch_fn is None else batch_fn(kb)
            val, g = jax.value_and_grad(loss)(p, gammas, batch)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), val

        (p, _), hist = jax.lax.scan(step, (p, opt.init(p)), jax.random.split(key, steps))
        return p, hist

    return run(pm, key)
