"""Gram-level weightings: ``weights(G, losses, state, pref) -> (w, state)`` and their transforms."""

from paretojax.weighting import _linear
from paretojax.weighting._linear import (
    linear as linear,
    linear_weighting as linear_weighting,
    linear_weights as linear_weights,
)

METHODS = (_linear.INFO,)
