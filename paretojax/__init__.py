"""paretojax: gradient-based multi-objective optimization in JAX.

Import as ``import paretojax as pj``. The public API is flat, like optax::

    tx = optax.chain(pj.mgda(), optax.adam(1e-3))

``pj.methods()`` lists the catalogue of methods with their family and reference. This file is
generated from the family packages' exports (explicit ``x as x`` re-exports).
"""

from __future__ import annotations

from paretojax import (
    alignment as alignment,
    checkpoint as checkpoint,
    manifold as manifold,
    merging as merging,
    metrics as metrics,
    nn as nn,
    pareto_set as pareto_set,
    plot as plot,
    problems as problems,
    pruning as pruning,
    rl as rl,
    sharding as sharding,
)
from paretojax.balancing import (
    AutoLambdaAux as AutoLambdaAux,
    AutoLambdaState as AutoLambdaState,
    DBMTLState as DBMTLState,
    DWAState as DWAState,
    FAMOState as FAMOState,
    FORUMAux as FORUMAux,
    FORUMState as FORUMState,
    GradNormState as GradNormState,
    LearnedScaleState as LearnedScaleState,
    MOMLAux as MOMLAux,
    MOMLState as MOMLState,
    auto_lambda as auto_lambda,
    auto_lambda_hypergrad as auto_lambda_hypergrad,
    auto_lambda_init as auto_lambda_init,
    auto_lambda_step as auto_lambda_step,
    auto_lambda_weighting as auto_lambda_weighting,
    auto_lambda_weights as auto_lambda_weights,
    cross_gram as cross_gram,
    db_mtl as db_mtl,
    db_mtl_init as db_mtl_init,
    db_mtl_update as db_mtl_update,
    default_gradnorm_optimizer as default_gradnorm_optimizer,
    dwa as dwa,
    dwa_epoch_end as dwa_epoch_end,
    dwa_init as dwa_init,
    dwa_loss as dwa_loss,
    dwa_weighting as dwa_weighting,
    dwa_weights as dwa_weights,
    famo as famo,
    famo_init as famo_init,
    famo_loss as famo_loss,
    famo_update as famo_update,
    famo_weighting as famo_weighting,
    famo_weights as famo_weights,
    forum as forum,
    forum_epoch_end as forum_epoch_end,
    forum_init as forum_init,
    forum_step as forum_step,
    forum_weighting as forum_weighting,
    forum_weights as forum_weights,
    geometric_mean_loss as geometric_mean_loss,
    gls as gls,
    gls_weighting as gls_weighting,
    gls_weights as gls_weights,
    gradnorm as gradnorm,
    gradnorm_epoch_end as gradnorm_epoch_end,
    gradnorm_init as gradnorm_init,
    gradnorm_weighting as gradnorm_weighting,
    gradnorm_weights as gradnorm_weights,
    imtl_l as imtl_l,
    imtl_l_loss as imtl_l_loss,
    imtl_l_params as imtl_l_params,
    imtl_l_weighting as imtl_l_weighting,
    imtl_l_weights as imtl_l_weights,
    moml as moml,
    moml_hypergrads as moml_hypergrads,
    moml_init as moml_init,
    moml_step as moml_step,
    moml_weighting as moml_weighting,
    moml_weights as moml_weights,
    uw as uw,
    uw_loss as uw_loss,
    uw_params as uw_params,
    uw_weighting as uw_weighting,
    uw_weights as uw_weights,
)
from paretojax.checkpoint import (
    Checkpointer as Checkpointer,
    LoopCheckpoint as LoopCheckpoint,
    latest_step as latest_checkpoint_step,  # noqa: F401 - a clearer top-level name
    restore_checkpoint as restore_checkpoint,
    save_checkpoint as save_checkpoint,
)
from paretojax.core._autogram import value_and_gram as value_and_gram
from paretojax.core.boxqp import (
    lower_bounded_qp as lower_bounded_qp,
)
from paretojax.core.cagrad_qp import (
    cagrad_qp as cagrad_qp,
)
from paretojax.core.jacobian import (
    combine as combine,
    gram as gram,
    jacobian_wrt_features as jacobian_wrt_features,
    set_gram_block_size as set_gram_block_size,
    value_and_jacobian as value_and_jacobian,
)
from paretojax.core.lp import (
    QPSolution as QPSolution,
    solve_lp as solve_lp,
    solve_qp as solve_qp,
)
from paretojax.core.qp import (
    KKTResidual as KKTResidual,
    kkt_residual as kkt_residual,
    min_norm as min_norm,
)
from paretojax.core.riesz import (
    riesz_prefs as riesz_prefs,
)
from paretojax.core.root import (
    alpha_fair_root as alpha_fair_root,
)
from paretojax.core.simplex import (
    das_dennis as das_dennis,
    linspace_prefs as linspace_prefs,
    project_simplex as project_simplex,
    sample_dirichlet as sample_dirichlet,
)
from paretojax.gram_step import (
    GramStep as GramStep,
    GramStepState as GramStepState,
    make_gram_step as make_gram_step,
)
from paretojax.manifold import (
    PSL_LOSSES as PSL_LOSSES,
    AdapterParam as AdapterParam,
    ChunkedParetoHypernetwork as ChunkedParetoHypernetwork,
    CosmosMLP as CosmosMLP,
    FiLM as FiLM,
    FiLMMLP as FiLMMLP,
    FrozenWeights as FrozenWeights,
    LowRankParetoBase as LowRankParetoBase,
    LowRankParetoConv as LowRankParetoConv,
    LowRankParetoDense as LowRankParetoDense,
    LowRankParetoFactor as LowRankParetoFactor,
    LowRankParetoMLP as LowRankParetoMLP,
    PaMaL as PaMaL,
    PanaceaDense as PanaceaDense,
    ParetoHypernetwork as ParetoHypernetwork,
    ParetoSetMLP as ParetoSetMLP,
    PBLoRADense as PBLoRADense,
    PSLEvaluation as PSLEvaluation,
    PSLMetrics as PSLMetrics,
    PSLResult as PSLResult,
    PSLState as PSLState,
    PWEMoE as PWEMoE,
    WindowMetrics as WindowMetrics,
    cosmos_condition as cosmos_condition,
    eval_prefs as eval_prefs,
    evaluate_psl as evaluate_psl,
    fit_psl as fit_psl,
    lorpman_optimizer as lorpman_optimizer,
    low_rank_gram as low_rank_gram,
    make_psl_step as make_psl_step,
    make_window_step as make_window_step,
    multi_forward_regularizer as multi_forward_regularizer,
    orthogonality_regularizer as orthogonality_regularizer,
    pamal_loss as pamal_loss,
    plot_psl as plot_psl,
    psl_front as psl_front,
    psl_hv_loss as psl_hv_loss,
    psl_loss as psl_loss,
)
from paretojax.manipulation import (
    GradDropState as GradDropState,
    GradVacState as GradVacState,
    PCGradState as PCGradState,
    graddrop as graddrop,
    graddrop_feature_grad as graddrop_feature_grad,
    graddrop_update as graddrop_update,
    gradvac as gradvac,
    gradvac_update as gradvac_update,
    gradvac_weights as gradvac_weights,
    pcgrad as pcgrad,
    pcgrad_weighting as pcgrad_weighting,
    pcgrad_weights as pcgrad_weights,
    trimmed_mean as trimmed_mean,
    trimmed_mean_update as trimmed_mean_update,
)
from paretojax.metrics import (
    delta_hv as delta_hv,
    hv_contributions as hv_contributions,
    hv_gradient as hv_gradient,
    hypervolume as hypervolume,
    igd as igd,
    igd_plus as igd_plus,
    nondominated as nondominated,
)
from paretojax.pareto_set import (
    FINITE_SET_METHODS as FINITE_SET_METHODS,
    SVGD_A as SVGD_A,
    FiniteSetResult as FiniteSetResult,
    FiniteSetState as FiniteSetState,
    GMOOARResult as GMOOARResult,
    GMOOARState as GMOOARState,
    MOOLDResult as MOOLDResult,
    MOOLDState as MOOLDState,
    PMTLState as PMTLState,
    SetWeighting as SetWeighting,
    SVGDResult as SVGDResult,
    UMODResult as UMODResult,
    angle_to_pref as angle_to_pref,
    cosmos_set_loss as cosmos_set_loss,
    dynamic_reference as dynamic_reference,
    finite_set_step as finite_set_step,
    finite_set_weighting as finite_set_weighting,
    gmooar_step as gmooar_step,
    hv_grad_set_weighting as hv_grad_set_weighting,
    hv_grad_weights as hv_grad_weights,
    langevin_temperature as langevin_temperature,
    moo_ld_step as moo_ld_step,
    moo_svgd_direction as moo_svgd_direction,
    pmtl_constraints as pmtl_constraints,
    pmtl_set_weighting as pmtl_set_weighting,
    pmtl_weights as pmtl_weights,
    pref_to_angle as pref_to_angle,
    project_roi as project_roi,
    psl_mlp_apply as psl_mlp_apply,
    psl_mlp_init as psl_mlp_init,
    run_finite_set as run_finite_set,
    run_gmooar as run_gmooar,
    run_moo_ld as run_moo_ld,
    run_moo_svgd as run_moo_svgd,
    run_umod as run_umod,
    smooth_min_over_set as smooth_min_over_set,
    soft_lmin_loss as soft_lmin_loss,
    som_loss as som_loss,
    som_weighting as som_weighting,
    stch_set_loss as stch_set_loss,
    stch_set_weighting as stch_set_weighting,
    svgd_kernel as svgd_kernel,
    svgd_step as svgd_step,
    tch_set_loss as tch_set_loss,
    tch_set_weighting as tch_set_weighting,
    uniformity_loss as uniformity_loss,
)
from paretojax.preference import (
    epo as epo,
    epo_adjustments as epo_adjustments,
    epo_weighting as epo_weighting,
    epo_weights as epo_weights,
    pbi_constraint as pbi_constraint,
    pmgda as pmgda,
    pmgda_weighting as pmgda_weighting,
    pmgda_weights as pmgda_weights,
)
from paretojax.problems import (
    datasets as datasets,
)
from paretojax.registry import (
    FAMILIES as FAMILIES,
    MethodInfo as MethodInfo,
)
from paretojax.scalarization import (
    STCHMTLState as STCHMTLState,
    aasf as aasf,
    aasf_loss as aasf_loss,
    aasf_weighting as aasf_weighting,
    cosmos as cosmos,
    cosmos_cosine as cosmos_cosine,
    cosmos_loss as cosmos_loss,
    cosmos_weighting as cosmos_weighting,
    ls as ls,
    ls_loss as ls_loss,
    ls_weighting as ls_weighting,
    mtch as mtch,
    mtch_balanced_weights as mtch_balanced_weights,
    mtch_loss as mtch_loss,
    mtch_weighting as mtch_weighting,
    pbi as pbi,
    pbi_distances as pbi_distances,
    pbi_loss as pbi_loss,
    pbi_weighting as pbi_weighting,
    pnorm as pnorm,
    pnorm_loss as pnorm_loss,
    pnorm_weighting as pnorm_weighting,
    stch as stch,
    stch_loss as stch_loss,
    stch_mtl as stch_mtl,
    stch_mtl_epoch_end as stch_mtl_epoch_end,
    stch_mtl_init as stch_mtl_init,
    stch_mtl_loss as stch_mtl_loss,
    stch_mtl_weighting as stch_mtl_weighting,
    stch_mtl_weights as stch_mtl_weights,
    stch_weighting as stch_weighting,
    tch as tch,
    tch_loss as tch_loss,
    tch_weighting as tch_weighting,
)
from paretojax.train import (
    fit as fit,
    make_step as make_step,
)
from paretojax.transforms import (
    TransformState as TransformState,
    Weighting as Weighting,
    as_transform as as_transform,
    jacobian_transform as jacobian_transform,
    weighting_transform as weighting_transform,
)
from paretojax.weighting import (
    CRMOGMState as CRMOGMState,
    ExcessMTLState as ExcessMTLState,
    MoCoState as MoCoState,
    MoDoState as MoDoState,
    NashMTLState as NashMTLState,
    PeriodicState as PeriodicState,
    RLWState as RLWState,
    SDMGradState as SDMGradState,
    TaskSubsetState as TaskSubsetState,
    aligned_mtl as aligned_mtl,
    aligned_mtl_weighting as aligned_mtl_weighting,
    aligned_mtl_weights as aligned_mtl_weights,
    cagrad as cagrad,
    cagrad_weighting as cagrad_weighting,
    cagrad_weights as cagrad_weights,
    config as config,
    config_weighting as config_weighting,
    config_weights as config_weights,
    cr_mogm as cr_mogm,
    cr_mogm_weighting as cr_mogm_weighting,
    cross_batch_transform as cross_batch_transform,
    cross_matrix as cross_matrix,
    dualproj as dualproj,
    dualproj_weighting as dualproj_weighting,
    dualproj_weights as dualproj_weights,
    excess_mtl as excess_mtl,
    excess_mtl_init as excess_mtl_init,
    excess_mtl_update as excess_mtl_update,
    fairgrad as fairgrad,
    fairgrad_weighting as fairgrad_weighting,
    fairgrad_weights as fairgrad_weights,
    feature_level_weights as feature_level_weights,
    imtl_g as imtl_g,
    imtl_g_weighting as imtl_g_weighting,
    imtl_g_weights as imtl_g_weights,
    krum as krum,
    krum_weighting as krum_weighting,
    krum_weights as krum_weights,
    linear as linear,
    linear_weighting as linear_weighting,
    linear_weights as linear_weights,
    mgda as mgda,
    mgda_weighting as mgda_weighting,
    mgda_weights as mgda_weights,
    moco as moco,
    moco_update as moco_update,
    modo as modo,
    modo_weights as modo_weights,
    nash_mtl as nash_mtl,
    nash_mtl_init as nash_mtl_init,
    nash_mtl_weighting as nash_mtl_weighting,
    nash_mtl_weights as nash_mtl_weights,
    normalize_regularize as normalize_regularize,
    periodic as periodic,
    periodic_weighting as periodic_weighting,
    rlw as rlw,
    rlw_init as rlw_init,
    rlw_loss as rlw_loss,
    rlw_weighting as rlw_weighting,
    rlw_weights as rlw_weights,
    sample_task_subset as sample_task_subset,
    sdmgrad as sdmgrad,
    sdmgrad_weights as sdmgrad_weights,
    task_subsets as task_subsets,
    task_subsets_weighting as task_subsets_weighting,
    upgrad as upgrad,
    upgrad_weighting as upgrad_weighting,
    upgrad_weights as upgrad_weights,
)

__version__ = "0.1.0"


def methods(family: str | None = None) -> dict[str, MethodInfo]:
    """The catalogue: ``{name: MethodInfo}`` for every method, sorted by name.

    Args:
      family: keep one family only (one of :data:`paretojax.FAMILIES`).

    Example:
      >>> import paretojax as pj
      >>> pj.methods()["mgda"].family
      'weighting'
      >>> "upgrad" in pj.methods("weighting")
      True
    """
    from paretojax import balancing, manipulation, preference, scalarization, weighting

    if family is not None and family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; families are {FAMILIES}.")
    infos = [*balancing.METHODS, *manipulation.METHODS, *preference.METHODS, *scalarization.METHODS, *weighting.METHODS]
    out = {i.name: i for i in infos if family is None or i.family == family}
    return dict(sorted(out.items()))
