"""Finite Pareto sets: the vmapped K-solution driver and set-level rules (HV-gradient ascent).

Per-solution rules are any Gram-level :class:`~paretojax.Weighting` (EPO, PMGDA, mTCH/TCH through
``∂s/∂f``, …) vmapped over K preferences; set-level rules (:class:`SetWeighting`) see all K
objective vectors at once. Particle methods whose update is not ``J_kᵀα_k`` (MOO-SVGD, MOO-LD)
and the bilevel/adaptive-preference methods (GMOOAR, UMOD) have their own compiled runners.
See METHODS.md §6.
"""

from paretojax.pareto_set._driver import (
    FINITE_SET_METHODS as FINITE_SET_METHODS,
    FiniteSetResult as FiniteSetResult,
    FiniteSetState as FiniteSetState,
    SetWeighting as SetWeighting,
    finite_set_step as finite_set_step,
    finite_set_weighting as finite_set_weighting,
    hv_grad_set_weighting as hv_grad_set_weighting,
    run_finite_set as run_finite_set,
)
from paretojax.pareto_set._gmooar import (
    GMOOARResult as GMOOARResult,
    GMOOARState as GMOOARState,
    cosmos_set_loss as cosmos_set_loss,
    gmooar_step as gmooar_step,
    project_roi as project_roi,
    psl_mlp_apply as psl_mlp_apply,
    psl_mlp_init as psl_mlp_init,
    run_gmooar as run_gmooar,
    uniformity_loss as uniformity_loss,
)
from paretojax.pareto_set._hv_grad import (
    dynamic_reference as dynamic_reference,
    hv_grad_weights as hv_grad_weights,
)
from paretojax.pareto_set._moo_ld import (
    MOOLDResult as MOOLDResult,
    MOOLDState as MOOLDState,
    langevin_temperature as langevin_temperature,
    moo_ld_step as moo_ld_step,
    run_moo_ld as run_moo_ld,
)
from paretojax.pareto_set._pmtl import (
    PMTLState as PMTLState,
    pmtl_constraints as pmtl_constraints,
    pmtl_set_weighting as pmtl_set_weighting,
    pmtl_weights as pmtl_weights,
)
from paretojax.pareto_set._stch_set import (
    smooth_min_over_set as smooth_min_over_set,
    som_loss as som_loss,
    som_weighting as som_weighting,
    stch_set_loss as stch_set_loss,
    stch_set_weighting as stch_set_weighting,
    tch_set_loss as tch_set_loss,
    tch_set_weighting as tch_set_weighting,
)
from paretojax.pareto_set._svgd import (
    SVGD_A as SVGD_A,
    SVGDResult as SVGDResult,
    moo_svgd_direction as moo_svgd_direction,
    run_moo_svgd as run_moo_svgd,
    svgd_kernel as svgd_kernel,
    svgd_step as svgd_step,
)
from paretojax.pareto_set._umod import (
    UMODResult as UMODResult,
    angle_to_pref as angle_to_pref,
    pref_to_angle as pref_to_angle,
    run_umod as run_umod,
    soft_lmin_loss as soft_lmin_loss,
)

__all__ = [
    "FINITE_SET_METHODS",
    "FiniteSetResult",
    "FiniteSetState",
    "GMOOARResult",
    "GMOOARState",
    "MOOLDResult",
    "MOOLDState",
    "PMTLState",
    "SVGDResult",
    "SVGD_A",
    "SetWeighting",
    "UMODResult",
    "angle_to_pref",
    "cosmos_set_loss",
    "dynamic_reference",
    "finite_set_step",
    "finite_set_weighting",
    "gmooar_step",
    "hv_grad_set_weighting",
    "hv_grad_weights",
    "langevin_temperature",
    "moo_ld_step",
    "moo_svgd_direction",
    "pmtl_constraints",
    "pmtl_set_weighting",
    "pmtl_weights",
    "pref_to_angle",
    "project_roi",
    "psl_mlp_apply",
    "psl_mlp_init",
    "run_finite_set",
    "run_gmooar",
    "run_moo_ld",
    "run_moo_svgd",
    "run_umod",
    "smooth_min_over_set",
    "soft_lmin_loss",
    "som_loss",
    "som_weighting",
    "stch_set_loss",
    "stch_set_weighting",
    "svgd_kernel",
    "svgd_step",
    "tch_set_loss",
    "tch_set_weighting",
    "uniformity_loss",
]
