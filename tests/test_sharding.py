"""Sharded training on 8 simulated CPU devices against one device (DESIGN.md §4, issue #10).

``XLA_FLAGS=--xla_force_host_platform_device_count=8`` only takes effect before JAX initialises,
so the checks run in a fresh interpreter (one subprocess for the whole file, to keep it fast);
it prints a JSON summary that the tests below assert on.

Checked, for ``optax.chain(pj.mgda(), optax.sgd)`` and ``optax.chain(pj.upgrad(), optax.sgd)``
on a small MLP with m = 3 task losses, 5 steps each:

* (b) ``jax.jit`` with the batch sharded over an 8-device ``"data"`` mesh, parameters replicated;
* (c) ``jax.jit`` with the large parameter leaves sharded over an 8-device ``"model"`` mesh;
* (d) ``jax.shard_map`` data parallel (losses ``pmean``-ed inside the loss function; MGDA);
* (e) ``jax.shard_map`` parameter sharded with ``psum_gram`` (global Gram, local combine);

each equal to the single-device run (a) to 1e-5, outputs sharded as the inputs, and the compiled
``pj.gram`` on a parameter-sharded Jacobian communicates only ``f32[3,3]`` all-reduces.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

CODE = textwrap.dedent(
    r'''
    import json, re
    from functools import partial
    import jax, jax.numpy as jnp, numpy as np, optax
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    import paretojax as pj
    from paretojax.sharding import (
        psum_gram, replicate, shard_batch, shard_params,
    )
    from paretojax.weighting._mgda import mgda, mgda_weights
    from paretojax.weighting._upgrad import upgrad

    jax.config.update("jax_numpy_rank_promotion", "raise")
    assert jax.device_count() == 8, jax.devices()
    M, STEPS = 3, 5

    def task_losses(p, x, y):
        h = jnp.tanh(x @ p["w1"] + p["b1"][None, :])
        out = h @ p["w2"] + p["b2"][None, :]
        return jnp.mean((out - y) ** 2, axis=0)

    kx, k1, k2 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (64, 16))
    y = jnp.stack([jnp.sin(x[:, 0]), x[:, 1] * x[:, 2], -x[:, 3]], 1)
    params = {"w1": jax.random.normal(k1, (16, 64)) / 4, "b1": jnp.zeros(64),
              "w2": jax.random.normal(k2, (64, M)) / 8, "b2": jnp.zeros(M)}

    def make_step(tx):
        def step(p, s, x, y):
            losses, jac = pj.value_and_jacobian(task_losses)(p, x, y)
            upd, s = tx.update(jac, s, p, task_losses=losses)
            return optax.apply_updates(p, upd), s, losses
        return step

    def run(step, p, s, x, y):
        hist = []
        for _ in range(STEPS):
            p, s, l = step(p, s, x, y)
            hist.append(l)
        return p, jnp.stack(hist)

    def maxdiff(a, b):
        return max(float(jnp.max(jnp.abs(u - v))) for u, v in
                   zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    def specs(tree):
        return [list(leaf.sharding.spec) for leaf in jax.tree.leaves(tree)]

    def same_shardings(a, b):
        return [x.sharding.is_equivalent_to(y.sharding, x.ndim)
                for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]

    COLL = r"= .*\b(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)(-start)?\("
    def collectives(txt):
        return [l.strip().split(" metadata")[0] for l in txt.splitlines() if re.search(COLL, l)]

    dmesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    mmesh = jax.make_mesh((8,), ("model",), axis_types=(AxisType.Auto,))
    out, ref = {}, {}
    for name, make in [("mgda", mgda), ("upgrad", upgrad)]:
        tx = optax.chain(make(), optax.sgd(0.1))
        step = jax.jit(make_step(tx))
        r = {}
        p_a, l_a = run(step, params, tx.init(params), x, y)
        r["loss_first"] = l_a[0].tolist(); r["loss_last"] = l_a[-1].tolist()
        # (b) data parallel
        p0 = replicate(params, dmesh)
        xs, ys = shard_batch((x, y), dmesh)
        p_b, l_b = run(step, p0, replicate(tx.init(params), dmesh), xs, ys)
        r["dp"] = [maxdiff(p_a, p_b), maxdiff(l_a, l_b), same_shardings(p0, p_b)]
        # (c) parameter sharded
        p0 = shard_params(params, mmesh, min_size=128)
        r["mp_specs"] = specs(p0)
        xr, yr = replicate((x, y), mmesh)
        p_c, l_c = run(step, p0, replicate(tx.init(params), mmesh), xr, yr)
        r["mp"] = [maxdiff(p_a, p_c), maxdiff(l_a, l_c), same_shardings(p0, p_c)]
        out[name], ref[name] = r, (p_a, l_a)

    tx = optax.chain(mgda(), optax.sgd(0.1))
    p_a, l_a = ref["mgda"]
    # (d) shard_map data parallel (MGDA only, to keep the file fast)
    @jax.jit
    @partial(jax.shard_map, mesh=dmesh, in_specs=(P(), P(), P("data"), P("data")),
             out_specs=(P(), P(), P()))
    def sm_step(p, s, x, y):
        global_losses = lambda q, a, b: jax.lax.pmean(task_losses(q, a, b), "data")
        losses, jac = pj.value_and_jacobian(global_losses)(p, x, y)
        upd, s = tx.update(jac, s, p, task_losses=losses)
        return optax.apply_updates(p, upd), s, losses
    p_d, l_d = run(sm_step, params, tx.init(params), xs, ys)
    out["shard_map_dp"] = [maxdiff(p_a, p_d), maxdiff(l_a, l_d)]

    p_sh = shard_params(params, mmesh, min_size=128)
    # (e) shard_map parameter sharded: the Jacobian of the two large leaves split over "model".
    _, jac = jax.jit(pj.value_and_jacobian(task_losses))(params, x, y)
    big = {"w1": jac["w1"], "w2": jac["w2"]}
    jspec = {"w1": P(None, "model", None), "w2": P(None, "model", None)}
    uspec = {"w1": P("model", None), "w2": P("model", None)}
    @jax.jit
    @partial(jax.shard_map, mesh=mmesh, in_specs=(jspec,), out_specs=(P(), P(), uspec))
    def sm_gram(j):
        g = psum_gram(j, "model")
        w, _ = mgda_weights(g)
        return g, w, pj.combine(w, j)
    big_sh = jax.device_put(big, jax.tree.map(lambda s: NamedSharding(mmesh, s), jspec))
    g_e, w_e, u_e = sm_gram(big_sh)
    w_ref, _ = mgda_weights(pj.gram(big))
    out["shard_map_mp"] = [float(jnp.max(jnp.abs(g_e - pj.gram(big)))),
                           float(jnp.max(jnp.abs(w_e - w_ref))),
                           maxdiff(u_e, pj.combine(w_ref, big)),
                           same_shardings(u_e, {k: p_sh[k] for k in ("w1", "w2")})]
    out["shard_map_mp_hlo"] = collectives(sm_gram.lower(big_sh).compile().as_text())

    # Collectives of the compiled Gram on a parameter-sharded Jacobian (as in (c)).
    jac_sh = jax.tree.map(
        lambda leaf, p: jax.device_put(
            leaf, NamedSharding(mmesh, P(None, *p.sharding.spec))), jac, p_sh)
    out["gram_hlo"] = collectives(jax.jit(pj.gram).lower(jac_sh).compile().as_text())
    print("RESULT " + json.dumps(out))
    '''
)


@pytest.fixture(scope="module")
def result() -> dict:
    env = {
        **os.environ,
        # Keeps the suite's compile flags (conftest) and adds the 8 host devices.
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
                     "--xla_force_host_platform_device_count=8".strip(),
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("method", ["mgda", "upgrad"])
def test_training_reduces_losses(result, method):
    r = result[method]
    assert all(b < a for a, b in zip(r["loss_first"], r["loss_last"], strict=True)), r


@pytest.mark.parametrize("method", ["mgda", "upgrad"])
@pytest.mark.parametrize("mode", ["dp", "mp"])
def test_jit_sharded_matches_one_device(result, method, mode):
    params_err, loss_err, same_sharding = result[method][mode]
    assert params_err < 1e-5 and loss_err < 1e-5, result[method]
    if mode == "dp":  # replicated parameters stay replicated
        assert all(same_sharding), result[method]
    else:  # leaves b1, b2, w1, w2: the sharded w1, w2 come back sharded the same way
        # (XLA may choose to shard the replicated bias b1 in the output; pin it with
        # jax.jit(..., out_shardings=...) when that matters)
        assert same_sharding[2] and same_sharding[3], result[method]


def test_parameter_sharded_layout(result):
    # w1 (16, 64) and w2 (64, 3) sharded on their first axis, the biases replicated.
    assert result["mgda"]["mp_specs"] == [[], [], ["model", None], ["model", None]]


def test_shard_map_data_parallel_matches(result):
    params_err, loss_err = result["shard_map_dp"]
    assert params_err < 1e-5 and loss_err < 1e-5


def test_shard_map_parameter_sharded(result):
    g_err, w_err, u_err, same_sharding = result["shard_map_mp"]
    assert g_err < 1e-5 and w_err < 1e-5 and u_err < 1e-5
    assert all(same_sharding)  # the local update is sharded like the parameters
    coll = result["shard_map_mp_hlo"]
    assert coll and all("all-reduce" in c and "f32[3,3]" in c for c in coll), coll


def test_gram_communicates_only_m_by_m(result):
    """The compiled pj.gram of the parameter-sharded Jacobian of (c): per-device partial Grams
    and all-reduces of f32[3,3] only (no all-gather of a Jacobian leaf)."""
    coll = result["gram_hlo"]
    assert coll, "expected an m x m all-reduce"
    for c in coll:
        op_type = c.split("=", 1)[1].split("all-reduce(")[0]
        assert "all-reduce(" in c, coll
        assert set(re.findall(r"\w+\[[\d,]*\]", op_type)) == {"f32[3,3]"}, coll
