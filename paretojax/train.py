r"""A small multi-task training loop: one jitted step, a Python loop with a progress bar on top.

The step is the whole paretojax pipeline as one pure, jitted function::

    losses, J = pj.value_and_jacobian(loss_vector_fn)(params, *batch)
    updates, opt_state = tx.update(J, opt_state, params, task_losses=losses[, pref=p])
    params = optax.apply_updates(params, updates)

so ``tx`` may be any paretojax transform chained with an optimizer — Gram-level
(``optax.chain(pj.mgda(), optax.adam(1e-3))``), loss-level (``optax.chain(pj.stch(0.1),
optax.sgd(0.1))``) or stateful (``pj.dwa``, ``pj.uw``) — and preference-driven transforms get
the ``pref`` passed through. :func:`fit` adds minibatching, epoch boundaries (for DWA-style
methods, via ``epoch_end=pj.dwa_epoch_end``), a progress bar and a loss/weight history.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax._progress import Progress
from paretojax.core.jacobian import value_and_jacobian
from paretojax.transforms import TransformState

Array = jax.Array
PyTree = Any

__all__ = ["make_step", "fit", "find_weights"]


def find_weights(opt_state: PyTree) -> Array | None:
    """The task weights recorded by the first paretojax transform in ``opt_state`` (or ``None``).

    Transforms record their weights when built with ``num_tasks`` (``state.weights``).
    """
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, TransformState))
    for node in nodes:
        if isinstance(node, TransformState) and node.weights is not None:
            return node.weights
    return None


def _as_args(batch: Any) -> tuple[Any, ...]:
    if batch is None:
        return ()
    return tuple(batch) if isinstance(batch, tuple) else (batch,)


def make_step(
    loss_vector_fn: Callable[..., Any],
    tx: optax.GradientTransformation,
    *,
    has_aux: bool = False,
    jit: bool = True,
    chunk_size: int | None = None,
) -> Callable[..., tuple[PyTree, PyTree, dict[str, Any]]]:
    r"""The training step ``(params, opt_state, batch=(), pref=None) -> (params, opt_state, out)``.

    ``loss_vector_fn(params, *batch) -> losses[m]`` (or ``(losses, aux)`` with ``has_aux``);
    ``batch`` is a tuple of positional arguments (anything else is passed as one argument).
    ``tx`` is the full optax pipeline (method chained with an optimizer); it receives
    ``task_losses`` and, when given, ``pref``. ``out`` holds ``"losses"`` (before the update),
    ``"weights"`` when a transform records them (built with ``num_tasks``) and ``"aux"``.
    ``chunk_size=k`` computes the Jacobian's ``m`` VJPs ``k`` at a time (bounded backward
    memory, same result; see :func:`paretojax.value_and_jacobian`); for a step that never
    holds the Jacobian, see :func:`paretojax.make_gram_step`.

    Example:
      >>> import jax.numpy as jnp, optax, paretojax as pj
      >>> f = lambda p: jnp.stack([jnp.sum((p["w"] - 1.0) ** 2), jnp.sum((p["w"] + 1.0) ** 2)])
      >>> tx = optax.chain(pj.linear(num_tasks=2), optax.sgd(0.1))
      >>> step = pj.make_step(f, tx)
      >>> params = {"w": jnp.array([0.5])}
      >>> params, opt_state, out = step(params, tx.init(params))
      >>> out["losses"], out["weights"]
      (Array([0.25, 2.25], dtype=float32), Array([0.5, 0.5], dtype=float32))
      >>> params["w"]
      Array([0.4], dtype=float32)
    """
    tx = optax.with_extra_args_support(tx)
    vag = value_and_jacobian(loss_vector_fn, has_aux=has_aux, chunk_size=chunk_size)

    def step(
        params: PyTree, opt_state: PyTree, batch: Any = (), pref: Any = None
    ) -> tuple[PyTree, PyTree, dict[str, Any]]:
        args = _as_args(batch)
        if has_aux:
            (losses, aux), jac = vag(params, *args)
        else:
            losses, jac = vag(params, *args)
        extra: dict[str, Any] = {"task_losses": losses}
        if pref is not None:
            extra["pref"] = pref
        updates, opt_state = tx.update(jac, opt_state, params, **extra)
        params = optax.apply_updates(params, updates)
        out: dict[str, Any] = {"losses": losses}
        w = find_weights(opt_state)
        if w is not None:
            out["weights"] = w
        if has_aux:
            out["aux"] = aux
        return params, opt_state, out

    return jax.jit(step) if jit else step


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, jax.Array))


def _array_data(data: Any) -> tuple[Any, int] | None:
    """``(arrays, N)`` when ``data`` is an array, a tuple of arrays or a dict of arrays."""
    if _is_array(data):
        return (data,), int(np.shape(data)[0])
    if isinstance(data, tuple) and data and all(_is_array(a) for a in data):
        arrays = data
    elif isinstance(data, dict) and data and all(_is_array(a) for a in data.values()):
        arrays = data
    else:
        return None
    sizes = {int(np.shape(a)[0]) if np.ndim(a) else -1 for a in jax.tree_util.tree_leaves(arrays)}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(
            "fit: the data arrays must share their leading (example) axis, got sizes "
            f"{sorted(sizes)}."
        )
    return arrays, sizes.pop()


def fit(
    loss_vector_fn: Callable[..., Any],
    params: PyTree,
    tx: optax.GradientTransformation,
    data: Any = None,
    *,
    steps: int,
    batch_size: int | None = None,
    key: Array | None = None,
    pref: Any = None,
    opt_state: PyTree = None,
    steps_per_epoch: int | None = None,
    epoch_end: Callable[[PyTree], PyTree] | None = None,
    callback: Callable[[int, PyTree, PyTree, dict[str, Any]], None] | None = None,
    log_every: int | None = None,
    progress: bool = True,
    has_aux: bool = False,
    chunk_size: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
) -> tuple[PyTree, dict[str, Any]]:
    r"""Train ``params`` on the loss vector ``loss_vector_fn`` with the transform ``tx``.

    Args:
      loss_vector_fn: ``(params, *batch) -> losses[m]``.
      params: initial parameter pytree.
      tx: the full optax pipeline, e.g. ``optax.chain(pj.mgda(), optax.adam(1e-3))`` (the
        method alone returns a *gradient*: chain it with an optimizer).
      data: ``None`` (``loss_vector_fn(params)``); an array, a tuple of arrays (passed as
        positional arguments) or a dict of arrays (passed as one argument) sharing the leading
        example axis ``N`` — shuffled minibatches of ``batch_size`` are drawn without
        replacement each epoch (``N // batch_size`` steps, remainder dropped; full batch when
        ``batch_size`` is ``None``); or any iterable / iterator of batches (a tuple batch is
        unpacked into positional arguments). A re-iterable (list, data loader) restarts at
        exhaustion, which ends an epoch; an exhausted iterator ends training early.
      steps: number of optimisation steps.
      batch_size: minibatch size for array data.
      key: PRNG key for shuffling array data (default ``jax.random.key(0)``).
      pref: preference passed to every step as ``pref=`` (for TCH/STCH/EPO-style methods).
      opt_state: resume from this optimizer state (default ``tx.init(params)``).
      steps_per_epoch: override the epoch length (in steps).
      epoch_end: ``opt_state -> opt_state`` called at every epoch end, e.g.
        ``pj.dwa_epoch_end``; jitted.
      callback: ``callback(step, params, opt_state, out)`` at every log point (``out`` on host).
      log_every: steps between progress updates and host transfers (default ``steps // 50``).
      progress: show a dependency-free progress bar (stderr).
      has_aux: ``loss_vector_fn`` returns ``(losses, aux)``; ``aux`` is not recorded.
      chunk_size: compute the Jacobian's VJPs this many at a time (see :func:`make_step`).
      checkpoint_dir: save ``params``, ``opt_state``, ``key``, the step and the history there
        (orbax, :mod:`paretojax.checkpoint`) and **resume automatically** from its latest
        checkpoint: the resumed run is identical to an uninterrupted one with the same seed
        (minibatch order and method state included; iterable data is fast-forwarded, exact
        when it yields the same batches again). A checkpoint of another model, method, key or
        data setup raises ``ValueError``; the checkpoint wins over ``opt_state``.
      checkpoint_every: steps between checkpoints (default ``max(1, steps // 10)``); one is
        also written at the last step.

    Returns:
      ``(params, history)`` with ``history["losses"]`` ``[steps_run, m]`` (losses *before* each
      step), ``history["weights"]`` ``[steps_run, m]`` when a transform records them,
      ``history["step"]``, ``history["epoch_ends"]`` (steps after which ``epoch_end`` ran),
      ``history["opt_state"]`` (final) and ``history["time"]`` (seconds, compile included).

    Example:
      >>> import jax, jax.numpy as jnp, optax, paretojax as pj
      >>> x = jax.random.normal(jax.random.key(0), (64, 3))
      >>> y = jnp.stack([x.sum(1), x[:, 0] - x[:, 1]], 1)
      >>> def losses(p, x, y):
      ...     return jnp.mean((x @ p["w"] - y) ** 2, axis=0)
      >>> tx = optax.chain(pj.dwa(num_tasks=2), optax.adam(0.05))
      >>> params, hist = pj.fit(losses, {"w": jnp.zeros((3, 2))}, tx, (x, y), steps=40,
      ...                       batch_size=16, epoch_end=pj.dwa_epoch_end, progress=False)
      >>> bool(jnp.all(hist["losses"][-1] < hist["losses"][0]))
      True
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"fit: steps must be ≥ 0, got {steps}.")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"fit: batch_size must be ≥ 1, got {batch_size}.")
    if steps_per_epoch is not None and int(steps_per_epoch) < 1:
        raise ValueError(f"fit: steps_per_epoch must be ≥ 1, got {steps_per_epoch}.")
    log_every = max(1, steps // 50) if log_every is None else int(log_every)
    if log_every < 1:
        raise ValueError(f"fit: log_every must be ≥ 1, got {log_every}.")
    key = jax.random.key(0) if key is None else key
    pref = None if pref is None else jnp.asarray(pref)

    tx = optax.with_extra_args_support(tx)
    step_fn = make_step(loss_vector_fn, tx, has_aux=has_aux, jit=False, chunk_size=chunk_size)
    opt_state = tx.init(params) if opt_state is None else opt_state
    end_fn = None if epoch_end is None else jax.jit(epoch_end)

    # ---- data source: next_batch(i) -> (batch or None, epoch ended after this step?) ----------
    arr = _array_data(data)
    if data is None or arr is not None:
        if arr is None:
            arrays, n = None, 0
            bs = 0
        else:
            arrays, n = arr
            bs = n if batch_size is None else min(int(batch_size), n)
        per_epoch = int(steps_per_epoch) if steps_per_epoch else (max(1, n // bs) if bs else 1)
        full = arrays is None or bs == n

        if full:
            jstep = jax.jit(step_fn)

            def run(p, s, i, k):
                return jstep(p, s, arrays, pref)
        else:

            @jax.jit
            def _indexed(p, s, a, perm, start, pr):
                idx = jax.lax.dynamic_slice_in_dim(perm, start, bs)
                batch = jax.tree_util.tree_map(lambda v: jnp.take(v, idx, axis=0), a)
                return step_fn(p, s, batch, pr)

            perm_holder: dict[str, Any] = {}
            batches_per_perm = n // bs

            def run(p, s, i, k):
                j = i % batches_per_perm
                if j == 0 or "perm" not in perm_holder:  # (an epoch start, or a resume)
                    perm_holder["perm"] = jax.random.permutation(jax.random.fold_in(k, i - j), n)
                return _indexed(p, s, arrays, perm_holder["perm"], j * bs, pref)

        def epoch_done(i: int) -> bool:
            return (i + 1) % per_epoch == 0

        data_config: dict[str, Any] = {"n": n, "batch_size": bs, "per_epoch": per_epoch}
        skip_batch = None

        exhausted = None
    else:
        if not isinstance(data, Iterable):
            raise ValueError(
                "fit: data must be None, an array, a tuple/dict of arrays, or an iterable of "
                f"batches; got {type(data).__name__}."
            )
        reiterable = not isinstance(data, Iterator)
        it_holder = {"it": iter(data), "ended": False}
        jstep = jax.jit(step_fn)
        exhausted = {"flag": False}

        def _next_batch():
            try:
                return next(it_holder["it"])
            except StopIteration:
                if not reiterable:
                    exhausted["flag"] = True
                    return None
                it_holder["ended"] = True
                it_holder["it"] = iter(data)
                try:
                    return next(it_holder["it"])
                except StopIteration:
                    raise ValueError("fit: the data iterable yields no batches.") from None

        pending = {"batch": _next_batch()}

        def run(p, s, i, k):
            batch = pending["batch"]
            out = jstep(p, s, batch, pref)
            it_holder["ended"] = False
            pending["batch"] = _next_batch()
            return out

        def skip_batch() -> None:
            it_holder["ended"] = False
            pending["batch"] = _next_batch()

        data_config = {"iterable": True, "steps_per_epoch": steps_per_epoch}

        def epoch_done(i: int) -> bool:
            if steps_per_epoch:
                return (i + 1) % int(steps_per_epoch) == 0
            return bool(it_holder["ended"])

    # ---- the loop --------------------------------------------------------------------------
    t0 = time.perf_counter()
    losses_chunks: list[np.ndarray] = []
    weights_chunks: list[np.ndarray] = []
    pending_out: list[dict[str, Any]] = []
    epoch_ends: list[int] = []
    done = 0

    def flush() -> dict[str, Any] | None:
        if not pending_out:
            return None
        host = jax.device_get([{k: v for k, v in o.items() if k != "aux"} for o in pending_out])
        losses_chunks.append(np.stack([np.asarray(h["losses"]) for h in host]))
        if "weights" in host[0]:
            weights_chunks.append(np.stack([np.asarray(h["weights"]) for h in host]))
        pending_out.clear()
        return host[-1]

    ckpt = None
    if checkpoint_dir is not None:
        from paretojax.checkpoint import _FitCheckpoint

        every = max(1, steps // 10) if checkpoint_every is None else checkpoint_every
        ckpt = _FitCheckpoint(checkpoint_dir, every, steps, data_config)
        done, params, opt_state, losses_chunks, weights_chunks, epoch_ends = ckpt.resume(
            params, opt_state, key
        )
        for _ in range(done if skip_batch is not None else 0):
            skip_batch()

    with Progress(steps, desc="fit", enabled=progress) as bar:
        last_logged = done
        if done:
            bar.update(done)
        for i in range(done, steps):
            if exhausted is not None and exhausted["flag"]:
                break
            params, opt_state, out = run(params, opt_state, i, key)
            pending_out.append(out)
            done = i + 1
            if end_fn is not None and epoch_done(i):
                opt_state = end_fn(opt_state)
                epoch_ends.append(done)
            held = None
            if ckpt is not None and ckpt.due(done):  # before the callback, which may stop us
                held = flush()
                ckpt.save(done, params, opt_state, key, losses_chunks, weights_chunks, epoch_ends)
            if done % log_every == 0 or done == steps:
                last = flush() or held
                if last is not None:
                    post = {f"L{j}": float(v) for j, v in enumerate(np.ravel(last["losses"])[:4])}
                    bar.update(done - last_logged, **post)
                    last_logged = done
                    if callback is not None:
                        callback(done, params, opt_state, last)
        flush()
        if done > last_logged:
            bar.update(done - last_logged)
    if ckpt is not None:
        if ckpt.saved < done:  # an iterator ran out early
            ckpt.save(done, params, opt_state, key, losses_chunks, weights_chunks, epoch_ends)
        ckpt.close()

    history: dict[str, Any] = {
        "step": np.arange(1, done + 1),
        "losses": np.concatenate(losses_chunks) if losses_chunks else np.zeros((0, 0)),
        "epoch_ends": epoch_ends,
        "opt_state": opt_state,
        "time": time.perf_counter() - t0,
    }
    if weights_chunks:
        history["weights"] = np.concatenate(weights_chunks)
    return params, history
