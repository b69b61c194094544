r"""Model merging with preferences: base merges and Pareto Merging.

Task vectors from a small offline zoo (:func:`model_zoo`), task arithmetic, TIES, AdaMerging
(layer-wise learned coefficients), and Pareto Merging (Chen & Kwok, ICML 2025): one low-rank,
preference-conditioned tensor per weight matrix, trained once, gives a merged model for any γ.
:func:`merging_fronts` runs the zoo experiment (default: AdaMerging base trained jointly,
distillation from the experts on unlabelled inputs + data-free distance) against
preference-weighted task arithmetic.

Example:
  >>> import jax.numpy as jnp
  >>> from paretojax import merging
  >>> taus = {"w": jnp.array([[1., 0.], [0., 1.]])}
  >>> merging.task_arithmetic({"w": jnp.zeros(2)}, taus, 0.3)["w"]
  Array([0.3, 0.3], dtype=float32)
"""

from paretojax.merging._base import (
    adamerging as adamerging,
    task_arithmetic as task_arithmetic,
    task_vectors as task_vectors,
    ties_merging as ties_merging,
)
from paretojax.merging._experiment import (
    MergingFronts as MergingFronts,
    merging_fronts as merging_fronts,
)
from paretojax.merging._pareto import (
    ParetoMergingParams as ParetoMergingParams,
    init_pareto_merging as init_pareto_merging,
    pareto_delta as pareto_delta,
    pareto_merge as pareto_merge,
    pareto_merging_losses as pareto_merging_losses,
    preference_task_arithmetic as preference_task_arithmetic,
    train_pareto_merging as train_pareto_merging,
)
from paretojax.merging._zoo import (
    TASKS as TASKS,
    ModelZoo as ModelZoo,
    body_apply as body_apply,
    head_apply as head_apply,
    init_mlp as init_mlp,
    model_zoo as model_zoo,
    task_accuracy as task_accuracy,
    task_entropy as task_entropy,
    zoo_accuracies as zoo_accuracies,
    zoo_entropies as zoo_entropies,
)

__all__ = [
    "TASKS",
    "MergingFronts",
    "ModelZoo",
    "ParetoMergingParams",
    "adamerging",
    "body_apply",
    "head_apply",
    "init_mlp",
    "init_pareto_merging",
    "merging_fronts",
    "model_zoo",
    "pareto_delta",
    "pareto_merge",
    "pareto_merging_losses",
    "preference_task_arithmetic",
    "task_accuracy",
    "task_arithmetic",
    "task_entropy",
    "task_vectors",
    "ties_merging",
    "train_pareto_merging",
    "zoo_accuracies",
    "zoo_entropies",
]
