"""One conformance battery over every gradient-level method of the catalogue.

Parametrised over ``pj.methods()`` (as optax's ``contrib/_common_test.py`` and TorchJD's
aggregator property tests do): each transform must build from its ``INFO.example_kwargs``, accept
the plain params pytree in ``init``, run under ``jit`` without retracing, ``vmap`` over a batch of
Jacobians, give finite output on degenerate Jacobians, skip steps with non-finite input, and
satisfy the properties its ``INFO`` claims (NC non-conflicting, PI permutation invariant, LUS
linear under scaling, SS non-zero unless stationary, W weights on the simplex).
"""

from __future__ import annotations

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import paretojax as pj
from paretojax.transforms import TransformState
from tests.helpers import random_jacobian

GRADIENT_FAMILIES = ("weighting", "manipulation", "scalarization", "balancing", "preference")
INFOS = [
    i for i in pj.methods().values() if i.family in GRADIENT_FAMILIES and not i.name.startswith("_")
]
IDS = [i.name for i in INFOS]
M = 3
D = 7


def _build(info, m):
    kw = info.kwargs_for(m)
    if "num_tasks" in inspect.signature(info.factory).parameters and "num_tasks" not in kw:
        kw["num_tasks"] = m
    return info.factory(**kw)


def _split(j):
    """A (m, d) matrix as a two-leaf pytree (exercises the leaf-by-leaf paths)."""
    return {"a": jnp.asarray(j[:, :3], jnp.float32), "b": jnp.asarray(j[:, 3:], jnp.float32)}


def _params():
    return {"a": jnp.zeros(3, jnp.float32), "b": jnp.zeros(D - 3, jnp.float32)}


def _default_losses(m):
    return jnp.linspace(1.0, 2.0, m)


def _default_pref(m):
    p = jnp.arange(1.0, m + 1.0)
    return p / jnp.sum(p)


def _extra(info, j, m, losses=None, pref=None):
    extra = {}
    for name in info.requires:
        if name == "task_losses":
            extra[name] = _default_losses(m) if losses is None else losses
        elif name == "pref":
            extra[name] = _default_pref(m) if pref is None else pref
        else:  # further mini-batch Jacobians (MoDo, SDMGrad): the same batch here
            extra[name] = j
    return extra


def _flat(u):
    return np.concatenate([np.asarray(u["a"]), np.asarray(u["b"])])


def _run(info, j, m=M, **kw):
    tx = _build(info, m)
    state = tx.init(_params())
    jac = _split(j)
    upd, state = tx.update(jac, state, _params(), **_extra(info, jac, m, **kw))
    return _flat(upd), state


def test_registry_is_well_formed():
    names = [i.name for i in pj.methods().values()]
    assert len(names) == len(set(names))
    for info in pj.methods().values():
        assert info.family in pj.registry.FAMILIES
        assert info.description and info.reference
        assert getattr(pj, info.name) is info.factory, f"pj.{info.name} is not exported"
        assert info.factory.__doc__ and ">>>" in info.factory.__doc__, f"{info.name}: no example"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_jit_no_retrace_and_shapes(info):
    rng = np.random.default_rng(0)
    chex.clear_trace_counter()
    tx = _build(info, M)
    params = _params()
    state = tx.init(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(jac, state, extra):
        return tx.update(jac, state, params, **extra)

    for _ in range(3):
        jac = _split(random_jacobian(rng, M, D))
        upd, state = step(jac, state, _extra(info, jac, M))
        assert jax.tree.structure(upd) == jax.tree.structure(params)
        for leaf, p in zip(jax.tree.leaves(upd), jax.tree.leaves(params), strict=True):
            assert leaf.shape == p.shape and leaf.dtype == p.dtype
            assert np.all(np.isfinite(leaf))


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_vmap_over_jacobians_matches_unbatched(info):
    rng = np.random.default_rng(1)
    js = np.stack([random_jacobian(rng, M, D) for _ in range(4)])
    tx = _build(info, M)
    state = tx.init(_params())

    def one(j):
        jac = _split(j)
        return tx.update(jac, state, _params(), **_extra(info, jac, M))[0]

    batched = jax.jit(jax.vmap(one))(jnp.asarray(js, jnp.float32))
    for k in range(4):
        single = one(jnp.asarray(js[k], jnp.float32))
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            np.testing.assert_allclose(b[k], a, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("info", INFOS, ids=IDS)
@pytest.mark.parametrize(
    "case", ["zero", "duplicate", "collinear", "rank1", "huge", "tiny", "single_task"]
)
def test_degenerate_jacobians_give_finite_output(info, case):
    rng = np.random.default_rng(2)
    m = M
    j = random_jacobian(rng, M, D)
    if case == "zero":
        j = np.zeros_like(j)
    elif case == "duplicate":
        j[1] = j[0]
    elif case == "collinear":
        j[1] = -2.0 * j[0]
    elif case == "rank1":
        j = random_jacobian(rng, M, D, rank=1)
    elif case == "huge":
        j = j * 1e8
    elif case == "tiny":
        j = j * 1e-8
    else:
        if info.min_tasks > 1:
            return  # the method documents m ≥ min_tasks; checked by its own tests
        m = 1
        j = j[:1]
    u, _ = _run(info, j, m)
    assert np.all(np.isfinite(u)), f"{info.name} gave non-finite output on {case}"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_nonfinite_jacobian_skips_step(info):
    rng = np.random.default_rng(3)
    j = random_jacobian(rng, M, D)
    j[1, 2] = np.nan
    tx = _build(info, M)
    state = tx.init(_params())
    jac = _split(j)
    upd, new_state = jax.jit(lambda jac, s, e: tx.update(jac, s, _params(), **e))(
        jac, state, _extra(info, jac, M)
    )
    np.testing.assert_array_equal(_flat(upd), 0.0)
    if isinstance(new_state, TransformState):
        assert int(new_state.skipped) == 1


@pytest.mark.parametrize("info", [i for i in INFOS if "NC" in i.properties], ids=lambda i: i.name)
def test_non_conflicting(info):
    rng = np.random.default_rng(4)
    for rank in (1, 2, 3):
        for _ in range(5):
            j = random_jacobian(rng, M, D, rank=rank)
            u, state = _run(info, j)
            # TorchJD's ridge (G/tr G + 1e-4 I) only guarantees Ju ≥ −1e-4·tr(G)·max|w|.
            w = getattr(state, "weights", None)
            slack = 0.0 if w is None else 1e-4 * np.trace(j @ j.T) * np.abs(np.asarray(w)).max()
            assert np.all(j @ u >= -4e-4 * max(1.0, np.abs(j).max() ** 2) - slack), info.name


@pytest.mark.parametrize("info", [i for i in INFOS if "PI" in i.properties], ids=lambda i: i.name)
def test_permutation_invariant(info):
    rng = np.random.default_rng(5)
    for _ in range(4):
        j = random_jacobian(rng, M, D)
        perm = rng.permutation(M)
        losses, pref = _default_losses(M), _default_pref(M)
        u, _ = _run(info, j)
        # tasks, their losses and their preferences permuted together
        up, _ = _run(info, j[perm], losses=losses[perm], pref=pref[perm])
        np.testing.assert_allclose(up, u, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("info", [i for i in INFOS if "LUS" in i.properties], ids=lambda i: i.name)
def test_linear_under_scaling(info):
    rng = np.random.default_rng(6)
    j = random_jacobian(rng, M, D)
    c1, c2 = rng.uniform(0.1, 2.0, M), rng.uniform(0.1, 2.0, M)
    a, b = 0.7, 1.9
    lhs, _ = _run(info, (a * c1 + b * c2)[:, None] * j)
    r1, _ = _run(info, c1[:, None] * j)
    r2, _ = _run(info, c2[:, None] * j)
    np.testing.assert_allclose(lhs, a * r1 + b * r2, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("info", [i for i in INFOS if "SS" in i.properties], ids=lambda i: i.name)
def test_nonzero_unless_stationary(info):
    rng = np.random.default_rng(7)
    for _ in range(5):
        j = random_jacobian(rng, M, D)  # full row rank ⇒ not strongly stationary
        u, _ = _run(info, j)
        assert np.linalg.norm(u) > 5e-3


@pytest.mark.parametrize("info", [i for i in INFOS if "W" in i.properties], ids=lambda i: i.name)
def test_weights_on_simplex(info):
    rng = np.random.default_rng(8)
    _, state = _run(info, random_jacobian(rng, M, D))
    w = np.asarray(state.weights)
    assert np.all(w >= -1e-6)
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-5)
