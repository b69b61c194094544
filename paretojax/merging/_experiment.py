"""The zoo experiment shared by the tests, ``bench/bench_merging.py`` and the notebook."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paretojax.core.simplex import das_dennis
from paretojax.merging._base import adamerging, task_arithmetic, task_vectors, ties_merging
from paretojax.merging._pareto import (
    init_pareto_merging,
    pareto_merge,
    pareto_merging_losses,
    preference_task_arithmetic,
    train_pareto_merging,
)
from paretojax.merging._zoo import ModelZoo, zoo_accuracies, zoo_entropies
from paretojax.metrics import hypervolume_host

__all__ = ["MergingFronts", "merging_fronts"]


class MergingFronts(NamedTuple):
    """Per-task test accuracies ``[G, K]`` over the γ grid ``[G, K]`` and fixed merges ``[K]``.

    HVs are of the error-rate front ``1 − acc`` with reference ``ones(K)`` (minimisation; the
    worst possible error), so they lie in [0, 1] and larger is better.
    """

    grid: np.ndarray
    pareto: np.ndarray
    pwta: np.ndarray
    fixed: dict[str, np.ndarray]
    hv_pareto: float
    hv_pwta: float


def merging_fronts(
    zoo: ModelZoo,
    key: jax.Array,
    *,
    rank: int = 8,
    steps: int = 400,
    lr: float = 1e-2,
    objective: str = "both",
    partitions: int = 2,
    num_prefs: int = 4,
    lam: float = 0.3,
    adamerging_steps: int = 200,
    entropy_weight: float = 1.0,
) -> MergingFronts:
    """Pareto Merging (on the task-arithmetic base) vs preference-weighted task arithmetic.

    ``objective``: ``"data_free"`` (normalised distances), ``"entropy"`` (unlabelled task
    inputs) or ``"both"`` (data-free + ``entropy_weight`` × entropy). The grid is Das–Dennis with ``partitions`` per axis.
    """
    if objective not in ("data_free", "entropy", "both"):
        raise ValueError(f"objective must be data_free, entropy or both, got {objective!r}.")
    k = len(zoo.tasks)
    taus = task_vectors(zoo.theta0, zoo.thetas)
    base = task_arithmetic(zoo.theta0, taus, lam)

    def obj(th):
        out = 0.0
        if objective in ("data_free", "both"):
            out = out + pareto_merging_losses(th, zoo.thetas, zoo.theta0)
        if objective in ("entropy", "both"):
            out = out + (entropy_weight if objective == "both" else 1.0) * zoo_entropies(zoo, th)
        return out

    k1, k2 = jax.random.split(key)
    pm = init_pareto_merging(k1, base, k, rank)
    pm, _ = train_pareto_merging(k2, base, pm, obj, steps=steps, lr=lr, num_prefs=num_prefs)
    grid = das_dennis(k, partitions)
    acc_pm = jax.jit(jax.vmap(lambda g: zoo_accuracies(zoo, pareto_merge(base, pm, g))))(grid)
    acc_ta = jax.jit(jax.vmap(
        lambda g: zoo_accuracies(zoo, preference_task_arithmetic(zoo.theta0, taus, g, lam))))(grid)
    ada, _ = adamerging(zoo.theta0, taus, lambda th: jnp.sum(zoo_entropies(zoo, th)),
                        steps=adamerging_steps)
    fixed = {
        "fine-tuned (individual)": zoo_accuracies(zoo, zoo.thetas),
        "pre-trained": zoo_accuracies(zoo, zoo.theta0),
        f"task arithmetic (λ={lam})": zoo_accuracies(zoo, base),
        "TIES (20 %, λ=1)": zoo_accuracies(zoo, ties_merging(zoo.theta0, taus)),
        "AdaMerging (layer-wise)": zoo_accuracies(zoo, ada),
    }
    acc_pm, acc_ta = np.asarray(acc_pm), np.asarray(acc_ta)
    ref = np.ones(k)
    return MergingFronts(
        np.asarray(grid), acc_pm, acc_ta, {n: np.asarray(v) for n, v in fixed.items()},
        hypervolume_host(1.0 - acc_pm, ref), hypervolume_host(1.0 - acc_ta, ref),
    )
