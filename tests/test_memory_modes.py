"""Memory modes (issue #10): chunked Jacobian, blocked Gram and the Gram-only step.

* ``value_and_jacobian(..., chunk_size=k)`` equals the one-shot Jacobian for every k;
* ``gram(J, block_size=b)`` equals the unblocked contraction (and a float64 NumPy reference);
* ``value_and_gram`` equals ``gram(J)`` without building J;
* ``make_gram_step`` trains exactly like ``make_step`` with the same weighting, for Gram-level,
  stateful and loss-level weightings, and under ``jit``/``vmap``;
* the compiled Gram-only step needs less temporary memory than the Jacobian step (XLA's
  ``memory_analysis``), and bad chunk/block sizes raise ``ValueError``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import paretojax as pj
from paretojax.core._autogram import value_and_gram
from paretojax.gram_step import make_gram_step

M = 4


def _problem(m: int = M, width: int = 16, batch: int = 32):
    kx, ky, k1, k2, k3 = jax.random.split(jax.random.key(3), 5)
    x = jax.random.normal(kx, (batch, 6))
    y = jax.random.normal(ky, (batch, m))
    params = {
        "trunk": {"w": jax.random.normal(k1, (6, width)) / 3, "b": jnp.zeros(width)},
        "heads": jax.random.normal(k2, (width, m)) / 4,
        "scale": jax.random.normal(k3, ()),
    }

    def losses(p, x, y):
        h = jnp.tanh(x @ p["trunk"]["w"] + p["trunk"]["b"][None, :])
        pred = (h @ p["heads"]) * (1.0 + 0.1 * p["scale"])
        return jnp.mean((pred - y) ** 2, axis=0)

    return params, (x, y), losses


def _maxdiff(a, b) -> float:
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in
               zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True))


def test_chunked_jacobian_equals_one_shot():
    params, batch, f = _problem()
    l0, j0 = pj.value_and_jacobian(f)(params, *batch)
    chunks = (1, 3, M + 5)  # 3 leaves a ragged last chunk; M + 5 is the one-shot path
    outs = jax.jit(lambda p, x, y: [pj.value_and_jacobian(f, chunk_size=c)(p, x, y)
                                    for c in chunks])(params, *batch)
    for l1, j1 in outs:
        np.testing.assert_allclose(l1, l0, rtol=1e-6)
        assert jax.tree_util.tree_structure(j0) == jax.tree_util.tree_structure(j1)
        assert _maxdiff(j0, j1) <= 1e-6


def test_chunked_jacobian_argnums_aux_and_vmap():
    params, (x, y), f = _problem()

    def g(p, x, y):
        return f(p, x, y), jnp.sum(x)

    ref = pj.value_and_jacobian(g, argnums=(0, 1), has_aux=True)(params, x, y)
    got = pj.value_and_jacobian(g, argnums=(0, 1), has_aux=True, chunk_size=3)(params, x, y)
    assert _maxdiff(ref, got) <= 1e-6
    # vmap over K = 2 parameter sets.
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2.0 * a]), params)
    vr = jax.vmap(lambda p: pj.value_and_jacobian(f)(p, x, y))(stacked)
    vc = jax.vmap(lambda p: pj.value_and_jacobian(f, chunk_size=2)(p, x, y))(stacked)
    assert _maxdiff(vr, vc) <= 1e-5


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_chunk_size_raises(bad):
    _, _, f = _problem()
    with pytest.raises(ValueError, match="chunk_size"):
        pj.value_and_jacobian(f, chunk_size=bad)
    with pytest.raises(ValueError, match="chunk_size"):
        value_and_gram(f, chunk_size=bad)
    with pytest.raises(ValueError, match="chunk_size"):
        make_gram_step(f, pj.mgda_weighting(), optax.sgd(0.1), chunk_size=bad)
    with pytest.raises(ValueError, match="block_size"):
        pj.gram({"a": jnp.ones((2, 3))}, block_size=bad)


def test_blocked_gram_equals_plain_and_reference():
    ks = jax.random.split(jax.random.key(0), 4)
    jac = {
        "small": jax.random.normal(ks[0], (3, 5)),           # below the threshold
        "exact": jax.random.normal(ks[1], (3, 4, 8)),        # 32 = 4 whole blocks of 8
        "ragged": jax.random.normal(ks[2], (3, 7, 11)),      # 77 = 9 blocks + remainder 5
        "low": jax.random.normal(ks[3], (3, 50)).astype(jnp.bfloat16),
    }
    ref = sum(np.asarray(v, np.float64).reshape(3, -1) @ np.asarray(v, np.float64).reshape(3, -1).T
              for v in jax.tree_util.tree_leaves(jac))
    plain, *blocked = jax.jit(lambda j: [pj.gram(j, block_size=b) for b in (None, 8, 1000)])(jac)
    for got in blocked:
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(got, got.T)
    # The default block (16384) on a leaf large enough to be blocked, and under vmap.
    big = {"w": jax.random.normal(ks[0], (2, 3, 40000))}
    g_def, g_one, vb = jax.jit(lambda b, r: (
        pj.gram(b), pj.gram(b, block_size=None),
        jax.vmap(lambda j: pj.gram(j, block_size=8))(r[None])))(big, jac["ragged"])
    np.testing.assert_allclose(g_def, g_one, rtol=1e-5)
    np.testing.assert_allclose(vb[0], pj.gram(jac["ragged"], block_size=None),
                               rtol=1e-5)


def test_value_and_gram_equals_gram_of_jacobian():
    params, batch, f = _problem()
    l0, j0 = pj.value_and_jacobian(f)(params, *batch)
    outs = jax.jit(lambda p, x, y: [value_and_gram(f, chunk_size=c)(p, x, y)
                                    for c in (None, 3)])(params, *batch)
    for l1, g1 in outs:
        np.testing.assert_allclose(l1, l0, rtol=1e-6)
        np.testing.assert_allclose(g1, pj.gram(j0), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(g1, g1.T)
    (l2, aux), g2 = value_and_gram(lambda p, x, y: (f(p, x, y), 7.0), has_aux=True)(params, *batch)
    assert float(aux) == 7.0
    np.testing.assert_allclose(g2, g1, rtol=1e-5)  # two programs: float32 last-bit differences


WEIGHTINGS = {
    "mgda": lambda: pj.mgda_weighting(),
    "nash_mtl": lambda: pj.nash_mtl_weighting(M),       # stateful
    "linear": lambda: pj.linear_weighting(),            # loss-level: one backward pass
}
# Same check for the remaining Gram-level methods of the overhead bench (compile-heavy).
MORE_WEIGHTINGS = {
    "upgrad": lambda: pj.upgrad_weighting(),
    "cagrad": lambda: pj.cagrad_weighting(),
    "imtl_g": lambda: pj.imtl_g_weighting(),
    "aligned_mtl": lambda: pj.aligned_mtl_weighting(),
}


@pytest.mark.parametrize("name", [
    *sorted(WEIGHTINGS),
    *[pytest.param(n, marks=pytest.mark.slow) for n in sorted(MORE_WEIGHTINGS)],
])
def test_gram_step_equals_jacobian_step(name):
    params, batch, f = _problem()
    w = {**WEIGHTINGS, **MORE_WEIGHTINGS}[name]()
    tx = optax.chain(pj.as_transform(w, num_tasks=M), optax.adam(1e-2))
    jstep = pj.make_step(f, tx)
    gs = make_gram_step(f, w, optax.adam(1e-2), num_tasks=M, chunk_size=3)
    p_j, s_j = params, tx.init(params)
    p_g, s_g = params, gs.init(params)
    for _ in range(3):
        p_j, s_j, o_j = jstep(p_j, s_j, batch)
        p_g, s_g, o_g = gs.step(p_g, s_g, batch)
        np.testing.assert_allclose(o_g["losses"], o_j["losses"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(o_g["weights"], o_j["weights"], rtol=2e-4, atol=2e-5)
    assert _maxdiff(p_g, p_j) <= 1e-4
    np.testing.assert_allclose(s_g.method.weights, o_g["weights"])
    assert int(s_g.method.skipped) == 0
    assert float(jnp.sum(o_g["losses"])) < float(jnp.sum(f(params, *batch)))


def test_gram_step_under_jit_vmap_and_aux():
    params, (x, y), f = _problem()
    gs = make_gram_step(lambda p, x, y: (f(p, x, y), x.shape[0]), pj.imtl_g_weighting(),
                        optax.sgd(0.1), has_aux=True, jit=False)
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 0.5 * a]), params)
    states = jax.vmap(gs.init)(stacked)
    new_p, _, out = jax.jit(jax.vmap(gs.step, in_axes=(0, 0, None)))(stacked, states, (x, y))
    for k in range(2):
        pk = jax.tree_util.tree_map(lambda a, k=k: a[k], stacked)
        one, _, o1 = jax.jit(gs.step)(pk, gs.init(pk), (x, y))
        assert _maxdiff(jax.tree_util.tree_map(lambda a, k=k: a[k], new_p), one) <= 1e-5
        np.testing.assert_allclose(out["weights"][k], o1["weights"], rtol=1e-4, atol=1e-6)
    assert int(out["aux"][0]) == x.shape[0]


def test_gram_step_skips_non_finite_and_validates():
    params, (x, y), f = _problem()
    gs = make_gram_step(f, pj.imtl_g_weighting(), optax.sgd(0.1))
    state = gs.init(params)
    bad_y = y.at[0, 1].set(jnp.nan)
    new_p, new_s, out = gs.step(params, state, (x, bad_y))
    assert _maxdiff(new_p, params) == 0.0
    assert int(new_s.method.skipped) == 1
    np.testing.assert_array_equal(out["weights"], jnp.zeros(M))
    with pytest.raises(ValueError, match="Weighting"):
        make_gram_step(f, pj.mgda(), optax.sgd(0.1))
    with pytest.raises(ValueError, match="1-D loss vector"):
        make_gram_step(lambda p, x, y: f(p, x, y)[None, :], pj.mgda_weighting(),
                       optax.sgd(0.1)).step(params, state, (x, y))
    with pytest.raises(ValueError, match="num_tasks"):
        gs3 = make_gram_step(f, pj.mgda_weighting(), optax.sgd(0.1), num_tasks=3)
        gs3.step(params, gs3.init(params), (x, y))


def test_gram_step_needs_less_memory_than_jacobian_step():
    """Compiled temp memory (XLA memory_analysis) on a wide trunk: the Jacobian step holds
    m × d (≈ 8 × 0.1 MB here); the Gram-only step with chunk 1 holds about one gradient."""
    m, width = 8, 128
    params, batch, f = _problem(m=m, width=width, batch=16)
    params["trunk2"] = jnp.eye(width) * 0.5

    def f2(p, x, y):
        h = jnp.tanh(x @ p["trunk"]["w"] + p["trunk"]["b"][None, :])
        h = jnp.tanh(h @ p["trunk2"])
        return jnp.mean((h @ p["heads"] - y) ** 2, axis=0)

    w = pj.imtl_g_weighting()
    tx = optax.chain(pj.as_transform(w), optax.sgd(0.1))
    jstep = pj.make_step(f2, tx)
    gs = make_gram_step(f2, w, optax.sgd(0.1), chunk_size=1)

    def temp(fn, *args) -> int:
        stats = fn.lower(*args).compile().memory_analysis()
        return int(stats.temp_size_in_bytes)

    t_jac = temp(jstep, params, tx.init(params), batch)
    t_gram = temp(gs.step, params, gs.init(params), batch)
    d_bytes = 4 * sum(a.size for a in jax.tree_util.tree_leaves(params))
    assert t_jac >= m * d_bytes  # the Jacobian is materialised
    assert t_gram < 0.5 * t_jac


def test_gram_block_size_setting():
    from paretojax.core import jacobian as jmod

    leaf = {"w": jnp.ones((2, 3, 40000))}
    # Fresh functions: the setting is read when a function is traced (jit caches the trace).
    blocked = jax.jit(lambda j: pj.gram(j)).lower(leaf).as_text()
    try:
        jmod.set_gram_block_size(None)
        plain = jax.jit(lambda j: pj.gram(j)).lower(leaf).as_text()
        with pytest.raises(ValueError, match="block_size"):
            jmod.set_gram_block_size(0)
    finally:
        jmod.set_gram_block_size(jmod.GRAM_BLOCK)
    assert "while" in blocked and "while" not in plain  # the fixed-trip block loop
    with pytest.raises(ValueError, match="auto"):
        pj.gram(leaf, block_size="fast")
