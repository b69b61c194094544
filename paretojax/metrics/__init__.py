"""Metrics on plain arrays ``[n, m]`` (minimisation; reference point / normalisation explicit).

Hypervolume (exact and differentiable in JAX for m ≤ 3, moocore on the host for m ≥ 4),
hypervolume contributions and gradient, IGD / IGD+ / GD, LibMOON's finite-set indicators,
Pareto dominance and non-dominated sorting, and the multi-task Δm% / Δp summaries.
See METHODS.md §10. This package imports only jax, numpy and (lazily) moocore.
"""

from __future__ import annotations

from paretojax.metrics._dominance import (
    dominates as dominates,
    is_dominated as is_dominated,
    nondominated as nondominated,
    nondominated_host as nondominated_host,
    nondominated_sort as nondominated_sort,
    nondominated_sort_host as nondominated_sort_host,
)
from paretojax.metrics._hypervolume import (
    delta_hv as delta_hv,
    hv_contributions as hv_contributions,
    hv_contributions_host as hv_contributions_host,
    hv_gradient as hv_gradient,
    hv_gradient_host as hv_gradient_host,
    hypervolume as hypervolume,
    hypervolume_host as hypervolume_host,
    hypervolume_mc as hypervolume_mc,
)
from paretojax.metrics._indicators import (
    average_objective as average_objective,
    cross_angle as cross_angle,
    finite_set_indicators as finite_set_indicators,
    gd as gd,
    igd as igd,
    igd_plus as igd_plus,
    inner_product as inner_product,
    lmin as lmin,
    normalize as normalize,
    pbi_metric as pbi_metric,
    soft_lmin as soft_lmin,
    spacing as spacing,
    span as span,
    sparsity as sparsity,
    worst_objective as worst_objective,
)
from paretojax.metrics._mtl import delta_m as delta_m, delta_p as delta_p

__all__ = [
    "average_objective",
    "cross_angle",
    "delta_hv",
    "delta_m",
    "delta_p",
    "dominates",
    "finite_set_indicators",
    "gd",
    "hv_contributions",
    "hv_contributions_host",
    "hv_gradient",
    "hv_gradient_host",
    "hypervolume",
    "hypervolume_host",
    "hypervolume_mc",
    "igd",
    "igd_plus",
    "inner_product",
    "is_dominated",
    "lmin",
    "nondominated",
    "nondominated_host",
    "nondominated_sort",
    "nondominated_sort_host",
    "normalize",
    "pbi_metric",
    "soft_lmin",
    "spacing",
    "span",
    "sparsity",
    "worst_objective",
]
