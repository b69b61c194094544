r"""A small offline model zoo for model merging (METHODS.md §13, "Model zoo for merging").

An MLP body 64–128–128 (ReLU) is pre-trained with a 10-way head on all digit classes; K copies
are then fine-tuned (body + their own head) on conflicting tasks with shifted inputs — the
PWE-MoE / Pareto-Merging analogue of CLIP fine-tuned on different vision datasets:

========== =========================== ==========
task       input                        classes
========== =========================== ==========
identity   clean digit                  10 (digit)
parity     horizontally flipped digit   2  (odd)
gt4        clean + N(0, 0.3²) noise     2  (> 4)
mod3       inverted 1 − x               3  (digit mod 3)
========== =========================== ==========

Everything is built in-process from ``sklearn``'s bundled digits (nothing downloaded). Heads are
always 10-wide; logits of unused classes are masked, so tasks batch with ``vmap``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.problems.datasets import _digits, _stratified_split

Array = jax.Array
Params = dict[str, Array]

__all__ = [
    "TASKS",
    "ModelZoo",
    "body_apply",
    "head_apply",
    "init_mlp",
    "model_zoo",
    "task_accuracy",
    "task_entropy",
    "zoo_accuracies",
    "zoo_entropies",
]

TASKS: dict[str, int] = {"identity": 10, "parity": 2, "gt4": 2, "mod3": 3}
_NUM_OUT = 10


def _task_data(name: str, images: np.ndarray, labels: np.ndarray, seed: int):
    x = images.reshape(len(images), 8, 8)
    if name == "identity":
        y = labels
    elif name == "parity":
        x, y = x[:, :, ::-1], labels % 2
    elif name == "gt4":
        rng = np.random.default_rng([seed, 4])
        x, y = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0.0, 1.0), (labels > 4)
    elif name == "mod3":
        x, y = 1.0 - x, labels % 3
    else:
        raise ValueError(f"unknown zoo task {name!r}; choose from {sorted(TASKS)}.")
    return x.reshape(len(x), 64).astype(np.float32), np.asarray(y, np.int32)


class ModelZoo(NamedTuple):
    """Pre-trained and fine-tuned models with their task data.

    Attributes:
      theta0: pre-trained body ``{"w0": [64, h], "b0", "w1": [h, h], "b1"}``.
      thetas: fine-tuned bodies, same tree with a leading ``[K]`` axis.
      heads: per-task heads ``{"w": [K, h, 10], "b": [K, 10]}``.
      num_classes: ``[K]`` classes per task (logits beyond are masked).
      x_train, y_train: ``[K, n_train, 64]``, ``[K, n_train]`` (fine-tuning data).
      x_test, y_test: ``[K, n_test, 64]``, ``[K, n_test]`` (evaluation; its inputs are the
        unlabelled data of the entropy objectives, as in AdaMerging's test-time adaptation).
      tasks: task names.
    """

    theta0: Params
    thetas: Params
    heads: Params
    num_classes: Array
    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    tasks: tuple[str, ...]


def init_mlp(key: Array, d_in: int = 64, hidden: int = 128) -> tuple[Params, Params]:
    """He-initialised body ``d_in–hidden–hidden`` and a 10-way head ``(body, head)``.

    Example:
      >>> import jax
      >>> from paretojax import merging
      >>> body, head = merging.init_mlp(jax.random.key(0), 64, 16)
      >>> body["w0"].shape, body["w1"].shape, head["w"].shape
      ((64, 16), (16, 16), (16, 10))
    """
    k0, k1, k2 = jax.random.split(key, 3)

    def dense(k, a, b):
        return jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a)

    body = {
        "w0": dense(k0, d_in, hidden),
        "b0": jnp.zeros((hidden,)),
        "w1": dense(k1, hidden, hidden),
        "b1": jnp.zeros((hidden,)),
    }
    head = {"w": dense(k2, hidden, _NUM_OUT) * 0.5, "b": jnp.zeros((_NUM_OUT,))}
    return body, head


def body_apply(body: Params, x: Array) -> Array:
    """Features ``relu(relu(x W0 + b0) W1 + b1)`` of ``x [n, 64]``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> body, _ = merging.init_mlp(jax.random.key(0), 64, 16)
      >>> feats = merging.body_apply(body, jnp.ones((3, 64)))
      >>> feats.shape, bool(jnp.all(feats >= 0))
      ((3, 16), True)
    """
    h = jax.nn.relu(x @ body["w0"] + body["b0"][None, :])
    return jax.nn.relu(h @ body["w1"] + body["b1"][None, :])


def head_apply(head: Params, feats: Array, num_classes: Any = _NUM_OUT) -> Array:
    """Logits ``[n, 10]`` with classes ``≥ num_classes`` masked to −1e9.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> _, head = merging.init_mlp(jax.random.key(0), 64, 16)
      >>> logits = merging.head_apply(head, jnp.ones((2, 16)), num_classes=3)
      >>> logits.shape, bool(jnp.all(logits[:, 3:] == -1e9))
      ((2, 10), True)
    """
    logits = feats @ head["w"] + head["b"][None, :]
    valid = jnp.arange(_NUM_OUT)[None, :] < jnp.asarray(num_classes)
    return jnp.where(valid, logits, -1e9)


def _ce(body, head, nc, x, y):
    logits = head_apply(head, body_apply(body, x), nc)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def task_accuracy(body: Params, head: Params, num_classes: Any, x: Array, y: Array) -> Array:
    """Accuracy of ``head ∘ body`` on ``(x, y)`` (argmax over the first ``num_classes``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> body, head = merging.init_mlp(jax.random.key(0), 64, 16)
      >>> x = jax.random.uniform(jax.random.key(1), (8, 64))
      >>> pred = jnp.argmax(merging.head_apply(head, merging.body_apply(body, x), 2), axis=-1)
      >>> float(merging.task_accuracy(body, head, 2, x, pred))  # its own predictions
      1.0
    """
    logits = head_apply(head, body_apply(body, x), num_classes)
    return jnp.mean(jnp.argmax(logits, axis=-1) == y)


def task_entropy(body: Params, head: Params, num_classes: Any, x: Array) -> Array:
    r"""Mean prediction entropy :math:`-\frac1n\sum_i\sum_c p_{ic}\log p_{ic}` (no labels).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import merging
      >>> body, head = merging.init_mlp(jax.random.key(0), 64, 16)
      >>> zero = {"w": jnp.zeros((16, 10)), "b": jnp.zeros(10)}  # uniform over 4 classes
      >>> round(float(merging.task_entropy(body, zero, 4, jnp.ones((2, 64)))), 4)  # log 4
      1.3863
    """
    logits = head_apply(head, body_apply(body, x), num_classes)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1))


def zoo_accuracies(zoo: ModelZoo, bodies: Params) -> Array:
    """``[K]`` test accuracy of task k with ``bodies`` (one shared body, or stacked ``[K]``).

    Example (a zoo takes seconds to build; run by ``tests/test_merging.py``):
      >>> import jax
      >>> from paretojax import merging
      >>> zoo = merging.model_zoo(jax.random.key(0), ("identity", "parity"),  # doctest: +SKIP
      ...                         hidden=8, pretrain_steps=5, finetune_steps=8)
      >>> merging.zoo_accuracies(zoo, zoo.thetas).shape  # doctest: +SKIP
      (2,)
    """
    stacked = bodies["w0"].ndim == 3
    in_axes = 0 if stacked else None
    f = jax.vmap(task_accuracy, in_axes=(in_axes, 0, 0, 0, 0))
    return f(bodies, zoo.heads, zoo.num_classes, zoo.x_test, zoo.y_test)


def _fit(body, head, nc, x, y, steps, lr, train_body=True):
    opt = optax.adam(lr)
    params = (body, head)
    state = opt.init(params)

    def step(carry, _):
        p, s = carry
        g = jax.grad(lambda q: _ce(q[0], q[1], nc, x, y))(p)
        if not train_body:
            g = (jax.tree.map(jnp.zeros_like, g[0]), g[1])
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(step, (params, state), None, length=steps)
    return params


def model_zoo(
    key: Array | None = None,
    tasks: tuple[str, ...] = ("identity", "parity", "gt4", "mod3"),
    *,
    hidden: int = 128,
    pretrain_steps: int = 300,
    finetune_steps: int = 200,
    lr: float = 3e-3,
    seed: int = 0,
) -> ModelZoo:
    """Build the zoo: pre-train on all 10 clean classes, fine-tune one copy per task.

    Full-batch Adam (``lr``) on the stratified 80/20 split of ``pj.datasets`` (seed ``seed``);
    fine-tuning starts from the pre-trained body and a fresh head that is first fitted alone
    (linear probe, ``finetune_steps // 4`` steps) so the task vectors reflect the task, not the
    random head. Deterministic given ``key``/``seed``; about 2 s on a laptop CPU.

    Example:
      >>> import jax
      >>> from paretojax import merging
      >>> zoo = merging.model_zoo(jax.random.key(0), ("identity", "parity"),  # doctest: +SKIP
      ...                            hidden=16, pretrain_steps=2, finetune_steps=4)
      >>> zoo.thetas["w1"].shape, zoo.x_test.shape[0]  # doctest: +SKIP
      ((2, 16, 16), 2)

    (Skipped in doctests for time — compiling the two training scans takes seconds; it runs in
    ``notebooks/merging.ipynb`` and
    ``tests/test_merging.py::test_pareto_merging_dominates_preference_task_arithmetic``.)
    """
    if len(tasks) < 2:
        raise ValueError(f"model_zoo needs at least 2 tasks to merge, got {tasks}.")
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown zoo task {t!r}; choose from {sorted(TASKS)}.")
    key = jax.random.key(seed) if key is None else key
    images, labels = _digits()
    tr, te = _stratified_split(seed, 0.2)
    flat = images.reshape(len(images), 64)
    kp, kf = jax.random.split(key)
    body, head = init_mlp(kp, 64, hidden)
    body, _ = _fit(body, head, 10, jnp.asarray(flat[tr]), jnp.asarray(labels[tr]),
                   pretrain_steps, lr)

    data = [(_task_data(t, images[tr], labels[tr], seed), _task_data(t, images[te], labels[te],
                                                                       seed + 1)) for t in tasks]
    xtr = jnp.asarray(np.stack([d[0][0] for d in data]))
    ytr = jnp.asarray(np.stack([d[0][1] for d in data]))
    xte = jnp.asarray(np.stack([d[1][0] for d in data]))
    yte = jnp.asarray(np.stack([d[1][1] for d in data]))
    nc = jnp.asarray([TASKS[t] for t in tasks], jnp.int32)
    heads0 = jax.vmap(lambda k: init_mlp(k, 64, hidden)[1])(jax.random.split(kf, len(tasks)))

    def finetune(h, n, x, y):
        _, h = _fit(body, h, n, x, y, max(finetune_steps // 4, 1), lr, train_body=False)
        return _fit(body, h, n, x, y, finetune_steps, lr * 0.3)

    thetas, heads = jax.jit(jax.vmap(finetune))(heads0, nc, xtr, ytr)
    return ModelZoo(body, thetas, heads, nc, xtr, ytr, xte, yte, tuple(tasks))


def zoo_entropies(zoo: ModelZoo, body: Params) -> Array:
    """``[K]`` mean prediction entropy of each task's head on its unlabelled test inputs.

    Example (a zoo takes seconds to build; run by ``tests/test_merging.py``):
      >>> import jax
      >>> from paretojax import merging
      >>> zoo = merging.model_zoo(jax.random.key(0), ("identity", "parity"),  # doctest: +SKIP
      ...                         hidden=8, pretrain_steps=5, finetune_steps=8)
      >>> merging.zoo_entropies(zoo, merging.task_arithmetic(zoo.theta0,  # doctest: +SKIP
      ...     merging.task_vectors(zoo.theta0, zoo.thetas))).shape
      (2,)
    """
    f = jax.vmap(task_entropy, in_axes=(None, 0, 0, 0))
    return f(body, zoo.heads, zoo.num_classes, zoo.x_test)
