"""The optax glue: validation at the API edge and the non-finite policy inside jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import paretojax as pj
from paretojax.transforms import Weighting, as_transform, jacobian_transform
from tests.helpers import J_BASE


def _jac():
    return {"a": jnp.asarray(J_BASE[:, :1], jnp.float32), "b": jnp.asarray(J_BASE[:, 1:], jnp.float32)}


def _pref_weighting():
    """A stateful toy weighting: weights = pref, state counts calls."""

    def fn(gram, losses, state, pref):
        return pref, state + 1

    return Weighting(init=lambda: jnp.zeros((), jnp.int32), weights=fn, name="toy", needs_pref=True)


def test_linear_golden_and_chain():
    tx = optax.chain(pj.linear(), optax.sgd(1.0))
    params = {"a": jnp.zeros(1), "b": jnp.zeros(2)}
    upd, _ = tx.update(_jac(), tx.init(params), params)
    np.testing.assert_allclose(upd["a"], [-1.0])
    np.testing.assert_allclose(upd["b"], [-1.0, -1.0])
    upd, _ = pj.linear(reduction="sum").update(_jac(), pj.linear().init(params))
    np.testing.assert_allclose(upd["b"], [2.0, 2.0])


def test_extra_args_are_keyword_and_unknown_ignored():
    tx = optax.chain(pj.linear(), optax.adam(1e-3))
    params = {"a": jnp.zeros(1), "b": jnp.zeros(2)}
    state = tx.init(params)
    upd, _ = jax.jit(tx.update)(_jac(), state, params, task_losses=jnp.ones(2), something=3)
    assert upd["b"].shape == (2,)


def test_shape_errors_are_clear():
    tx = pj.linear()
    st = tx.init(None)
    with pytest.raises(ValueError, match="task_losses must have shape"):
        tx.update(_jac(), st, task_losses=jnp.ones(3))
    with pytest.raises(ValueError, match="disagree"):
        tx.update({"a": jnp.ones((2, 1)), "b": jnp.ones((3, 1))}, st)
    with pytest.raises(ValueError, match="m = 0"):
        tx.update({"a": jnp.ones((0, 4))}, st)
    with pytest.raises(ValueError, match="num_tasks=3"):
        pj.linear(num_tasks=3).update(_jac(), pj.linear(num_tasks=3).init(None))
    tx = as_transform(_pref_weighting())
    with pytest.raises(ValueError, match="needs a preference"):
        tx.update(_jac(), tx.init(None))
    with pytest.raises(ValueError, match="sum to 1"):
        tx.update(_jac(), tx.init(None), pref=jnp.array([0.2, 0.2]))


def test_concrete_nan_losses_raise():
    tx = pj.linear()
    with pytest.raises(ValueError, match="NaN or inf"):
        tx.update(_jac(), tx.init(None), task_losses=jnp.array([1.0, jnp.nan]))


@pytest.mark.parametrize("bad", ["jac_nan", "jac_inf", "loss_nan", "pref_off"])
def test_nonfinite_inside_jit_skips_step(bad):
    tx = as_transform(_pref_weighting(), num_tasks=2)
    state = tx.init(None)
    jac = _jac()
    losses = jnp.ones(2)
    pref = jnp.array([0.5, 0.5])
    if bad == "jac_nan":
        jac = {**jac, "b": jac["b"].at[0, 1].set(jnp.nan)}
    elif bad == "jac_inf":
        jac = {**jac, "a": jac["a"].at[1, 0].set(jnp.inf)}
    elif bad == "loss_nan":
        losses = losses.at[0].set(jnp.nan)
    else:
        pref = jnp.array([0.9, 0.9])
    upd, new_state = jax.jit(tx.update)(jac, state, task_losses=losses, pref=pref)
    for leaf in jax.tree.leaves(upd):
        np.testing.assert_array_equal(leaf, 0.0)
    assert int(new_state.skipped) == 1
    assert int(new_state.inner) == 0  # the method state did not advance
    np.testing.assert_array_equal(new_state.weights, 0.0)
    # a good step afterwards proceeds normally
    upd, st2 = jax.jit(tx.update)(_jac(), new_state, task_losses=jnp.ones(2), pref=jnp.array([0.6, 0.4]))
    np.testing.assert_allclose(upd["b"], [1.0, 1.0], atol=1e-6)
    assert int(st2.inner) == 1 and int(st2.skipped) == 1
    np.testing.assert_allclose(st2.weights, [0.6, 0.4])


def test_jacobian_transform_nonfinite_policy():
    def fn(jac, losses, state, pref):
        return jax.tree.map(lambda x: jnp.sum(x, axis=0), jac), state

    tx = jacobian_transform(fn, name="sum")
    jac = {**_jac(), "a": _jac()["a"].at[0, 0].set(jnp.nan)}
    upd, st = jax.jit(tx.update)(jac, tx.init(None))
    np.testing.assert_array_equal(upd["a"], 0.0)
    assert int(st.skipped) == 1
    upd, st = jax.jit(tx.update)(_jac(), st)
    np.testing.assert_allclose(upd["a"], [2.0])


def test_vmap_over_preferences():
    tx = as_transform(_pref_weighting())
    prefs = pj.linspace_prefs(5)
    state = tx.init(None)

    def one(p):
        return tx.update(_jac(), state, pref=p)[0]

    out = jax.jit(jax.vmap(one))(prefs)
    assert out["b"].shape == (5, 2)
    np.testing.assert_allclose(out["a"][:, 0], prefs @ J_BASE[:, 0], atol=1e-5)
