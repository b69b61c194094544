"""Preference-guided directions (f ∝ p): EPO and PMGDA, Gram-level weightings with an LP inside.

Each ``<name>_weights(gram, losses, state, *, pref, ...)`` is pure and ``vmap``-able over K
preferences (the finite-set driver :mod:`paretojax.pareto_set` relies on it); each ``<name>(...)``
is the optax transform (``update(J, state, task_losses=..., pref=...)``).
"""

from paretojax.preference import _epo, _pmgda
from paretojax.preference._epo import (
    epo as epo,
    epo_adjustments as epo_adjustments,
    epo_weighting as epo_weighting,
    epo_weights as epo_weights,
)
from paretojax.preference._pmgda import (
    pbi_constraint as pbi_constraint,
    pmgda as pmgda,
    pmgda_weighting as pmgda_weighting,
    pmgda_weights as pmgda_weights,
)

METHODS = (_epo.INFO, _pmgda.INFO)

__all__ = [
    "METHODS",
    "epo",
    "epo_adjustments",
    "epo_weighting",
    "epo_weights",
    "pbi_constraint",
    "pmgda",
    "pmgda_weighting",
    "pmgda_weights",
]
