r"""Benchmark multi-objective problems (METHODS.md §12) and a small registry.

Every problem is a :class:`Problem`: a pure JAX function ``f(x) -> [m]`` of one decision vector
(``jax.vmap(problem.fn)`` for batches), its box, ``pareto_front(n)`` / ``pareto_set(n)``,
ideal/nadir, the conventional HV reference point ``hv_ref`` (and ``hv_true``, the front's HV
there when known) and a ``source`` tag naming the definition followed.

Example:
  >>> import jax, jax.numpy as jnp, paretojax as pj
  >>> prob = pj.problems.get("fonseca_fleming")          # LibMOON convention, n = 10
  >>> prob.n_var, prob.n_obj, prob.hv_ref.tolist()
  (10, 2, [1.0, 1.0])
  >>> ys = jax.vmap(prob.fn)(jnp.asarray(prob.pareto_set(8)))
  >>> bool(jnp.allclose(ys, prob.pareto_front(8), atol=1e-6))
  True
  >>> "stch_f3" in pj.problems.names() and "pslmobo_f3" in pj.problems.names()
  True

Offline multi-task datasets live in :mod:`paretojax.problems.datasets` (``pj.datasets``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paretojax.problems._base import Problem as Problem
from paretojax.problems._dtlz import (
    dtlz1 as dtlz1,
    dtlz2 as dtlz2,
    dtlz3 as dtlz3,
    dtlz4 as dtlz4,
    dtlz5 as dtlz5,
    dtlz6 as dtlz6,
    dtlz7 as dtlz7,
    maf1 as maf1,
    scaled_dtlz2 as scaled_dtlz2,
)
from paretojax.problems._fsuite import (
    pslmobo_f1 as pslmobo_f1,
    pslmobo_f2 as pslmobo_f2,
    pslmobo_f3 as pslmobo_f3,
    pslmobo_f4 as pslmobo_f4,
    pslmobo_f5 as pslmobo_f5,
    pslmobo_f6 as pslmobo_f6,
    stch_f1 as stch_f1,
    stch_f2 as stch_f2,
    stch_f3 as stch_f3,
    stch_f4 as stch_f4,
    stch_f5 as stch_f5,
    stch_f6 as stch_f6,
)
from paretojax.problems._ml import (
    regression_toy as regression_toy,
    stchset_linear_regression as stchset_linear_regression,
    stchset_nonlinear_regression as stchset_nonlinear_regression,
    stchset_quadratic as stchset_quadratic,
)
from paretojax.problems._re import (
    load_reference_front as load_reference_front,
    re21 as re21,
    re24 as re24,
    re33 as re33,
    re36 as re36,
    re37 as re37,
)
from paretojax.problems._vlmop import (
    fonseca_fleming as fonseca_fleming,
    libmoon_quadratic as libmoon_quadratic,
    vlmop1 as vlmop1,
    vlmop2 as vlmop2,
)
from paretojax.problems._zdt import (
    zdt1 as zdt1,
    zdt2 as zdt2,
    zdt3 as zdt3,
    zdt4 as zdt4,
    zdt6 as zdt6,
)

__all__ = ["Problem", "get", "names", "descriptions", "REGISTRY"]

#: name -> (factory, one-line description). Aliases point to the same factory.
REGISTRY: dict[str, tuple[Callable[..., Problem], str]] = {
    "zdt1": (zdt1, "ZDT1, n = 30, convex front f2 = 1 - sqrt(f1)"),
    "zdt2": (zdt2, "ZDT2, n = 30, concave front f2 = 1 - f1^2"),
    "zdt3": (zdt3, "ZDT3, n = 30, disconnected front (5 pieces)"),
    "zdt4": (zdt4, "ZDT4, n = 10, ZDT1 front with multimodal g"),
    "zdt6": (zdt6, "ZDT6, n = 10, non-uniform concave front"),
    "vlmop1": (vlmop1, "VLMOP1 (Van Veldhuizen), n = 1, x in [-2,4], convex front"),
    "fonseca_fleming": (
        fonseca_fleming,
        "Fonseca-Fleming, concave; LibMOON n = 10 [-1,1] (convention='pslmobo': n = 6 [-2,2])",
    ),
    "vlmop2": (vlmop2, "alias of fonseca_fleming (PSL-MOBO / LibMOON name)"),
    "libmoon_quadratic": (libmoon_quadratic, "LibMOON convex quadratic (its class VLMOP1), n = 10"),
    "dtlz1": (dtlz1, "DTLZ1 (any m), linear front, multimodal"),
    "dtlz2": (dtlz2, "DTLZ2 (any m), spherical front"),
    "dtlz3": (dtlz3, "DTLZ3 (any m), spherical front, multimodal"),
    "dtlz4": (dtlz4, "DTLZ4 (any m), spherical front, biased density alpha = 100"),
    "dtlz5": (dtlz5, "DTLZ5 (any m), degenerate curve front"),
    "dtlz6": (dtlz6, "DTLZ6 (any m), degenerate curve front, biased g"),
    "dtlz7": (dtlz7, "DTLZ7 (any m), disconnected front"),
    "scaled_dtlz2": (scaled_dtlz2, "scaled DTLZ2 (GMOOAR): f2 x 10"),
    "maf1": (maf1, "MaF1 (GMOOAR): inverted linear front"),
    **{
        f"{suite}_f{i}": (
            globals()[f"{suite}_f{i}"],
            globals()[f"{suite}_f{i}"].__doc__.split(" (n = 6")[0],
        )
        for suite in ("stch", "pslmobo")
        for i in range(1, 7)
    },
    "re21": (re21, "RE21 four-bar truss (2 obj, 4 var); normalize flag"),
    "re24": (re24, "RE24 hatch cover (2 obj, 2 var); normalize flag"),
    "re33": (re33, "RE33 disc brake (3 obj, 4 var); normalize flag"),
    "re36": (re36, "RE36 gear train (3 obj, 4 var); integer and normalize flags"),
    "re37": (re37, "RE37 rocket injector (3 obj, 4 var); normalize flag"),
    "regression_toy": (
        regression_toy,
        "multi-task linear regression toy (Hu et al. 2023), ref (8,8)",
    ),
    "stchset_quadratic": (stchset_quadratic, "STCH-Set: 128 convex quadratics, n = 10"),
    "stchset_linear_regression": (
        stchset_linear_regression,
        "STCH-Set: mixed linear regression, 1000 points, 5 clusters",
    ),
    "stchset_nonlinear_regression": (
        stchset_nonlinear_regression,
        "STCH-Set: mixed nonlinear regression, 1000 points, 5 clusters",
    ),
}


def names() -> tuple[str, ...]:
    """Registered problem names (aliases included), in catalogue order.

    Example:
      >>> import paretojax as pj
      >>> pj.problems.names()[:3]
      ('zdt1', 'zdt2', 'zdt3')
      >>> pj.problems.get("zdt1").n_obj
      2
    """
    return tuple(REGISTRY)


def descriptions() -> dict[str, str]:
    """``{name: one-line description}``.

    Example:
      >>> import paretojax as pj
      >>> pj.problems.descriptions()["zdt1"]
      'ZDT1, n = 30, convex front f2 = 1 - sqrt(f1)'
    """
    return {k: d for k, (_, d) in REGISTRY.items()}


def get(name: str, **kwargs: Any) -> Problem:
    """Build the problem ``name`` with its keyword arguments (e.g. ``n_obj=5``, ``normalize=True``).

    Example:
      >>> import paretojax as pj
      >>> pj.problems.get("dtlz2", n_obj=4).n_obj
      4
      >>> pj.problems.get("re37", normalize=True).hv_ref.tolist()
      [1.1, 1.1, 1.1]
    """
    key = name.lower()
    if key not in REGISTRY:
        raise ValueError(f"Unknown problem {name!r}. Known: {', '.join(REGISTRY)}.")
    return REGISTRY[key][0](**kwargs)
