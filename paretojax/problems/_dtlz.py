r"""DTLZ1–DTLZ7 (any m), scaled DTLZ2 and MaF1.

Deb, Thiele, Laumanns & Zitzler, "Scalable test problems for evolutionary multiobjective
optimization", in *Evolutionary Multiobjective Optimization*, Springer 2005 (METHODS.md §12.3).
``x = (x_{1..m−1}, x_M)`` with position variables ``x_{1..m−1}`` and ``k`` distance variables
``x_M``, ``n = m + k − 1``, ``x ∈ [0,1]ⁿ``; default k = 5 (DTLZ1), 10 (DTLZ2–6), 20 (DTLZ7).

* Linear (DTLZ1): ``f_i = ½(1+g) Π_{j ≤ m−i} x_j · (1 − x_{m−i+1})``; front ``Σf = ½``.
* Spherical (DTLZ2–4): ``f_i = (1+g) Π_{j ≤ m−i} cos(θ_j) · sin(θ_{m−i+1})``,
  ``θ_j = x_j π/2`` (DTLZ4: ``x_j^α π/2``, α = 100); front ``Σf² = 1``.
* g: DTLZ1/3 ``100[k + Σ((x−½)² − cos 20π(x−½))]``, DTLZ2/4/5 ``Σ(x−½)²``, DTLZ6 ``Σ x^{0.1}``.
* DTLZ5/6: ``θ_i = π(1 + 2g x_i)/(4(1+g))`` for i ≥ 2: a degenerate curve for m = 3. For m ≥ 4
  the true front of DTLZ5/6 is known not to be the curve alone (Ishibuchi et al., IEEE TEVC 2017);
  ``pareto_front`` returns the curve (the customary reference).
* DTLZ7: ``f_i = x_i`` (i < m), ``g = 1 + 9/k Σ x_M``,
  ``f_m = (1+g)(m − Σ_{i<m} f_i(1 + sin 3πf_i)/(1+g))``; disconnected front (``2^{m−1}`` pieces).

HV at ``hv_ref = ideal + 1.1(nadir − ideal)``: DTLZ2–4 ``1.1^m − π^{m/2}/(Γ(m/2+1) 2^m)``
(m = 3: 0.807401), DTLZ1 ``0.55^m − 0.5^m/m!``. Scaled DTLZ2 and MaF1 are GMOOAR's irregular
fronts (Chen & Kwok, NeurIPS 2022).

Do not copy: LibMOON's DTLZ4 uses α = 20 (flag ``alpha``).
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x, simplex_grid

__all__ = [
    "dtlz1",
    "dtlz2",
    "dtlz3",
    "dtlz4",
    "dtlz5",
    "dtlz6",
    "dtlz7",
    "scaled_dtlz2",
    "maf1",
]

_SRC = "Deb, Thiele, Laumanns & Zitzler, Scalable test problems for EMO, Springer 2005"
_DEFAULT_K = {1: 5, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10, 7: 20}


# ------------------------------------------------------------------------------ shapes
def _dims(name: str, n_obj: int, n_var: int | None, k_default: int) -> tuple[int, int]:
    m = int(n_obj)
    if m < 2:
        raise ValueError(f"{name}: n_obj must be ≥ 2, got {m}.")
    n = m + k_default - 1 if n_var is None else int(n_var)
    if n < m:
        raise ValueError(f"{name}: n_var must be ≥ n_obj = {m} (k ≥ 1), got {n}.")
    return m, n


def _sphere(theta, r):
    """DTLZ2 map: angles ``[m−1]`` (radians) → ``[m]`` scaled by r."""
    prods = jnp.concatenate([jnp.ones((1,), theta.dtype), jnp.cumprod(jnp.cos(theta))])
    tail = jnp.concatenate([jnp.sin(theta), jnp.ones((1,), theta.dtype)])
    return r * (prods * tail)[::-1]


def _linear(xp, r):
    """DTLZ1 map: position variables ``[m−1]`` → ``Π x_j (1 − x_{next})`` ``[m]`` scaled by r."""
    prods = jnp.concatenate([jnp.ones((1,), xp.dtype), jnp.cumprod(xp)])
    tail = jnp.concatenate([1.0 - xp, jnp.ones((1,), xp.dtype)])
    return r * (prods * tail)[::-1]


def _g_rastrigin(xm):
    k = xm.shape[0]
    return 100.0 * (k + jnp.sum((xm - 0.5) ** 2 - jnp.cos(20.0 * jnp.pi * (xm - 0.5))))


def _g_sphere(xm):
    return jnp.sum((xm - 0.5) ** 2)


# ---------------------------------------------------------------------- host front maps
def _sphere_front(m: int, n: int) -> np.ndarray:
    p = simplex_grid(m, n)
    if m == 2:  # uniform in angle for m = 2
        t = np.linspace(0.0, np.pi / 2, max(n, 2))
        return np.stack([np.cos(t), np.sin(t)], 1)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _sphere_angles(f: np.ndarray) -> np.ndarray:
    """Inverse of the DTLZ2 map on the unit sphere: ``θ_j = atan2(f_{m−j+1}, ‖f_{1..m−j}‖)``."""
    m = f.shape[1]
    th = np.empty((f.shape[0], m - 1))
    for j in range(1, m):  # θ_j, 1-based
        th[:, j - 1] = np.arctan2(f[:, m - j], np.linalg.norm(f[:, : m - j], axis=1))
    return th


def _linear_positions(h: np.ndarray) -> np.ndarray:
    """Inverse of ``h_i = Π_{j≤m−i} x_j (1 − x_{m−i+1})`` with ``Σh = 1``:
    ``x_j = C_{m−j} / C_{m−j+1}``, ``C_k = Σ_{i≤k} h_i`` (0/0 → ½)."""
    m = h.shape[1]
    c = np.cumsum(h, axis=1)
    x = np.empty((h.shape[0], m - 1))
    for j in range(1, m):
        num, den = c[:, m - j - 1], c[:, m - j]
        x[:, j - 1] = np.where(den > 1e-300, num / np.where(den > 1e-300, den, 1.0), 0.5)
    return np.clip(x, 0.0, 1.0)


def _with_distance(xp: np.ndarray, n_var: int, value: float) -> np.ndarray:
    out = np.full((xp.shape[0], n_var), value)
    out[:, : xp.shape[1]] = xp
    return out


def _ball_orthant(m: int) -> float:
    return math.pi ** (m / 2) / math.gamma(m / 2 + 1) / 2**m


def _problem(name, fn, m, n, front, pset, ideal, nadir, hv_true, desc, source=_SRC, **params):
    ideal = np.asarray(ideal, np.float64)
    nadir = np.asarray(nadir, np.float64)
    return Problem(
        name=name,
        fn=fn,
        n_var=n,
        n_obj=m,
        lower=np.zeros(n),
        upper=np.ones(n),
        ideal=ideal,
        nadir=nadir,
        hv_ref=ideal + 1.1 * (nadir - ideal),
        hv_true=hv_true,
        source=source,
        description=desc,
        params=dict(n_obj=m, n_var=n, **params),
        front_fn=front,
        set_fn=pset,
    )


# --------------------------------------------------------------------------- problems
def dtlz1(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ1: linear front ``Σ f = ½``, multimodal g (k = 5)."""
    m, n = _dims("dtlz1", n_obj, n_var, _DEFAULT_K[1])

    def fn(x):
        x = check_x("dtlz1", x, n)
        return _linear(x[: m - 1], 0.5 * (1.0 + _g_rastrigin(x[m - 1 :])))

    def front(k):
        return 0.5 * simplex_grid(m, k)

    def pset(k):
        return _with_distance(_linear_positions(simplex_grid(m, k)), n, 0.5)

    hv = 0.55**m - 0.5**m / math.factorial(m)
    return _problem(
        "dtlz1",
        fn,
        m,
        n,
        front,
        pset,
        np.zeros(m),
        np.full(m, 0.5),
        hv,
        "DTLZ1, linear front sum f = 1/2, multimodal g",
    )


def _dtlz_sphere(name, g_fn, alpha, m, n, desc, params):
    def fn(x):
        x = check_x(name, x, n)
        xp = x[: m - 1] if alpha == 1.0 else x[: m - 1] ** alpha
        return _sphere(xp * (jnp.pi / 2), 1.0 + g_fn(x[m - 1 :]))

    def front(k):
        return _sphere_front(m, k)

    def pset(k):
        xp = _sphere_angles(_sphere_front(m, k)) * (2.0 / np.pi)
        xp = np.clip(xp, 0.0, 1.0) ** (1.0 / alpha)
        return _with_distance(xp, n, 0.5)

    hv = 1.1**m - _ball_orthant(m)
    return _problem(name, fn, m, n, front, pset, np.zeros(m), np.ones(m), hv, desc, **params)


def dtlz2(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ2: spherical front ``Σf² = 1`` (k = 10; LibMOON uses n = 10, m = 3)."""
    m, n = _dims("dtlz2", n_obj, n_var, _DEFAULT_K[2])
    return _dtlz_sphere("dtlz2", _g_sphere, 1.0, m, n, "DTLZ2, spherical front sum f^2 = 1", {})


def dtlz3(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ3: DTLZ2's front with DTLZ1's multimodal g (k = 10)."""
    m, n = _dims("dtlz3", n_obj, n_var, _DEFAULT_K[3])
    return _dtlz_sphere(
        "dtlz3", _g_rastrigin, 1.0, m, n, "DTLZ3, spherical front, multimodal g", {}
    )


def dtlz4(n_obj: int = 3, n_var: int | None = None, alpha: float = 100.0) -> Problem:
    """DTLZ4: DTLZ2 with ``x_j → x_j^α`` (biased density), α = 100 (LibMOON: 20)."""
    m, n = _dims("dtlz4", n_obj, n_var, _DEFAULT_K[4])
    if alpha <= 0:
        raise ValueError(f"dtlz4: alpha must be > 0, got {alpha}.")
    return _dtlz_sphere(
        "dtlz4",
        _g_sphere,
        float(alpha),
        m,
        n,
        "DTLZ4, spherical front, biased density (alpha = 100)",
        {"alpha": float(alpha)},
    )


def _g_pow01(xm):
    # Σ x^0.1 has an infinite derivative at 0 (the Pareto set): keep gradients finite there.
    safe = jnp.where(xm > 0, xm, 1.0)
    return jnp.sum(jnp.where(xm > 0, safe**0.1, 0.0))


def _dtlz_degenerate(name, g_fn, dist_value, m, n, desc):
    def fn(x):
        x = check_x(name, x, n)
        g = g_fn(x[m - 1 :])
        th1 = x[:1] * (jnp.pi / 2)
        rest = jnp.pi / (4.0 * (1.0 + g)) * (1.0 + 2.0 * g * x[1 : m - 1])
        return _sphere(jnp.concatenate([th1, rest]), 1.0 + g)

    def angles(k):
        t = np.linspace(0.0, np.pi / 2, k)
        return np.concatenate([t[:, None], np.full((k, m - 2), np.pi / 4)], 1)

    def front(k):
        th = angles(k)
        c = np.cumprod(np.cos(th), axis=1)
        prods = np.concatenate([np.ones((k, 1)), c], 1)
        tail = np.concatenate([np.sin(th), np.ones((k, 1))], 1)
        return (prods * tail)[:, ::-1]

    def pset(k):
        xp = np.full((k, m - 1), 0.5)
        xp[:, 0] = np.linspace(0.0, 1.0, k)
        return _with_distance(xp, n, dist_value)

    dense = front(20001)
    return _problem(name, fn, m, n, front, pset, np.zeros(m), dense.max(0), None, desc)


def dtlz5(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ5: degenerate (curve) front on the unit sphere (k = 10)."""
    m, n = _dims("dtlz5", n_obj, n_var, _DEFAULT_K[5])
    return _dtlz_degenerate("dtlz5", _g_sphere, 0.5, m, n, "DTLZ5, degenerate curve front")


def dtlz6(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ6: DTLZ5 with the biased ``g = Σ x^{0.1}`` (k = 10); Pareto set ``x_M = 0``."""
    m, n = _dims("dtlz6", n_obj, n_var, _DEFAULT_K[6])
    return _dtlz_degenerate("dtlz6", _g_pow01, 0.0, m, n, "DTLZ6, degenerate curve front, biased g")


def _dtlz7_phi(t):
    return t * (1.0 + np.sin(3.0 * np.pi * t)) / 2.0


@functools.lru_cache(maxsize=1)
def _dtlz7_segments() -> tuple[np.ndarray, float]:
    """1-D Pareto-optimal t set of DTLZ7 (t small vs φ(t) large) as intervals, and max φ."""
    t = np.linspace(0.0, 1.0, 2_000_001)
    phi = _dtlz7_phi(t)
    runmax = np.maximum.accumulate(np.concatenate([[-np.inf], phi[:-1]]))
    keep = phi > runmax
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(int), [0]])))
    segs = np.stack([t[edges[0::2]], t[edges[1::2] - 1]], 1)
    return segs, float(phi.max())


def _dtlz7_t(k: int) -> np.ndarray:
    segs = _dtlz7_segments()[0]
    lens = segs[:, 1] - segs[:, 0]
    cum = np.concatenate([[0.0], np.cumsum(lens)])
    s = np.linspace(0.0, cum[-1], max(k, 1))
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(lens) - 1)
    return np.minimum(segs[i, 0] + (s - cum[i]), segs[i, 1])


def dtlz7(n_obj: int = 3, n_var: int | None = None) -> Problem:
    """DTLZ7: disconnected front of ``2^{m−1}`` pieces (k = 20).

    The problem is separable in the position variables: the Pareto set is the product of the
    1-D non-dominated sets of ``t ↦ (t, −t(1 + sin 3πt)/2)`` (two intervals, the upper ending at
    t ≈ 0.8594), with ``x_M = 0``. ``pareto_set(n)`` takes ``round(n^{1/(m−1)})`` points per axis.
    """
    m, n = _dims("dtlz7", n_obj, n_var, _DEFAULT_K[7])

    def fn(x):
        x = check_x("dtlz7", x, n)
        xp, xm = x[: m - 1], x[m - 1 :]
        g = 1.0 + 9.0 / xm.shape[0] * jnp.sum(xm)
        h = m - jnp.sum(xp / (1.0 + g) * (1.0 + jnp.sin(3.0 * jnp.pi * xp)))
        return jnp.concatenate([xp, ((1.0 + g) * h)[None]])

    def pset(k):
        r = max(1, int(round(k ** (1.0 / (m - 1)))))
        t = _dtlz7_t(r)
        grids = np.meshgrid(*([t] * (m - 1)), indexing="ij")
        xp = np.stack([gr.ravel() for gr in grids], 1)
        return _with_distance(xp, n, 0.0)

    def front(k):
        xp = pset(k)[:, : m - 1]
        fm = 2.0 * (m - np.sum(_dtlz7_phi(xp), axis=1))
        return np.concatenate([xp, fm[:, None]], 1)

    segs, phi_max = _dtlz7_segments()
    ideal = np.zeros(m)
    ideal[-1] = 2.0 * (m - (m - 1) * phi_max)
    nadir = np.full(m, segs[-1, 1])
    nadir[-1] = 2.0 * m
    return _problem(
        "dtlz7",
        fn,
        m,
        n,
        front,
        pset,
        ideal,
        nadir,
        None,
        "DTLZ7, disconnected front (2^(m-1) pieces)",
    )


def scaled_dtlz2(n_obj: int = 3, n_var: int | None = None, scale: float = 10.0) -> Problem:
    """Scaled DTLZ2 (GMOOAR): DTLZ2 with ``f₂`` multiplied by ``scale`` (default 10)."""
    m, n = _dims("scaled_dtlz2", n_obj, n_var, _DEFAULT_K[2])
    if scale <= 0:
        raise ValueError(f"scaled_dtlz2: scale must be > 0, got {scale}.")
    base = dtlz2(m, n)
    sv = np.ones(m)
    sv[1] = float(scale)

    def fn(x):
        f = base.fn(x)
        return f * jnp.asarray(sv, f.dtype)

    def front(k):
        return base.front_fn(k) * sv

    hv = float(scale) * (1.1**m - _ball_orthant(m))
    return _problem(
        "scaled_dtlz2",
        fn,
        m,
        n,
        front,
        base.set_fn,
        np.zeros(m),
        sv,
        hv,
        "scaled DTLZ2 (GMOOAR): f2 multiplied by 10",
        source="Chen & Kwok, GMOOAR, NeurIPS 2022 (DTLZ2 with f2 scaled)",
        scale=float(scale),
    )


def maf1(n_obj: int = 3, n_var: int | None = None) -> Problem:
    r"""MaF1 (inverted linear front; Cheng et al., Complex Intell. Syst. 2017), k = 10.

    ``f_i = (1+g)(1 − h_i)`` with DTLZ1's ``h`` (``Π x_j (1 − x_next)``, ``Σh = 1``),
    ``g = Σ_{i≥m}(x_i − ½)²``. Front ``{f = 1 − p : p ∈ Δ}``. HV at 1.1·1:
    ``1.1^m − Σ_{k=1}^{m} C(m,k) 0.1^{m−k}(1 − 1/k!)``.
    """
    m, n = _dims("maf1", n_obj, n_var, 10)

    def fn(x):
        x = check_x("maf1", x, n)
        g = _g_sphere(x[m - 1 :])
        return (1.0 + g) * (1.0 - _linear(x[: m - 1], 1.0))

    def front(k):
        return 1.0 - simplex_grid(m, k)

    def pset(k):
        return _with_distance(_linear_positions(simplex_grid(m, k)), n, 0.5)

    nondom = sum(
        math.comb(m, k) * 0.1 ** (m - k) * (1 - 1 / math.factorial(k)) for k in range(1, m + 1)
    )
    return _problem(
        "maf1",
        fn,
        m,
        n,
        front,
        pset,
        np.zeros(m),
        np.ones(m),
        1.1**m - nondom,
        "MaF1, inverted linear front (GMOOAR irregular front)",
        source="Cheng et al., Complex Intell. Syst. 3:67-81, 2017 (MaF1)",
    )
