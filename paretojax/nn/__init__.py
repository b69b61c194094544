r"""Multi-task architectures (Flax NNX) and their training glue.

Every model maps ``x`` ``[B, in]`` to a tuple of ``m`` task outputs and exposes the split used by
feature-level (MGDA-UB) gradients: ``model.shared(x) -> Z``, ``model.task_outputs(Z, x)`` and
``model.task_specific`` (the attributes whose parameters serve one task each).

* :class:`HardSharing` — shared trunk + ``m`` heads (Caruana 1997).
* :class:`MMoE` — shared experts, a softmax gate per task (Ma et al., KDD 2018).
* :class:`PLE` — CGC (``num_levels=1``) / PLE: shared and task experts (Tang et al., RecSys 2020).
* :class:`CrossStitch` — one column per task mixed by ``m × m`` units (Misra et al., CVPR 2016).
* :class:`MTAN` — per-task attention masks over shared features (Liu et al., CVPR 2019).

Use with any method: ``graphdef, params = nnx.split(model)``, then
``pj.make_step(pj.nn.loss_vector_fn(graphdef), optax.chain(pj.<method>(...), optax.adam(lr)))``
(see :mod:`paretojax.nn._training`); feature-level: :func:`feature_level_step`.
"""

from paretojax.nn._cross_stitch import CrossStitch as CrossStitch
from paretojax.nn._hard_sharing import HardSharing as HardSharing
from paretojax.nn._mmoe import MMoE as MMoE
from paretojax.nn._mtan import MTAN as MTAN
from paretojax.nn._ple import PLE as PLE
from paretojax.nn._training import (
    FeatureLevelStep as FeatureLevelStep,
    accuracies as accuracies,
    classification_losses as classification_losses,
    feature_level_step as feature_level_step,
    loss_vector_fn as loss_vector_fn,
    partition as partition,
)

#: Every architecture, by name (used by the tests and ``bench/bench_mtl.py``).
ARCHITECTURES = {
    "hard_sharing": HardSharing,
    "mmoe": MMoE,
    "cgc": PLE,
    "cross_stitch": CrossStitch,
    "mtan": MTAN,
}

__all__ = [
    "ARCHITECTURES",
    "CrossStitch",
    "FeatureLevelStep",
    "HardSharing",
    "MMoE",
    "MTAN",
    "PLE",
    "accuracies",
    "classification_losses",
    "feature_level_step",
    "loss_vector_fn",
    "partition",
]
