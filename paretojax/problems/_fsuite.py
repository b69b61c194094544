r"""The two-objective F1–F6 suites of the Pareto-set-learning papers — two different suites.

Both follow the template (1-based ``i ∈ 2..n``, ``J₁`` odd and ``J₂`` even indices, ``n = 6``,
``x ∈ [0,1]ⁿ``)

.. math:: g_1 = 1 + \operatorname{mean}_{i\in J_1} y_i^2,\quad
          g_2 = 1 + \operatorname{mean}_{i\in J_2} y_i^2,\quad f_1 = g_1 x_1,

and the Pareto set is ``y_i = 0``, i.e. ``x_i = ψ_i(x₁)``.

**STCH convention** (Lin et al., ICML 2024, ``Xi-L/STCH`` ``STCH_PSL/problem.py``; METHODS §12.4):

* F1: ``y_i = x_i − (2x₁ − 1)²``, ``f₂ = g₂(1 − √(x₁/g₂))``;
* F2: ``y_i = x_i − x₁^{0.5(1 + 3(i−2)/(n−2))}``, same f₂;
* F3: ``y_i = (2x_i − 1) − 0.8x₁ sin(4πx₁ + iπ/n)`` (i even), ``cos(·)`` (i odd), same f₂;
* F4–F6: the y of F1–F3 with ``f₂ = g₂(1 − (x₁/g₂)²)``.

Fronts ``1 − √f₁`` (F1–F3) and ``1 − f₁²`` (F4–F6); HV at (1.1, 1.1) 0.876667 / 0.543333.

**PSL-MOBO convention** (Lin et al., NeurIPS 2022, ``Xi-L/PSL-MOBO`` ``problem.py``): F1, F2 as
above; F3 ``y_i = x_i − (sin(4πx₁ + iπ/n) + 1)/2`` with ``f₂ = g₂(1 − √x₁)``; F4 = STCH's F3;
F5 = F4 with ``cos((4πx₁ + iπ/n)/3)`` on odd i; F6 ``y_i = (2x_i − 1) − A(x₁)·sin/cos(6πx₁ + iπ/n)``
with ``A = 0.3x₁² cos(12πx₁ + 4iπ/n) + 0.6x₁`` and ``y_i⁴`` (instead of ``y_i²``) in g. All six
have the convex front ``1 − √f₁`` (HV 0.876667 at 1.1).

Gradients: the √x₁ (and F2's ``x₁^{0.5}``) make ``∂f/∂x₁`` unbounded at ``x₁ = 0``; PSL models
reach the box through a sigmoid, so they never sit exactly there.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x

__all__ = [
    "stch_f1",
    "stch_f2",
    "stch_f3",
    "stch_f4",
    "stch_f5",
    "stch_f6",
    "pslmobo_f1",
    "pslmobo_f2",
    "pslmobo_f3",
    "pslmobo_f4",
    "pslmobo_f5",
    "pslmobo_f6",
]

_STCH_SRC = "Lin et al., Smooth Tchebycheff scalarization, ICML 2024; Xi-L/STCH STCH_PSL/problem.py"
_PSL_SRC = (
    "Lin et al., Pareto set learning for expensive MOBO, NeurIPS 2022; Xi-L/PSL-MOBO problem.py"
)


# ---------------------------------------------------------------- Pareto-set maps ψ_i(x₁)
# Each returns ``target`` such that the PS is ``x_i = target_i`` for i = 2..n (xp: numpy or jax).
def _ps_f1(xp, x1, idx, n):
    return (2.0 * x1 - 1.0) ** 2 + 0.0 * idx


def _ps_f2(xp, x1, idx, n):
    return x1 ** (0.5 * (1.0 + 3.0 * (idx - 2.0) / (n - 2.0)))


def _ps_f3_stch(xp, x1, idx, n):
    ph = 4.0 * xp.pi * x1 + idx * xp.pi / n
    trig = xp.where(idx % 2 == 0, xp.sin(ph), xp.cos(ph))
    return (1.0 + 0.8 * x1 * trig) / 2.0


def _ps_f3_psl(xp, x1, idx, n):
    return (xp.sin(4.0 * xp.pi * x1 + idx * xp.pi / n) + 1.0) / 2.0


def _ps_f5_psl(xp, x1, idx, n):
    ph = 4.0 * xp.pi * x1 + idx * xp.pi / n
    trig = xp.where(idx % 2 == 0, xp.sin(ph), xp.cos(ph / 3.0))
    return (1.0 + 0.8 * x1 * trig) / 2.0


def _ps_f6_psl(xp, x1, idx, n):
    amp = 0.3 * x1**2 * xp.cos(12.0 * xp.pi * x1 + 4.0 * idx * xp.pi / n) + 0.6 * x1
    ph = 6.0 * xp.pi * x1 + idx * xp.pi / n
    trig = xp.where(idx % 2 == 0, xp.sin(ph), xp.cos(ph))
    return (1.0 + amp * trig) / 2.0


# y_i = scale·(x_i − ψ_i): the "(2x_i − 1) − c" forms are 2(x_i − ψ_i).
_SPECS = {
    # name: (ψ, y-scale, power in g, f₂ kind, source)
    "stch_f1": (_ps_f1, 1.0, 2, "sqrt_g", _STCH_SRC),
    "stch_f2": (_ps_f2, 1.0, 2, "sqrt_g", _STCH_SRC),
    "stch_f3": (_ps_f3_stch, 2.0, 2, "sqrt_g", _STCH_SRC),
    "stch_f4": (_ps_f1, 1.0, 2, "square_g", _STCH_SRC),
    "stch_f5": (_ps_f2, 1.0, 2, "square_g", _STCH_SRC),
    "stch_f6": (_ps_f3_stch, 2.0, 2, "square_g", _STCH_SRC),
    "pslmobo_f1": (_ps_f1, 1.0, 2, "sqrt_g", _PSL_SRC),
    "pslmobo_f2": (_ps_f2, 1.0, 2, "sqrt_g", _PSL_SRC),
    "pslmobo_f3": (_ps_f3_psl, 1.0, 2, "sqrt_plain", _PSL_SRC),
    "pslmobo_f4": (_ps_f3_stch, 2.0, 2, "sqrt_g", _PSL_SRC),
    "pslmobo_f5": (_ps_f5_psl, 2.0, 2, "sqrt_g", _PSL_SRC),
    "pslmobo_f6": (_ps_f6_psl, 2.0, 4, "sqrt_g", _PSL_SRC),
}

_DESCRIPTIONS = {
    "stch_f1": "STCH F1: y = x_i - (2x1-1)^2, convex front 1 - sqrt(f1)",
    "stch_f2": "STCH F2: y = x_i - x1^(0.5(1+3(i-2)/(n-2))), convex front",
    "stch_f3": "STCH F3: sinusoidal Pareto set (0.8 x1 sin/cos), convex front",
    "stch_f4": "STCH F4: F1's set, concave front 1 - f1^2",
    "stch_f5": "STCH F5: F2's set, concave front 1 - f1^2",
    "stch_f6": "STCH F6: F3's set, concave front 1 - f1^2",
    "pslmobo_f1": "PSL-MOBO F1 (= STCH F1), convex front",
    "pslmobo_f2": "PSL-MOBO F2 (= STCH F2), convex front",
    "pslmobo_f3": "PSL-MOBO F3: x_i = (sin(4 pi x1 + i pi/n)+1)/2, f2 = g2(1 - sqrt x1)",
    "pslmobo_f4": "PSL-MOBO F4 (= STCH F3), convex front",
    "pslmobo_f5": "PSL-MOBO F5: F4 with cos((4 pi x1 + i pi/n)/3) on odd i, convex front",
    "pslmobo_f6": "PSL-MOBO F6: amplitude 0.3x1^2 cos(12 pi x1 + 4 i pi/n) + 0.6x1, y^4, convex",
}


def _make(name: str, n_var: int) -> Problem:
    psi, yscale, power, kind, source = _SPECS[name]
    n = int(n_var)
    if n < 3:
        raise ValueError(f"{name}: n_var must be ≥ 3, got {n}.")
    idx_np = np.arange(2, n + 1, dtype=np.float64)
    even = (np.arange(2, n + 1) % 2) == 0
    n_even, n_odd = int(even.sum()), int((~even).sum())

    def fn(x):
        x = check_x(name, x, n)
        x1 = x[0]
        idx = jnp.asarray(idx_np, x.dtype)
        y = yscale * (x[1:] - psi(jnp, x1, idx, n))
        yp = y**power
        ev = jnp.asarray(even)
        g1 = 1.0 + jnp.sum(jnp.where(ev, 0.0, yp)) / n_odd
        g2 = 1.0 + jnp.sum(jnp.where(ev, yp, 0.0)) / n_even
        f1 = g1 * x1
        if kind == "sqrt_g":
            f2 = g2 * (1.0 - jnp.sqrt(x1 / g2))
        elif kind == "square_g":
            f2 = g2 * (1.0 - (x1 / g2) ** 2)
        else:  # "sqrt_plain"
            f2 = g2 * (1.0 - jnp.sqrt(x1))
        return jnp.stack([f1, f2])

    def pset(k):
        x1 = np.linspace(0.0, 1.0, k)
        rest = psi(np, x1[:, None], idx_np[None, :], n)
        rest = np.broadcast_to(rest, (k, n - 1))
        return np.concatenate([x1[:, None], rest], 1)

    def front(k):
        f1 = np.linspace(0.0, 1.0, k)
        f2 = 1.0 - f1**2 if kind == "square_g" else 1.0 - np.sqrt(f1)
        return np.stack([f1, f2], 1)

    return Problem(
        name=name,
        fn=fn,
        n_var=n,
        n_obj=2,
        lower=np.zeros(n),
        upper=np.ones(n),
        ideal=np.zeros(2),
        nadir=np.ones(2),
        hv_ref=np.full(2, 1.1),
        hv_true=1.21 - (2.0 / 3.0 if kind == "square_g" else 1.0 / 3.0),
        source=source,
        description=_DESCRIPTIONS[name],
        params=dict(n_var=n),
        front_fn=front,
        set_fn=pset,
    )


def _factory(name: str):
    def make(n_var: int = 6) -> Problem:
        return _make(name, n_var)

    make.__name__ = name
    make.__qualname__ = name
    make.__doc__ = (
        f"{_DESCRIPTIONS[name]} (n = 6, x ∈ [0,1]ⁿ).\n\nSource: {_SPECS[name][4]}. "
        "See :mod:`paretojax.problems._fsuite` for the full definitions."
    )
    return make


stch_f1 = _factory("stch_f1")
stch_f2 = _factory("stch_f2")
stch_f3 = _factory("stch_f3")
stch_f4 = _factory("stch_f4")
stch_f5 = _factory("stch_f5")
stch_f6 = _factory("stch_f6")
pslmobo_f1 = _factory("pslmobo_f1")
pslmobo_f2 = _factory("pslmobo_f2")
pslmobo_f3 = _factory("pslmobo_f3")
pslmobo_f4 = _factory("pslmobo_f4")
pslmobo_f5 = _factory("pslmobo_f5")
pslmobo_f6 = _factory("pslmobo_f6")
