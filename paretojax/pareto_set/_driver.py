r"""Finite Pareto sets: K solutions optimised together, one per preference (METHODS.md §6).

The K solutions ``x_k`` are stacked on a leading axis (an array ``[K, n]`` or any pytree whose
leaves carry a leading K axis). One step:

.. math::

    (f_k, J_k) = \mathrm{vmap}(\text{value\_and\_jacobian}(f))(x)_k,\quad G_k = J_k J_k^\top,\quad
    \alpha = \text{rule}(G, F, \text{state}, P) \in R^{K\times m},\quad
    u_k = J_k^\top \alpha_k

then ``x ← optimizer(x, u)`` (any optax optimizer; plain SGD by default) and, for box problems,
``x ← clip(x, lb + 10⁻⁵, ub − 10⁻⁵)`` (the LibMOON protocol, ``solution_eps``). The rule is either

* a per-solution Gram-level :class:`~paretojax.Weighting` ``(G_k, f_k, state_k, p_k) -> α_k`` —
  EPO, PMGDA, any weighting of :mod:`paretojax.weighting`, or a scalarization weighting
  (``α_k = ∂s/∂f``: mTCH, TCH, PBI, COSMOS, …) — ``vmap``-ed over the K preferences, each
  solution keeping its own method state; or
* a :class:`SetWeighting` that sees the whole set at once (HV-gradient ascent,
  :func:`hv_grad_set_weighting`).

Everything below the outermost Python call is compiled: ``lax.scan`` over the steps inside one
``jit``. Reference protocol: LibMOON ``GradBaseSolver`` / ``EPOSolver.solve`` (SGD, clamp after
each step); §1.1 of METHODS.md gives the Fonseca–Fleming anchor reproduced by
``bench/bench_finite_set.py``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.jacobian import combine, gram, value_and_jacobian
from paretojax.pareto_set._hv_grad import hv_grad_weights
from paretojax.transforms import Weighting

Array = jax.Array
PyTree = Any

__all__ = [
    "SetWeighting",
    "FiniteSetState",
    "FiniteSetResult",
    "hv_grad_set_weighting",
    "finite_set_weighting",
    "finite_set_step",
    "run_finite_set",
    "FINITE_SET_METHODS",
]

#: LibMOON's ``solution_eps``: the iterate is clamped to [lb + eps, ub − eps].
CLAMP_EPS = 1e-5


class SetWeighting(NamedTuple):
    """A set-level rule ``(G [K,m,m], F [K,m], state, P [K,m]) -> (α [K,m], state)``.

    Attributes:
      init: ``() -> state`` or ``None``.
      weights: the rule (pure, ``jit``-safe).
      name: for messages.
      uses_gram: whether ``weights`` reads ``G`` (when False a ``[K, m, 0]`` placeholder is
        passed and the Gram matrices are not formed).
    """

    init: Callable[[], Any] | None
    weights: Callable[[Array, Array, Any, Array], tuple[Array, Any]]
    name: str = "set_weighting"
    uses_gram: bool = True


class FiniteSetState(NamedTuple):
    """Carry of :func:`finite_set_step`: optimizer state and (stacked) method state."""

    opt_state: Any
    method_state: Any


class FiniteSetResult(NamedTuple):
    """Output of :func:`run_finite_set`.

    Attributes:
      x: final solutions ``[K, n]`` (or the stacked pytree) after the last step and clamp.
      f: their objective vectors ``[K, m]``.
      weights: the objective weights ``α`` of the last step ``[K, m]``.
      f_history: objective vectors before each step ``[steps, K, m]``.
    """

    x: Array
    f: Array
    weights: Array
    f_history: Array


def hv_grad_set_weighting(
    ref: Any = None,
    *,
    scale: float = 1.1,
    normalize: bool = True,
    multi_front: bool = True,
    dynamic: bool = True,
) -> SetWeighting:
    """HV-gradient ascent as a :class:`SetWeighting` (:func:`hv_grad_weights` on the K losses).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> sw = pj.hv_grad_set_weighting(jnp.ones(2))
      >>> F = jnp.array([[0.2, 0.8], [0.8, 0.1]])
      >>> sw.weights(jnp.zeros((2, 2, 0)), F, None, None)[0].shape
      (2, 2)
    """
    if not dynamic and ref is None:
        raise ValueError("hv_grad_set_weighting: dynamic=False needs an explicit ref.")
    r0 = None if ref is None else jnp.asarray(ref, jnp.float32)

    def weights(g: Array, losses: Array, state: Any, prefs: Any):
        del g, prefs
        return hv_grad_weights(losses, r0, scale=scale, normalize=normalize,
                               multi_front=multi_front, dynamic=dynamic), state

    return SetWeighting(init=None, weights=weights, name="hv_grad", uses_gram=False)


def _lift(weighting: Weighting, k: int) -> SetWeighting:
    """Per-solution weighting → set rule (vmap over K; the method state is stacked K times)."""

    def init():
        if weighting.init is None:
            return None
        st = weighting.init()
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (k, *jnp.shape(a))), st)

    def weights(g: Array, losses: Array, state: Any, prefs: Any):
        if state is None:
            fn = lambda gg, ll, pp: weighting.weights(gg, ll, None, pp)[0]  # noqa: E731
            return jax.vmap(fn)(g, losses, prefs), None
        return jax.vmap(weighting.weights)(g, losses, state, prefs)

    return SetWeighting(init=init, weights=weights, name=weighting.name,
                        uses_gram=weighting.uses_gram)


def _scalar_weighting(name: str, **kw: Any) -> Weighting:
    from paretojax import scalarization as sc

    return getattr(sc, f"{name}_weighting")(**kw)


def finite_set_weighting(method: Any, **kwargs: Any) -> Weighting | SetWeighting:
    """Resolve ``method`` for the driver.

    ``method`` may be a :class:`~paretojax.Weighting`, a :class:`SetWeighting`, or a name:
    ``"epo"``, ``"pmgda"``, ``"hv_grad"`` (``kwargs`` → :func:`hv_grad_set_weighting`), the set
    rules ``"pmtl"`` (:func:`~paretojax.pmtl_set_weighting`), ``"stch_set"``, ``"tch_set"``,
    ``"som"`` (:func:`~paretojax.stch_set_weighting` & co.), or any scalarization with a
    ``<name>_weighting`` in :mod:`paretojax.scalarization` (``"mtch"``, ``"tch"``, ``"pbi"``,
    ``"cosmos"``, ``"ls"``, ``"stch"``, …; ``kwargs`` → that factory).

    Example:
      >>> import paretojax as pj
      >>> [pj.finite_set_weighting(n).name for n in ("pmtl", "stch_set", "som")]
      ['pmtl', 'stch_set', 'som']
    """
    if isinstance(method, (Weighting, SetWeighting)):
        if kwargs:
            raise ValueError("finite_set_weighting: kwargs are only used with a method name.")
        return method
    if not isinstance(method, str):
        raise ValueError(f"finite_set_weighting: unknown method {method!r}.")
    if method == "epo":
        from paretojax.preference._epo import epo_weighting

        return epo_weighting(**kwargs)
    if method == "pmgda":
        from paretojax.preference._pmgda import pmgda_weighting

        return pmgda_weighting(**kwargs)
    if method in ("hv_grad", "hvgrad"):
        return hv_grad_set_weighting(**kwargs)
    if method in _SET_FACTORIES:
        import importlib

        mod, fac = _SET_FACTORIES[method]
        return getattr(importlib.import_module(mod), fac)(**kwargs)
    from paretojax import scalarization as sc

    if hasattr(sc, f"{method}_weighting"):
        return _scalar_weighting(method, **kwargs)
    raise ValueError(
        f"finite_set_weighting: unknown method {method!r}; use one of {FINITE_SET_METHODS} or a "
        "Weighting / SetWeighting."
    )


#: Set rules resolved lazily by name (their modules import this one).
_SET_FACTORIES = {
    "pmtl": ("paretojax.pareto_set._pmtl", "pmtl_set_weighting"),
    "stch_set": ("paretojax.pareto_set._stch_set", "stch_set_weighting"),
    "tch_set": ("paretojax.pareto_set._stch_set", "tch_set_weighting"),
    "som": ("paretojax.pareto_set._stch_set", "som_weighting"),
}

#: Names :func:`run_finite_set` understands (plus every scalarization weighting).
FINITE_SET_METHODS = ("epo", "pmgda", "hv_grad", "pmtl", "stch_set", "tch_set", "som", "mtch",
                      "tch", "pbi", "cosmos", "ls", "stch")


def _clamp(x: PyTree, lower: Any, upper: Any, eps: float) -> PyTree:
    if lower is None and upper is None:
        return x

    def f(a):
        lo = -jnp.inf if lower is None else jnp.asarray(lower, a.dtype) + eps
        hi = jnp.inf if upper is None else jnp.asarray(upper, a.dtype) - eps
        return jnp.clip(a, jnp.broadcast_to(lo, a.shape), jnp.broadcast_to(hi, a.shape))

    return jax.tree_util.tree_map(f, x)


def finite_set_step(
    problem_fn: Callable[[PyTree], Array],
    weight_fn: Weighting | SetWeighting,
    optimizer: optax.GradientTransformation,
    *,
    num_solutions: int,
    lower: Any = None,
    upper: Any = None,
    clamp_eps: float = CLAMP_EPS,
) -> tuple[Callable[[PyTree], FiniteSetState], Callable[..., Any]]:
    r"""Build ``(init, step)`` for K stacked solutions (pure, ``jit``/``scan``-able).

    Args:
      problem_fn: ``f(x_k) -> [m]`` for one solution.
      weight_fn: per-solution :class:`~paretojax.Weighting` (vmapped over K) or
        :class:`SetWeighting`.
      optimizer: an optax optimizer applied to the stacked solutions (element-wise optimizers
        such as SGD/Adam then act as K independent ones).
      num_solutions: K (to stack per-solution method states).
      lower, upper: box bounds (broadcastable to one solution); ``None`` for no clamp.
      clamp_eps: clamp to ``[lower + eps, upper − eps]`` after each step (LibMOON 1e-5).

    Returns:
      ``init(x) -> FiniteSetState`` and
      ``step(x, state, prefs) -> (x, state, (losses [K, m], alpha [K, m]))``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> init, step = pj.finite_set_step(prob.fn, pj.epo_weighting(), optax.sgd(1e-2),
      ...                                 num_solutions=2, lower=prob.lower, upper=prob.upper)
      >>> x = jnp.zeros((2, 10)); st = init(x)
      >>> x, st, (f, a) = jax.jit(step)(x, st, pj.linspace_prefs(2, 0.01))
      >>> f.shape, a.shape
      ((2, 2), (2, 2))
    """
    rule = weight_fn if isinstance(weight_fn, SetWeighting) else _lift(weight_fn, num_solutions)
    vj = jax.vmap(value_and_jacobian(problem_fn))

    def init(x: PyTree) -> FiniteSetState:
        return FiniteSetState(
            opt_state=optimizer.init(x),
            method_state=None if rule.init is None else rule.init(),
        )

    def step(x: PyTree, state: FiniteSetState, prefs: Array):
        losses, jac = vj(x)
        k, m = losses.shape
        if rule.uses_gram:
            g = jax.vmap(gram)(jac)
        else:
            g = jnp.zeros((k, m, 0), losses.dtype)
        alpha, mstate = rule.weights(g, losses, state.method_state, prefs)
        alpha = jax.lax.stop_gradient(jnp.asarray(alpha))
        ok = jnp.all(jnp.isfinite(alpha), axis=1, keepdims=True)
        alpha = jnp.where(ok, alpha, 0.0)
        upd = jax.vmap(combine)(alpha.astype(losses.dtype), jac)
        upd, opt_state = optimizer.update(upd, state.opt_state, x)
        x = optax.apply_updates(x, upd)
        x = _clamp(x, lower, upper, clamp_eps)
        return x, FiniteSetState(opt_state, mstate), (losses, alpha)

    return init, step


def run_finite_set(
    problem: Any,
    prefs: Any,
    method: Any = "epo",
    steps: int = 500,
    lr: float = 1e-2,
    key: Array | None = None,
    *,
    x0: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    clamp: bool = True,
    clamp_eps: float = CLAMP_EPS,
    init_scale: float | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    **method_kwargs: Any,
) -> FiniteSetResult:
    r"""Optimise K solutions of ``problem`` (one per row of ``prefs``) with one compiled scan.

    Args:
      problem: a :class:`paretojax.problems.Problem` (uses ``fn``, ``lower``, ``upper``) or a
        function ``x -> [m]`` (then ``x0`` is required and no clamp is applied).
      prefs: ``[K, m]`` preferences (the rows of :func:`paretojax.linspace_prefs` for m = 2).
      method: a name (``"epo"``, ``"pmgda"``, ``"hv_grad"``, ``"mtch"``, ``"tch"``, …), a
        :class:`~paretojax.Weighting` or a :class:`SetWeighting`; ``method_kwargs`` go to the
        named method's factory (e.g. ``gradient="unweighted"`` for ``"tch"``, ``ref=(1, 1)``
        for ``"hv_grad"``).
      steps: iterations (LibMOON §1.1: 500).
      lr: learning rate of the default SGD (1e-2).
      key: PRNG key for the LibMOON start ``x₀ ~ U(−1/√n, 1/√n)`` (ignored when ``x0`` given).
      x0: explicit start ``[K, n]``.
      optimizer: any optax optimizer (default ``optax.sgd(lr)``).
      clamp: clamp to ``[lb + eps, ub − eps]`` after each step.
      init_scale: half-width of the uniform start (default ``1/√n``).
      checkpoint_dir: save ``x``, the optimizer and method states, the key and the history
        there (orbax, :mod:`paretojax.checkpoint`) and **resume automatically** from its
        latest checkpoint: the scan then runs in compiled chunks of ``checkpoint_every`` steps
        and a resumed run equals an uninterrupted one (``f_history`` complete). A checkpoint
        of another method, ``method_kwargs``, prefs, lr, start or problem raises
        ``ValueError``; so does a corrupt one. A custom ``optimizer`` is only checked through
        its state's structure.
      checkpoint_every: steps between checkpoints (default ``max(1, steps // 10)``); one is
        also written at the last step.

    Returns:
      :class:`FiniteSetResult`.

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> res = pj.run_finite_set(prob, pj.linspace_prefs(4, 0.01), "epo", steps=50,
      ...                         key=jax.random.key(0))
      >>> res.f.shape
      (4, 2)
    """
    fn = getattr(problem, "fn", problem)
    lower = getattr(problem, "lower", None) if clamp else None
    upper = getattr(problem, "upper", None) if clamp else None
    p = jnp.asarray(prefs)
    if p.ndim != 2:
        raise ValueError(f"run_finite_set: prefs must be [K, m], got shape {p.shape}.")
    k = p.shape[0]
    if int(steps) < 1:
        raise ValueError(f"run_finite_set: steps must be ≥ 1, got {steps}.")
    if x0 is None:
        n = getattr(problem, "n_var", None)
        if n is None or key is None:
            raise ValueError("run_finite_set: give x0, or a Problem and a key.")
        s = (1.0 / float(n) ** 0.5) if init_scale is None else float(init_scale)
        x0 = jax.random.uniform(key, (k, n), jnp.float32, -s, s)
    x0 = jax.tree_util.tree_map(jnp.asarray, x0)
    leaves = jax.tree_util.tree_leaves(x0)
    if not leaves:
        raise ValueError("run_finite_set: x0 is empty.")
    for leaf in leaves:
        if leaf.ndim == 0 or leaf.shape[0] != k:
            raise ValueError(
                f"run_finite_set: every leaf of x0 needs {k} rows (one per pref), got "
                f"shape {leaf.shape}."
            )
    rule = finite_set_weighting(method, **method_kwargs)
    opt = optax.sgd(lr) if optimizer is None else optimizer
    init, step = finite_set_step(fn, rule, opt, num_solutions=k, lower=lower, upper=upper,
                                 clamp_eps=clamp_eps)
    pdtype = jnp.result_type(leaves[0].dtype, jnp.float32)
    if checkpoint_dir is None:
        return _run(init, step, x0, p.astype(pdtype), int(steps), fn)
    from paretojax.checkpoint import LoopCheckpoint, _crc

    name = method if isinstance(method, str) else getattr(method, "name", type(method).__name__)
    config = json.loads(json.dumps({
        "problem": getattr(problem, "name", getattr(fn, "__name__", None)),
        "method": name,
        "method_kwargs": {k: repr(v) for k, v in sorted(method_kwargs.items())},
        "prefs": np.asarray(p.astype(pdtype)).tolist(),
        "lr": float(lr),
        "optimizer": "sgd" if optimizer is None else "custom",
        "clamp": [bool(clamp), float(clamp_eps)],
        "x0_crc32": [_crc(a) for a in jax.device_get(leaves)],
    }))
    every = max(1, int(steps) // 10) if checkpoint_every is None else int(checkpoint_every)
    with LoopCheckpoint(checkpoint_dir, kind="paretojax.run_finite_set", config=config,
                        every=every, steps=int(steps)) as ckpt:
        return _run_checkpointed(init, step, x0, p.astype(pdtype), int(steps), fn, ckpt, key)


def _run(init, step, x0, prefs, steps, fn):
    @jax.jit
    def go(x0, prefs):
        def body(carry, _):
            x, st = carry
            x, st, (f, a) = step(x, st, prefs)
            return (x, st), (f, a)

        (x, _), (fh, ah) = jax.lax.scan(body, (x0, init(x0)), None, length=steps)
        return x, jax.vmap(fn)(x), ah[-1], fh

    x, f, a, fh = go(x0, prefs)
    return FiniteSetResult(x=x, f=f, weights=a, f_history=fh)


def _run_checkpointed(init, step, x0, prefs, steps, fn, ckpt, key):
    """:func:`_run` in chunks ending at multiples of ``ckpt.every`` (and at ``steps``), each a
    jitted scan of static length (≤ 3 lengths compile), saved after each chunk."""

    @functools.partial(jax.jit, static_argnums=3)
    def chunk(x, st, prefs, length):
        def body(carry, _):
            x, st = carry
            x, st, (f, a) = step(x, st, prefs)
            return (x, st), (f, a)

        (x, st), (fh, ah) = jax.lax.scan(body, (x, st), None, length=length)
        return x, st, fh, ah[-1]

    done, state, hist, _ = ckpt.resume({"x": x0, "state": init(x0)}, key)
    x, st = state["x"], state["state"]
    fh = [hist["f_history"]] if "f_history" in hist else []
    a = hist.get("weights")
    while done < steps:
        length = min((done // ckpt.every + 1) * ckpt.every, steps) - done
        x, st, f_chunk, a = chunk(x, st, prefs, length)
        fh.append(np.asarray(f_chunk))
        done += length
        ckpt.save(done, {"x": x, "state": st}, key,
                  {"f_history": np.concatenate(fh), "weights": np.asarray(a)})
    f_history = jnp.asarray(np.concatenate(fh))
    return FiniteSetResult(x=x, f=jax.jit(jax.vmap(fn))(x), weights=jnp.asarray(a),
                           f_history=f_history)
