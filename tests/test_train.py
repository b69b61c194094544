"""The training-loop helper: make_step (one jitted pure step) and fit."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paretojax._progress import Progress
from paretojax.balancing import dwa, dwa_epoch_end, uw
from paretojax.core.jacobian import value_and_jacobian
from paretojax.scalarization import stch, stch_loss, tch
from paretojax.train import find_weights, fit, make_step
from paretojax.weighting import linear


def _problem(n=48, seed=0):
    """Two regression tasks sharing a hidden layer: x ∈ R³, targets y₁ = Σx, y₂ = x₀ − x₁."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = np.stack([x.sum(1), x[:, 0] - 2.0 * x[:, 1]], axis=1).astype(np.float32)
    params = {
        "w1": jnp.asarray(0.5 * rng.normal(size=(3, 8)), jnp.float32),
        "w2": jnp.asarray(0.5 * rng.normal(size=(8, 2)), jnp.float32),
    }
    return jnp.asarray(x), jnp.asarray(y), params


def _losses(params, x, y):
    h = jnp.tanh(x @ params["w1"])
    return jnp.mean((h @ params["w2"] - y) ** 2, axis=0)


def test_make_step_matches_manual_pipeline():
    x, y, params = _problem()
    tx = optax.chain(stch(mu=0.1, num_tasks=2), optax.sgd(0.05))
    p = jnp.array([0.3, 0.7])
    step = make_step(_losses, tx)
    new_params, new_state, out = step(params, tx.init(params), (x, y), p)

    @jax.jit
    def manual(params, x, y, p):
        # value_and_jacobian → tx.update → apply_updates, written out
        losses, jac = value_and_jacobian(_losses)(params, x, y)
        upd, _ = tx.update(jac, tx.init(params), params, task_losses=losses, pref=p)
        w = jax.grad(lambda f: stch_loss(f, p, mu=0.1))(losses)
        # the one-backward-pass gradient of the scalarized loss
        g = jax.grad(lambda q: stch_loss(_losses(q, x, y), p, mu=0.1))(params)
        return optax.apply_updates(params, upd), losses, w, g

    ref, losses, w, g = manual(params, x, y, p)
    for k in params:
        np.testing.assert_allclose(new_params[k], ref[k], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["losses"], losses, rtol=1e-6)
    np.testing.assert_allclose(out["weights"], w, rtol=1e-5)
    np.testing.assert_allclose(find_weights(new_state), w, rtol=1e-5)
    for k in params:
        np.testing.assert_allclose(params[k] - 0.05 * g[k], new_params[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name",
    ["linear", "stch", "tch", "dwa", "uw"],
)
def test_fit_decreases_losses(name):
    x, y, params = _problem()
    kw = {}
    if name == "linear":
        tx = optax.chain(linear(num_tasks=2), optax.adam(0.03))
    elif name == "stch":
        tx = optax.chain(stch(mu=0.1, num_tasks=2), optax.adam(0.03))
        kw["pref"] = jnp.array([0.4, 0.6])
    elif name == "tch":
        tx = optax.chain(tch(num_tasks=2), optax.adam(0.03))
        kw["pref"] = jnp.array([0.5, 0.5])
    elif name == "dwa":
        tx = optax.chain(dwa(num_tasks=2), optax.adam(0.03))
        kw["epoch_end"] = dwa_epoch_end
    else:
        tx = optax.chain(uw(num_tasks=2, optimizer=optax.adam(0.03)), optax.adam(0.03))
    new_params, hist = fit(_losses, params, tx, (x, y), steps=60, batch_size=16,
                           key=jax.random.key(1), progress=False, **kw)
    L = hist["losses"]
    assert L.shape == (60, 2) and np.all(np.isfinite(L))
    assert hist["weights"].shape == (60, 2)
    full0 = np.asarray(_losses(params, x, y))
    full1 = np.asarray(_losses(new_params, x, y))
    assert np.all(full1 < 0.7 * full0), (full0, full1)
    assert np.all(L[-5:].mean(0) < L[:5].mean(0))
    if name == "dwa":
        # 48 examples / 16 per batch = 3 steps per epoch; weights leave 1 from epoch 2 on.
        assert hist["epoch_ends"] == list(range(3, 61, 3))
        np.testing.assert_allclose(hist["weights"][:6], 1.0)
        assert np.any(np.abs(hist["weights"][6:] - 1.0) > 1e-4)
        np.testing.assert_allclose(hist["weights"].sum(1), 2.0, rtol=1e-5)
    if name == "stch":
        w = jax.vmap(jax.grad(lambda f: stch_loss(f, kw["pref"], mu=0.1)))(jnp.asarray(L))
        np.testing.assert_allclose(hist["weights"], w, rtol=1e-4, atol=1e-6)


def test_fit_data_modes_and_epochs():
    x, y, params = _problem(n=32)
    tx = optax.chain(linear(num_tasks=2), optax.sgd(0.05))
    calls = []

    def end(state):
        calls.append(1)
        return state

    # full batch (no batch_size): one step per epoch; jitted epoch_end traced once.
    _, h_full = fit(_losses, params, tx, (x, y), steps=4, epoch_end=end, progress=False)
    assert h_full["epoch_ends"] == [1, 2, 3, 4]
    # full batch is deterministic and equal to manual steps
    step = make_step(_losses, tx)
    p, s = params, tx.init(params)
    for _ in range(4):
        p, s, out = step(p, s, (x, y))
    p2, h = fit(_losses, params, tx, (x, y), steps=4, progress=False)
    for k in p:
        np.testing.assert_allclose(p2[k], p[k], rtol=1e-6)
    np.testing.assert_allclose(h["losses"], h_full["losses"])
    # a list of batches: each pass is an epoch
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    _, h = fit(_losses, params, tx, batches, steps=5, epoch_end=dwa_like_identity,
               progress=False)
    assert h["epoch_ends"] == [2, 4]
    np.testing.assert_allclose(h["losses"][0], _losses(params, x[:16], y[:16]), rtol=1e-6)
    # a one-shot iterator ends training early
    _, h = fit(_losses, params, tx, iter(batches), steps=5, progress=False)
    assert h["losses"].shape == (2, 2) and list(h["step"]) == [1, 2]
    # no data: loss_vector_fn(params)
    _, h = fit(lambda q: _losses(q, x, y), params, tx, None, steps=3, progress=False)
    assert h["losses"].shape == (3, 2)
    # minibatches cover the data without replacement within an epoch
    _, h = fit(lambda q, xb: jnp.stack([jnp.sum(xb[:, 0]), jnp.sum(xb[:, 1])]), params,
               tx, x, steps=4, batch_size=8, progress=False)
    seen = h["losses"][:, 0].sum()
    np.testing.assert_allclose(seen, np.sum(np.asarray(x)[:, 0]), rtol=1e-4, atol=1e-4)
    assert len(calls) >= 1


def dwa_like_identity(state):
    return state


def test_fit_resume_callback_and_progress():
    x, y, params = _problem(n=16)
    tx = optax.chain(linear(num_tasks=2), optax.sgd(0.05))
    seen = []
    p1, h1 = fit(_losses, params, tx, (x, y), steps=3, progress=False,
                 callback=lambda i, p, s, out: seen.append((i, out["losses"].shape)),
                 log_every=1)
    assert seen == [(1, (2,)), (2, (2,)), (3, (2,))]
    p2, h2 = fit(_losses, p1, tx, (x, y), steps=2, opt_state=h1["opt_state"], progress=False)
    p3, _ = fit(_losses, params, tx, (x, y), steps=5, progress=False)
    for k in params:
        np.testing.assert_allclose(p2[k], p3[k], rtol=1e-6)
    buf = io.StringIO()
    with Progress(4, "t", stream=buf) as bar:
        bar.update(2, L0=1.0)
        bar.update(2)
    assert "4/4" in buf.getvalue()


def test_fit_validation():
    x, y, params = _problem(n=16)
    tx = optax.chain(linear(), optax.sgd(0.1))
    with pytest.raises(ValueError, match="steps"):
        fit(_losses, params, tx, (x, y), steps=-1)
    with pytest.raises(ValueError, match="leading"):
        fit(_losses, params, tx, (x, y[:5]), steps=1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(_losses, params, tx, (x, y), steps=1, batch_size=0)
    with pytest.raises(ValueError, match="iterable"):
        fit(_losses, params, tx, 3.0, steps=1, progress=False)
