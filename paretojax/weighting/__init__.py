"""Gram-level weightings: ``weights(G, losses, state, pref) -> (w, state)`` and their transforms."""

from paretojax.weighting import _linear, _mgda
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

METHODS = (_linear.INFO, _mgda.INFO)
