r"""ZDT1–ZDT4 and ZDT6 (Zitzler, Deb & Thiele, Evolutionary Computation 8(2), 2000).

.. math::
   f_1 = x_1,\quad g = 1 + \tfrac{9}{n-1}\textstyle\sum_{i\ge2} x_i,\quad f_2 = g\,h(f_1, g)

ZDT1 ``h = 1 − √(f₁/g)`` (convex), ZDT2 ``1 − (f₁/g)²`` (concave), ZDT3
``1 − √(f₁/g) − (f₁/g) sin(10πf₁)`` (disconnected), ZDT4 ZDT1 with the Rastrigin
``g = 1 + 10(n−1) + Σ(x_i² − 10 cos 4πx_i)`` and ``x_{2..n} ∈ [−5, 5]`` (n = 10), ZDT6
``f₁ = 1 − e^{−4x₁} sin⁶(6πx₁)``, ``g = 1 + 9[(Σ_{i≥2} x_i)/(n−1)]^{0.25}``, ZDT2's h (n = 10).
Pareto sets: ``x_{2..n} = 0``. HV at (1.1, 1.1): ZDT1/ZDT4 1.21 − 1/3 = 0.876667, ZDT2 0.543333,
ZDT3 1.331763 (extrapolated from dense fronts on the five intervals below; METHODS.md §12.1
quotes 1.331739 / 1.044402 at 1.1 / 1, dense-sample values 2.4e-5 lower).

Gradients: ``∂f₂/∂x₁`` is unbounded at ``x₁ = 0`` (the √ in the definition) for ZDT1/3/4;
keep ``x₁ ≥ 1e-6`` (LibMOON clamps to ``[lb + 1e-5, ub − 1e-5]``). ZDT6's ``(·)^{0.25}`` is
guarded so its gradient stays finite on the Pareto set.

ZDT5 is **not provided**: it is a binary-string problem (unitation of 11 bit-strings), which has
no honest continuous/differentiable form in a gradient library.

Do not copy: LibMOON's numpy ZDT1 drops the factor g; its ZDT3/4/6 use fixed-length default
bounds regardless of n.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x

__all__ = ["zdt1", "zdt2", "zdt3", "zdt4", "zdt6", "ZDT3_INTERVALS", "ZDT6_F1_MIN"]

_SRC = "Zitzler, Deb & Thiele, Evol. Comput. 8(2):173-195, 2000"

#: The f₁ intervals of ZDT3's disconnected front.
ZDT3_INTERVALS = (
    (0.0, 0.0830015349),
    (0.182228780, 0.2577623634),
    (0.4093136748, 0.4538821041),
    (0.6183967944, 0.6525117038),
    (0.8233317983, 0.8518328654),
)


def _zdt6_f1_np(x1: np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-4.0 * x1) * np.sin(6.0 * np.pi * x1) ** 6


def _zdt6_x1_star() -> float:
    """Minimiser of ZDT6's f₁ on its first hump (golden-section search, float64)."""
    a, b = 0.05, 1.0 / 12.0 + 0.01
    gr = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(200):
        c, d = b - gr * (b - a), a + gr * (b - a)
        if _zdt6_f1_np(np.float64(c)) < _zdt6_f1_np(np.float64(d)):
            b = d
        else:
            a = c
    return 0.5 * (a + b)


_ZDT6_X1_STAR = _zdt6_x1_star()
#: ``min f₁`` of ZDT6 (≈ 0.2807753191).
ZDT6_F1_MIN = float(_zdt6_f1_np(np.float64(_ZDT6_X1_STAR)))
# HV of f₂ = 1 − f₁², f₁ ∈ [a, 1], at r = (1.1, 1.1): ∫_a^1 (0.1 + t²) dt + 0.1·1.1.
_ZDT6_HV = 0.1 * (1 - ZDT6_F1_MIN) + (1 - ZDT6_F1_MIN**3) / 3 + 0.11


def _g_linear(x):
    n = x.shape[0]
    return 1.0 + 9.0 * jnp.sum(x[1:]) / (n - 1)


def _check_n(name: str, n_var: int, minimum: int = 2) -> int:
    n_var = int(n_var)
    if n_var < minimum:
        raise ValueError(f"{name}: n_var must be ≥ {minimum}, got {n_var}.")
    return n_var


def _set_from_f1(f1: np.ndarray, n_var: int, x1: np.ndarray | None = None) -> np.ndarray:
    xs = np.zeros((len(f1), n_var))
    xs[:, 0] = f1 if x1 is None else x1
    return xs


def _make(name, fn, n_var, lower, upper, front, pset, ideal, nadir, hv_true, desc, **params):
    return Problem(
        name=name,
        fn=fn,
        n_var=n_var,
        n_obj=2,
        lower=np.asarray(lower, np.float64),
        upper=np.asarray(upper, np.float64),
        ideal=np.asarray(ideal, np.float64),
        nadir=np.asarray(nadir, np.float64),
        hv_ref=np.array([1.1, 1.1]),
        hv_true=hv_true,
        source=_SRC,
        description=desc,
        params=dict(n_var=n_var, **params),
        front_fn=front,
        set_fn=pset,
    )


def zdt1(n_var: int = 30) -> Problem:
    """ZDT1: convex front ``f₂ = 1 − √f₁``; ``x ∈ [0,1]ⁿ``, n = 30."""
    n_var = _check_n("zdt1", n_var)

    def fn(x):
        x = check_x("zdt1", x, n_var)
        f1 = x[0]
        g = _g_linear(x)
        return jnp.stack([f1, g * (1.0 - jnp.sqrt(f1 / g))])

    def front(n):
        f1 = np.linspace(0.0, 1.0, n)
        return np.stack([f1, 1.0 - np.sqrt(f1)], 1)

    return _make(
        "zdt1",
        fn,
        n_var,
        np.zeros(n_var),
        np.ones(n_var),
        front,
        lambda n: _set_from_f1(np.linspace(0.0, 1.0, n), n_var),
        [0, 0],
        [1, 1],
        1.21 - 1.0 / 3.0,
        "ZDT1, convex front f2 = 1 - sqrt(f1), n = 30",
    )


def zdt2(n_var: int = 30) -> Problem:
    """ZDT2: concave front ``f₂ = 1 − f₁²``; ``x ∈ [0,1]ⁿ``, n = 30."""
    n_var = _check_n("zdt2", n_var)

    def fn(x):
        x = check_x("zdt2", x, n_var)
        f1 = x[0]
        g = _g_linear(x)
        return jnp.stack([f1, g * (1.0 - (f1 / g) ** 2)])

    def front(n):
        f1 = np.linspace(0.0, 1.0, n)
        return np.stack([f1, 1.0 - f1**2], 1)

    return _make(
        "zdt2",
        fn,
        n_var,
        np.zeros(n_var),
        np.ones(n_var),
        front,
        lambda n: _set_from_f1(np.linspace(0.0, 1.0, n), n_var),
        [0, 0],
        [1, 1],
        1.21 - 2.0 / 3.0,
        "ZDT2, concave front f2 = 1 - f1^2, n = 30",
    )


def _zdt3_f1(n: int) -> np.ndarray:
    lens = np.array([b - a for a, b in ZDT3_INTERVALS])
    cum = np.concatenate([[0.0], np.cumsum(lens)])
    t = np.linspace(0.0, cum[-1], n)
    k = np.clip(np.searchsorted(cum, t, side="right") - 1, 0, len(lens) - 1)
    starts = np.array([a for a, _ in ZDT3_INTERVALS])
    return np.minimum(starts[k] + (t - cum[k]), np.array([b for _, b in ZDT3_INTERVALS])[k])


def _zdt3_f2(f1: np.ndarray) -> np.ndarray:
    return 1.0 - np.sqrt(f1) - f1 * np.sin(10.0 * np.pi * f1)


def zdt3(n_var: int = 30) -> Problem:
    """ZDT3: disconnected front (five pieces); ``x ∈ [0,1]ⁿ``, n = 30.

    ``pareto_front(n)`` spreads n points over the five f₁ intervals proportionally to their
    lengths. Ideal/nadir from a 10⁵-point sample of the front.
    """
    n_var = _check_n("zdt3", n_var)

    def fn(x):
        x = check_x("zdt3", x, n_var)
        f1 = x[0]
        g = _g_linear(x)
        r = f1 / g
        return jnp.stack([f1, g * (1.0 - jnp.sqrt(r) - r * jnp.sin(10.0 * jnp.pi * f1))])

    def front(n):
        f1 = _zdt3_f1(n)
        return np.stack([f1, _zdt3_f2(f1)], 1)

    dense = front(100_001)
    return _make(
        "zdt3",
        fn,
        n_var,
        np.zeros(n_var),
        np.ones(n_var),
        front,
        lambda n: _set_from_f1(_zdt3_f1(n), n_var),
        dense.min(0),
        dense.max(0),
        1.331763,
        "ZDT3, disconnected front (5 pieces), n = 30",
    )


def zdt4(n_var: int = 10) -> Problem:
    """ZDT4: ZDT1's front with a multimodal (Rastrigin) g; ``x₁ ∈ [0,1]``,
    ``x_{2..n} ∈ [−5,5]``, n = 10."""
    n_var = _check_n("zdt4", n_var)

    def fn(x):
        x = check_x("zdt4", x, n_var)
        f1 = x[0]
        xr = x[1:]
        g = 1.0 + 10.0 * (n_var - 1) + jnp.sum(xr**2 - 10.0 * jnp.cos(4.0 * jnp.pi * xr))
        return jnp.stack([f1, g * (1.0 - jnp.sqrt(f1 / g))])

    def front(n):
        f1 = np.linspace(0.0, 1.0, n)
        return np.stack([f1, 1.0 - np.sqrt(f1)], 1)

    lower = np.full(n_var, -5.0)
    lower[0] = 0.0
    upper = np.full(n_var, 5.0)
    upper[0] = 1.0
    return _make(
        "zdt4",
        fn,
        n_var,
        lower,
        upper,
        front,
        lambda n: _set_from_f1(np.linspace(0.0, 1.0, n), n_var),
        [0, 0],
        [1, 1],
        1.21 - 1.0 / 3.0,
        "ZDT4, ZDT1 front with multimodal Rastrigin g, n = 10",
    )


def _zdt6_x1_for_f1(f1: np.ndarray) -> np.ndarray:
    """Invert f₁ on [0, x*] (where it decreases from 1 to f₁,min) by bisection."""
    lo = np.zeros_like(f1)
    hi = np.full_like(f1, _ZDT6_X1_STAR)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = _zdt6_f1_np(mid) > f1  # still on the decreasing branch, above target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def zdt6(n_var: int = 10) -> Problem:
    """ZDT6: non-uniform concave front ``f₂ = 1 − f₁²``, ``f₁ ∈ [0.2807753191, 1]``;
    ``x ∈ [0,1]ⁿ``, n = 10.

    The Pareto set is ``x_{2..n} = 0`` with any ``x₁``; ``pareto_set(n)`` returns the x₁ on the
    first hump of f₁ that hit the (uniform in f₁) ``pareto_front(n)`` points.
    """
    n_var = _check_n("zdt6", n_var)

    def fn(x):
        x = check_x("zdt6", x, n_var)
        x1 = x[0]
        f1 = 1.0 - jnp.exp(-4.0 * x1) * jnp.sin(6.0 * jnp.pi * x1) ** 6
        s = jnp.sum(x[1:]) / (n_var - 1)
        # (s)^0.25 has an infinite derivative at s = 0 (the Pareto set); keep gradients finite.
        s_safe = jnp.where(s > 0, s, 1.0)
        g = 1.0 + 9.0 * jnp.where(s > 0, s_safe**0.25, 0.0)
        return jnp.stack([f1, g * (1.0 - (f1 / g) ** 2)])

    def f1_grid(n):
        return np.linspace(ZDT6_F1_MIN, 1.0, n)

    def front(n):
        f1 = f1_grid(n)
        return np.stack([f1, 1.0 - f1**2], 1)

    def pset(n):
        return _set_from_f1(f1_grid(n), n_var, x1=_zdt6_x1_for_f1(f1_grid(n)))

    return _make(
        "zdt6",
        fn,
        n_var,
        np.zeros(n_var),
        np.ones(n_var),
        front,
        pset,
        [ZDT6_F1_MIN, 0.0],
        [1.0, 1.0 - ZDT6_F1_MIN**2],
        _ZDT6_HV,
        "ZDT6, non-uniform concave front, n = 10",
    )
