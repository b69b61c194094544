r"""Van Veldhuizen's VLMOP1, Fonseca–Fleming ("VLMOP2") and LibMOON's quadratic problem.

The VLMOP naming trap (METHODS.md §12.2): the problem that PSL-MOBO calls ``VLMOP2`` and that
LibMOON's finite-set table calls "VLMOP1" is **Fonseca–Fleming**; LibMOON's current class
``VLMOP1`` (``problem_name = 'VLMOP2'``) is a convex quadratic. paretojax never infers the problem
from a name: ``vlmop1`` (Van Veldhuizen), ``fonseca_fleming`` (alias ``vlmop2``) and
``libmoon_quadratic`` are three distinct problems.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x

__all__ = ["vlmop1", "fonseca_fleming", "vlmop2", "libmoon_quadratic"]

_FF_CONVENTIONS = {
    # name: (n_var, bound, source)
    "libmoon": (
        10,
        1.0,
        "Fonseca & Fleming 1995; LibMOON convention (n = 10, [-1,1]^n), xzhang2523/libmoon "
        "problem/synthetic VLMOP2 (class VLMOP1 before 2024-08-22)",
    ),
    "pslmobo": (
        6,
        2.0,
        "Fonseca & Fleming 1995; PSL-MOBO convention (n = 6, [-2,2]^n), "
        "Xi-L/PSL-MOBO problem.py VLMOP2",
    ),
}


def vlmop1() -> Problem:
    r"""VLMOP1 (Van Veldhuizen & Lamont 1999; PSL-MOBO): ``f = (x², (x − 2)²)``, ``x ∈ [−2, 4]``.

    Pareto set ``x ∈ [0, 2]``; front ``√f₁ + √f₂ = 2`` (convex). HV at (4.4, 4.4):
    ``4.4² − ∫₀⁴(2 − √t)² dt = 19.36 − 8/3 = 16.693333`` (METHODS §12.2 quotes 16.693307, a
    dense-sample value).
    """

    def fn(x):
        x = check_x("vlmop1", x, 1)
        return jnp.stack([x[0] ** 2, (x[0] - 2.0) ** 2])

    def pset(n):
        return np.linspace(0.0, 2.0, n)[:, None]

    def front(n):
        s = pset(n)[:, 0]
        return np.stack([s**2, (s - 2.0) ** 2], 1)

    return Problem(
        name="vlmop1",
        fn=fn,
        n_var=1,
        n_obj=2,
        lower=np.array([-2.0]),
        upper=np.array([4.0]),
        ideal=np.zeros(2),
        nadir=np.full(2, 4.0),
        hv_ref=np.full(2, 4.4),
        hv_true=4.4**2 - 8.0 / 3.0,
        source="Van Veldhuizen & Lamont 1999; Xi-L/PSL-MOBO problem.py VLMOP1",
        description="VLMOP1 (Van Veldhuizen): f = (x^2, (x-2)^2), x in [-2,4], convex front",
        front_fn=front,
        set_fn=pset,
    )


def fonseca_fleming(
    n_var: int | None = None, bound: float | None = None, convention: str = "libmoon"
) -> Problem:
    r"""Fonseca–Fleming (1995), a.k.a. "VLMOP2" (PSL-MOBO) / "VLMOP1" in LibMOON's table.

    .. math:: f_1 = 1 - e^{-\|x - \mathbf{1}/\sqrt{n}\|^2},\quad
              f_2 = 1 - e^{-\|x + \mathbf{1}/\sqrt{n}\|^2}

    Conventions: ``"libmoon"`` n = 10, ``x ∈ [−1,1]ⁿ`` (default; the §1.1/§1.2 anchors);
    ``"pslmobo"`` n = 6, ``[−2,2]ⁿ``. ``n_var``/``bound`` override either. Pareto set
    ``x_i = s/√n``, ``s ∈ [−1, 1]``; front ``(1 − e^{−(1−s)²}, 1 − e^{−(1+s)²})`` (concave).
    HV: ref (1,1) 0.342113 (the ``hv_ref`` used here, LibMOON's), ref (1.1,1.1) 0.552113.
    """
    if convention not in _FF_CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(_FF_CONVENTIONS)}, got {convention!r}.")
    n0, b0, source = _FF_CONVENTIONS[convention]
    n_var = int(n0 if n_var is None else n_var)
    bound = float(b0 if bound is None else bound)
    if n_var < 1:
        raise ValueError(f"fonseca_fleming: n_var must be ≥ 1, got {n_var}.")
    if bound < 1.0 / np.sqrt(n_var):
        raise ValueError(f"fonseca_fleming: bound {bound} excludes the Pareto set (±1/√n).")
    c = 1.0 / np.sqrt(n_var)

    def fn(x):
        x = check_x("fonseca_fleming", x, n_var)
        return jnp.stack(
            [
                1.0 - jnp.exp(-jnp.sum((x - c) ** 2)),
                1.0 - jnp.exp(-jnp.sum((x + c) ** 2)),
            ]
        )

    def svals(n):
        return np.linspace(1.0, -1.0, n)  # f₁ increasing along the front

    def pset(n):
        return np.repeat(svals(n)[:, None] * c, n_var, axis=1)

    def front(n):
        s = svals(n)
        return np.stack([1.0 - np.exp(-((1.0 - s) ** 2)), 1.0 - np.exp(-((1.0 + s) ** 2))], 1)

    one = 1.0 - np.exp(-4.0)
    return Problem(
        name="fonseca_fleming",
        fn=fn,
        n_var=n_var,
        n_obj=2,
        lower=np.full(n_var, -bound),
        upper=np.full(n_var, bound),
        ideal=np.zeros(2),
        nadir=np.full(2, one),
        hv_ref=np.ones(2),
        hv_true=0.342113,
        source=source,
        description="Fonseca-Fleming (= VLMOP2 of PSL-MOBO), concave front; n = 10, [-1,1]^n",
        params=dict(n_var=n_var, bound=bound, convention=convention),
        front_fn=front,
        set_fn=pset,
    )


def vlmop2(
    n_var: int | None = None, bound: float | None = None, convention: str = "libmoon"
) -> Problem:
    """Alias of :func:`fonseca_fleming` (PSL-MOBO's and current LibMOON's name)."""
    return fonseca_fleming(n_var=n_var, bound=bound, convention=convention)


def libmoon_quadratic(n_var: int = 10) -> Problem:
    r"""LibMOON's convex quadratic (its HEAD class ``VLMOP1``, ``problem_name = 'VLMOP2'``).

    .. math:: f_1 = \|x - \mathbf{1}/\sqrt{n}\|^2/4,\quad f_2 = \|x + \mathbf{1}/\sqrt{n}\|^2/4,
              \quad x \in [-1, 1]^n,\ n = 10.

    Pareto set ``x_i = s/√n``, ``s ∈ [−1,1]``; front ``√f₁ + √f₂ = 1`` (convex); HV at (1,1) 5/6.
    """
    n_var = int(n_var)
    if n_var < 1:
        raise ValueError(f"libmoon_quadratic: n_var must be ≥ 1, got {n_var}.")
    c = 1.0 / np.sqrt(n_var)

    def fn(x):
        x = check_x("libmoon_quadratic", x, n_var)
        return jnp.stack([jnp.sum((x - c) ** 2) / 4.0, jnp.sum((x + c) ** 2) / 4.0])

    def svals(n):
        return np.linspace(1.0, -1.0, n)

    def pset(n):
        return np.repeat(svals(n)[:, None] * c, n_var, axis=1)

    def front(n):
        s = svals(n)
        return np.stack([(1.0 - s) ** 2 / 4.0, (1.0 + s) ** 2 / 4.0], 1)

    return Problem(
        name="libmoon_quadratic",
        fn=fn,
        n_var=n_var,
        n_obj=2,
        lower=np.full(n_var, -1.0),
        upper=np.full(n_var, 1.0),
        ideal=np.zeros(2),
        nadir=np.ones(2),
        hv_ref=np.ones(2),
        hv_true=5.0 / 6.0,
        source="LibMOON (xzhang2523/libmoon) problem/synthetic class VLMOP1 at HEAD",
        description="LibMOON quadratic: f = (|x - 1/sqrt n|^2/4, |x + 1/sqrt n|^2/4), convex front",
        params=dict(n_var=n_var),
        front_fn=front,
        set_fn=pset,
    )
