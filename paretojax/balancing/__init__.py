"""Loss balancing: task weights from the losses (and learnable or epoch state), no Gram needed.

One private module per method; each exports its pure functions, its ``Weighting`` pair and its
optax factory, and declares ``INFO``. To add a method, import its module and names below and
append ``_<name>.INFO`` to ``METHODS``.
"""

from paretojax.balancing import (
    _auto_lambda,
    _db_mtl,
    _dwa,
    _famo,
    _forum,
    _gls,
    _gradnorm,
    _imtl_l,
    _moml,
    _uw,
)
from paretojax.balancing._auto_lambda import (
    AutoLambdaAux as AutoLambdaAux,
    AutoLambdaState as AutoLambdaState,
    auto_lambda as auto_lambda,
    auto_lambda_hypergrad as auto_lambda_hypergrad,
    auto_lambda_init as auto_lambda_init,
    auto_lambda_step as auto_lambda_step,
    auto_lambda_weighting as auto_lambda_weighting,
    auto_lambda_weights as auto_lambda_weights,
)
from paretojax.balancing._db_mtl import (
    DBMTLState as DBMTLState,
    db_mtl as db_mtl,
    db_mtl_init as db_mtl_init,
    db_mtl_update as db_mtl_update,
)
from paretojax.balancing._dwa import (
    DWAState as DWAState,
    dwa as dwa,
    dwa_epoch_end as dwa_epoch_end,
    dwa_init as dwa_init,
    dwa_loss as dwa_loss,
    dwa_weighting as dwa_weighting,
    dwa_weights as dwa_weights,
)
from paretojax.balancing._famo import (
    FAMOState as FAMOState,
    famo as famo,
    famo_init as famo_init,
    famo_loss as famo_loss,
    famo_update as famo_update,
    famo_weighting as famo_weighting,
    famo_weights as famo_weights,
)
from paretojax.balancing._forum import (
    FORUMAux as FORUMAux,
    FORUMState as FORUMState,
    forum as forum,
    forum_epoch_end as forum_epoch_end,
    forum_init as forum_init,
    forum_step as forum_step,
    forum_weighting as forum_weighting,
    forum_weights as forum_weights,
)
from paretojax.balancing._gls import (
    geometric_mean_loss as geometric_mean_loss,
    gls as gls,
    gls_weighting as gls_weighting,
    gls_weights as gls_weights,
)
from paretojax.balancing._gradnorm import (
    GradNormState as GradNormState,
    default_gradnorm_optimizer as default_gradnorm_optimizer,
    gradnorm as gradnorm,
    gradnorm_epoch_end as gradnorm_epoch_end,
    gradnorm_init as gradnorm_init,
    gradnorm_weighting as gradnorm_weighting,
    gradnorm_weights as gradnorm_weights,
)
from paretojax.balancing._imtl_l import (
    imtl_l as imtl_l,
    imtl_l_loss as imtl_l_loss,
    imtl_l_params as imtl_l_params,
    imtl_l_weighting as imtl_l_weighting,
    imtl_l_weights as imtl_l_weights,
)
from paretojax.balancing._moml import (
    MOMLAux as MOMLAux,
    MOMLState as MOMLState,
    cross_gram as cross_gram,
    moml as moml,
    moml_hypergrads as moml_hypergrads,
    moml_init as moml_init,
    moml_step as moml_step,
    moml_weighting as moml_weighting,
    moml_weights as moml_weights,
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
    _gradnorm.INFO,
    _db_mtl.INFO,
    _famo.INFO,
    _auto_lambda.INFO,
    _moml.INFO,
    _forum.INFO,
)
