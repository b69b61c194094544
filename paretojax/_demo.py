"""``paretojax demo``: two digit-classification tasks, equal weighting vs MGDA (and friends).

The data are built in-process from scikit-learn's bundled 8×8 digits (MultiDigits-2: two digits
overlaid on a 12×12 canvas, classify the top-left and the bottom-right one). A shared MLP trunk
with two heads is trained with each method for the same number of Adam steps; the whole step
(Jacobian → Gram → weights → update) is one compiled function, scanned over chunks of steps.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax._progress import Progress

Array = jax.Array

DEFAULT_METHODS = ("linear", "mgda", "upgrad")


def _init_mlp(key: Array, sizes: Sequence[int], n_heads: int, n_classes: int) -> dict[str, Any]:
    keys = jax.random.split(key, len(sizes) + n_heads)
    trunk = []
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:], strict=False), strict=False):
        trunk.append({"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros((b,))})
    heads = [
        {"w": jax.random.normal(k, (sizes[-1], n_classes)) * jnp.sqrt(1.0 / sizes[-1]),
         "b": jnp.zeros((n_classes,))}
        for k in keys[len(sizes) - 1 : len(sizes) - 1 + n_heads]
    ]
    return {"trunk": trunk, "heads": heads}


def _logits(params: dict[str, Any], x: Array) -> Array:
    h = x
    for layer in params["trunk"]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"][None, :])
    return jnp.stack([h @ hd["w"] + hd["b"][None, :] for hd in params["heads"]], axis=0)


def task_losses(params: dict[str, Any], x: Array, y: Array) -> Array:
    """Cross-entropy of each head: the loss vector ``[m]``."""
    logits = _logits(params, x)  # [m, B, C]
    labels = jnp.transpose(y)  # [m, B]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.mean(ce, axis=-1)


def task_accuracies(params: dict[str, Any], x: Array, y: Array) -> Array:
    pred = jnp.argmax(_logits(params, x), axis=-1)
    return jnp.mean(pred == jnp.transpose(y), axis=-1)


def _method(name: str) -> optax.GradientTransformationExtraArgs:
    import paretojax as pj

    infos = pj.methods()
    if name not in infos:
        raise ValueError(f"unknown method {name!r}; see `paretojax list`.")
    info = infos[name]
    if info.family not in ("weighting", "manipulation", "scalarization", "balancing"):
        raise ValueError(f"method {name!r} ({info.family}) is not a multi-task gradient method.")
    kwargs = info.kwargs_for(2)
    if "pref" in info.requires:
        raise ValueError(f"method {name!r} needs a preference; the demo trains one model per method.")
    import inspect

    if "num_tasks" in inspect.signature(info.factory).parameters:
        kwargs.setdefault("num_tasks", 2)
    return info.factory(**kwargs)


def train_one(
    method: str,
    data: Any,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    chunk: int = 25,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the two-head MLP with one method; returns the loss history and final metrics."""
    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    n_in = x_tr.shape[1]
    params = _init_mlp(jax.random.key(seed), (n_in, 128, 128), 2, 10)
    tx = optax.chain(_method(method), optax.adam(lr))
    opt_state = tx.init(params)
    import paretojax as pj

    vjac = pj.value_and_jacobian(task_losses)

    def step(carry, idx):
        params, opt_state = carry
        losses, jac = vjac(params, x_tr[idx], y_tr[idx])
        updates, opt_state = tx.update(jac, opt_state, params, task_losses=losses)
        return (optax.apply_updates(params, updates), opt_state), losses

    @jax.jit
    def run_chunk(params, opt_state, key):
        idx = jax.random.randint(key, (chunk, batch_size), 0, x_tr.shape[0])
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, losses

    key = jax.random.key(seed + 1)
    n_chunks = max(1, steps // chunk)
    history = []
    # compile outside the timed loop so steps/s measures the steady state
    key, sub = jax.random.split(key)
    jax.block_until_ready(run_chunk.lower(params, opt_state, sub).compile())
    start = time.perf_counter()
    with Progress(n_chunks * chunk, desc=f"{method:>8}", enabled=progress) as bar:
        for _ in range(n_chunks):
            key, sub = jax.random.split(key)
            params, opt_state, losses = run_chunk(params, opt_state, sub)
            history.append(np.asarray(losses))
            bar.update(chunk, loss_a=float(losses[-1, 0]), loss_b=float(losses[-1, 1]))
    elapsed = time.perf_counter() - start
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    return {
        "method": method,
        "history": np.concatenate(history, axis=0),
        "test_loss": np.asarray(task_losses(params, x_te, y_te)),
        "test_acc": np.asarray(task_accuracies(params, x_te, y_te)),
        "steps_per_s": n_chunks * chunk / elapsed,
    }


def run_demo(
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    steps: int = 300,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    out: str | None = "paretojax_demo",
    progress: bool = True,
    n_train: int = 10_000,
    n_test: int = 2_000,
) -> list[dict[str, Any]]:
    """Train every method on MultiDigits-2, print a table, write ``results.json`` and a PNG."""
    from paretojax.problems import datasets

    data = datasets.get("multidigits", n_train=n_train, n_test=n_test, seed=seed, flatten=True)
    print(
        f"MultiDigits-2: {data.x_train.shape[0]} train / {data.x_test.shape[0]} test images "
        f"({int(np.sqrt(data.x_train.shape[1]))}×{int(np.sqrt(data.x_train.shape[1]))}), "
        f"tasks: {', '.join(data.task_names)}; {steps} Adam steps, batch {batch_size}."
    )
    results = [
        train_one(m, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
        for m in methods
    ]
    header = f"{'method':<10}{'loss A':>9}{'loss B':>9}{'acc A':>8}{'acc B':>8}{'steps/s':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        la, lb = r["test_loss"]
        aa, ab = r["test_acc"]
        print(f"{r['method']:<10}{la:>9.4f}{lb:>9.4f}{aa:>8.3f}{ab:>8.3f}{r['steps_per_s']:>9.1f}")
    if out:
        os.makedirs(out, exist_ok=True)
        summary = [
            {
                "method": r["method"],
                "test_loss": r["test_loss"].tolist(),
                "test_accuracy": r["test_acc"].tolist(),
                "steps_per_s": r["steps_per_s"],
            }
            for r in results
        ]
        with open(os.path.join(out, "results.json"), "w") as fh:
            json.dump(summary, fh, indent=2)
        path = os.path.join(out, "demo_losses.png")
        _plot(results, path)
        print(f"wrote {os.path.join(out, 'results.json')} and {path}")
    return results


def _plot(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for r in results:
        h = r["history"]
        for k, ax in enumerate(axes):
            # smooth the mini-batch noise with a running mean over 10 steps
            kern = np.ones(10) / 10
            ax.plot(np.convolve(h[:, k], kern, mode="valid"), label=r["method"])
    for k, ax in enumerate(axes):
        ax.set_title(f"task {'AB'[k]} training loss")
        ax.set_xlabel("step")
        ax.set_yscale("log")
    axes[0].set_ylabel("cross-entropy")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
