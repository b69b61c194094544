"""Jacobian-level gradient manipulation: methods that need the task gradients themselves (or a
per-group / per-coordinate view of them) and return the combined update (METHODS.md §5)."""

from paretojax.manipulation import _graddrop, _gradvac, _pcgrad, _trimmed_mean
from paretojax.manipulation._graddrop import (
    GradDropState as GradDropState,
    graddrop as graddrop,
    graddrop_feature_grad as graddrop_feature_grad,
    graddrop_update as graddrop_update,
)
from paretojax.manipulation._gradvac import (
    GradVacState as GradVacState,
    gradvac as gradvac,
    gradvac_update as gradvac_update,
    gradvac_weights as gradvac_weights,
)
from paretojax.manipulation._pcgrad import (
    PCGradState as PCGradState,
    pcgrad as pcgrad,
    pcgrad_weighting as pcgrad_weighting,
    pcgrad_weights as pcgrad_weights,
)
from paretojax.manipulation._trimmed_mean import (
    trimmed_mean as trimmed_mean,
    trimmed_mean_update as trimmed_mean_update,
)

METHODS = (_pcgrad.INFO, _graddrop.INFO, _gradvac.INFO, _trimmed_mean.INFO)
