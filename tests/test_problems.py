"""Benchmark problems (METHODS.md §12): definitions, fronts, published HVs, RE reference data."""

from __future__ import annotations

import math
import pathlib

import jax
import jax.numpy as jnp
import moocore
import numpy as np
import pytest

import paretojax.problems as P
from paretojax.problems._base import nondominated_mask, simplex_grid
from paretojax.problems._re import RE_IDEAL, RE_NADIR

ALL = P.names()
WITH_SET = [n for n in ALL if P.get(n).has_pareto_set]
TWO_D_TRUE = [
    n
    for n in WITH_SET
    if P.get(n).n_obj == 2 and P.get(n).hv_true is not None and n != "regression_toy"
]
RE = ["re21", "re24", "re33", "re36", "re37"]
SHARED = pathlib.Path("/work/shared/data/re")


def hv(points, ref):
    return float(
        moocore.hypervolume(np.asarray(points, np.float64), ref=np.asarray(ref, np.float64))
    )


def interior(p: P.Problem, rng, k: int) -> np.ndarray:
    if p.bounded:
        return p.lower + (p.upper - p.lower) * rng.uniform(0.05, 0.95, (k, p.n_var))
    return rng.standard_normal((k, p.n_var))


# ------------------------------------------------------------------------------- registry
def test_registry():
    assert len(set(ALL)) == len(ALL) and len(ALL) >= 39
    desc = P.descriptions()
    assert set(desc) == set(ALL) and all(isinstance(d, str) and d for d in desc.values())
    for required in [
        "zdt1",
        "zdt2",
        "zdt3",
        "zdt4",
        "zdt6",
        "fonseca_fleming",
        "vlmop2",
        "vlmop1",
        "libmoon_quadratic",
        *[f"dtlz{i}" for i in range(1, 8)],
        "scaled_dtlz2",
        "maf1",
        *[f"stch_f{i}" for i in range(1, 7)],
        *[f"pslmobo_f{i}" for i in range(1, 7)],
        *RE,
    ]:
        assert required in ALL
    assert "zdt5" not in ALL  # binary problem, deliberately not provided
    with pytest.raises(ValueError, match="Unknown problem"):
        P.get("nope")
    assert P.get("VLMOP2").name == "fonseca_fleming"
    assert isinstance(P.get("zdt1"), P.Problem)


@pytest.mark.parametrize("name", ALL)
def test_problem_contract(name):
    """Shapes, bounds, vmap/jit; and where the Pareto set is known: f(pareto_set(n)) equals
    pareto_front(n) row by row (ΔHV ≈ 0) and no random point of the box dominates the front.
    One compiled batch per problem (float32)."""
    p = P.get(name)
    rng = np.random.default_rng(0)
    assert p.lower.shape == p.upper.shape == (p.n_var,)
    assert np.all(p.lower < p.upper)
    for v in (p.ideal, p.nadir, p.hv_ref):
        assert v is None or v.shape == (p.n_obj,)
    if p.ideal is not None and p.nadir is not None:
        assert np.all(p.ideal <= p.nadir)
    assert isinstance(p.source, str) and len(p.source) > 10
    with pytest.raises(ValueError, match="n_var|shape"):
        p(jnp.zeros(p.n_var + 1))

    rand = interior(p, rng, 1000)
    if name == "regression_toy":  # scale invariant: sample directions
        rand = rng.standard_normal((1000, p.n_var))
    ps = p.pareto_set(60) if p.has_pareto_set else np.zeros((0, p.n_var))
    ys = np.asarray(p.evaluate(np.concatenate([ps, rand]).astype(np.float32)), np.float64)
    assert ys.shape == (len(ps) + 1000, p.n_obj) and np.all(np.isfinite(ys))
    fy, fr = ys[: len(ps)], ys[len(ps) :]
    assert p.evaluate(rand[0]).shape == (p.n_obj,)
    if not p.has_pareto_set:
        return
    pf = p.pareto_front(60)
    assert ps.shape[1] == p.n_var and pf.shape == (len(ps), p.n_obj)
    if name != "regression_toy":  # exact set of the scale-invariant toy may leave the box
        assert np.all(ps >= p.lower - 1e-12) and np.all(ps <= p.upper + 1e-12)
    scale = 1.0 + np.abs(pf).max()
    np.testing.assert_allclose(fy, pf, atol=2e-5 * scale, rtol=0)
    if p.hv_ref is not None:
        assert abs(hv(fy, p.hv_ref) - hv(pf, p.hv_ref)) < 1e-5 * scale**p.n_obj
    assert nondominated_mask(pf).all()
    dom = np.all(fr[:, None, :] <= pf[None, :, :] - 1e-5 * scale, axis=2)
    assert not dom.any()


@pytest.mark.parametrize(
    "name", ["zdt3", "zdt6", "dtlz4", "dtlz7", "stch_f6", "pslmobo_f6", "fonseca_fleming", "maf1"]
)
def test_front_is_image_of_set_float64(name, x64):
    """The same identity to round-off in float64 (ΔHV = 0 exactly up to 1e-12)."""
    p = P.get(name)
    ps, pf = p.pareto_set(50), p.pareto_front(50)
    fy = np.asarray(jax.jit(jax.vmap(p.fn))(jnp.asarray(ps)))
    assert fy.dtype == np.float64
    np.testing.assert_allclose(fy, pf, atol=1e-10, rtol=1e-10)
    assert abs(hv(fy, p.hv_ref) - hv(pf, p.hv_ref)) < 1e-12


@pytest.mark.parametrize("name", TWO_D_TRUE)
def test_hv_true_two_objectives(name):
    """Closed-form HVs of the 2-D fronts (staircase error O(1/n): Richardson extrapolation)."""
    p = P.get(name)
    h1, h2 = hv(p.pareto_front(10001), p.hv_ref), hv(p.pareto_front(20001), p.hv_ref)
    assert h1 < h2 < p.hv_true
    assert abs(2 * h2 - h1 - p.hv_true) < 1e-5


@pytest.mark.parametrize("name", ["dtlz1", "dtlz2", "dtlz3", "dtlz4", "scaled_dtlz2", "maf1"])
def test_hv_true_three_objectives(name):
    """Closed-form HVs of the 3-D fronts, by Richardson extrapolation of Das–Dennis fronts
    (H = 99 and 200; the discretisation error is O(1/H))."""
    p = P.get(name)
    h1, h2 = hv(p.pareto_front(5050), p.hv_ref), hv(p.pareto_front(20301), p.hv_ref)
    assert h1 < h2 < p.hv_true
    assert abs(2 * h2 - h1 - p.hv_true) < 2e-4 * max(1.0, p.hv_true)


# --------------------------------------------------------------------- published values
def test_zdt1_known_points():
    p = P.get("zdt1")
    np.testing.assert_allclose(p(jnp.zeros(30)), [0.0, 1.0])
    # x = 0.5·1: g = 5.5, f = (0.5, 5.5(1 − √(0.5/5.5)))
    np.testing.assert_allclose(p(jnp.full(30, 0.5)), [0.5, 5.5 - math.sqrt(0.5 * 5.5)], rtol=1e-6)
    x = jnp.zeros(30).at[0].set(0.25)
    np.testing.assert_allclose(p(x), [0.25, 0.5], rtol=1e-6)
    # ZDT4 at the Pareto set has g = 1; ZDT6's min f1
    assert abs(float(P.get("zdt4")(jnp.zeros(10).at[0].set(0.25))[1]) - 0.5) < 1e-6
    assert abs(P.zdt6().ideal[0] - 0.2807753191) < 1e-9


def test_published_hv_values():
    z1, z2, z3 = P.get("zdt1"), P.get("zdt2"), P.get("zdt3")
    for prob, r1, r2, r12 in (
        (z1, 0.666667, 0.876667, 1.106667),
        (z2, 0.333333, 0.543333, 0.773333),
    ):
        pf = prob.pareto_front(50001)
        assert abs(hv(pf, [1, 1]) - r1) < 3e-5
        assert abs(hv(pf, [1.1, 1.1]) - r2) < 3e-5
        assert abs(hv(pf, [1.2, 1.2]) - r12) < 3e-5
    pf3 = z3.pareto_front(50001)
    assert abs(hv(pf3, [1, 1]) - 1.044402) < 3e-5
    assert abs(hv(pf3, [1.1, 1.1]) - 1.331739) < 3e-5
    ff = P.get("fonseca_fleming").pareto_front(50001)
    assert abs(hv(ff, [1, 1]) - 0.342113) < 3e-5
    assert abs(hv(ff, [1.1, 1.1]) - 0.552113) < 3e-5
    assert abs(hv(P.get("vlmop1").pareto_front(50001), [4.4, 4.4]) - 16.693307) < 1e-3
    assert abs(hv(P.get("libmoon_quadratic").pareto_front(50001), [1, 1]) - 5 / 6) < 3e-5
    # the §1.1 check: 8 points exactly on the FF front with f ∝ p have HV 0.282729
    p1 = np.linspace(0.01, 0.99, 8)
    prefs = np.stack([p1, 1 - p1], 1)
    ffp = P.get("fonseca_fleming")
    s = np.linspace(-1, 1, 200001)
    front = np.stack([1 - np.exp(-((1 - s) ** 2)), 1 - np.exp(-((1 + s) ** 2))], 1)
    cos = (front @ prefs.T) / np.linalg.norm(front, axis=1)[:, None] / np.linalg.norm(prefs, axis=1)
    pts = front[np.argmax(cos, axis=0)]
    assert abs(hv(pts, ffp.hv_ref) - 0.282729) < 2e-5


def test_dtlz2_published():
    p = P.get("dtlz2")  # m = 3
    assert p.n_var == 12 and P.get("dtlz2", n_var=10).n_var == 10
    assert abs(p.hv_true - (1.1**3 - math.pi / 6)) < 1e-12
    assert abs(hv(p.pareto_front(5050), [1.1] * 3) - 0.799469) < 1e-6
    h1, h2 = hv(p.pareto_front(5050), [1.0] * 3), hv(p.pareto_front(20301), [1.0] * 3)
    assert abs(2 * h2 - h1 - 0.476401) < 2e-4
    pf = p.pareto_front(200)
    np.testing.assert_allclose(np.sum(pf**2, axis=1), 1.0, atol=1e-12)


def test_fonseca_conventions():
    lm, ps = P.get("fonseca_fleming"), P.get("vlmop2", convention="pslmobo")
    assert (lm.n_var, lm.upper[0]) == (10, 1.0) and (ps.n_var, ps.upper[0]) == (6, 2.0)
    assert lm.source != ps.source and "PSL-MOBO" in ps.source and "LibMOON" in lm.source
    assert P.get("fonseca_fleming", n_var=3, bound=4.0).lower.tolist() == [-4.0] * 3
    with pytest.raises(ValueError):
        P.get("fonseca_fleming", convention="other")
    # FF and the LibMOON quadratic are different problems (the naming trap)
    x = jnp.full(10, 0.1)
    assert not np.allclose(lm(x), P.get("libmoon_quadratic")(x))


def test_f_suites_differ_and_match():
    rng = np.random.default_rng(3)
    xs = jnp.asarray(rng.uniform(size=(5, 6)))
    ev = lambda n: np.asarray(P.get(n).evaluate(xs))
    np.testing.assert_allclose(ev("pslmobo_f4"), ev("stch_f3"), rtol=1e-6)  # same definition
    np.testing.assert_allclose(ev("pslmobo_f1"), ev("stch_f1"), rtol=1e-6)
    np.testing.assert_allclose(ev("pslmobo_f2"), ev("stch_f2"), rtol=1e-6)
    assert not np.allclose(ev("pslmobo_f3"), ev("stch_f3"))
    assert not np.allclose(ev("pslmobo_f5"), ev("stch_f5"))
    assert not np.allclose(ev("pslmobo_f6"), ev("stch_f6"))
    assert P.get("stch_f3").source != P.get("pslmobo_f3").source
    # STCH F3 at a hand-computed point: x1 = 0.5, x_i = 0.5 ⇒ y_i = −0.4 sin/cos(2π + iπ/6)
    x = jnp.full(6, 0.5)
    i = np.arange(2, 7)
    y = np.where(
        i % 2 == 0,
        -0.4 * np.sin(2 * np.pi + i * np.pi / 6),
        -0.4 * np.cos(2 * np.pi + i * np.pi / 6),
    )
    g1 = 1 + np.mean(y[i % 2 == 1] ** 2)
    g2 = 1 + np.mean(y[i % 2 == 0] ** 2)
    np.testing.assert_allclose(
        P.get("stch_f3")(x), [g1 * 0.5, g2 * (1 - np.sqrt(0.5 / g2))], rtol=1e-6
    )
    np.testing.assert_allclose(
        P.get("stch_f6")(x), [g1 * 0.5, g2 * (1 - (0.5 / g2) ** 2)], rtol=1e-6
    )


@pytest.mark.parametrize("name", ["dtlz1", "dtlz2", "dtlz5", "dtlz7", "maf1"])
def test_dtlz_any_m(name):
    for m in (2, 4, 5):
        p = P.get(name, n_obj=m)
        assert (
            p.n_obj == m
            and p.n_var == m + (5 if name == "dtlz1" else 20 if name == "dtlz7" else 10) - 1
        )
        ps, pf = p.pareto_set(40), p.pareto_front(40)
        np.testing.assert_allclose(np.asarray(p.evaluate(ps)), pf, atol=2e-5)
        assert nondominated_mask(pf).all()
        if p.hv_true is not None:
            assert hv(pf, p.hv_ref) < p.hv_true


def test_dtlz_fronts_geometry():
    assert np.allclose(P.get("dtlz1").pareto_front(100).sum(1), 0.5)
    assert np.allclose(P.get("maf1").pareto_front(100).sum(1), 3 - 1)
    f5 = P.get("dtlz5").pareto_front(50)
    np.testing.assert_allclose(f5[:, 0], f5[:, 1])  # degenerate curve f1 = f2 (m = 3)
    sd = P.get("scaled_dtlz2").pareto_front(100)
    np.testing.assert_allclose(sd[:, 0] ** 2 + (sd[:, 1] / 10) ** 2 + sd[:, 2] ** 2, 1.0)
    d7 = P.get("dtlz7", n_obj=2)
    assert abs(d7.nadir[0] - 0.8594) < 1e-3 and d7.ideal[1] < 4  # two pieces, ends at ≈ 0.8594


# -------------------------------------------------------------------------- RE problems
@pytest.mark.parametrize("name", RE)
def test_re_reference_hv(name):
    p_raw, p_norm = P.get(name), P.get(name, normalize=True)
    ref_hv = {"re21": 0.88856, "re24": 1.17126, "re33": 1.01431, "re36": 1.00596, "re37": 0.84720}
    pf = p_norm.pareto_front()
    assert abs(hv(pf, [1.1] * p_norm.n_obj) - ref_hv[name]) < 6e-6
    np.testing.assert_allclose(p_norm.hv_ref, 1.1)
    # raw front and normalisation agree
    np.testing.assert_allclose(p_raw.normalize(p_raw.pareto_front()), pf, rtol=1e-12)
    assert abs(hv(p_raw.pareto_front(), p_raw.hv_ref) - p_raw.hv_true) < 1e-5 * p_raw.hv_true
    # normalised f is (raw − ideal)/(nadir − ideal)
    x = jnp.asarray(interior(p_raw, np.random.default_rng(0), 4), jnp.float32)
    fr = np.asarray(p_raw.evaluate(x), np.float64)
    fn = np.asarray(p_norm.evaluate(x), np.float64)
    np.testing.assert_allclose(
        fn, (fr - RE_IDEAL[name]) / (RE_NADIR[name] - RE_IDEAL[name]), rtol=1e-4, atol=1e-5
    )


def test_re_data_files_shipped_and_consistent():
    data = pathlib.Path(P.__file__).parent / "data"
    for name in RE:
        up = name.upper()
        for kind in ("pf", "ideal", "nadir"):
            assert (data / f"{kind}_{up}.dat").exists()
        np.testing.assert_allclose(np.loadtxt(data / f"ideal_{up}.dat"), RE_IDEAL[name])
        nad = np.loadtxt(data / f"nadir_{up}.dat")
        if name == "re21":  # the suite's RE21 nadir contradicts its own front (METHODS §12.5)
            assert not np.allclose(nad, RE_NADIR[name])
            np.testing.assert_allclose(
                np.loadtxt(data / f"pf_{up}.dat").max(0), RE_NADIR[name], rtol=1e-7
            )
        else:
            np.testing.assert_allclose(nad, RE_NADIR[name])
        if SHARED.exists():
            assert (data / f"pf_{up}.dat").read_bytes() == (SHARED / f"pf_{up}.dat").read_bytes()
    assert P.get("re36").pareto_front().shape == (28, 3)


def test_re_values_at_known_points(x64):
    """Extreme points of the suite's ideal vectors, reproduced by hand-computed designs."""
    r21 = P.get("re21")
    f = np.asarray(r21(jnp.asarray(r21.lower)))
    assert abs(f[0] - RE_IDEAL["re21"][0]) < 1e-9  # f1 = 200(2 + 2 + 2^{1/4} + 1)
    assert abs(f[0] - 200 * (5 + 2**0.25)) < 1e-9
    r24 = P.get("re24")
    assert abs(float(r24(jnp.asarray(r24.lower))[0]) - 60.5) < 1e-12
    r33 = P.get("re33")
    f = np.asarray(r33(jnp.array([80.0, 75.0, 3000.0, 20.0])))
    assert abs(f[0] - RE_IDEAL["re33"][0]) < 1e-9
    r36 = P.get("re36")
    assert float(r36(jnp.full(4, 12.0))[1]) == 12.0
    f = np.asarray(P.get("re37")(jnp.zeros(4)))
    np.testing.assert_allclose(f, [0.692, 0.153, 0.370])
    # RE24 constraint folding: at x = (4, 50) all four constraints hold ⇒ f2 = V = 0
    assert float(r24(jnp.array([4.0, 50.0]))[1]) == 0.0
    # RE33 f2 cancelled form equals the original formula
    x = np.array([60.0, 95.0, 2000.0, 15.0])
    a, b = x[1] ** 2 - x[0] ** 2, x[1] ** 3 - x[0] ** 3
    assert abs(float(r33(jnp.asarray(x))[1]) - 9.82e6 * a / (x[2] * x[3] * b)) < 1e-9


def test_re36_integer_flag():
    cont, integ = P.get("re36"), P.get("re36", integer=True)
    assert not cont.integer and integ.integer
    x = jnp.array([20.3, 31.6, 44.4, 50.2])
    np.testing.assert_allclose(integ(x), cont(jnp.round(x)), rtol=1e-6)
    assert not np.allclose(cont(x), integ(x))
    g = jax.grad(lambda v: integ(v)[0])(x)
    assert bool(jnp.all(g == 0))


# ---------------------------------------------------------------- ML and STCH-Set problems
def test_regression_toy():
    p = P.get("regression_toy")
    rs = np.random.RandomState(0)  # LibMOON's data
    xd, yd = rs.rand(40, 5), rs.rand(40, 2)
    w = np.array([0.3, -0.2, 0.5, 0.1, 0.7])
    z = xd @ w
    proj = z[:, None] @ z[None, :] / (z @ z)
    want = [yd[:, k] @ yd[:, k] - yd[:, k] @ proj @ yd[:, k] for k in range(2)]
    np.testing.assert_allclose(p(jnp.asarray(w, jnp.float32)), want, rtol=1e-5)
    # w = 0 is defined (no projection) and has finite gradients
    np.testing.assert_allclose(p(jnp.zeros(5)), np.sum(yd**2, axis=0), rtol=1e-6)
    assert bool(jnp.all(jnp.isfinite(jax.jit(jax.jacrev(p.fn))(jnp.zeros(5)))))
    # the true front dominates every published finite-set HV at ref (8, 8) (HV-Grad 16.286)
    assert 16.286 < hv(p.pareto_front(5000), [8, 8]) < 16.5
    # q = 2 ≥ m: a single ideal point, attained
    p2 = P.get("regression_toy", n_var=10)
    np.testing.assert_allclose(
        np.asarray(p2(jnp.asarray(p2.pareto_set(1)[0], jnp.float32))),
        p2.pareto_front(1)[0],
        rtol=1e-4,
    )


def test_stchset_problems():
    q = P.get("stchset_quadratic")
    assert (q.n_obj, q.n_var, q.bounded) == (128, 10, False)
    with pytest.raises(ValueError, match="unconstrained"):
        q.sample(jax.random.key(0), 2)
    lin = P.get("stchset_linear_regression")
    f = np.asarray(lin.evaluate(np.asarray(lin.params["centers"], np.float32)))  # [5, 1000]
    cluster = np.arange(1000) % 5
    own = f[cluster, np.arange(1000)]
    assert own.mean() < 0.02 and f.min(0).mean() < 0.02  # σ² = 0.01: the centres cover the data
    assert f.mean() > 1.0  # a single centre does not
    nl = P.get("stchset_nonlinear_regression")
    assert (nl.n_obj, nl.n_var) == (1000, 121)
    assert np.all(np.asarray(nl(jnp.zeros(121))) >= 0)
    assert not np.allclose(P.get("stchset_quadratic", seed=1)(jnp.ones(10)), q(jnp.ones(10)))


# ------------------------------------------------------------------------------ utilities
def test_problem_utilities():
    p = P.get("zdt4")
    u = jnp.linspace(0, 1, 10)
    x = p.from_unit(u)
    np.testing.assert_allclose(x[0], 0.0)
    np.testing.assert_allclose(x[1:], -5 + 10 * u[1:], rtol=1e-6)
    np.testing.assert_allclose(p.to_unit(x), u, atol=1e-6)
    np.testing.assert_allclose(p.clip(jnp.full(10, 9.0))[0], 1.0)
    s = np.asarray(p.sample(jax.random.key(0), 50))
    assert s.shape == (50, 10) and np.all((s >= p.lower) & (s <= p.upper))
    assert p.evaluate(np.zeros((2, 3, 10))).shape == (2, 3, 2)
    with pytest.raises(ValueError):
        P.get("re21").pareto_set()
    with pytest.raises(ValueError):
        P.get("stchset_quadratic").pareto_front()
    assert "zdt4" in repr(p)


def test_jit_and_gradients():
    """Problems are pure jax: jit and jacrev work and give finite Jacobians in the interior."""
    rng = np.random.default_rng(5)
    for name in ["zdt1", "dtlz2", "pslmobo_f6", "re33", "fonseca_fleming"]:
        p = P.get(name)
        x = jnp.asarray(interior(p, rng, 1)[0], jnp.float32)
        np.testing.assert_allclose(p(x), p.evaluate(x[None])[0], rtol=1e-5)
        jac = jax.jit(jax.jacrev(p.fn))(x)
        assert jac.shape == (p.n_obj, p.n_var) and bool(jnp.all(jnp.isfinite(jac)))
    # distance-function singularities at the Pareto set are kept finite (ZDT6, DTLZ6)
    for name in ["zdt6", "dtlz6"]:
        p = P.get(name)
        x = jnp.asarray(p.pareto_set(3)[1], jnp.float32)
        assert bool(jnp.all(jnp.isfinite(jax.jit(jax.jacrev(p.fn))(x))))


def test_helpers():
    g = simplex_grid(3, 91)
    assert g.shape == (91, 3) and np.allclose(g.sum(1), 1)
    assert simplex_grid(2, 7).shape == (7, 2)
    y = np.array([[0, 1], [1, 0], [1, 1], [0.5, 0.5]])
    assert nondominated_mask(y).tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    "name,floor", [("stch_f1", 5.10e-3), ("stch_f4", 4.84e-3), ("stch_f6", 4.84e-3)]
)
def test_stch_discretisation_floor(name, floor):
    """METHODS §1.3: exact TCH-optimal points for the 100 evaluation preferences
    (linspace(0, 1, 100)) have ΔHV 5.10e-3 (F1–F3) / 4.84e-3 (F4–F6) at ref 1.1."""
    p = P.get(name)
    ys = np.asarray(p.evaluate(p.pareto_set(20001).astype(np.float32)), np.float64)
    lam1 = np.linspace(0.0, 1.0, 100)
    lam = np.stack([lam1, 1.0 - lam1], 1)
    tch = np.max(lam[:, None, :] * ys[None, :, :], axis=2)  # [100, 20001]
    pts = ys[np.argmin(tch, axis=1)]
    assert abs(p.hv_true - hv(pts, p.hv_ref) - floor) < 5e-5
