"""Gram-level weightings: ``weights(G, losses, state, pref) -> (w, state)`` and their transforms.
"""

from paretojax.weighting import (
    _dualproj,
    _excess_mtl,
    _linear,
    _mgda,
    _moco,
    _modo,
    _sdmgrad,
    _upgrad,
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
from paretojax.weighting._sdmgrad import (
    SDMGradState as SDMGradState,
    sdmgrad as sdmgrad,
    sdmgrad_weights as sdmgrad_weights,
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
)
