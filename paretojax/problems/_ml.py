r"""Learning-flavoured synthetic problems (METHODS.md §12.6).

* ``regression_toy`` — Hu, Xian, Zhou, Liang, Chen & Zhao, "Revisiting scalarization in
  multi-task learning: a theoretical perspective", NeurIPS 2023, as in LibMOON
  ``problem/mtl/ml_problem.py`` (``LinearRegreesion``): n = 40 samples, p = 5 features,
  ``X ~ U(0,1)^{40×5}`` then ``Y ~ U(0,1)^{40×m}`` from ``np.random.seed(0)``;
  ``W ∈ R^{p×q}`` (``n_var = p·q``), ``Z = XW``, ``P = Z(ZᵀZ)⁺Zᵀ``,
  ``f_k(W) = ‖y_k‖² − y_kᵀPy_k`` (residual of projecting task k on span(XW)). HV ref (8, 8).
* ``stchset_quadratic``, ``stchset_linear_regression``, ``stchset_nonlinear_regression`` — the
  many-objective problems of Lin et al., "Few for many: Tchebycheff set scalarization for
  many-objective optimization", ICLR 2025 (``Xi-L/STCH-Set`` ``problem.py``): one objective per
  data point, a few solutions must cover them all. Data are generated with NumPy's
  ``default_rng(seed)`` — the same distributions as the reference's ``torch.manual_seed`` data,
  not the same numbers.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from paretojax.problems._base import Problem, check_x

__all__ = [
    "regression_toy",
    "stchset_quadratic",
    "stchset_linear_regression",
    "stchset_nonlinear_regression",
]


# ------------------------------------------------------------------------- regression toy
def _toy_data(n_obj: int, n_samples: int = 40, p: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(0)  # LibMOON: np.random.seed(0); rand(n, p); rand(n, m)
    x = rs.rand(n_samples, p)
    y = rs.rand(n_samples, n_obj)
    return x, y


def regression_toy(n_obj: int = 2, n_var: int = 5) -> Problem:
    r"""Multi-task linear regression toy (Hu et al., NeurIPS 2023; LibMOON ``ml_problem.py``).

    ``f_k(W) = ‖y_k‖² − y_kᵀ P y_k`` with ``P`` the projection on span(XW), ``W = x.reshape(5, q)``.
    For ``q = 1`` it is ``‖y_k‖² − (y_kᵀz)²/‖z‖²``, ``z = Xw`` (``f = ‖y‖²`` at ``w = 0``).

    Known front (m = 2, q = 1): with ``X = QR`` and ``b_k = Qᵀy_k``, the Pareto-optimal directions
    ``u = Rw/‖Rw‖`` sweep the arc from ``b̂₁`` to ``±b̂₂`` (the acute one), so
    ``pareto_set``/``pareto_front`` are exact. For ``q ≥ m`` the front is the single ideal point.
    Bounds ``[0, 1]ⁿ`` as in LibMOON (the loss is scale invariant in W; the exact Pareto set may
    have negative entries, so ``pareto_set`` is not clipped to the box).
    """
    m = int(n_obj)
    n_var = int(n_var)
    p = 5
    if m < 1 or n_var < p or n_var % p:
        raise ValueError(
            f"regression_toy: need n_obj ≥ 1 and n_var a multiple of 5, got {m}, {n_var}."
        )
    q = n_var // p
    xd, yd = _toy_data(m)
    ysq = np.sum(yd**2, axis=0)

    def fn(w):
        w = check_x("regression_toy", w, n_var)
        xx = jnp.asarray(xd, w.dtype)
        yy = jnp.asarray(yd, w.dtype)
        if q == 1:
            z = xx @ w
            zz = jnp.sum(z * z)
            ok = zz > 1e-30
            proj = jnp.where(ok, (yy.T @ z) ** 2 / jnp.where(ok, zz, 1.0), 0.0)
        else:
            z = xx @ w.reshape(p, q)
            coef = jnp.linalg.pinv(z.T @ z) @ (z.T @ yy)  # [q, m]
            proj = jnp.sum(yy * (z @ coef), axis=0)
        return jnp.asarray(ysq, w.dtype) - proj

    qmat, rmat = np.linalg.qr(xd)
    b = qmat.T @ yd  # [p, m]
    best = np.sum(b**2, axis=0)  # max projection per task

    front_fn = set_fn = None
    ideal = ysq - best
    nadir = None
    if m == 2 and q == 1:
        b1, b2 = b[:, 0], b[:, 1]
        e1 = b1 / np.linalg.norm(b1)
        if b2 @ e1 < 0:
            b2 = -b2
        r2 = b2 - (b2 @ e1) * e1
        e2 = r2 / np.linalg.norm(r2)
        phi_max = np.arctan2(b2 @ e2, b2 @ e1)

        def dirs(k):
            phi = np.linspace(0.0, phi_max, k)
            return np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2  # [k, p]

        def set_fn(k):
            return np.linalg.solve(rmat, dirs(k).T).T  # w = R⁻¹u

        def front_fn(k):
            u = dirs(k)
            return ysq[None, :] - (u @ b) ** 2

        ends = front_fn(2)
        nadir = ends.max(0)
    elif q >= m:

        def set_fn(k):
            coef = np.linalg.lstsq(xd, yd, rcond=None)[0]  # [p, m]
            w = np.zeros((p, q))
            w[:, :m] = coef
            return w.reshape(1, -1)

        def front_fn(k):
            return ideal[None, :].copy()

        nadir = ideal.copy()

    return Problem(
        name="regression_toy",
        fn=fn,
        n_var=n_var,
        n_obj=m,
        lower=np.zeros(n_var),
        upper=np.ones(n_var),
        ideal=ideal,
        nadir=nadir,
        hv_ref=np.full(m, 8.0),
        hv_true=None,
        source="Hu et al., NeurIPS 2023; LibMOON problem/mtl/ml_problem.py LinearRegreesion",
        description="multi-task linear regression toy (Hu et al. 2023; LibMOON), HV ref (8,8)",
        params=dict(n_obj=m, n_var=n_var),
        front_fn=front_fn,
        set_fn=set_fn,
    )


# -------------------------------------------------------------------------- STCH-Set
_STCHSET_SRC = "Lin et al., Few for many (TCH-Set/STCH-Set), ICLR 2025; Xi-L/STCH-Set problem.py"


def _unbounded(name, fn, n_var, m, desc, params):
    return Problem(
        name=name,
        fn=fn,
        n_var=n_var,
        n_obj=m,
        lower=np.full(n_var, -np.inf),
        upper=np.full(n_var, np.inf),
        ideal=np.zeros(m),
        nadir=None,
        hv_ref=None,
        hv_true=None,
        source=_STCHSET_SRC,
        description=desc,
        params=params,
    )


def stchset_quadratic(n_obj: int = 128, n_var: int = 10, seed: int = 0) -> Problem:
    r"""STCH-Set convex quadratics: ``f_i(x) = (a_iᵀx − b_i)²``, ``A ~ U[−1,1]^{m×n}``,
    ``b ~ U[−2,2]^m`` (m = 128, n = 10). Each ``f_i`` reaches 0 (ideal = 0); unconstrained."""
    m, n = int(n_obj), int(n_var)
    rng = np.random.default_rng(seed)
    a = 2.0 * rng.random((m, n)) - 1.0
    b = 4.0 * rng.random(m) - 2.0

    def fn(x):
        x = check_x("stchset_quadratic", x, n)
        return (jnp.asarray(a, x.dtype) @ x - jnp.asarray(b, x.dtype)) ** 2

    return _unbounded(
        "stchset_quadratic",
        fn,
        n,
        m,
        "STCH-Set quadratic: m = 128 objectives (a_i x - b_i)^2, n = 10",
        dict(n_obj=m, n_var=n, seed=seed),
    )


def stchset_linear_regression(
    n_obj: int = 1000, n_var: int = 10, n_center: int = 5, sigma: float = 0.1, seed: int = 0
) -> Problem:
    r"""STCH-Set mixed linear regression: ``f_i(x) = (a_iᵀx − b_i)²`` with data point i drawn from
    cluster ``c = i mod 5``: ``b_i = a_iᵀx_c + σε``, ``x_c ~ U[−2,2]ⁿ``, ``a_i ~ U[−1,1]ⁿ``,
    σ = 0.1 (m = 1000 points, n = 10). Five solutions can cover all points (K = 5)."""
    m, n = int(n_obj), int(n_var)
    rng = np.random.default_rng(seed)
    centers = 4.0 * rng.random((n_center, n)) - 2.0
    a = 2.0 * rng.random((m, n)) - 1.0
    assign = np.arange(m) % n_center
    b = np.sum(a * centers[assign], axis=1) + sigma * rng.standard_normal(m)

    def fn(x):
        x = check_x("stchset_linear_regression", x, n)
        return (jnp.asarray(a, x.dtype) @ x - jnp.asarray(b, x.dtype)) ** 2

    return _unbounded(
        "stchset_linear_regression",
        fn,
        n,
        m,
        "STCH-Set mixed linear regression: 1000 points from 5 clusters",
        dict(n_obj=m, n_var=n, n_center=n_center, sigma=sigma, seed=seed, centers=centers),
    )


def stchset_nonlinear_regression(
    n_obj: int = 1000,
    n_var: int = 10,
    n_center: int = 5,
    n_hidden: int = 10,
    sigma: float = 0.1,
    seed: int = 0,
) -> Problem:
    r"""STCH-Set mixed nonlinear regression with one-hidden-layer ReLU models.

    Data point i (cluster ``c = i mod 5``): ``a_i ~ N(0, I_n)``,
    ``b_i = Σ_h p_{c,h} relu(W_c a_i + q_c)_h + o_c + σε``. A solution is the flat vector
    ``x = (W [h×n], p [h], q [h], o [1])`` (``h = 10``: 121 variables) and
    ``f_i(x) = (Σ_h p_h relu(W a_i + q)_h + o − b_i)²``. Unconstrained; ideal 0.
    """
    m, d, h = int(n_obj), int(n_var), int(n_hidden)
    rng = np.random.default_rng(seed)
    wc = rng.standard_normal((n_center, h, d))
    pc = rng.standard_normal((n_center, h))
    qc = rng.standard_normal((n_center, h))
    oc = rng.standard_normal(n_center)
    a = rng.standard_normal((m, d))
    c = np.arange(m) % n_center
    hid = np.maximum(np.einsum("ihd,id->ih", wc[c], a) + qc[c], 0.0)
    b = np.sum(pc[c] * hid, axis=1) + oc[c] + sigma * rng.standard_normal(m)
    size = h * d + 2 * h + 1

    def fn(x):
        x = check_x("stchset_nonlinear_regression", x, size)
        w = x[: h * d].reshape(h, d)
        pv = x[h * d : h * d + h]
        qv = x[h * d + h : h * d + 2 * h]
        o = x[-1]
        aa = jnp.asarray(a, x.dtype)
        out = jnp.maximum(aa @ w.T + qv[None, :], 0.0) @ pv + o
        return (out - jnp.asarray(b, x.dtype)) ** 2

    return _unbounded(
        "stchset_nonlinear_regression",
        fn,
        size,
        m,
        "STCH-Set mixed nonlinear regression: 1000 points, 5 ReLU clusters",
        dict(n_obj=m, n_var=d, n_center=n_center, n_hidden=h, sigma=sigma, seed=seed),
    )
