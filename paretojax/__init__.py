"""paretojax: gradient-based multi-objective optimization in JAX.

Import as ``import paretojax as pj``. The public API is flat, like optax::

    tx = optax.chain(pj.mgda(), optax.adam(1e-3))

See ``pj.methods()`` for the catalogue of methods.
"""

from __future__ import annotations

from paretojax.core.jacobian import (
    combine as combine,
    gram as gram,
    jacobian_wrt_features as jacobian_wrt_features,
    value_and_jacobian as value_and_jacobian,
)
from paretojax.core.simplex import (
    das_dennis as das_dennis,
    linspace_prefs as linspace_prefs,
    project_simplex as project_simplex,
    sample_dirichlet as sample_dirichlet,
)
from paretojax import plot as plot
from paretojax import problems as problems
from paretojax.core.riesz import riesz_prefs as riesz_prefs
from paretojax.problems import datasets as datasets
from paretojax.registry import MethodInfo as MethodInfo
from paretojax.transforms import (
    TransformState as TransformState,
    Weighting as Weighting,
    as_transform as as_transform,
    jacobian_transform as jacobian_transform,
    weighting_transform as weighting_transform,
)

__version__ = "0.1.0"

from paretojax.core.qp import min_norm as min_norm
from paretojax.weighting import (
    linear as linear,
    linear_weights as linear_weights,
    mgda as mgda,
    mgda_weights as mgda_weights,
)


def methods(family: str | None = None) -> dict[str, MethodInfo]:
    """The catalogue: ``{name: MethodInfo}`` for every method (optionally one family).

    Example:
      >>> import paretojax as pj
      >>> pj.methods()["mgda"].family
      'weighting'
    """
    from paretojax import weighting

    infos = [*weighting.METHODS]
    out = {i.name: i for i in infos if family is None or i.family == family}
    if family is not None and family not in {i.family for i in infos} and not out:
        from paretojax.registry import FAMILIES

        if family not in FAMILIES:
            raise ValueError(f"Unknown family {family!r}; families are {FAMILIES}.")
    return dict(sorted(out.items()))
