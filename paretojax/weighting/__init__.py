"""Gram-level weightings: ``weights(G, losses, state, pref) -> (w, state)`` and their transforms.
"""

from paretojax.weighting import (
    _aligned_mtl,
    _cagrad,
    _config,
    _cr_mogm,
    _dualproj,
    _excess_mtl,
    _fairgrad,
    _imtl_g,
    _krum,
    _linear,
    _mgda,
    _moco,
    _modo,
    _nash_mtl,
    _rlw,
    _sdmgrad,
    _speedups,
    _upgrad,
)
from paretojax.weighting._aligned_mtl import (
    aligned_mtl as aligned_mtl,
    aligned_mtl_weighting as aligned_mtl_weighting,
    aligned_mtl_weights as aligned_mtl_weights,
)
from paretojax.weighting._cagrad import (
    cagrad as cagrad,
    cagrad_weighting as cagrad_weighting,
    cagrad_weights as cagrad_weights,
)
from paretojax.weighting._config import (
    config as config,
    config_weighting as config_weighting,
    config_weights as config_weights,
)
from paretojax.weighting._cr_mogm import (
    CRMOGMState as CRMOGMState,
    cr_mogm as cr_mogm,
    cr_mogm_weighting as cr_mogm_weighting,
)
from paretojax.weighting._dualproj import (
    dualproj as dualproj,
    dualproj_weighting as dualproj_weighting,
    dualproj_weights as dualproj_weights,
)
from paretojax.weighting._excess_mtl import (
    ExcessMTLState as ExcessMTLState,
    excess_mtl as excess_mtl,
    excess_mtl_init as excess_mtl_init,
    excess_mtl_update as excess_mtl_update,
)
from paretojax.weighting._fairgrad import (
    fairgrad as fairgrad,
    fairgrad_weighting as fairgrad_weighting,
    fairgrad_weights as fairgrad_weights,
)
from paretojax.weighting._imtl_g import (
    imtl_g as imtl_g,
    imtl_g_weighting as imtl_g_weighting,
    imtl_g_weights as imtl_g_weights,
)
from paretojax.weighting._krum import (
    krum as krum,
    krum_weighting as krum_weighting,
    krum_weights as krum_weights,
)
from paretojax.weighting._linear import (
    linear as linear,
    linear_weighting as linear_weighting,
    linear_weights as linear_weights,
)
from paretojax.weighting._mgda import (
    mgda as mgda,
    mgda_weighting as mgda_weighting,
    mgda_weights as mgda_weights,
)
from paretojax.weighting._moco import (
    MoCoState as MoCoState,
    moco as moco,
    moco_update as moco_update,
)
from paretojax.weighting._modo import (
    MoDoState as MoDoState,
    cross_batch_transform as cross_batch_transform,
    cross_matrix as cross_matrix,
    modo as modo,
    modo_weights as modo_weights,
)
from paretojax.weighting._nash_mtl import (
    NashMTLState as NashMTLState,
    nash_mtl as nash_mtl,
    nash_mtl_init as nash_mtl_init,
    nash_mtl_weighting as nash_mtl_weighting,
    nash_mtl_weights as nash_mtl_weights,
)
from paretojax.weighting._rlw import (
    RLWState as RLWState,
    rlw as rlw,
    rlw_init as rlw_init,
    rlw_loss as rlw_loss,
    rlw_weighting as rlw_weighting,
    rlw_weights as rlw_weights,
)
from paretojax.weighting._sdmgrad import (
    SDMGradState as SDMGradState,
    sdmgrad as sdmgrad,
    sdmgrad_weights as sdmgrad_weights,
)
from paretojax.weighting._speedups import (
    PeriodicState as PeriodicState,
    TaskSubsetState as TaskSubsetState,
    feature_level_weights as feature_level_weights,
    periodic as periodic,
    periodic_weighting as periodic_weighting,
    sample_task_subset as sample_task_subset,
    task_subsets as task_subsets,
    task_subsets_weighting as task_subsets_weighting,
)
from paretojax.weighting._upgrad import (
    normalize_regularize as normalize_regularize,
    upgrad as upgrad,
    upgrad_weighting as upgrad_weighting,
    upgrad_weights as upgrad_weights,
)

METHODS = (
    _linear.INFO,
    _mgda.INFO,
    _upgrad.INFO,
    _dualproj.INFO,
    _modo.INFO,
    _sdmgrad.INFO,
    _moco.INFO,
    _excess_mtl.INFO,
    _cagrad.INFO,
    _imtl_g.INFO,
    _nash_mtl.INFO,
    _fairgrad.INFO,
    _aligned_mtl.INFO,
    _config.INFO,
    _krum.INFO,
    _rlw.INFO,
    _cr_mogm.INFO,
    _speedups.INFO_PERIODIC,
    _speedups.INFO_TASK_SUBSETS,
)
