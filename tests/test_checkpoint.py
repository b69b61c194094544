"""Checkpoint/resume: generic pytree round trips, clear errors, and fit's resume equivalence."""

from __future__ import annotations

import pathlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import paretojax as pj
from paretojax.checkpoint import Checkpointer, latest_step, restore_checkpoint, save_checkpoint


class _State(NamedTuple):
    key: jax.Array
    count: jax.Array
    nothing: None
    empty: optax.EmptyState


def _tree():
    return {
        "params": {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.asarray(0.5)},  # b: weak type
        "state": _State(jax.random.key(7), jnp.asarray(3, jnp.int32), None, optax.EmptyState()),
        "raw_key": jax.random.PRNGKey(1),
        "host": np.arange(4, dtype=np.int64),
        "bf16": jnp.ones((2,), jnp.bfloat16),
    }


def _assert_same(a, b):
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert x.dtype == y.dtype
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_roundtrip_generic_tree(tmp_path):
    tree = _tree()
    save_checkpoint(tmp_path, 4, tree, metadata={"epoch": 2, "name": "run"})
    assert latest_step(tmp_path) == 4
    zeros = lambda x: jnp.zeros_like(x) if isinstance(x, jax.Array) else np.zeros_like(x)  # noqa: E731
    like = jax.tree_util.tree_map(zeros, tree)
    like["state"] = like["state"]._replace(key=jax.random.key(0))  # zeros_like of a key is a key
    got, meta = restore_checkpoint(tmp_path, like=like)
    assert meta == {"epoch": 2, "name": "run"}
    _assert_same(got, tree)
    assert got["params"]["b"].weak_type  # dtype promotion after resume is unchanged
    assert isinstance(got["host"], np.ndarray)
    # a restored typed key still draws the same numbers
    np.testing.assert_array_equal(
        jax.random.normal(got["state"].key, (3,)), jax.random.normal(tree["state"].key, (3,))
    )


def test_latest_and_specific_step(tmp_path):
    with Checkpointer(tmp_path, max_to_keep=2) as ckpt:
        for s in (1, 2, 3):
            ckpt.save(s, {"x": jnp.full((2,), float(s))})
        assert ckpt.all_steps() == [2, 3]
        assert ckpt.restore({"x": jnp.zeros(2)})[0]["x"].tolist() == [3.0, 3.0]
        assert ckpt.restore({"x": jnp.zeros(2)}, step=2)[0]["x"].tolist() == [2.0, 2.0]
        with pytest.raises(ValueError, match="no checkpoint for step 1"):
            ckpt.restore({"x": jnp.zeros(2)}, step=1)
    assert latest_step(tmp_path / "nope") is None
    with pytest.raises(ValueError, match="no checkpoint found"):
        restore_checkpoint(tmp_path / "empty", like={"x": jnp.zeros(2)})


def test_mismatch_structure_shape_dtype_key(tmp_path):
    params = {"w": jnp.zeros((3, 2))}
    tx = optax.chain(pj.dwa(num_tasks=2), optax.adam(1e-2))
    save_checkpoint(tmp_path, 1, {"params": params, "opt": tx.init(params)})
    other = optax.chain(pj.mgda(), optax.adam(1e-2))  # another method: another state tree
    with pytest.raises(ValueError, match="tree structure"):
        restore_checkpoint(tmp_path, like={"params": params, "opt": other.init(params)})
    bigger = {"w": jnp.zeros((4, 2))}
    with pytest.raises(ValueError, match=r"\['w'\]: saved shape/dtype \[\[3, 2\]"):
        restore_checkpoint(tmp_path, like={"params": bigger, "opt": tx.init(bigger)})
    half = {"w": jnp.zeros((3, 2), jnp.float16)}
    with pytest.raises(ValueError, match="float16"):
        restore_checkpoint(tmp_path, like={"params": half, "opt": tx.init(params)})
    save_checkpoint(tmp_path / "k", 1, {"key": jax.random.key(0)})
    with pytest.raises(ValueError, match="key"):
        restore_checkpoint(tmp_path / "k", like={"key": jnp.zeros((2,), jnp.uint32)})


def _step_dir(root: pathlib.Path, step: int) -> pathlib.Path:
    return root / str(step)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax io thread
@pytest.mark.parametrize("how", ["garbage_data", "truncated_data", "garbage_meta", "no_meta"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, how):
    tree = {"w": jnp.arange(64.0), "k": jax.random.key(3)}
    save_checkpoint(tmp_path, 2, tree)
    d = _step_dir(tmp_path, 2)
    if how in ("garbage_data", "truncated_data"):
        files = [f for f in (d / "state").rglob("*") if f.is_file() and "/d/" in str(f)]
        assert files, "orbax layout changed: no data files found"
        for f in files:
            raw = f.read_bytes()
            if how == "truncated_data":
                f.write_bytes(raw[: len(raw) // 2])
            else:
                f.write_bytes(bytes((b ^ 0x5A) for b in raw))
    elif how == "garbage_meta":
        for f in (d / "meta").rglob("*"):
            if f.is_file() and "commit_success" not in f.name:
                f.write_text("{not json")
    else:
        for f in (d / "meta").rglob("*"):
            if f.is_file() and "commit_success" not in f.name:
                f.unlink()
    with pytest.raises(ValueError, match="corrupt|unreadable|not a paretojax checkpoint"):
        restore_checkpoint(tmp_path, like=tree)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="step must be"):
        save_checkpoint(tmp_path, -1, {"x": jnp.zeros(1)})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path, 1, {"x": jnp.zeros(1)}, metadata={"a": object()})
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        Checkpointer(f)


# ---- fit: an interrupted run resumes to the uninterrupted result, bitwise -------------------

_X = jax.random.normal(jax.random.key(0), (40, 4))
_Y = jnp.stack([_X.sum(1), _X[:, 0] - _X[:, 1], jnp.sin(_X[:, 2])], 1)


def _losses(p, x, y):
    return jnp.mean((x @ p["w"] + p["b"][None, :] - y) ** 2, axis=0)


def _params():
    return {"w": jnp.zeros((4, 3)), "b": jnp.zeros((3,))}


METHODS = {
    # stateful with an epoch hook, minibatch shuffling across 3 epochs
    "dwa": (lambda: optax.chain(pj.dwa(num_tasks=3), optax.adam(0.05)), pj.dwa_epoch_end),
    # a PRNG key in the method state
    "rlw": (lambda: optax.chain(pj.rlw(key=jax.random.key(5), num_tasks=3), optax.sgd(0.05)),
            None),
    # learned logits in the state, Adam moments in the optimizer
    "famo": (lambda: optax.chain(pj.famo(num_tasks=3), optax.adam(0.05)), None),
}

_KW = dict(steps=10, batch_size=8, key=jax.random.key(11), progress=False, log_every=1)


class _Stop(Exception):
    pass


def _stop_at(k):
    def cb(step, *_):
        if step == k:
            raise _Stop
    return cb


def _fit(tx, end, **kw):
    return pj.fit(_losses, _params(), tx, (_X, _Y), epoch_end=end, **(_KW | kw))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_fit_resume_equals_uninterrupted(tmp_path, name):
    make, end = METHODS[name]
    ref_params, ref = _fit(make(), end)
    # interrupted at step 7 (a callback raising); the last checkpoint is at step 4, mid-epoch
    # (5 minibatches per epoch), so the resumed run must rebuild that epoch's permutation
    with pytest.raises(_Stop):
        _fit(make(), end, checkpoint_dir=tmp_path, checkpoint_every=4, callback=_stop_at(7))
    assert latest_step(tmp_path) == 4
    params, hist = _fit(make(), end, checkpoint_dir=tmp_path, checkpoint_every=4)
    _assert_same(params, ref_params)
    _assert_same(hist["opt_state"], ref["opt_state"])
    np.testing.assert_array_equal(hist["losses"], ref["losses"])
    np.testing.assert_array_equal(hist["weights"], ref["weights"])
    assert hist["epoch_ends"] == ref["epoch_ends"] == ([5, 10] if end is not None else [])
    np.testing.assert_array_equal(hist["step"], ref["step"])
    assert latest_step(tmp_path) == 10
    # running again returns the finished run without training
    again, hist2 = _fit(make(), end, checkpoint_dir=tmp_path, checkpoint_every=4)
    _assert_same(again, ref_params)
    assert hist2["losses"].shape == (10, 3)


def test_fit_resume_by_extending_steps(tmp_path):
    """``steps=k`` then ``steps=N``: the same as one run of N steps (full batch, RLW key)."""
    make, _ = METHODS["rlw"]
    kw = dict(steps=9, progress=False, key=jax.random.key(2), checkpoint_every=4)
    ref_params, ref = pj.fit(_losses, _params(), make(), (_X, _Y), **(kw | {"checkpoint_every": None}))
    pj.fit(_losses, _params(), make(), (_X, _Y), checkpoint_dir=tmp_path, **(kw | {"steps": 4}))
    params, hist = pj.fit(_losses, _params(), make(), (_X, _Y), checkpoint_dir=tmp_path, **kw)
    _assert_same(params, ref_params)
    np.testing.assert_array_equal(hist["losses"], ref["losses"])


def test_fit_resume_iterable_data(tmp_path):
    batches = [(_X[i : i + 10], _Y[i : i + 10]) for i in range(0, 40, 10)]
    tx = lambda: optax.chain(pj.dwa(num_tasks=3), optax.adam(0.05))  # noqa: E731
    kw = dict(steps=10, progress=False, epoch_end=pj.dwa_epoch_end, log_every=1)
    ref_params, ref = pj.fit(_losses, _params(), tx(), batches, **kw)
    with pytest.raises(_Stop):
        pj.fit(_losses, _params(), tx(), batches, checkpoint_dir=tmp_path, checkpoint_every=5,
               callback=_stop_at(7), **kw)
    params, hist = pj.fit(_losses, _params(), tx(), batches, checkpoint_dir=tmp_path,
                          checkpoint_every=5, **kw)
    _assert_same(params, ref_params)
    assert hist["epoch_ends"] == ref["epoch_ends"] == [4, 8]
    np.testing.assert_array_equal(hist["losses"], ref["losses"])


def test_fit_mismatched_checkpoint_errors(tmp_path):
    make, end = METHODS["dwa"]
    _fit(make(), end, steps=3, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="tree structure"):
        _fit(METHODS["famo"][0](), None, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        _fit(make(), end, batch_size=4, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="PRNG"):
        _fit(make(), end, key=jax.random.key(12), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="beyond steps"):
        _fit(make(), end, steps=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_every"):
        _fit(make(), end, checkpoint_dir=tmp_path / "x", checkpoint_every=0)
