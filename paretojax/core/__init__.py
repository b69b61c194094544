"""Layer 0: pytree Jacobian/Gram/combine, simplex utilities and compiled QP solvers."""

from paretojax.core._autogram import value_and_gram as value_and_gram
from paretojax.core.jacobian import (
    accumulation_dtype as accumulation_dtype,
    combine as combine,
    gram as gram,
    jacobian_wrt_features as jacobian_wrt_features,
    num_tasks as num_tasks,
    set_gram_block_size as set_gram_block_size,
    value_and_jacobian as value_and_jacobian,
)
from paretojax.core.simplex import (
    check_pref as check_pref,
    das_dennis as das_dennis,
    linspace_prefs as linspace_prefs,
    pref_is_valid as pref_is_valid,
    project_simplex as project_simplex,
    sample_dirichlet as sample_dirichlet,
)
