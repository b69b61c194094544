r"""RE engineering problems RE21, RE24, RE33, RE36, RE37 (Tanabe & Ishibuchi 2020).

R. Tanabe and H. Ishibuchi, "An easy-to-use real-world multi-objective optimization problem
suite", Applied Soft Computing 89:106078, 2020; repository ``ryojitanabe/reproblems``. Also the
problem set of the STCH / PSL papers (``Xi-L/STCH`` ``STCH_PSL/problem.py``), whose conventions
are matched here (METHODS.md §12.5):

* constraints ``g_j ≥ 0`` are folded into the last objective ``V = Σ_j max(−g_j, 0)``;
* ``x`` is in raw units inside the box (PSL models output ``u ∈ [0,1]ⁿ``: use
  ``problem.from_unit(u)``);
* ``normalize=True`` returns ``(f − ideal)/(nadir − ideal)``, the PSL normalisation, with
  ``hv_ref = 1.1·1``; the raw variant uses ``hv_ref = ideal + 1.1(nadir − ideal)``;
* RE21's nadir is **(2886.3695604236013, 0.039999999999998245)**, the value consistent with the
  suite's own reference front; the suite's ``nadir_RE21.dat`` (2086.37, 0.00341) is wrong;
* RE36 is integer in the suite (``x`` rounded) and continuous in STCH's PSL experiments; the flag
  ``integer`` (default ``False``, the PSL convention) selects it. A continuous relaxation can
  dominate the 28-point integer reference front, so ΔHV against it can be negative.

``pareto_front()`` returns the suite's approximate reference front (shipped as package data;
``n`` is ignored). Reference HVs after normalisation at 1.1·1: RE21 0.88856, RE24 1.17126,
RE33 1.01431, RE36 1.00596, RE37 0.84720. The Pareto sets are not known in closed form.

Do not copy: LibMOON's RE variants are pre-normalised with RE21/RE22's f₁ halved, and its torch
RE24/25/41 return ``None``.
"""

from __future__ import annotations

import functools
import pathlib

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x

__all__ = ["re21", "re24", "re33", "re36", "re37", "load_reference_front", "RE_IDEAL", "RE_NADIR"]

_DATA = pathlib.Path(__file__).parent / "data"
_SRC = (
    "Tanabe & Ishibuchi, Appl. Soft Comput. 89:106078, 2020; ryojitanabe/reproblems "
    "(PSL conventions of Xi-L/STCH STCH_PSL/problem.py)"
)

RE_IDEAL = {
    "re21": np.array([1237.8414230005742, 0.002761423749158419]),
    "re24": np.array([60.5, 0.0]),
    "re33": np.array([-0.721525, 1.13907203907, 0.0]),
    "re36": np.array([7.89473684213e-05, 12.0, 0.0]),
    "re37": np.array([0.00889341391106, 0.00488, -0.431499999825]),
}
RE_NADIR = {
    "re21": np.array([2886.3695604236013, 0.039999999999998245]),  # corrected (see module doc)
    "re24": np.array([481.608088535, 44.2819047619]),
    "re33": np.array([5.3067, 3.12833430979, 25.0]),
    "re36": np.array([5.931, 56.0, 0.355720675227]),
    "re37": np.array([0.98949120096, 0.956587924661, 0.987530948586]),
}
#: HV of the suite's reference fronts after normalisation, at 1.1·1 (METHODS.md §12.5).
RE_REFERENCE_HV = {
    "re21": 0.88856,
    "re24": 1.17126,
    "re33": 1.01431,
    "re36": 1.00596,
    "re37": 0.84720,
}


@functools.cache
def _load(name: str) -> np.ndarray:
    arr = np.loadtxt(_DATA / f"pf_{name.upper()}.dat", dtype=np.float64, ndmin=2)
    arr.flags.writeable = False
    return arr


def load_reference_front(name: str, normalize: bool = False) -> np.ndarray:
    """The suite's reference front of ``name`` (``"re21"`` …), raw or normalised, ``[k, m]``."""
    key = name.lower()
    if key not in RE_IDEAL:
        raise ValueError(f"No reference front for {name!r}; known: {sorted(RE_IDEAL)}.")
    pf = np.array(_load(key))
    if normalize:
        pf = (pf - RE_IDEAL[key]) / (RE_NADIR[key] - RE_IDEAL[key])
    return pf


def _violation(*g):
    """``V = Σ max(−g_j, 0)``."""
    return sum(jnp.maximum(-gj, 0.0) for gj in g)


def _make(name, raw_fn, lower, upper, desc, normalize, integer=False, extra_src=""):
    lower = np.asarray(lower, np.float64)
    upper = np.asarray(upper, np.float64)
    n = lower.shape[0]
    ideal, nadir = RE_IDEAL[name], RE_NADIR[name]
    m = ideal.shape[0]
    span = nadir - ideal

    def fn(x):
        x = check_x(name, x, n)
        if integer:
            x = jnp.round(x)
        f = raw_fn(x)
        if normalize:
            f = (f - jnp.asarray(ideal, f.dtype)) / jnp.asarray(span, f.dtype)
        return f

    if normalize:
        ideal_out, nadir_out, hv_ref = np.zeros(m), np.ones(m), np.full(m, 1.1)
        hv_true = RE_REFERENCE_HV[name]
    else:
        ideal_out, nadir_out, hv_ref = ideal.copy(), nadir.copy(), ideal + 1.1 * span
        hv_true = RE_REFERENCE_HV[name] * float(np.prod(span))

    return Problem(
        name=name,
        fn=fn,
        n_var=n,
        n_obj=m,
        lower=lower,
        upper=upper,
        ideal=ideal_out,
        nadir=nadir_out,
        hv_ref=hv_ref,
        hv_true=hv_true,
        source=_SRC + extra_src,
        description=desc,
        integer=integer,
        normalized=normalize,
        params=dict(normalize=normalize) | ({"integer": integer} if name == "re36" else {}),
        front_fn=lambda k: load_reference_front(name, normalize),
        set_fn=None,
    )


def re21(normalize: bool = False) -> Problem:
    r"""RE21 four-bar truss (n 4, m 2): ``F = 10, σ = 10, E = 2e5, L = 200``, ``a = F/σ``.

    ``f₁ = L(2x₁ + √2x₂ + √x₃ + x₄)``, ``f₂ = (FL/E)(2/x₁ + 2√2/x₂ − 2√2/x₃ + 2/x₄)``;
    ``x₁, x₄ ∈ [a, 3a]``, ``x₂, x₃ ∈ [√2a, 3a]``.
    """
    F, E, L, a = 10.0, 2e5, 200.0, 1.0
    r2 = float(np.sqrt(2.0))

    def raw(x):
        x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
        f1 = L * (2.0 * x1 + r2 * x2 + jnp.sqrt(x3) + x4)
        f2 = (F * L / E) * (2.0 / x1 + 2.0 * r2 / x2 - 2.0 * r2 / x3 + 2.0 / x4)
        return jnp.stack([f1, f2])

    return _make(
        "re21",
        raw,
        [a, r2 * a, r2 * a, a],
        [3 * a] * 4,
        "RE21 four-bar truss design (2 obj, 4 var)",
        normalize,
    )


def re24(normalize: bool = False) -> Problem:
    r"""RE24 hatch cover (n 2, m 2): ``f₁ = x₁ + 120x₂``, ``f₂ = V`` of four stress/deflection
    constraints; ``x₁ ∈ [0.5, 4]``, ``x₂ ∈ [0.5, 50]``."""
    E, sb_max, tau_max, delta_max = 7e5, 700.0, 450.0, 1.5

    def raw(x):
        x1, x2 = x[0], x[1]
        f1 = x1 + 120.0 * x2
        sigma_k = E * x1 * x1 / 100.0
        sigma_b = 4500.0 / (x1 * x2)
        tau = 1800.0 / x2
        delta = 56.2e4 / (E * x1 * x2 * x2)
        v = _violation(
            1.0 - sigma_b / sb_max,
            1.0 - tau / tau_max,
            1.0 - delta / delta_max,
            1.0 - sigma_b / sigma_k,
        )
        return jnp.stack([f1, v])

    return _make(
        "re24", raw, [0.5, 0.5], [4.0, 50.0], "RE24 hatch cover design (2 obj, 2 var)", normalize
    )


def re33(normalize: bool = False) -> Problem:
    r"""RE33 disc brake (n 4, m 3): ``A = x₂² − x₁²``, ``B = x₂³ − x₁³``;
    ``f₁ = 4.9e-5·A(x₄ − 1)``, ``f₂ = 9.82e6·A/(x₃x₄B)``, ``f₃ = V``;
    ``x ∈ [55,80]×[75,110]×[1000,3000]×[11,20]``.

    ``A/B`` and ``B/A`` are evaluated in the cancelled forms ``(x₁+x₂)/(x₁²+x₁x₂+x₂²)`` (equal for
    ``x₁ ≠ x₂``), so ``x₁ = x₂`` inside the box gives ``f₃ = +inf`` rather than NaN.
    """

    def raw(x):
        x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
        d, s, q = x2 - x1, x1 + x2, x1 * x1 + x1 * x2 + x2 * x2
        a = d * s
        a_over_b = s / q
        f1 = 4.9e-5 * a * (x4 - 1.0)
        f2 = 9.82e6 * a_over_b / (x3 * x4)
        g1 = d - 20.0
        g2 = 0.4 - x3 / (3.14 * a)
        g3 = 1.0 - 2.22e-3 * x3 * q / (d * s * s)  # B / A²
        g4 = 2.66e-2 * x3 * x4 * q / s - 900.0  # B / A
        return jnp.stack([f1, f2, _violation(g1, g2, g3, g4)])

    return _make(
        "re33",
        raw,
        [55.0, 75.0, 1000.0, 11.0],
        [80.0, 110.0, 3000.0, 20.0],
        "RE33 disc brake design (3 obj, 4 var)",
        normalize,
    )


def re36(normalize: bool = False, integer: bool = False) -> Problem:
    r"""RE36 gear train (n 4, m 3): ``f₁ = |6.931 − (x₃/x₁)(x₄/x₂)|``, ``f₂ = max x_i``,
    ``f₃ = max(f₁/6.931 − 0.5, 0)``; ``x ∈ [12, 60]⁴``.

    ``integer=True`` rounds ``x`` (the suite's integer problem; zero gradients a.e.);
    ``integer=False`` (default) is STCH's continuous relaxation.
    """

    def raw(x):
        x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
        f1 = jnp.abs(6.931 - (x3 / x1) * (x4 / x2))
        f2 = jnp.max(x)
        return jnp.stack([f1, f2, _violation(0.5 - f1 / 6.931)])

    extra = " [integer variables, suite]" if integer else " [continuous relaxation, STCH PSL]"
    return _make(
        "re36",
        raw,
        [12.0] * 4,
        [60.0] * 4,
        "RE36 gear train design (3 obj, 4 var; integer flag)",
        normalize,
        integer=bool(integer),
        extra_src=extra,
    )


def re37(normalize: bool = False) -> Problem:
    r"""RE37 rocket injector (n 4, m 3), ``x = (a, h, o, p) ∈ [0,1]⁴``: three response-surface
    polynomials (METHODS.md §12.5), no constraints."""

    def raw(x):
        a, h, o, p = x[0], x[1], x[2], x[3]
        f1 = (
            0.692
            + 0.477 * a
            - 0.687 * h
            - 0.080 * o
            - 0.0650 * p
            - 0.167 * a * a
            - 0.0129 * h * a
            + 0.0796 * h * h
            - 0.0634 * o * a
            - 0.0257 * o * h
            + 0.0877 * o * o
            - 0.0521 * p * a
            + 0.00156 * p * h
            + 0.00198 * p * o
            + 0.0184 * p * p
        )
        f2 = (
            0.153
            - 0.322 * a
            + 0.396 * h
            + 0.424 * o
            + 0.0226 * p
            + 0.175 * a * a
            + 0.0185 * h * a
            - 0.0701 * h * h
            - 0.251 * o * a
            + 0.179 * o * h
            + 0.0150 * o * o
            + 0.0134 * p * a
            + 0.0296 * p * h
            + 0.0752 * p * o
            + 0.0192 * p * p
        )
        f3 = (
            0.370
            - 0.205 * a
            + 0.0307 * h
            + 0.108 * o
            + 1.019 * p
            - 0.135 * a * a
            + 0.0141 * h * a
            + 0.0998 * h * h
            + 0.208 * o * a
            - 0.0301 * o * h
            - 0.226 * o * o
            + 0.353 * p * a
            - 0.0497 * p * o
            - 0.423 * p * p
            + 0.202 * h * a * a
            - 0.281 * o * a * a
            - 0.342 * h * h * a
            - 0.245 * h * h * o
            + 0.281 * o * o * h
            - 0.184 * p * p * a
            - 0.281 * h * a * o
        )
        return jnp.stack([f1, f2, f3])

    return _make(
        "re37", raw, [0.0] * 4, [1.0] * 4, "RE37 rocket injector design (3 obj, 4 var)", normalize
    )
