r"""GMOOAR: multi-objective optimisation with adaptive reference vectors (METHODS.md §6).

Chen & Kwok, "Multi-Objective Deep Learning with Adaptive Reference Vectors", NeurIPS 2022.
The paper publishes no code; this follows METHODS.md §6 and the paper's synthetic protocol.

One RV-conditioned model ``x(φ, r)`` (here a Pareto-set MLP ``r ↦ x``, hidden 2×20 as in the
synthetic protocol, ``tanh``, sigmoid output rescaled to the box) is trained for n learnable
reference vectors ``R = [r_1..r_n] ⊂ ℛ`` (vmapped over the n RVs). Per step, single loop:

.. math::

    \varphi &\leftarrow \varphi - \beta\,\nabla_\varphi S(R, \varphi),\qquad
    S = \sum_j \big[r_j^\top f_j - \gamma \cos(r_j, f_j)\big],\ \ f_j = f(x(\varphi, r_j))
    \quad(\text{lower level, COSMOS semantics}) \\
    R &\leftarrow \Pi_{\mathcal R}\big(R - \alpha\,\nabla_R Q(R, \mathrm{sg}(\varphi))\big)
    \quad(\text{upper level; the implicit Hessian term is dropped})

with ``Q_U = Σ_{j,l} exp(−‖f̂_j − f̂_l‖²/h²)`` (**GMOOAR-U**, RBF repulsion) or
``Q_HV = −HV({f̂_j}; z)`` (**GMOOAR-HV**). ``∇_R Q`` goes through the model's input ``r`` (the
model is frozen for that step).

Conventions and deviations, all explicit arguments:

* Lower level: default ``lower_level="mtch"``, ``S = Σ_j max_i f_{ji}/r_{ji}`` (exact
  ``f ∝ r`` on any front shape). The paper's COSMOS form above is ``lower_level="cosmos"``
  (γ = 1): on raw scaled-DTLZ2 objectives (concave front, f₂ × 10) it sends every RV to the
  linear-scalarisation extreme ``f₁ = 1`` unless γ exceeds the objective scale, so it is not the
  default.
* ``f̂ = (f − ideal)/(nadir − ideal)`` with the problem's ideal/nadir when given, otherwise the
  current set's per-objective range (stopped gradient). ``Q`` and the reported metrics live in
  this normalised space; ``z = 1.1·1``.
* ``h = 0.1`` on normalised objectives (METHODS.md quotes h = 0.01 for raw losses of order 1;
  with n = 15 points on a front of length ≈ 1.5 the spec's kernel ``exp(−0.1²/0.01²)`` underflows
  and ``∇_R Q = 0``).
* The RV step uses Adam (``ref_lr = 5e-3``, the paper's RV learning rate) instead of plain
  gradient descent, so that ``Q_U`` and ``Q_HV`` (different scales) share one step size.
* **Region of interest** ``ℛ = {r ∈ Δ : r_i ≥ δ}`` (``roi_min = δ``; δ = 0: the positive orthant
  case of the paper, clip ≥ 0 and renormalise). The projection is the exact Euclidean projection
  onto that shrunken simplex. The paper's angular cone is not implemented.

Everything is pure: :func:`gmooar_step` is ``jit``/``scan``-able; :func:`run_gmooar` scans all
steps inside one ``jit``. ``adapt=False`` keeps the RVs fixed (the uniform-RV baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.qp import project_simplex
from paretojax.metrics import hypervolume

Array = jax.Array
PyTree = Any

__all__ = [
    "GMOOARState",
    "GMOOARResult",
    "psl_mlp_init",
    "psl_mlp_apply",
    "project_roi",
    "uniformity_loss",
    "cosmos_set_loss",
    "gmooar_step",
    "run_gmooar",
]

_UPPER = ("uniformity", "hv")
_LOWER = ("cosmos", "mtch")


class GMOOARState(NamedTuple):
    """Carry of :func:`gmooar_step`: model parameters, RVs and both optimizer states."""

    params: PyTree
    refs: Array
    opt_state: Any
    ref_opt_state: Any


class GMOOARResult(NamedTuple):
    """Output of :func:`run_gmooar`.

    Attributes:
      params: the trained model.
      refs: final reference vectors ``[n, m]``.
      x: solutions ``x(φ, r_j)`` ``[n, d]``.
      f: their objectives ``[n, m]`` (raw).
      refs_history: RVs before each step ``[steps, n, m]``.
    """

    params: PyTree
    refs: Array
    x: Array
    f: Array
    refs_history: Array


def psl_mlp_init(key: Array, m: int, n_var: int, hidden: Sequence[int] = (20, 20)) -> list:
    """Parameters ``[(W, b), …]`` of the Pareto-set MLP ``m → hidden… → n_var`` (LeCun normal).

    Example:
      >>> import jax, paretojax as pj
      >>> [w.shape for w, b in pj.pareto_set.psl_mlp_init(jax.random.key(0), 2, 5)]
      [(2, 20), (20, 20), (20, 5)]
    """
    sizes = [int(m), *[int(h) for h in hidden], int(n_var)]
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (a, b), jnp.float32) / jnp.sqrt(float(a)), jnp.zeros((b,)))
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def psl_mlp_apply(params: list, r: Array, lower: Any = None, upper: Any = None) -> Array:
    """``x(r)``: tanh MLP; output ``lower + (upper − lower)·sigmoid(·)`` when bounds are given.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> p = pj.pareto_set.psl_mlp_init(jax.random.key(0), 2, 3)
      >>> x = pj.pareto_set.psl_mlp_apply(p, jnp.array([0.5, 0.5]), jnp.zeros(3), jnp.ones(3))
      >>> x.shape, bool(jnp.all((x > 0) & (x < 1)))
      ((3,), True)
    """
    h = r
    for w, b in params[:-1]:
        h = jnp.tanh(h @ w + b.reshape((1,) * (h.ndim - 1) + b.shape))
    w, b = params[-1]
    out = h @ w + b.reshape((1,) * (h.ndim - 1) + b.shape)
    if lower is None or upper is None:
        return out
    lo = jnp.broadcast_to(jnp.asarray(lower, out.dtype), out.shape)
    hi = jnp.broadcast_to(jnp.asarray(upper, out.dtype), out.shape)
    return lo + (hi - lo) * jax.nn.sigmoid(out)


def project_roi(refs: Array, roi_min: float = 0.0) -> Array:
    r"""Euclidean projection of each row onto ``ℛ = {r ∈ Δ : r_i ≥ δ}`` (``δ = roi_min``).

    ``Π(r) = δ + (1 − mδ)·Π_Δ((r − δ)/(1 − mδ))``; needs ``0 ≤ δ < 1/m``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> [round(v, 4) for v in pj.pareto_set.project_roi(jnp.array([[1.2, -0.2]]), 0.1)[0].tolist()]
      [0.9, 0.1]
    """
    r = jnp.asarray(refs)
    if r.ndim != 2:
        raise ValueError(f"project_roi: refs must be [n, m], got shape {r.shape}.")
    m = r.shape[1]
    d = float(roi_min)
    if not 0.0 <= d < 1.0 / m:
        raise ValueError(f"project_roi: roi_min must be in [0, 1/m) = [0, {1.0 / m:.4g}), got "
                         f"{roi_min}.")
    s = 1.0 - m * d
    return d + s * jax.vmap(project_simplex)((r - d) / s)


def uniformity_loss(f: Array, h: float = 0.1) -> Array:
    r"""GMOOAR-U's ``Q_U = Σ_{j,l} exp(−‖f_j − f_l‖²/h²)`` (all ordered pairs, diagonal included).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> round(float(pj.pareto_set.uniformity_loss(jnp.array([[0.0, 0.0], [0.1, 0.0]]), 0.1)), 4)
      2.7358
    """
    y = jnp.asarray(f)
    d = jnp.sum((y[:, None, :] - y[None, :, :]) ** 2, axis=-1)
    return jnp.sum(jnp.exp(-d / (h * h)))


def cosmos_set_loss(f: Array, refs: Array, gamma: float = 1.0) -> Array:
    r"""Lower level ``S = Σ_j [r_jᵀ f_j − γ cos(r_j, f_j)]`` (COSMOS semantics).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f, r = jnp.array([[1.0, 2.0]]), jnp.array([[0.5, 0.5]])
      >>> round(float(pj.pareto_set.cosmos_set_loss(f, r)), 4)  # 1.5 − 1.5/(√0.5·√5)
      0.5513
    """
    y = jnp.asarray(f)
    r = jnp.asarray(refs, y.dtype)
    tiny = jnp.finfo(y.dtype).tiny
    cos = jnp.sum(r * y, axis=1) / jnp.maximum(
        jnp.linalg.norm(r, axis=1) * jnp.linalg.norm(y, axis=1), tiny)
    return jnp.sum(jnp.sum(r * y, axis=1) - gamma * cos)


def _mtch_set_loss(f: Array, refs: Array) -> Array:
    return jnp.sum(jnp.max(f / jnp.maximum(refs, 1e-6), axis=1))


def gmooar_step(
    problem_fn: Callable[[Array], Array],
    *,
    lower: Any = None,
    upper: Any = None,
    ideal: Any = None,
    nadir: Any = None,
    upper_level: str = "uniformity",
    lower_level: str = "mtch",
    gamma: float = 1.0,
    h: float = 0.1,
    hv_ref: float = 1.1,
    roi_min: float = 0.0,
    optimizer: optax.GradientTransformation | None = None,
    ref_optimizer: optax.GradientTransformation | None = None,
    adapt: Any = True,
) -> tuple[Callable[[PyTree, Array], GMOOARState], Callable[..., Any]]:
    r"""``(init, step)`` of GMOOAR (see the module); ``step(state) -> (state, f [n, m])``.

    Args:
      problem_fn: ``f(x) -> [m]``.
      lower, upper: box of ``x`` (the model's sigmoid output is rescaled to it).
      ideal, nadir: normalisation of the upper level (``None``: the current set's range).
      upper_level: ``"uniformity"`` (GMOOAR-U) or ``"hv"`` (GMOOAR-HV).
      lower_level: ``"mtch"`` (default) or ``"cosmos"`` (``γ``).
      gamma, h, hv_ref: ``γ`` of the lower level (1.0), RBF width (0.1, normalised space), HV
        reference ``hv_ref·1`` of GMOOAR-HV (1.1, normalised space).
      roi_min: region of interest ``r_i ≥ roi_min`` (0: the whole simplex).
      optimizer: model optimizer (default ``optax.adam(1e-3)``).
      ref_optimizer: RV optimizer (default ``optax.adam(5e-3)``).
      adapt: update the RVs (a bool); False = fixed RVs. ``step(state, adapt)`` overrides it
        per call (may be traced, e.g. a warm-up).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> prob = pj.problems.get("scaled_dtlz2", n_obj=2)
      >>> init, step = pj.pareto_set.gmooar_step(prob.fn, lower=prob.lower, upper=prob.upper,
      ...                             ideal=prob.ideal, nadir=prob.nadir)
      >>> st = init(pj.pareto_set.psl_mlp_init(jax.random.key(0), 2, prob.n_var), pj.linspace_prefs(5))
      >>> st, f = jax.jit(step)(st)
      >>> f.shape, st.refs.shape
      ((5, 2), (5, 2))
    """
    if upper_level not in _UPPER:
        raise ValueError(f"gmooar_step: upper_level must be one of {_UPPER}, got {upper_level!r}.")
    if lower_level not in _LOWER:
        raise ValueError(f"gmooar_step: lower_level must be one of {_LOWER}, got {lower_level!r}.")
    if not h > 0:
        raise ValueError(f"gmooar_step: h must be > 0, got {h}.")
    opt = optax.adam(1e-3) if optimizer is None else optimizer
    ropt = optax.adam(5e-3) if ref_optimizer is None else ref_optimizer

    def objectives(params, refs):
        x = jax.vmap(lambda r: psl_mlp_apply(params, r, lower, upper))(refs)
        return x, jax.vmap(problem_fn)(x)

    def normalise(f):
        if ideal is not None and nadir is not None:
            lo = jnp.asarray(ideal, f.dtype)
            hi = jnp.asarray(nadir, f.dtype)
        else:
            fs = jax.lax.stop_gradient(f)
            lo, hi = jnp.min(fs, axis=0), jnp.max(fs, axis=0)
        return (f - lo[None, :]) / jnp.maximum(hi - lo, 1e-12)[None, :]

    def s_loss(params, refs):
        _, f = objectives(params, refs)
        if lower_level == "cosmos":
            return cosmos_set_loss(f, refs, gamma), f
        return _mtch_set_loss(f, refs), f

    def q_loss(refs, params):
        _, f = objectives(params, refs)
        fh = normalise(f)
        if upper_level == "uniformity":
            return uniformity_loss(fh, h)
        return -hypervolume(fh, jnp.full((f.shape[1],), hv_ref, f.dtype))

    def init(params: PyTree, refs: Array) -> GMOOARState:
        r = jnp.asarray(refs, jnp.float32)
        if r.ndim != 2:
            raise ValueError(f"gmooar_step: refs must be [n, m], got shape {r.shape}.")
        if bool(jnp.any(r < 0)) or not bool(jnp.allclose(jnp.sum(r, axis=1), 1.0, atol=1e-4)):
            raise ValueError("gmooar_step: refs must lie on the simplex (r ≥ 0, Σr = 1).")
        r = project_roi(r, roi_min)
        return GMOOARState(params, r, opt.init(params), ropt.init(r))

    def step(state: GMOOARState, adapt_now: Any = None):
        (_, f), g = jax.value_and_grad(s_loss, has_aux=True)(state.params, state.refs)
        upd, opt_state = opt.update(g, state.opt_state, state.params)
        params = optax.apply_updates(state.params, upd)
        gr = jax.grad(q_loss)(state.refs, jax.lax.stop_gradient(state.params))
        gr = jnp.where(jnp.isfinite(gr), gr, 0.0)
        rupd, ref_opt_state = ropt.update(gr, state.ref_opt_state, state.refs)
        refs = project_roi(optax.apply_updates(state.refs, rupd), roi_min)
        on = jnp.asarray(adapt if adapt_now is None else adapt_now, bool)
        refs = jnp.where(on, refs, state.refs)
        ref_opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(on, a, b), ref_opt_state,
                                               state.ref_opt_state)
        return GMOOARState(params, refs, opt_state, ref_opt_state), f

    return init, step


def run_gmooar(
    problem: Any,
    refs: Any,
    steps: int = 2000,
    key: Array | None = None,
    *,
    upper_level: str = "uniformity",
    adapt: bool = True,
    warmup_steps: int | None = None,
    hidden: Sequence[int] = (20, 20),
    **kwargs: Any,
) -> GMOOARResult:
    """Train the RV-conditioned model and the RVs for ``steps`` steps (one compiled scan).

    Args:
      problem: a :class:`paretojax.problems.Problem` (``fn``, box, ideal/nadir are used).
      refs: initial RVs ``[n, m]`` on the simplex (e.g. :func:`paretojax.linspace_prefs`).
      steps: iterations.
      key: PRNG key of the model initialisation (required).
      upper_level: ``"uniformity"`` (GMOOAR-U) or ``"hv"`` (GMOOAR-HV).
      adapt: learn the RVs (False: fixed uniform RVs, the baseline).
      warmup_steps: RVs frozen for the first steps while the model fits the lower level
        (default ``steps // 4``).
      hidden: MLP widths (2×20).
      kwargs: forwarded to :func:`gmooar_step` (``gamma``, ``h``, ``roi_min``, ``lower_level``,
        optimizers, ``ideal``/``nadir`` overrides).

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("scaled_dtlz2", n_obj=2)
      >>> res = pj.pareto_set.run_gmooar(prob, pj.linspace_prefs(5), steps=20, key=jax.random.key(0))
      >>> res.f.shape, res.refs_history.shape
      ((5, 2), (20, 5, 2))
    """
    if key is None:
        raise ValueError("run_gmooar: pass an explicit key (model initialisation).")
    if int(steps) < 1:
        raise ValueError(f"run_gmooar: steps must be ≥ 1, got {steps}.")
    r0 = jnp.asarray(refs, jnp.float32)
    if r0.ndim != 2 or r0.shape[1] != problem.n_obj:
        raise ValueError(f"run_gmooar: refs must be [n, {problem.n_obj}], got {r0.shape}.")
    kwargs.setdefault("ideal", getattr(problem, "ideal", None))
    kwargs.setdefault("nadir", getattr(problem, "nadir", None))
    init, step = gmooar_step(problem.fn, lower=problem.lower, upper=problem.upper,
                             upper_level=upper_level, adapt=bool(adapt), **kwargs)
    params = psl_mlp_init(key, problem.n_obj, problem.n_var, hidden)
    st0 = init(params, r0)
    ws = int(steps) // 4 if warmup_steps is None else int(warmup_steps)

    @jax.jit
    def go(st0):
        def body(st, t):
            new, _ = step(st, jnp.logical_and(bool(adapt), t >= ws))
            return new, st.refs

        st, rh = jax.lax.scan(body, st0, jnp.arange(int(steps)))
        x = jax.vmap(lambda r: psl_mlp_apply(st.params, r, problem.lower, problem.upper))(st.refs)
        return st, x, jax.vmap(problem.fn)(x), rh

    st, x, f, rh = go(st0)
    return GMOOARResult(params=st.params, refs=st.refs, x=x, f=f, refs_history=rh)
