"""Offline multi-task datasets (METHODS.md §13)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from paretojax.problems import datasets as D


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target


def test_registry():
    assert D.names() == ("multidigits", "many_task_digits", "fairness", "linnerud")
    assert set(D.descriptions()) == set(D.names())
    with pytest.raises(ValueError, match="Unknown dataset"):
        D.get("mnist")
    assert isinstance(D.get("linnerud"), D.Linnerud)


def test_multidigits_shapes_and_content(digits):
    images, labels = digits
    d = D.multidigits(n_train=500, n_test=100, seed=0)
    assert d.x_train.shape == (500, 12, 12) and d.x_test.shape == (100, 12, 12)
    assert d.y_train.shape == (500, 2) and d.y_test.shape == (100, 2)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert d.task_names == ("top_left", "bottom_right") and d.num_classes == (10, 10)
    assert d.x_train.min() >= 0 and d.x_train.max() <= 1
    for y in (d.y_train, d.y_test):
        assert y.min() >= 0 and y.max() <= 9
    # labels are those of the source images, and the canvas is the max-overlay of the two
    np.testing.assert_array_equal(d.y_train, labels[d.src_train])
    i = 7
    a, b = images[d.src_train[i, 0]], images[d.src_train[i, 1]]
    canvas = np.zeros((12, 12), np.float32)
    canvas[:8, :8] = a
    canvas[4:, 4:] = np.maximum(canvas[4:, 4:], b)
    np.testing.assert_array_equal(d.x_train[i], canvas)
    np.testing.assert_array_equal(d.x_train[i, :4, :8], a[:4])  # no overlap there
    np.testing.assert_array_equal(d.x_train[i, 8:, 4:], b[4:])
    # default sizes of §13
    full = D.multidigits()
    assert full.x_train.shape == (10_000, 12, 12) and full.x_test.shape == (2_000, 12, 12)
    # both tasks use all 10 classes
    assert set(np.unique(full.y_train[:, 0])) == set(range(10))
    assert set(np.unique(full.y_test[:, 1])) == set(range(10))


def test_multidigits_no_leakage(digits):
    images, labels = digits
    d = D.multidigits(seed=3)
    tr, te = set(d.src_train.ravel().tolist()), set(d.src_test.ravel().tolist())
    assert tr.isdisjoint(te)
    # image level too (the 1797 digits are pairwise distinct)
    flat = images.reshape(len(images), -1)
    assert len(np.unique(flat, axis=0)) == len(flat)
    # the split is stratified 80/20: every class has test sources, ≈ 20 %
    te_labels = labels[np.fromiter(te, int)]
    counts = np.bincount(te_labels, minlength=10)
    assert np.all(counts >= 30) and abs(len(te) / 1797 - 0.2) < 0.01
    assert len(tr) + len(te) <= 1797


def test_multidigits_determinism():
    a = D.multidigits(n_train=300, n_test=50, seed=1)
    b = D.multidigits(n_train=300, n_test=50, seed=1)
    c = D.multidigits(n_train=300, n_test=50, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.src_test, c.src_test)
    with pytest.raises(ValueError, match="read-only"):
        a.x_train[0, 0, 0] = 1.0  # cached arrays are shared: read-only


def test_multidigits_heterogeneous(digits):
    images, _ = digits
    inv = D.multidigits(n_train=50, n_test=10, heterogeneous=True, flatten=True)
    flip = D.multidigits(n_train=50, n_test=10, heterogeneous="flip")
    plain = D.multidigits(n_train=50, n_test=10)
    assert inv.x_train.shape == (50, 144)
    np.testing.assert_array_equal(inv.src_train, plain.src_train)  # same pairs, other rendering
    x = inv.x_train.reshape(50, 12, 12)
    np.testing.assert_allclose(x[0, 8:, 4:], 1.0 - images[inv.src_train[0, 1]][4:])
    np.testing.assert_array_equal(flip.x_train[0, 8:, 4:], images[flip.src_train[0, 1]][4:, ::-1])
    with pytest.raises(ValueError):
        D.multidigits(heterogeneous="rotate")


def test_many_task_digits(digits):
    _, labels = digits
    for m in (2, 5, 10, 20):
        d = D.many_task_digits(num_tasks=m, seed=0)
        n_tr, n_te = len(d.x_train), len(d.x_test)
        assert d.x_train.shape == (n_tr, 8, 8) and d.y_train.shape == (n_tr, m)
        assert d.y_test.shape == (n_te, m) and len(d.task_names) == m
        assert n_tr + n_te == 1797 and 1430 <= n_tr <= 1445
        assert set(np.unique(d.y_train)) == {0, 1}
        assert set(d.src_train.tolist()).isdisjoint(d.src_test.tolist())
        np.testing.assert_array_equal(d.labels_train, labels[d.src_train])
    d = D.many_task_digits(num_tasks=20)
    lab = d.labels_train
    col = {n: d.y_train[:, i] for i, n in enumerate(d.task_names)}
    np.testing.assert_array_equal(col["odd"], lab % 2)
    np.testing.assert_array_equal(col["greater_than_4"], (lab > 4).astype(int))
    np.testing.assert_array_equal(col["prime"], np.isin(lab, [2, 3, 5, 7]).astype(int))
    np.testing.assert_array_equal(col["has_loop"], np.isin(lab, [0, 6, 8, 9]).astype(int))
    np.testing.assert_array_equal(col["multiple_of_3"], (lab % 3 == 0).astype(int))
    for k in range(10):
        np.testing.assert_array_equal(col[f"is_{k}"], (lab == k).astype(int))
    assert d.task_names[:2] == ("odd", "greater_than_4")
    assert D.many_task_digits(3, flatten=True).x_test.shape[1] == 64
    with pytest.raises(ValueError):
        D.many_task_digits(num_tasks=21)
    assert not np.array_equal(
        D.many_task_digits(2, seed=0).src_test, D.many_task_digits(2, seed=1).src_test
    )


def test_fairness_generator():
    d = D.fairness(n=4000, seed=0)
    assert d.x_train.shape == (3200, 20) and d.x_test.shape == (800, 20)
    assert d.y_train.shape == d.s_train.shape == (3200,)
    assert set(np.unique(d.y_train)) == {0, 1} and set(np.unique(d.s_train)) == {0, 1}
    assert d.task_names == ("bce", "deo")
    # labels correlated with s (β = 1) and x₁ shifted by γ·s
    y, s, x = d.y_train, d.s_train, d.x_train
    assert y[s == 1].mean() - y[s == 0].mean() > 0.2
    assert abs((x[s == 1, 0].mean() - x[s == 0, 0].mean()) - 1.0) < 0.15
    assert abs(x[:, 10:].mean()) < 0.05  # pure-noise columns
    # β = 0, γ = 0: no dependence on s
    d0 = D.fairness(n=4000, seed=0, beta=0.0, gamma=0.0)
    assert abs(d0.y_train[d0.s_train == 1].mean() - d0.y_train[d0.s_train == 0].mean()) < 0.06
    # determinism and seed dependence; include_sensitive appends s
    np.testing.assert_array_equal(D.fairness(n=4000, seed=0).x_test, d.x_test)
    assert not np.array_equal(D.fairness(n=4000, seed=1).x_test, d.x_test)
    ds = D.fairness(n=4000, seed=0, include_sensitive=True)
    np.testing.assert_array_equal(ds.x_train[:, -1], ds.s_train)
    assert D.fairness().x_train.shape == (16_000, 20)


def test_fairness_losses():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(50).astype(np.float32)
    y = rng.integers(0, 2, 50)
    s = rng.integers(0, 2, 50)
    sig = 1 / (1 + np.exp(-logits.astype(np.float64)))
    v = np.tanh(np.maximum(sig, 0))
    want = abs(v[(s == 0) & (y == 1)].sum() - v[(s == 1) & (y == 1)].sum()) / 50
    want_gm = abs(v[(s == 0) & (y == 1)].mean() - v[(s == 1) & (y == 1)].mean())
    bce = np.mean(np.log1p(np.exp(logits)) - y * logits)
    yhat = logits > 0
    tpr = lambda grp: yhat[(s == grp) & (y == 1)].mean()

    @jax.jit
    def everything(l, y, s):
        return (
            D.deo_loss(l, y, s),
            D.deo_loss(l, y, s, reduction="group_mean"),
            D.bce_loss(l, y),
            D.fairness_losses(l, y, s),
            jax.grad(lambda z: D.deo_loss(z, y, s))(l),
            D.deo_gap(l, y, s),
        )

    deo, deo_gm, b, both, g, gap = everything(jnp.asarray(logits), jnp.asarray(y), jnp.asarray(s))
    assert abs(float(deo) - want) < 1e-6
    assert abs(float(deo_gm) - want_gm) < 1e-6
    assert abs(float(b) - bce) < 1e-6
    np.testing.assert_allclose(both, [bce, want], rtol=1e-5)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0
    assert abs(float(gap) - abs(tpr(0) - tpr(1))) < 1e-6
    assert D.deo_loss(logits[:, None], y, s).shape == ()
    with pytest.raises(ValueError):
        D.deo_loss(logits, y[:10], s)


def test_linnerud():
    d = D.linnerud()
    assert d.x.shape == (20, 3) and d.y.shape == (20, 3)
    assert d.task_names == ("Weight", "Waist", "Pulse")
    z = D.linnerud(standardize=True)
    np.testing.assert_allclose(z.y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.y.std(0), 1, atol=1e-5)
