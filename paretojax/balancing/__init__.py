"""Loss balancing: task weights from the losses (and learnable or epoch state), no Gram needed.

One private module per method; each exports its pure functions, its ``Weighting`` pair and its
optax factory, and declares ``INFO``. To add a method, import its module and names below and
append ``_<name>.INFO`` to ``METHODS``.
"""

from paretojax.balancing import _dwa, _gls, _imtl_l, _uw
from paretojax.balancing._dwa import (
    DWAState as DWAState,
    dwa as dwa,
    dwa_epoch_end as dwa_epoch_end,
    dwa_init as dwa_init,
    dwa_loss as dwa_loss,
    dwa_weighting as dwa_weighting,
    dwa_weights as dwa_weights,
)
from paretojax.balancing._gls import (
    geometric_mean_loss as geometric_mean_loss,
    gls as gls,
    gls_weighting as gls_weighting,
    gls_weights as gls_weights,
)
from paretojax.balancing._imtl_l import (
    imtl_l as imtl_l,
    imtl_l_loss as imtl_l_loss,
    imtl_l_params as imtl_l_params,
    imtl_l_weighting as imtl_l_weighting,
    imtl_l_weights as imtl_l_weights,
)
from paretojax.balancing._uw import (
    LearnedScaleState as LearnedScaleState,
    uw as uw,
    uw_loss as uw_loss,
    uw_params as uw_params,
    uw_weighting as uw_weighting,
    uw_weights as uw_weights,
)

METHODS = (
    _dwa.INFO,
    _uw.INFO,
    _imtl_l.INFO,
    _gls.INFO,
)
