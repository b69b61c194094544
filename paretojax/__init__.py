"""paretojax: gradient-based multi-objective optimization in JAX.

Import as ``import paretojax as pj``. The public API is flat, like optax::

    tx = optax.chain(pj.mgda(), optax.adam(1e-3))

See ``pj.methods()`` for the catalogue of methods.
"""

from __future__ import annotations

from paretojax import plot as plot, problems as problems
from paretojax.core.jacobian import (
    combine as combine,
    gram as gram,
    jacobian_wrt_features as jacobian_wrt_features,
    value_and_jacobian as value_and_jacobian,
)
from paretojax.core.riesz import riesz_prefs as riesz_prefs
from paretojax.core.simplex import (
    das_dennis as das_dennis,
    linspace_prefs as linspace_prefs,
    project_simplex as project_simplex,
    sample_dirichlet as sample_dirichlet,
)
from paretojax.problems import datasets as datasets
from paretojax.registry import MethodInfo as MethodInfo
from paretojax.transforms import (
    TransformState as TransformState,
    Weighting as Weighting,
    as_transform as as_transform,
    jacobian_transform as jacobian_transform,
    weighting_transform as weighting_transform,
)

__version__ = "0.1.0"

from paretojax.balancing import (
    DWAState as DWAState,
    LearnedScaleState as LearnedScaleState,
    dwa as dwa,
    dwa_epoch_end as dwa_epoch_end,
    dwa_init as dwa_init,
    dwa_loss as dwa_loss,
    dwa_weighting as dwa_weighting,
    dwa_weights as dwa_weights,
    geometric_mean_loss as geometric_mean_loss,
    gls as gls,
    gls_weighting as gls_weighting,
    gls_weights as gls_weights,
    imtl_l as imtl_l,
    imtl_l_loss as imtl_l_loss,
    imtl_l_params as imtl_l_params,
    imtl_l_weighting as imtl_l_weighting,
    imtl_l_weights as imtl_l_weights,
    uw as uw,
    uw_loss as uw_loss,
    uw_params as uw_params,
    uw_weighting as uw_weighting,
    uw_weights as uw_weights,
)
from paretojax.core.qp import min_norm as min_norm
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

# --- end generated ---
from paretojax.train import fit as fit, make_step as make_step

# --- generated: flat re-exports of the method families (do not edit by hand) ---
from paretojax.weighting import (
    linear as linear,
    linear_weighting as linear_weighting,
    linear_weights as linear_weights,
    mgda as mgda,
    mgda_weighting as mgda_weighting,
    mgda_weights as mgda_weights,
)


def methods(family: str | None = None) -> dict[str, MethodInfo]:
    """The catalogue: ``{name: MethodInfo}`` for every method (optionally one family).

    Example:
      >>> import paretojax as pj
      >>> pj.methods()["mgda"].family
      'weighting'
    """
    from paretojax import balancing, manipulation, scalarization, weighting

    infos = [*weighting.METHODS, *manipulation.METHODS, *scalarization.METHODS, *balancing.METHODS]
    out = {i.name: i for i in infos if family is None or i.family == family}
    if family is not None and family not in {i.family for i in infos} and not out:
        from paretojax.registry import FAMILIES

        if family not in FAMILIES:
            raise ValueError(f"Unknown family {family!r}; families are {FAMILIES}.")
    return dict(sorted(out.items()))
