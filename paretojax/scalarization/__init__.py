"""Scalarizations ``s(losses, pref, ...) -> scalar`` and their ∂s/∂f transforms.

Each ``<name>_loss`` is a pure scalar function to use directly in a model loss (one backward
pass); each ``<name>(...)`` factory is the optax transform whose weights are ``jax.grad`` of the
scalarization with respect to the losses (``Σ_i w_i ∇f_i = ∇_θ s(f(θ))``).
"""

from paretojax.scalarization import (
    _aasf,
    _cosmos,
    _ls,
    _mtch,
    _pbi,
    _pnorm,
    _stch,
    _stch_mtl,
    _tch,
)
from paretojax.scalarization._aasf import (
    aasf as aasf,
    aasf_loss as aasf_loss,
    aasf_weighting as aasf_weighting,
)
from paretojax.scalarization._cosmos import (
    cosmos as cosmos,
    cosmos_cosine as cosmos_cosine,
    cosmos_loss as cosmos_loss,
    cosmos_weighting as cosmos_weighting,
)
from paretojax.scalarization._ls import (
    ls as ls,
    ls_loss as ls_loss,
    ls_weighting as ls_weighting,
)
from paretojax.scalarization._mtch import (
    mtch as mtch,
    mtch_balanced_weights as mtch_balanced_weights,
    mtch_loss as mtch_loss,
    mtch_weighting as mtch_weighting,
)
from paretojax.scalarization._pbi import (
    pbi as pbi,
    pbi_distances as pbi_distances,
    pbi_loss as pbi_loss,
    pbi_weighting as pbi_weighting,
)
from paretojax.scalarization._pnorm import (
    pnorm as pnorm,
    pnorm_loss as pnorm_loss,
    pnorm_weighting as pnorm_weighting,
)
from paretojax.scalarization._stch import (
    stch as stch,
    stch_loss as stch_loss,
    stch_weighting as stch_weighting,
)
from paretojax.scalarization._stch_mtl import (
    STCHMTLState as STCHMTLState,
    stch_mtl as stch_mtl,
    stch_mtl_epoch_end as stch_mtl_epoch_end,
    stch_mtl_init as stch_mtl_init,
    stch_mtl_loss as stch_mtl_loss,
    stch_mtl_weighting as stch_mtl_weighting,
    stch_mtl_weights as stch_mtl_weights,
)
from paretojax.scalarization._tch import (
    tch as tch,
    tch_loss as tch_loss,
    tch_weighting as tch_weighting,
)

METHODS = (
    _ls.INFO,
    _tch.INFO,
    _mtch.INFO,
    _stch.INFO,
    _stch_mtl.INFO,
    _pbi.INFO,
    _cosmos.INFO,
    _aasf.INFO,
    _pnorm.INFO,
)
