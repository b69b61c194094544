r"""One-shot pruning: magnitude, ALPS (single objective) and MOSP (multi-objective, dual ADMM).

Example:
  >>> import jax.numpy as jnp
  >>> from paretojax import pruning
  >>> pruning.magnitude_prune(jnp.array([[3., -1.], [0.5, 2.]]), 0.5).tolist()
  [[3.0, 0.0], [0.0, 2.0]]
"""

from paretojax.pruning._admm import (
    MOSPResult as MOSPResult,
    alps as alps,
    keep_count as keep_count,
    layer_objective as layer_objective,
    magnitude_prune as magnitude_prune,
    mosp as mosp,
    mosp_weights as mosp_weights,
    topk_mask as topk_mask,
)
from paretojax.pruning._experiment import (
    MultiTaskMLP as MultiTaskMLP,
    char_lm as char_lm,
    layer_grams as layer_grams,
    multitask_mlp as multitask_mlp,
    prune_and_evaluate as prune_and_evaluate,
    task_losses as task_losses,
)

__all__ = [
    "MOSPResult",
    "MultiTaskMLP",
    "char_lm",
    "layer_grams",
    "multitask_mlp",
    "prune_and_evaluate",
    "task_losses",
    "alps",
    "keep_count",
    "layer_objective",
    "magnitude_prune",
    "mosp",
    "mosp_weights",
    "topk_mask",
]
