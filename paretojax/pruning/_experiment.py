"""The digits-MLP pruning experiment shared by the tests, the bench and the notebook."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.merging._zoo import TASKS, _task_data, body_apply, head_apply, init_mlp
from paretojax.problems.datasets import _digits, _stratified_split
from paretojax.pruning._admm import alps, magnitude_prune, mosp, mosp_weights

__all__ = ["MultiTaskMLP", "char_lm", "layer_grams", "multitask_mlp", "prune_and_evaluate", "task_losses"]

_LAYERS = ("w0", "w1")


class MultiTaskMLP(NamedTuple):
    """A body 64–h–h shared by T task heads, trained jointly, with its data.

    ``x_cal``/``x_test``: ``[T, n, 64]`` calibration (train split) and test inputs.
    """

    body: dict
    heads: dict
    num_classes: jax.Array
    x_cal: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    tasks: tuple[str, ...]


def multitask_mlp(key: jax.Array, tasks: tuple[str, ...] = ("identity", "mod3"), *,
                  hidden: int = 64, steps: int = 300, lr: float = 3e-3,
                  n_cal: int = 256) -> MultiTaskMLP:
    """Train the shared MLP on the zoo tasks (shifted inputs per task; summed CE).

    Example:
      >>> import jax, paretojax as pj
      >>> net = pj.pruning.multitask_mlp(jax.random.key(0), steps=2, hidden=8, n_cal=16)
      >>> (net.tasks, net.x_cal.shape, net.num_classes.tolist())
      (('identity', 'mod3'), (2, 16, 64), [10, 3])
    """
    images, labels = _digits()
    tr, te = _stratified_split(0, 0.2)
    dtr = [_task_data(t, images[tr], labels[tr], 0) for t in tasks]
    dte = [_task_data(t, images[te], labels[te], 1) for t in tasks]
    xtr, ytr = jnp.asarray(np.stack([d[0] for d in dtr])), jnp.asarray(np.stack([d[1] for d in dtr]))
    xte, yte = jnp.asarray(np.stack([d[0] for d in dte])), jnp.asarray(np.stack([d[1] for d in dte]))
    nc = jnp.asarray([TASKS[t] for t in tasks], jnp.int32)
    kb, kh = jax.random.split(key)
    body, _ = init_mlp(kb, 64, hidden)
    heads = jax.vmap(lambda k: init_mlp(k, 64, hidden)[1])(jax.random.split(kh, len(tasks)))
    opt = optax.adam(lr)

    def loss(p):
        return jnp.sum(task_losses(p[0], p[1], nc, xtr, ytr))

    @jax.jit
    def run(p):
        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    body, heads = run((body, heads))
    return MultiTaskMLP(body, heads, nc, xtr[:, :n_cal], xte, yte, tuple(tasks))


def task_losses(body, heads, num_classes, x, y) -> jax.Array:
    """``[T]`` mean cross-entropy of each task's head on its own inputs.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> body = {"w0": jnp.ones((3, 4)), "b0": jnp.zeros(4),
      ...         "w1": jnp.ones((4, 4)), "b1": jnp.zeros(4)}
      >>> heads = {"w": jnp.zeros((2, 4, 10)), "b": jnp.zeros((2, 10))}  # uniform logits
      >>> x, y = jnp.ones((2, 5, 3)), jnp.zeros((2, 5), jnp.int32)
      >>> L = jax.jit(pj.pruning.task_losses)(body, heads, jnp.array([10, 3]), x, y)
      >>> [round(float(v), 4) for v in L]  # log 10, log 3: classes ≥ num_classes are masked
      [2.3026, 1.0986]
    """

    def one(h, n, xx, yy):
        logits = head_apply(h, body_apply(body, xx), n)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yy).mean()

    return jax.vmap(one)(heads, num_classes, x, y)


def layer_grams(body: dict, x: jax.Array) -> dict[str, jax.Array]:
    """Per-task Grams ``{layer: [T, d_in, d_in]}`` of the dense model's inputs to each layer.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> body = {"w0": jnp.eye(3, 2), "b0": jnp.zeros(2)}
      >>> x = jax.random.normal(jax.random.key(0), (2, 16, 3))  # T = 2 tasks, 16 inputs each
      >>> g = jax.jit(pj.pruning.layer_grams)(body, x)
      >>> {k: v.shape for k, v in g.items()}  # [T, d_in, d_in] per layer
      {'w0': (2, 3, 3), 'w1': (2, 2, 2)}
      >>> h = jax.nn.relu(x[1] @ body["w0"])  # inputs of task 2 to layer w1
      >>> bool(jnp.allclose(g["w1"][1], h.T @ h, atol=1e-5))
      True
    """
    h0 = x
    h1 = jax.nn.relu(x @ body["w0"] + body["b0"][None, None, :])
    return {"w0": jnp.einsum("tni,tnj->tij", h0, h0), "w1": jnp.einsum("tni,tnj->tij", h1, h1)}


def prune_and_evaluate(net: MultiTaskMLP, sparsity: float, prefs: np.ndarray,
                       *, max_iter: int = 300) -> dict[str, np.ndarray]:
    """Test losses ``[*, T]`` of magnitude, ALPS-on-task-i and MOSP over ``prefs [P, T]``.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, paretojax as pj
      >>> k = jax.random.split(jax.random.key(0), 4)
      >>> body = {"w0": jax.random.normal(k[0], (4, 4)), "b0": jnp.zeros(4),
      ...         "w1": jax.random.normal(k[1], (4, 4)), "b1": jnp.zeros(4)}  # same shapes
      >>> heads = {"w": jax.random.normal(k[2], (2, 4, 10)), "b": jnp.zeros((2, 10))}
      >>> x = jax.random.normal(k[3], (2, 32, 4))
      >>> y = jnp.zeros((2, 32), jnp.int32)
      >>> net = pj.pruning.MultiTaskMLP(body, heads, jnp.array([10, 3]), x, x, y, ("a", "b"))
      >>> prefs = np.array([[0.5, 0.5], [0.9, 0.1]])
      >>> out = pj.pruning.prune_and_evaluate(net, 0.5, prefs, max_iter=5)
      >>> sorted(out)
      ['ALPS (calib. a)', 'ALPS (calib. all)', 'ALPS (calib. b)', 'MOSP', 'dense', 'magnitude']
      >>> (out["dense"].shape, out["MOSP"].shape)  # [T] and [P, T]
      ((2,), (2, 2))
    """
    grams = layer_grams(net.body, net.x_cal)
    t = grams["w0"].shape[0]

    def ev(body):
        return np.asarray(task_losses(body, net.heads, net.num_classes, net.x_test, net.y_test))

    out = {"dense": ev(net.body)}
    out["magnitude"] = ev({**net.body, **{n: magnitude_prune(net.body[n], sparsity)
                                          for n in _LAYERS}})
    for i in range(t):
        out[f"ALPS (calib. {net.tasks[i]})"] = ev(
            {**net.body, **{n: alps(net.body[n], grams[n][i], sparsity, max_iter=max_iter)
                            for n in _LAYERS}})
    out["ALPS (calib. all)"] = ev({**net.body, **{n: alps(net.body[n], grams[n].sum(0), sparsity,
                                                           max_iter=max_iter) for n in _LAYERS}})
    res = {n: mosp(net.body[n], grams[n], sparsity, max_iter=max_iter) for n in _LAYERS}
    out["MOSP"] = np.stack([ev({**net.body, **{n: mosp_weights(res[n], jnp.asarray(p, jnp.float32))
                                               for n in _LAYERS}}) for p in prefs])
    return out


def _markov_text(key: jax.Array, trans: jax.Array, n: int, length: int) -> jax.Array:
    def one(k):
        ks = jax.random.split(k, length)

        def body(tok, kt):
            nxt = jax.random.categorical(kt, jnp.log(trans[tok]))
            return nxt, nxt

        return jax.lax.scan(body, jax.random.randint(ks[0], (), 0, trans.shape[0]), ks[1:])[1]

    return jax.vmap(one)(jax.random.split(key, n))


def char_lm(key: jax.Array, num_domains: int = 2, *, context: int = 4, vocab: int = 10,
            hidden: int = 64, steps: int = 400, lr: float = 3e-3, n_seq: int = 200,
            length: int = 24, n_cal: int = 512, concentration: float = 0.3) -> MultiTaskMLP:
    """A tiny character-level MLP LM on ``num_domains`` synthetic "languages".

    Each domain is a first-order Markov chain over the same ``vocab`` (≤ 10) characters with
    transition rows ~ Dirichlet(``concentration``) (its own fixed draw). The model reads the
    one-hot of the last ``context`` characters (``context·vocab`` inputs) through the same
    64–h–h body as the digits MLP and one shared next-character head (copied per domain, so the
    digits pipeline applies unchanged); "task loss" = next-character CE on held-out text.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> net = pj.pruning.char_lm(jax.random.key(0), steps=2, hidden=8, n_seq=8, length=8,
      ...                          n_cal=16)
      >>> (net.tasks, net.x_cal.shape)  # inputs: one-hot of context·vocab = 4·10 characters
      (('lang0', 'lang1'), (2, 16, 40))
    """
    if not 2 <= vocab <= 10:
        raise ValueError(f"vocab must lie in [2, 10], got {vocab}.")
    kt, kd, km = jax.random.split(key, 3)
    trans = jax.random.dirichlet(kt, jnp.full((vocab,), concentration), (num_domains, vocab))
    texts = jax.vmap(lambda tr, k: _markov_text(k, tr, 2 * n_seq, length))(
        trans, jax.random.split(kd, num_domains))  # [T, 2n, L−1]
    win = jnp.stack([texts[:, :, i : i + context + 1]
                     for i in range(texts.shape[2] - context)], 2)
    win = win.reshape(num_domains, -1, context + 1)
    x = jax.nn.one_hot(win[..., :context], vocab).reshape(num_domains, win.shape[1], -1)
    y = win[..., context]
    half = x.shape[1] // 2
    kb, kh = jax.random.split(km)
    body, head = init_mlp(kb, context * vocab, hidden)
    nc = jnp.full((num_domains,), vocab, jnp.int32)
    opt = optax.adam(lr)

    def loss(p):
        heads = jax.tree.map(lambda a: jnp.broadcast_to(a[None], (num_domains, *a.shape)), p[1])
        return jnp.sum(task_losses(p[0], heads, nc, x[:, :half], y[:, :half]))

    @jax.jit
    def run(p):
        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    body, head = run((body, head))
    heads = jax.tree.map(lambda a: jnp.broadcast_to(a[None], (num_domains, *a.shape)), head)
    names = tuple(f"lang{i}" for i in range(num_domains))
    return MultiTaskMLP(body, heads, nc, x[:, :n_cal], x[:, half:], y[:, half:], names)
