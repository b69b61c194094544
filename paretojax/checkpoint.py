r"""Checkpoint and resume of any training state (params, optimizer state, PRNG keys, step) with orbax.

A checkpoint is one step directory ``<dir>/<step>/`` written atomically by
:class:`orbax.checkpoint.CheckpointManager` with two items:

* ``state`` — the **flattened** leaves of the saved pytree (``{"0": leaf_0, "1": leaf_1, …}``);
  typed PRNG keys (``jax.random.key``) are stored as their ``key_data`` and re-wrapped on
  restore, so any pytree (NamedTuple optimizer states, ``None`` fields, ``optax.EmptyState``,
  ``nnx.State``) round-trips without orbax having to understand its node types;
* ``meta`` — JSON: the tree structure (``str(treedef)``), every leaf's shape and dtype, the
  key implementations, a CRC-32 of every leaf's bytes and the caller's ``metadata``.

Restoring needs a ``like`` pytree (e.g. freshly initialised params and ``tx.init(params)``):
its structure, shapes and dtypes are compared with the checkpoint **before** reading the arrays,
and the checksums after, so a checkpoint from a different model or method, or a truncated or
garbled file, raises a :class:`ValueError` that names the problem instead of resuming into a
silently wrong state. Restored leaves take the ``like`` leaf's sharding (and weak type).

The functional API (:func:`save_checkpoint`, :func:`restore_checkpoint`, :func:`latest_step`)
opens the directory on each call; :class:`Checkpointer` keeps it open for a training loop.
:func:`paretojax.fit` uses it through ``checkpoint_dir=`` / ``checkpoint_every=``.
"""

from __future__ import annotations

import json
import os
import pathlib
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PyTree = Any

__all__ = [
    "Checkpointer",
    "LoopCheckpoint",
    "save_checkpoint",
    "restore_checkpoint",
    "latest_step",
]

_FORMAT = "paretojax.checkpoint/1"


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _flatten(tree: PyTree) -> tuple[list[Any], Any, list[str | None]]:
    """Leaves (keys unwrapped to their data), treedef and the key implementation per leaf."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    out, impls = [], []
    for leaf in leaves:
        if _is_key(leaf):
            impls.append(str(jax.random.key_impl(leaf)))
            out.append(jax.random.key_data(leaf))
        else:
            impls.append(None)
            out.append(leaf if isinstance(leaf, (jax.Array, np.ndarray)) else np.asarray(leaf))
    return out, treedef, impls


def _key_bits(k: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(k) if _is_key(k) else k)


def _crc(x: Any) -> int:
    return zlib.crc32(np.ascontiguousarray(np.asarray(x)).tobytes())


def _describe(leaves: list[Any]) -> list[list[Any]]:
    return [[list(np.shape(x)), str(np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype)]
            for x in leaves]


class Checkpointer:
    """Save and restore pytrees to ``directory/<step>`` (orbax, synchronous, atomic).

    Args:
      directory: where step directories live (created on the first save).
      max_to_keep: number of most recent checkpoints kept (``None``: all).

    Example:
      >>> import tempfile, jax, jax.numpy as jnp
      >>> from paretojax.checkpoint import Checkpointer
      >>> tree = {"w": jnp.arange(3.0), "key": jax.random.key(0)}
      >>> with Checkpointer(tempfile.mkdtemp()) as ckpt:
      ...     ckpt.save(5, tree, metadata={"epoch": 1})
      ...     restored, meta = ckpt.restore(like=tree)
      >>> ckpt.latest_step(), meta["epoch"], restored["w"].tolist()
      (5, 1, [0.0, 1.0, 2.0])
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_to_keep: int | None = 2) -> None:
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(directory).absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"checkpoint directory {self.directory} exists and is not a folder.")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=False, create=True
        )
        try:
            self._mgr = ocp.CheckpointManager(self.directory, options=options)
        except Exception as e:  # orbax reads the step folders when it opens the directory
            raise ValueError(f"cannot open checkpoint directory {self.directory}: {e}") from e

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._mgr.close()

    # -- queries -----------------------------------------------------------------------------
    def latest_step(self) -> int | None:
        """The most recent saved step, or ``None`` when the directory holds no checkpoint."""
        self._mgr.reload()
        return self._mgr.latest_step()

    def all_steps(self) -> list[int]:
        self._mgr.reload()
        return sorted(self._mgr.all_steps())

    def metadata(self, step: int | None = None) -> dict[str, Any]:
        """The JSON record of a checkpoint (``"metadata"`` holds what was passed to ``save``)."""
        step = self._resolve(step)
        try:
            meta = self._mgr.restore(
                step, args=self._ocp.args.Composite(meta=self._ocp.args.JsonRestore())
            )["meta"]
        except Exception as e:
            raise ValueError(
                f"checkpoint {self.directory / str(step)} is corrupt or unreadable (its metadata "
                f"could not be read: {type(e).__name__}: {e})."
            ) from e
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(
                f"checkpoint {self.directory / str(step)} is not a paretojax checkpoint "
                f"(format {meta.get('format') if isinstance(meta, dict) else None!r})."
            )
        return meta

    def _resolve(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise ValueError(f"no checkpoint found in {self.directory}.")
        elif int(step) not in self.all_steps():
            raise ValueError(
                f"no checkpoint for step {step} in {self.directory} (have {self.all_steps()})."
            )
        return int(step)

    # -- save / restore ----------------------------------------------------------------------
    def save(self, step: int, tree: PyTree, *, metadata: dict[str, Any] | None = None) -> None:
        """Save ``tree`` (any pytree of arrays, scalars and typed keys) as checkpoint ``step``.

        ``metadata`` must be JSON-serialisable (ints, floats, strings, lists, dicts).
        """
        step = int(step)
        if step < 0:
            raise ValueError(f"checkpoint step must be ≥ 0, got {step}.")
        leaves, treedef, impls = _flatten(tree)
        host = jax.device_get(leaves)
        meta = {
            "format": _FORMAT,
            "step": step,
            "treedef": str(treedef),
            "leaves": _describe(host),
            "key_impls": impls,
            "crc32": [_crc(x) for x in host],
            "metadata": {} if metadata is None else metadata,
        }
        try:
            json.dumps(meta)
        except TypeError as e:
            raise ValueError(f"checkpoint metadata must be JSON-serialisable: {e}") from e
        items = {str(i): leaf for i, leaf in enumerate(leaves)}
        args = self._ocp.args.Composite(
            state=self._ocp.args.StandardSave(items), meta=self._ocp.args.JsonSave(meta)
        )
        self._mgr.save(step, args=args, force=True)
        self._mgr.wait_until_finished()

    def restore(
        self, like: PyTree, step: int | None = None
    ) -> tuple[PyTree, dict[str, Any]]:
        """Restore checkpoint ``step`` (default: the latest) into the structure of ``like``.

        Returns:
          ``(tree, metadata)``: the restored pytree (structure, dtypes, typed keys and sharding
          of ``like``) and the ``metadata`` given to :meth:`save`.

        Raises:
          ValueError: no checkpoint; a structure, shape, dtype or key mismatch with ``like``
            (different model or method); or unreadable / corrupt files (checksum mismatch).
        """
        step = self._resolve(step)
        where = self.directory / str(step)
        meta = self.metadata(step)
        leaves, treedef, impls = _flatten(like)
        if str(treedef) != meta["treedef"]:
            raise ValueError(
                f"checkpoint {where} does not match the state to restore (different model, "
                f"optimizer or method?): its tree structure is\n  {meta['treedef']}\nbut the "
                f"given `like` tree is\n  {treedef}."
            )
        saved = meta["leaves"]
        want = _describe(leaves)
        paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(like)[0]]
        for i, (s, w) in enumerate(zip(saved, want, strict=True)):
            if s != w or meta["key_impls"][i] != impls[i]:
                raise ValueError(
                    f"checkpoint {where} does not match the state to restore at leaf "
                    f"{paths[i] or '<root>'}: saved shape/dtype {s} (key {meta['key_impls'][i]}), "
                    f"expected {w} (key {impls[i]})."
                )

        def template(x: Any) -> Any:
            if isinstance(x, jax.Array):
                return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
            return np.zeros(np.shape(x), np.asarray(x).dtype)

        target = {str(i): template(x) for i, x in enumerate(leaves)}
        args = self._ocp.args.Composite(state=self._ocp.args.StandardRestore(target))
        try:
            items = self._mgr.restore(step, args=args)["state"]
            got = [items[str(i)] for i in range(len(leaves))]
        except Exception as e:
            raise ValueError(
                f"checkpoint {where} is corrupt or unreadable ({type(e).__name__}: {e})."
            ) from e
        for i, x in enumerate(got):
            if _crc(x) != meta["crc32"][i]:
                raise ValueError(
                    f"checkpoint {where} is corrupt: leaf {paths[i] or '<root>'} fails its "
                    "checksum."
                )
        out = []
        for x, ref, impl in zip(got, leaves, impls, strict=True):
            if impl is not None:
                x = jax.random.wrap_key_data(jnp.asarray(x), impl=impl)
            elif isinstance(ref, jax.Array) and getattr(ref, "weak_type", False):
                x = ref.at[...].set(x)  # keep the weak type: dtype promotion must not change
            elif not isinstance(ref, jax.Array) and np.ndim(ref) == 0 and not isinstance(
                ref, np.ndarray
            ):
                x = np.asarray(x).item()  # Python scalars stay Python scalars
            out.append(x)
        return jax.tree_util.tree_unflatten(treedef, out), meta["metadata"]


def save_checkpoint(
    directory: str | os.PathLike[str],
    step: int,
    tree: PyTree,
    *,
    metadata: dict[str, Any] | None = None,
    max_to_keep: int | None = None,
) -> None:
    """Save ``tree`` as checkpoint ``step`` in ``directory`` (see :class:`Checkpointer`).

    Example:
      >>> import tempfile, jax.numpy as jnp
      >>> from paretojax.checkpoint import latest_step, save_checkpoint
      >>> d = tempfile.mkdtemp()
      >>> save_checkpoint(d, 3, {"w": jnp.ones(2)}, metadata={"note": "hi"})
      >>> latest_step(d)
      3
    """
    with Checkpointer(directory, max_to_keep=max_to_keep) as ckpt:
        ckpt.save(step, tree, metadata=metadata)


def restore_checkpoint(
    directory: str | os.PathLike[str], like: PyTree, *, step: int | None = None
) -> tuple[PyTree, dict[str, Any]]:
    """Restore ``(tree, metadata)`` from ``directory`` (latest step by default) shaped like ``like``.

    Example:
      >>> import tempfile, jax.numpy as jnp
      >>> from paretojax.checkpoint import restore_checkpoint, save_checkpoint
      >>> d = tempfile.mkdtemp()
      >>> save_checkpoint(d, 1, {"w": jnp.arange(2.0)})
      >>> tree, meta = restore_checkpoint(d, like={"w": jnp.zeros(2)})
      >>> tree["w"].tolist()
      [0.0, 1.0]
    """
    with Checkpointer(directory, max_to_keep=None) as ckpt:
        return ckpt.restore(like, step=step)


def latest_step(directory: str | os.PathLike[str]) -> int | None:
    """The latest checkpoint step in ``directory`` (``None`` if there is none or no directory).

    Example:
      >>> import tempfile, jax.numpy as jnp
      >>> from paretojax.checkpoint import latest_step, save_checkpoint
      >>> with tempfile.TemporaryDirectory() as d:
      ...     print(latest_step(d))
      ...     save_checkpoint(d, 7, {"w": jnp.ones(2)})
      ...     print(latest_step(d))
      None
      7
    """
    if not pathlib.Path(directory).is_dir():
        return None
    with Checkpointer(directory, max_to_keep=None) as ckpt:
        return ckpt.latest_step()


class LoopCheckpoint:
    r"""Resume support for a training loop: a state pytree, a PRNG key, the step and a history.

    The loop keeps running as before; it calls :meth:`resume` once before the first step and
    :meth:`save` after each step where :meth:`due` says so::

        ckpt = LoopCheckpoint(dir, kind="my_loop", config={"lr": lr, "batch": bs}, every=100,
                              steps=steps)
        start, state, hist, extra = ckpt.resume({"params": params, "opt": opt_state}, key)
        for t in range(start, steps):
            ...                                    # the step; keys from fold_in(key, t)
            if ckpt.due(t + 1):
                ckpt.save(t + 1, state, key, {"loss": losses_so_far})
        ckpt.close()

    Args:
      directory: the checkpoint folder (see :class:`Checkpointer`; the two latest are kept).
      kind: a name of the loop; a checkpoint of another kind is refused.
      config: JSON-serialisable settings that must be equal on resume (data setup, method
        name, preferences, …); a difference raises ``ValueError`` listing it.
      every: steps between checkpoints (one is also written at ``steps``).
      steps: the total number of steps of this run.

    The history is a dict of host arrays whose leading axis is the step (shapes may grow from
    save to save: they are recorded in the metadata and rebuilt on resume).

    Example:
      >>> import tempfile, jax, jax.numpy as jnp, numpy as np
      >>> from paretojax.checkpoint import LoopCheckpoint
      >>> key = jax.random.key(0)
      >>> def run(d, steps):
      ...     with LoopCheckpoint(d, kind="demo", config={}, every=2, steps=steps) as ckpt:
      ...         start, x, hist, _ = ckpt.resume(jnp.zeros(2), key)
      ...         xs = list(hist.get("x", np.zeros((0, 2), np.float32)))
      ...         for t in range(start, steps):
      ...             x = x + jax.random.normal(jax.random.fold_in(key, t), (2,))
      ...             xs.append(np.asarray(x))
      ...             if ckpt.due(t + 1):
      ...                 ckpt.save(t + 1, x, key, {"x": np.stack(xs)})
      ...     return x, start
      >>> d = tempfile.mkdtemp()
      >>> _ = run(d, 3)                    # "interrupted" after 3 steps
      >>> x, start = run(d, 5)             # resumes at step 3
      >>> ref, _ = run(tempfile.mkdtemp(), 5)
      >>> start, bool(jnp.all(x == ref))
      (3, True)
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        kind: str,
        config: dict[str, Any],
        every: int,
        steps: int,
    ) -> None:
        if int(every) < 1:
            raise ValueError(f"{kind}: checkpoint_every must be ≥ 1, got {every}.")
        self.kind, self.every, self.steps, self.config = kind, int(every), int(steps), config
        self.ckpt = Checkpointer(directory, max_to_keep=2)
        self.saved = -1

    def __enter__(self) -> LoopCheckpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def due(self, done: int) -> bool:
        """Whether to save after ``done`` steps (every ``every`` steps and at the last)."""
        return done % self.every == 0 or done == self.steps

    def resume(
        self, state: PyTree, key: Array | None = None
    ) -> tuple[int, PyTree, dict[str, np.ndarray], dict[str, Any]]:
        """``(start, state, history, extra)``; ``(0, state, {}, {})`` when nothing is saved.

        ``state`` and ``key`` are the freshly initialised values (the restore template); the
        saved key must equal ``key`` (else the data order / random draws would differ).
        """
        step = self.ckpt.latest_step()
        if step is None:
            return 0, state, {}, {}
        where = self.ckpt.directory / str(step)
        user = self.ckpt.metadata(step)["metadata"]
        if user.get("kind") != self.kind:
            raise ValueError(
                f"checkpoint {where} was written by {user.get('kind')!r}, not {self.kind!r}."
            )
        if user.get("config") != self.config:
            saved = user.get("config") or {}
            diff = {k: (saved.get(k), self.config.get(k))
                    for k in sorted(set(saved) | set(self.config))
                    if saved.get(k) != self.config.get(k)}
            raise ValueError(
                f"checkpoint {where} was written with different settings; (saved, now): {diff}."
            )
        if step > self.steps:
            raise ValueError(
                f"checkpoint {where} is at step {step}, beyond steps={self.steps}: use a new "
                "checkpoint_dir or a larger `steps`."
            )
        like = {
            "state": state,
            "key": key,
            "history": {k: np.zeros(shape, dtype) for k, (shape, dtype) in user["history"].items()},
        }
        tree, _ = self.ckpt.restore(like, step)
        if key is not None and not np.array_equal(_key_bits(tree["key"]), _key_bits(key)):
            raise ValueError(
                f"checkpoint {where} was written with a different PRNG `key` (data order and "
                "random methods would not match): pass the same key or a new checkpoint_dir."
            )
        self.saved = step
        return step, tree["state"], tree["history"], user.get("extra", {})

    def save(
        self,
        done: int,
        state: PyTree,
        key: Array | None = None,
        history: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Checkpoint step ``done``: ``state``, ``key``, the ``history`` arrays and JSON ``extra``."""
        hist = {k: np.asarray(v) for k, v in (history or {}).items()}
        meta = {
            "kind": self.kind,
            "config": self.config,
            "history": {k: [list(v.shape), str(v.dtype)] for k, v in hist.items()},
            "extra": {} if extra is None else extra,
        }
        self.ckpt.save(done, {"state": state, "key": key, "history": hist}, metadata=meta)
        self.saved = done

    def close(self) -> None:
        self.ckpt.close()


class _FitCheckpoint(LoopCheckpoint):
    """The checkpointing of :func:`paretojax.fit` (params, opt_state, key, history).

    The data order needs no state of its own: minibatch permutations are a pure function of
    the saved key and the step (``fold_in(key, epoch_start)``), and iterables are fast-forwarded.
    """

    def __init__(
        self, directory: str | os.PathLike[str], every: int, steps: int, config: dict[str, Any]
    ) -> None:
        super().__init__(directory, kind="paretojax.fit", config=config, every=every, steps=steps)

    def resume(  # type: ignore[override]
        self, params: PyTree, opt_state: PyTree, key: Array
    ) -> tuple[int, PyTree, PyTree, list[np.ndarray], list[np.ndarray], list[int]]:
        """``(start, params, opt_state, losses_chunks, weights_chunks, epoch_ends)``."""
        start, st, hist, extra = super().resume({"params": params, "opt_state": opt_state}, key)
        losses = [hist["losses"]] if "losses" in hist else []
        weights = [hist["weights"]] if "weights" in hist else []
        return (start, st["params"], st["opt_state"], losses, weights,
                list(extra.get("epoch_ends", [])))

    def save(  # type: ignore[override]
        self,
        done: int,
        params: PyTree,
        opt_state: PyTree,
        key: Array,
        losses_chunks: list[np.ndarray],
        weights_chunks: list[np.ndarray],
        epoch_ends: list[int],
    ) -> None:
        hist = {}
        if losses_chunks:
            hist["losses"] = np.concatenate(losses_chunks)
        if weights_chunks:
            hist["weights"] = np.concatenate(weights_chunks)
        super().save(done, {"params": params, "opt_state": opt_state}, key, hist,
                     {"epoch_ends": [int(e) for e in epoch_ends]})
