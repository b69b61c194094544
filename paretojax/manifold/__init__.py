"""Pareto-set / Pareto-manifold learners (Flax NNX modules taking a preference) and their training.

Plain list of re-exports (one block per module); the flat public names live in ``paretojax``.
"""

from paretojax.manifold._evaluate import (
    PSLEvaluation as PSLEvaluation,
    eval_prefs as eval_prefs,
    evaluate_psl as evaluate_psl,
    plot_psl as plot_psl,
    psl_front as psl_front,
)
from paretojax.manifold._hypernet import (
    ChunkedParetoHypernetwork as ChunkedParetoHypernetwork,
    ParetoHypernetwork as ParetoHypernetwork,
)
from paretojax.manifold._mlp import (
    ParetoSetMLP as ParetoSetMLP,
)
from paretojax.manifold._training import (
    PSL_LOSSES as PSL_LOSSES,
    PSLMetrics as PSLMetrics,
    PSLResult as PSLResult,
    PSLState as PSLState,
    fit_psl as fit_psl,
    make_psl_step as make_psl_step,
    psl_hv_loss as psl_hv_loss,
    psl_loss as psl_loss,
)

# --- Pareto-manifold layers (COSMOS/FiLM conditioning, PaMaL, LORPMAN, PWE-MoE, adapters)
# isort: split
from paretojax.manifold._adapters import (
    AdapterParam as AdapterParam,
    PanaceaDense as PanaceaDense,
    PBLoRADense as PBLoRADense,
)
from paretojax.manifold._conditioning import (
    CosmosMLP as CosmosMLP,
    FiLM as FiLM,
    FiLMMLP as FiLMMLP,
    cosmos_condition as cosmos_condition,
)
from paretojax.manifold._lorpman import (
    LowRankParetoBase as LowRankParetoBase,
    LowRankParetoConv as LowRankParetoConv,
    LowRankParetoDense as LowRankParetoDense,
    LowRankParetoFactor as LowRankParetoFactor,
    LowRankParetoMLP as LowRankParetoMLP,
    lorpman_optimizer as lorpman_optimizer,
    low_rank_gram as low_rank_gram,
    orthogonality_regularizer as orthogonality_regularizer,
)
from paretojax.manifold._moe import (
    FrozenWeights as FrozenWeights,
    PWEMoE as PWEMoE,
)
from paretojax.manifold._pamal import (
    PaMaL as PaMaL,
    WindowMetrics as WindowMetrics,
    make_window_step as make_window_step,
    multi_forward_regularizer as multi_forward_regularizer,
    pamal_loss as pamal_loss,
)
