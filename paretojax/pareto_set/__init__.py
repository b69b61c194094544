"""Finite Pareto sets: the vmapped K-solution driver and set-level rules (HV-gradient ascent).

Per-solution rules are any Gram-level :class:`~paretojax.Weighting` (EPO, PMGDA, mTCH/TCH through
``∂s/∂f``, …) vmapped over K preferences; set-level rules (:class:`SetWeighting`) see all K
objective vectors at once. See METHODS.md §6.
"""

from paretojax.pareto_set._driver import (
    FINITE_SET_METHODS as FINITE_SET_METHODS,
    FiniteSetResult as FiniteSetResult,
    FiniteSetState as FiniteSetState,
    SetWeighting as SetWeighting,
    finite_set_step as finite_set_step,
    finite_set_weighting as finite_set_weighting,
    hv_grad_set_weighting as hv_grad_set_weighting,
    run_finite_set as run_finite_set,
)
from paretojax.pareto_set._hv_grad import (
    dynamic_reference as dynamic_reference,
    hv_grad_weights as hv_grad_weights,
)

__all__ = [
    "FINITE_SET_METHODS",
    "FiniteSetResult",
    "FiniteSetState",
    "SetWeighting",
    "dynamic_reference",
    "finite_set_step",
    "finite_set_weighting",
    "hv_grad_set_weighting",
    "hv_grad_weights",
    "run_finite_set",
]
