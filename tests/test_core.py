"""Core layer: Jacobian, Gram, combine and simplex utilities."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import paretojax as pj
from paretojax.core import check_pref, num_tasks, pref_is_valid
from tests.helpers import G_BASE, J_BASE


def _loss_vector(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    out = h @ params["w2"]
    return jnp.stack([jnp.mean(out[:, 0] ** 2), jnp.mean((out[:, 1] - 1.0) ** 2), jnp.sum(params["b1"])])


def _params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (4, 5)),
        "b1": jnp.zeros((5,)),
        "w2": jax.random.normal(k2, (5, 2)),
    }


def test_value_and_jacobian_matches_jacrev():
    params = _params(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 4))
    losses, jac = pj.value_and_jacobian(_loss_vector)(params, x)
    np.testing.assert_allclose(losses, _loss_vector(params, x), rtol=1e-6)
    ref = jax.jacrev(_loss_vector)(params, x)
    for k in params:
        assert jac[k].shape == (3, *params[k].shape)
        np.testing.assert_allclose(jac[k], ref[k], rtol=1e-5, atol=1e-6)


def test_value_and_jacobian_jit_vmap_over_param_sets():
    keys = jax.random.split(jax.random.key(0), 7)
    stacked = jax.vmap(_params)(keys)
    x = jax.random.normal(jax.random.key(1), (8, 4))
    f = jax.jit(jax.vmap(pj.value_and_jacobian(_loss_vector), in_axes=(0, None)))
    losses, jac = f(stacked, x)
    assert losses.shape == (7, 3)
    assert jac["w1"].shape == (7, 3, 4, 5)
    one = pj.value_and_jacobian(_loss_vector)(jax.tree.map(lambda a: a[3], stacked), x)
    np.testing.assert_allclose(jac["w2"][3], one[1]["w2"], rtol=1e-5, atol=1e-6)


def test_value_and_jacobian_aux_and_argnums():
    def f(a, b):
        return jnp.stack([jnp.sum(a * b), jnp.sum(a**2)]), {"n": jnp.sum(b)}

    (losses, aux), (ja, jb) = pj.value_and_jacobian(f, argnums=(0, 1), has_aux=True)(
        jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])
    )
    np.testing.assert_allclose(losses, [11.0, 5.0])
    assert float(aux["n"]) == 7.0
    np.testing.assert_allclose(ja, [[3.0, 4.0], [2.0, 4.0]])
    np.testing.assert_allclose(jb, [[1.0, 2.0], [0.0, 0.0]])


def test_value_and_jacobian_flax_nnx_state():
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    x = jnp.ones((4, 3))

    def losses(st):
        out = nnx.merge(graphdef, st)(x)
        return jnp.mean(out**2, axis=0)

    f, jac = jax.jit(pj.value_and_jacobian(losses))(state)
    assert f.shape == (2,)
    assert jac["kernel"][...].shape == (2, 3, 2)
    g = pj.gram(jac)
    assert g.shape == (2, 2)


def test_value_and_jacobian_rejects_non_vector():
    with pytest.raises(ValueError, match="1-D loss vector"):
        pj.value_and_jacobian(lambda p: jnp.sum(p))(jnp.ones(3))
    with pytest.raises(ValueError, match="empty"):
        pj.value_and_jacobian(lambda p: p[:0])(jnp.ones(3))


def test_gram_and_combine_golden():
    jac = {"a": jnp.asarray(J_BASE[:, :1], jnp.float32), "b": jnp.asarray(J_BASE[:, 1:], jnp.float32)}
    np.testing.assert_allclose(pj.gram(jac), G_BASE)
    upd = pj.combine(jnp.array([0.6, 0.4]), jac)
    np.testing.assert_allclose(upd["a"], [0.0], atol=1e-6)
    np.testing.assert_allclose(upd["b"], [1.0, 1.0], atol=1e-6)


def test_gram_accumulates_in_float32_for_bf16():
    rng = np.random.default_rng(0)
    j = rng.standard_normal((3, 2000)).astype(np.float32)
    jac = {"w": jnp.asarray(j, jnp.bfloat16)}
    g = pj.gram(jac)
    assert g.dtype == jnp.float32
    jb = np.asarray(jnp.asarray(j, jnp.bfloat16).astype(jnp.float32))
    np.testing.assert_allclose(g, jb @ jb.T, rtol=1e-4)
    assert pj.combine(jnp.ones(3) / 3, jac)["w"].dtype == jnp.bfloat16


def test_gram_float64(x64):
    jac = {"w": jnp.asarray(J_BASE)}
    assert pj.gram(jac).dtype == jnp.float64


def test_num_tasks_errors():
    with pytest.raises(ValueError, match="disagree"):
        num_tasks({"a": jnp.ones((2, 3)), "b": jnp.ones((3, 3))})
    with pytest.raises(ValueError, match="scalar leaf"):
        num_tasks({"a": jnp.ones(())})
    with pytest.raises(ValueError, match="m = 0"):
        num_tasks({"a": jnp.ones((0, 3))})
    with pytest.raises(ValueError, match="no leaves"):
        num_tasks({})
    with pytest.raises(ValueError, match="shape"):
        pj.combine(jnp.ones(3), {"a": jnp.ones((2, 3))})


@pytest.mark.parametrize("m", [1, 2, 5, 17])
def test_project_simplex_kkt(m, rng):
    v = rng.standard_normal((200, m)) * 3
    x = np.asarray(pj.project_simplex(jnp.asarray(v)))
    assert np.all(x >= 0)
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-5)
    # KKT: x = max(v - tau, 0) with one tau per row; on the support v - x is constant.
    tau = v - x
    for row_t, row_x in zip(tau, x, strict=True):
        sup = row_x > 1e-7
        assert np.ptp(row_t[sup]) < 1e-4
        assert np.all(row_t[~sup] <= row_t[sup].mean() + 1e-4)


def test_project_simplex_batched_and_fixed_point(rng):
    p = rng.dirichlet(np.ones(4), size=10).astype(np.float32)
    np.testing.assert_allclose(pj.project_simplex(jnp.asarray(p)), p, atol=1e-6)
    v = jnp.asarray(rng.standard_normal((3, 5, 4)), jnp.float32)
    np.testing.assert_allclose(
        pj.project_simplex(v), jax.vmap(jax.vmap(pj.project_simplex))(v), atol=1e-6
    )


def test_sample_dirichlet():
    p = pj.sample_dirichlet(jax.random.key(0), 3, 1000, concentration=1.0)
    assert p.shape == (1000, 3)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert float(p.min()) >= 0
    np.testing.assert_allclose(p.mean(0), 1 / 3, atol=0.03)
    same = pj.sample_dirichlet(jax.random.key(0), 3, 1000)
    np.testing.assert_array_equal(p, same)
    with pytest.raises(ValueError):
        pj.sample_dirichlet(jax.random.key(0), 0)


@pytest.mark.parametrize(("m", "h", "n"), [(2, 99, 100), (3, 12, 91), (3, 44, 1035), (4, 6, 84), (3, 13, 105)])
def test_das_dennis_counts(m, h, n):
    p = np.asarray(pj.das_dennis(m, h))
    assert p.shape == (n, m) == (math.comb(h + m - 1, m - 1), m)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    assert len({tuple(np.round(r * h).astype(int)) for r in p}) == n


def test_linspace_prefs():
    p = np.asarray(pj.linspace_prefs(8, eps=0.01))
    np.testing.assert_allclose(p[:, 0], np.linspace(0.01, 0.99, 8), atol=1e-6)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        pj.linspace_prefs(0)


def test_check_pref():
    check_pref(jnp.array([0.3, 0.7]), 2)
    with pytest.raises(ValueError, match="shape"):
        check_pref(jnp.array([0.3, 0.7]), 3)
    with pytest.raises(ValueError, match="sum to 1"):
        check_pref(jnp.array([0.3, 0.3]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        check_pref(jnp.array([-0.5, 1.5]), 2)
    with pytest.raises(ValueError, match="non-finite"):
        check_pref(jnp.array([jnp.nan, 1.0]), 2)
    assert bool(pref_is_valid(jnp.array([0.5, 0.5])))
    assert not bool(jax.jit(pref_is_valid)(jnp.array([0.9, 0.5])))


def test_import_keeps_optional_packages_off_the_path():
    import subprocess
    import sys

    code = (
        "import sys, paretojax as pj; pj.methods(); "
        "bad = [m for m in ('jaxopt', 'torch', 'sklearn', 'matplotlib') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
