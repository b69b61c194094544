"""Mixed precision: bfloat16 / float16 parameters, Gram and solvers in float32 (issue #10).

``pj.gram`` accumulates in float32 whatever the parameter dtype, the m × m solvers return
float32 weights, and ``pj.combine`` / every transform returns the update in each leaf's dtype.
A short bf16/f16 training run reduces both losses and its first update points the same way as
the float32 run's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import paretojax as pj

LOW = [jnp.bfloat16, jnp.float16]
METHODS = {"mgda": pj.mgda, "upgrad": pj.upgrad}


def _problem():
    kx, k1, k2 = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, (64, 8))
    y = jnp.stack([jnp.sin(x[:, 0]) + x[:, 1], x[:, 2] - x[:, 1]], 1)  # two related tasks
    params = {"w1": jax.random.normal(k1, (8, 32)) / 3, "b1": jnp.zeros(32),
              "w2": jax.random.normal(k2, (32, 2)) / 6}
    return params, x, y


def task_losses(p, x, y):
    h = jnp.tanh(x.astype(p["w1"].dtype) @ p["w1"] + p["b1"][None, :])
    out = h @ p["w2"]
    return jnp.mean((out - y.astype(out.dtype)) ** 2, axis=0)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype), tree)


def _flat(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.concatenate([jnp.ravel(a).astype(jnp.float32) for a in leaves])


@pytest.mark.parametrize("dtype", LOW)
def test_gram_and_weights_are_float32(dtype):
    params, x, y = _problem()
    _, jac = pj.value_and_jacobian(task_losses)(_cast(params, dtype), x, y)
    assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves(jac))
    g = pj.gram(jac)
    assert g.dtype == jnp.float32
    # the products are exact in float32 up to rounding of the sums: compare with the upcast J
    g_ref = pj.gram(_cast(jac, jnp.float32))
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-5, atol=1e-6)
    assert pj.min_norm(g).dtype == jnp.float32
    for factory in METHODS.values():
        tx = factory(num_tasks=2)
        state = tx.init(params)
        upd, state = jax.jit(tx.update)(jac, state, None)
        assert state.weights.dtype == jnp.float32
        assert [u.dtype for u in jax.tree_util.tree_leaves(upd)] == [dtype] * 3
        assert int(state.skipped) == 0


@pytest.mark.parametrize("dtype", LOW)
def test_weight_functions_on_low_precision_gram(dtype):
    """Weights computed from a Gram handed over in low precision are float32 too."""
    params, x, y = _problem()
    _, jac = pj.value_and_jacobian(task_losses)(params, x, y)
    g = pj.gram(jac)
    w_mgda, _ = pj.mgda_weights(g.astype(dtype).astype(jnp.float32))
    assert w_mgda.dtype == jnp.float32
    upd = pj.combine(w_mgda, _cast(jac, dtype))
    assert [u.dtype for u in jax.tree_util.tree_leaves(upd)] == [dtype] * 3


def _train(tx, params, x, y, steps):
    @jax.jit
    def step(p, s):
        losses, jac = pj.value_and_jacobian(task_losses)(p, x, y)
        upd, s = tx.update(jac, s, p, task_losses=losses)
        return optax.apply_updates(p, upd), s, losses, upd

    s = tx.init(params)
    hist, first = [], None
    for _ in range(steps):
        params, s, losses, upd = step(params, s)
        first = upd if first is None else first
        hist.append(losses.astype(jnp.float32))
    final = task_losses(params, x, y).astype(jnp.float32)
    return params, jnp.stack(hist + [final]), first, s


def _tx(method):
    return optax.chain(METHODS[method](num_tasks=2), optax.sgd(0.05))


@functools.cache
def _f32_run(method):
    params, x, y = _problem()
    return _train(_tx(method), params, x, y, steps=10)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("method", list(METHODS))
def test_low_precision_training(dtype, method):
    params, x, y = _problem()
    p16, hist16, first16, s16 = _train(_tx(method), _cast(params, dtype), x, y, steps=10)
    _, hist32, first32, _ = _f32_run(method)
    assert all(a.dtype == dtype for a in jax.tree_util.tree_leaves(p16))
    assert s16[0].weights.dtype == jnp.float32 and int(s16[0].skipped) == 0
    assert all(u.dtype == dtype for u in jax.tree_util.tree_leaves(first16))
    # both losses decrease in low precision
    assert bool(jnp.all(hist16[-1] < hist16[0])), hist16
    # the first update has the float32 run's direction
    a, b = _flat(first16), _flat(first32)
    cos = float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))
    assert cos > 0.99, cos
    print(f"{method} {jnp.dtype(dtype).name}: cos={cos:.5f} losses {hist16[0]} -> {hist16[-1]}"
          f" (f32 {hist32[-1]})")
    # and the low-precision trajectory stays close to the float32 one
    np.testing.assert_allclose(np.asarray(hist16[-1]), np.asarray(hist32[-1]), rtol=0.1)
