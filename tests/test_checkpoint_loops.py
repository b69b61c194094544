"""Checkpoint/resume of the long loops: ``run_finite_set`` and ``fit_psl``.

An interrupted run (``steps=k`` then ``steps=N`` on the same folder, or a crash after a save)
must resume to the uninterrupted result **bitwise**, with a complete history; another method,
preference set or loss, and a corrupt checkpoint, are clear ``ValueError``s.
"""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import paretojax as pj
from paretojax import checkpoint as ckpt_mod
from paretojax.checkpoint import latest_step

FF = pj.problems.get("fonseca_fleming")
F1 = pj.problems.get("stch_f1")
PREFS = pj.linspace_prefs(3, 0.01)
KEY = jax.random.key(4)


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, n_saves: int) -> None:
    """Make the loop die right after its ``n_saves``-th checkpoint (a simulated kill)."""
    orig = ckpt_mod.LoopCheckpoint.save
    count = {"n": 0}

    def save(self, *a, **kw):
        orig(self, *a, **kw)
        count["n"] += 1
        if count["n"] == n_saves:
            raise _Crash

    monkeypatch.setattr(ckpt_mod.LoopCheckpoint, "save", save)


def _same(a, b) -> None:
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---- run_finite_set -----------------------------------------------------------------------

def _fs(steps, d=None, method="mtch", prefs=PREFS, **kw):
    # adam: moments in the optimizer state; pmtl (slow to compile): a stateful set rule
    return pj.run_finite_set(FF, prefs, method, steps, key=KEY, optimizer=optax.adam(1e-2),
                             checkpoint_dir=d, checkpoint_every=6, **kw)


@pytest.mark.parametrize("method", ["mtch", pytest.param("pmtl", marks=pytest.mark.slow)])
def test_finite_set_resume_is_bitwise(tmp_path, monkeypatch, method):
    ref = _fs(20, method=method)  # the plain single-scan path; resumed runs are chunked
    # extend: 7 steps (saves at 6, 7), then 20 on the same folder (chunks 7-12, 12-18, 18-20)
    _fs(7, tmp_path / "ext", method=method)
    assert latest_step(tmp_path / "ext") == 7
    _same(_fs(20, tmp_path / "ext", method=method), ref)
    # crash after the 2nd save (step 12), resume
    with monkeypatch.context() as mp:
        _crash_after(mp, 2)
        with pytest.raises(_Crash):
            _fs(20, tmp_path / "crash", method=method)
    assert latest_step(tmp_path / "crash") == 12
    res = _fs(20, tmp_path / "crash", method=method)
    _same(res, ref)
    assert res.f_history.shape == (20, 3, 2)
    # a finished run is returned as is
    _same(_fs(20, tmp_path / "crash", method=method), ref)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax io thread
def test_finite_set_mismatch_and_corrupt(tmp_path):
    d = tmp_path / "a"
    pj.run_finite_set(FF, PREFS, "mtch", 4, key=KEY, checkpoint_dir=d, checkpoint_every=2)
    kw = dict(key=KEY, checkpoint_dir=d, checkpoint_every=2)
    with pytest.raises(ValueError, match="method"):
        pj.run_finite_set(FF, PREFS, "tch", 8, **kw)
    with pytest.raises(ValueError, match="method_kwargs"):
        pj.run_finite_set(FF, PREFS, "mtch", 8, gradient="unweighted", **kw)
    with pytest.raises(ValueError, match="prefs"):
        pj.run_finite_set(FF, pj.linspace_prefs(3, 0.05), "mtch", 8, **kw)
    with pytest.raises(ValueError, match="lr"):
        pj.run_finite_set(FF, PREFS, "mtch", 8, lr=0.1, **kw)
    with pytest.raises(ValueError, match="x0_crc32"):  # another start
        pj.run_finite_set(FF, PREFS, "mtch", 8, **(kw | {"key": jax.random.key(5)}))
    with pytest.raises(ValueError, match="beyond steps"):
        pj.run_finite_set(FF, PREFS, "mtch", 3, **kw)
    with pytest.raises(ValueError, match="checkpoint_every"):
        pj.run_finite_set(FF, PREFS, "mtch", 3, key=KEY, checkpoint_dir=tmp_path / "b",
                          checkpoint_every=0)
    _garble(d / "4")
    with pytest.raises(ValueError, match="corrupt|unreadable"):
        pj.run_finite_set(FF, PREFS, "mtch", 8, **kw)


def _garble(step_dir) -> None:
    files = [f for f in (step_dir / "state").rglob("*") if f.is_file() and "/d/" in str(f)]
    assert files, "orbax layout changed: no data files found"
    for f in files:
        f.write_bytes(bytes(b ^ 0x5A for b in f.read_bytes()))


# ---- fit_psl ------------------------------------------------------------------------------

def _psl(steps, d=None, loss="stch", **kw):
    model = pj.ParetoSetMLP(2, F1.n_var, hidden=(8,), rngs=nnx.Rngs(0))
    return pj.fit_psl(model, F1, loss, steps=steps, num_prefs=4, key=3, progress=False,
                      optimizer=optax.adam(1e-2), checkpoint_dir=d, checkpoint_every=6, **kw)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax io thread
def test_fit_psl_resume_is_bitwise(tmp_path, monkeypatch):
    ref = _psl(20)  # plain path: one chunk of 20; resumed runs use chunks of ≤ 6
    _psl(7, tmp_path / "ext")
    ext = _psl(20, tmp_path / "ext")
    _same(ext.state, ref.state)
    _same(ext.history, ref.history)
    _same(nnx.state(ext.model, nnx.Param), ref.state.params)
    with monkeypatch.context() as mp:
        _crash_after(mp, 2)
        with pytest.raises(_Crash):
            _psl(20, tmp_path / "crash")
    assert latest_step(tmp_path / "crash") == 12
    res = _psl(20, tmp_path / "crash")
    _same(res.state, ref.state)
    _same(res.history, ref.history)
    assert res.history.loss.shape == (20,) and res.history.losses.shape == (20, 2)
    assert int(res.state.step) == 20


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax io thread
def test_fit_psl_mismatch_and_corrupt(tmp_path):
    d = tmp_path / "a"
    _psl(4, d)
    with pytest.raises(ValueError, match="loss"):
        _psl(8, d, loss="tch")
    with pytest.raises(ValueError, match="num_prefs"):
        pj.fit_psl(pj.ParetoSetMLP(2, F1.n_var, hidden=(8,), rngs=nnx.Rngs(0)), F1, "stch",
                   steps=8, num_prefs=5, key=3, progress=False, optimizer=optax.adam(1e-2),
                   checkpoint_dir=d, checkpoint_every=6)
    with pytest.raises(ValueError, match="shape"):  # another architecture
        pj.fit_psl(pj.ParetoSetMLP(2, F1.n_var, hidden=(9,), rngs=nnx.Rngs(0)), F1, "stch",
                   steps=8, num_prefs=4, key=3, progress=False, optimizer=optax.adam(1e-2),
                   checkpoint_dir=d, checkpoint_every=6)
    with pytest.raises(ValueError, match="PRNG"):
        pj.fit_psl(pj.ParetoSetMLP(2, F1.n_var, hidden=(8,), rngs=nnx.Rngs(0)), F1, "stch",
                   steps=8, num_prefs=4, key=4, progress=False, optimizer=optax.adam(1e-2),
                   checkpoint_dir=d, checkpoint_every=6)
    _garble(d / "4")
    with pytest.raises(ValueError, match="corrupt|unreadable"):
        _psl(8, d)
