r"""Pareto-set learning: the jitted training step and the ``fit_psl`` outer loop.

A Pareto-set model ``y = model(p)`` (a :class:`~paretojax.ParetoSetMLP`, a
:class:`~paretojax.ParetoHypernetwork`, any ``nnx.Module`` taking a preference) is trained so
that for every preference ``p`` the losses ``f(y(p)) ∈ R^m`` solve the scalarised problem of
``p``. One step (METHODS.md §7):

1. sample a window of ``B`` preferences ``p_b ~ Dir(β·1)`` from an explicit key;
2. ``vmap`` the model over them: ``F_b = f̂(y(p_b))``, normalised ``f̂ = (f − ideal)/(nadir −
   ideal)`` when ``ideal``/``nadir`` are given (the STCH PSL protocol);
3. reduce ``Σ_b ℓ(F_b, p_b)`` (``reduction="sum"``, official STCH code; ``"mean"`` divides by B)
   with the training loss ``ℓ``:

   * ``"ls"`` ``Σ p_i f̂_i``; ``"tch"`` ``max_i p_i f̂_i``; ``"stch"``
     ``μ log Σ exp(p_i f̂_i/μ)`` (μ = 0.01); ``"cosmos"`` ``Σ p_i f̂_i − λ cos(f̂, p)`` (λ = 8) —
     the library's scalarizations (:func:`paretojax.stch_loss`, ...);
   * ``"epo"`` — EPO (Mahapatra & Rajan, ICML 2020) per preference: ``α_b`` =
     :func:`paretojax.epo_weights` of the Gram ``G_b = J_b J_bᵀ`` of the per-preference
     Jacobian ``J_b = ∂F_b/∂θ`` w.r.t. the *model's* parameters (PHN-EPO, Navon et al. ICLR
     2021), loss ``Σ_b sg(α_b)ᵀF_b`` (gradient ``Σ_b J_bᵀα_b``);
   * ``"hv"`` — PSL-HV (Zhang, Lin, Xue, Chen, Zhang, NeurIPS 2023; official
     ``xzhang2523/hvpsl``): ``−Σ_b (min_i (r_i − f̂_i)/λ_i)₊^m`` with ``λ = p/‖p‖₂`` on the
     positive unit sphere (up to the constant ``c_m`` this is the Monte-Carlo HV estimate
     ``HV_r = c_m E_λ[max_y(min_i (r_i − y_i)/λ_i)₊^m]``), ``r = ref`` (1.1 in normalised space);
   * ``"hvi"`` — PHN-HVI (Hoang, Le, Tuan, Thang, AAAI 2023): ``Σ_b sg(α_b)ᵀF_b − λ Σ_b
     cos(F_b, p_b)`` with ``α`` the unit-normalised HV-gradient weights of the window
     (:func:`paretojax.hv_grad_weights`, dynamic reference ``max(r, 1.1 max F)``, ``r = ref``)
     and λ = ``lam`` (5, MultiMNIST).

4. one optax update (default Adam 1e-3, as the STCH protocol).

Preference semantics follow the losses (METHODS.md §0): LS weights, TCH/STCH **f ∝ 1/p**;
EPO, COSMOS and PHN-HVI **f ∝ p** (the cosine/ray terms align ``f`` with ``p``).

The step is a pure function of a :class:`PSLState` (``nnx.Param`` state + optimiser state),
compiled once; :func:`fit_psl` scans it in chunks with a progress bar.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from paretojax._progress import Progress
from paretojax.core.jacobian import gram
from paretojax.core.simplex import sample_dirichlet
from paretojax.manifold._mlp import check_num_objectives
from paretojax.pareto_set._hv_grad import hv_grad_weights
from paretojax.preference._epo import epo_weights
from paretojax.scalarization._cosmos import cosmos_cosine, cosmos_loss
from paretojax.scalarization._ls import ls_loss
from paretojax.scalarization._stch import stch_loss
from paretojax.scalarization._tch import tch_loss

Array = jax.Array

__all__ = [
    "PSL_LOSSES",
    "PSLState",
    "PSLMetrics",
    "PSLResult",
    "psl_loss",
    "psl_hv_loss",
    "make_psl_step",
    "fit_psl",
]

PSL_LOSSES = ("ls", "tch", "stch", "cosmos", "epo", "hv", "hvi")
_LAMBDA_FLOOR = 1e-6


class PSLState(NamedTuple):
    """Training state: the model's ``nnx.Param`` state, the optax state and the step count."""

    params: Any
    opt_state: Any
    step: Array


class PSLMetrics(NamedTuple):
    """Per-step diagnostics: the reduced training loss and the window's mean losses ``[m]``."""

    loss: Array
    losses: Array


class PSLResult(NamedTuple):
    """What :func:`fit_psl` returns: the trained model (updated in place), the final state and
    the history (``loss [steps]``, ``losses [steps, m]``, normalised when normalising)."""

    model: Any
    state: PSLState
    history: PSLMetrics


def _check_loss(loss: str) -> str:
    if loss not in PSL_LOSSES:
        raise ValueError(f"PSL loss must be one of {PSL_LOSSES}, got {loss!r}.")
    return loss


def _check_batch(losses: Any, prefs: Any, who: str) -> tuple[Array, Array]:
    f = jnp.asarray(losses)
    p = jnp.asarray(prefs)
    if f.ndim != 2 or p.shape != f.shape:
        raise ValueError(
            f"{who}: losses and prefs must both be [B, m] of the same shape, got {f.shape} and "
            f"{p.shape}."
        )
    check_num_objectives(f.shape[1], "m (the number of losses)")
    dtype = jnp.result_type(f.dtype, jnp.float32)
    return f.astype(dtype), p.astype(dtype)


def sample_prefs(key: Array, num_objectives: int, num: int, concentration: float = 1.0) -> Array:
    r"""``num`` preferences ``~ Dir(β·1)`` ``[num, m]``.

    For ``β = 1`` (uniform on the simplex) uses the exact construction ``E/ΣE`` with
    ``E_i ~ Exp(1)`` (= Gamma(1)), which compiles much faster than the general Gamma sampler of
    :func:`paretojax.sample_dirichlet` (used for any other β).

    Example:
      >>> import jax, paretojax as pj
      >>> from paretojax.manifold._training import sample_prefs
      >>> p = sample_prefs(jax.random.key(0), 3, 4)
      >>> p.shape, bool(abs(float(p.sum(1).max()) - 1) < 1e-5)
      ((4, 3), True)
    """
    if concentration == 1.0:
        e = jax.random.exponential(key, (num, num_objectives), jnp.float32)
        return e / jnp.sum(e, axis=1, keepdims=True)
    return sample_dirichlet(key, num_objectives, num, concentration)


def _reduce(values: Array, reduction: str) -> Array:
    return jnp.sum(values) if reduction == "sum" else jnp.mean(values)


def _ref_row(ref: Any, m: int, dtype: Any, who: str) -> Array:
    r = jnp.asarray(ref, dtype)
    if r.ndim == 0:
        return jnp.full((m,), r, dtype)
    if r.shape != (m,):
        raise ValueError(f"{who}: ref must be a scalar or [{m}], got shape {r.shape}.")
    return r


def psl_hv_loss(losses: Any, prefs: Any, ref: Any = 1.1, *, reduction: str = "sum") -> Array:
    r"""PSL-HV loss ``−Σ_b (min_i (r_i − f_{bi})/λ_{bi})₊^m``, ``λ_b = p_b/‖p_b‖₂``.

    The Monte-Carlo hypervolume estimate of Zhang, Lin, Xue, Chen & Zhang ("Hypervolume
    Maximization: A Geometric View of Pareto Set Learning", NeurIPS 2023; official
    ``xzhang2523/hvpsl``) without its constant ``c_m = π^{m/2}/(2^m Γ(m/2+1))``:
    ``HV_r(Y) = c_m E_{λ∼Unif(S₊^{m−1})}[max_{y∈Y} (min_i (r_i − y_i)/λ_i)₊^m]``; with one
    solution per direction the max is the solution itself. ``λ`` is floored at 1e-6.

    Args:
      losses: ``[B, m]`` (normalised) losses ``f(x(p_b))``.
      prefs: ``[B, m]`` preferences (non-negative; only their direction matters).
      ref: reference point ``r`` (scalar or ``[m]``; default 1.1, the STCH normalised protocol).
      reduction: ``"sum"`` or ``"mean"`` over the window.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F = jnp.array([[0.1, 0.1]])           # min((1.1-0.1)/λ_i) = 1/0.7071 → 2.0 after ^2
      >>> print(round(float(pj.psl_hv_loss(F, jnp.array([[0.5, 0.5]]))), 5))
      -2.0
    """
    f, p = _check_batch(losses, prefs, "psl_hv_loss")
    m = f.shape[1]
    r = _ref_row(ref, m, f.dtype, "psl_hv_loss")[None, :]
    lam = p / jnp.maximum(jnp.sqrt(jnp.sum(p * p, axis=1, keepdims=True)), 1e-12)
    lam = jnp.maximum(lam, _LAMBDA_FLOOR)
    t = jnp.min((r - f) / lam, axis=1)
    return -_reduce(jnp.maximum(t, 0.0) ** m, reduction)


def psl_loss(
    losses: Any,
    prefs: Any,
    loss: str = "stch",
    *,
    mu: float = 0.01,
    lam: float | None = None,
    ref: Any = 1.1,
    reduction: str = "sum",
) -> Array:
    r"""The loss-level PSL training losses of a window ``F [B, m]``, ``P [B, m]`` (see module).

    ``"ls"``, ``"tch"``, ``"stch"`` (``mu``), ``"cosmos"`` (``lam``, default 8), ``"hv"``
    (``ref``) and ``"hvi"`` (``lam`` default 5, ``ref`` the floor of the dynamic reference).
    ``"epo"`` needs the per-preference Jacobian: use :func:`make_psl_step`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> F, P = jnp.array([[0.6, 0.3], [0.2, 0.9]]), jnp.array([[0.3, 0.7], [0.5, 0.5]])
      >>> print(round(float(pj.psl_loss(F, P, "tch")), 5))   # 0.21 + 0.45
      0.66
    """
    _check_loss(loss)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"psl_loss: reduction must be 'sum' or 'mean', got {reduction!r}.")
    f, p = _check_batch(losses, prefs, "psl_loss")
    if loss == "epo":
        raise ValueError("psl_loss: 'epo' needs the Jacobian; use make_psl_step(loss='epo').")
    if loss == "hv":
        return psl_hv_loss(f, p, ref, reduction=reduction)
    if loss == "hvi":
        m = f.shape[1]
        r = _ref_row(ref, m, f.dtype, "psl_loss")
        alpha = hv_grad_weights(jax.lax.stop_gradient(f), r)
        cos = jax.vmap(cosmos_cosine)(f, p)
        lam_hvi = 5.0 if lam is None else float(lam)
        return _reduce(jnp.sum(alpha * f, axis=1) - lam_hvi * cos, reduction)
    if loss == "ls":
        vals = jax.vmap(ls_loss)(f, p)
    elif loss == "tch":
        vals = jax.vmap(tch_loss)(f, p)
    elif loss == "stch":
        vals = jax.vmap(lambda fi, pi: stch_loss(fi, pi, mu=mu))(f, p)
    else:
        lam_c = 8.0 if lam is None else float(lam)
        vals = jax.vmap(lambda fi, pi: cosmos_loss(fi, pi, lam=lam_c))(f, p)
    return _reduce(vals, reduction)


def _normaliser(ideal: Any, nadir: Any, m: int | None) -> Callable[[Array], Array]:
    if ideal is None and nadir is None:
        return lambda f: f
    if ideal is None or nadir is None:
        raise ValueError("make_psl_step: give both ideal and nadir (or neither).")
    lo = np.asarray(ideal, np.float64).reshape(-1)
    hi = np.asarray(nadir, np.float64).reshape(-1)
    if lo.shape != hi.shape or (m is not None and lo.shape != (m,)):
        raise ValueError(f"make_psl_step: ideal/nadir must have shape ({m},), got {lo.shape}.")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError("make_psl_step: nadir must exceed ideal (finite) in every objective.")
    lo_j, span = jnp.asarray(lo, jnp.float32), jnp.asarray(hi - lo, jnp.float32)
    return lambda f: (f - lo_j.astype(f.dtype)) / span.astype(f.dtype)


def make_psl_step(
    model: nnx.Module,
    objective: Callable[..., Array],
    loss: str = "stch",
    optimizer: optax.GradientTransformation | None = None,
    *,
    num_prefs: int = 10,
    concentration: float = 1.0,
    ideal: Any = None,
    nadir: Any = None,
    reduction: str = "sum",
    mu: float = 0.01,
    lam: float | None = None,
    ref: Any = 1.1,
) -> tuple[Callable[[nnx.Module], PSLState], Callable[..., tuple[PSLState, PSLMetrics]]]:
    r"""``(init, step)`` of Pareto-set learning (module docstring for the losses).

    Args:
      model: an ``nnx.Module`` called as ``model(pref)`` (its graph is captured here; only its
        ``nnx.Param`` state is trained, the rest is held fixed).
      objective: ``objective(model(pref), *args) -> [m]`` losses (e.g. ``problem.fn`` for a
        PSL-MLP; for a hypernetwork, a function of the generated params and a data batch).
      loss: one of :data:`PSL_LOSSES` (default ``"stch"``).
      optimizer: an optax transformation (default ``optax.adam(1e-3)``, STCH protocol).
      num_prefs: ``B`` preferences per step (10, STCH protocol).
      concentration: Dirichlet ``β`` (1: uniform on the simplex; PHN uses 0.2).
      ideal, nadir: normalise ``f̂ = (f − ideal)/(nadir − ideal)`` before the loss.
      reduction: ``"sum"`` over the window (STCH) or ``"mean"``.
      mu, lam, ref: hyperparameters of ``"stch"`` / ``"cosmos"``, ``"hvi"`` / ``"hv"``, ``"hvi"``.

    Returns:
      ``init(model) -> PSLState`` and the pure, jittable ``step(state, key, *args) ->
      (state, PSLMetrics)`` (``args`` go to ``objective``, e.g. a data batch).

    Example:
      >>> import jax, paretojax as pj
      >>> from flax import nnx
      >>> prob = pj.problems.get("stch_f1")
      >>> model = pj.ParetoSetMLP(2, prob.n_var, hidden=(16,), rngs=nnx.Rngs(0))
      >>> init, step = pj.make_psl_step(model, prob.fn, "stch")
      >>> state, met = jax.jit(step)(init(model), jax.random.key(0))
      >>> met.losses.shape, int(state.step)
      ((2,), 1)
    """
    _check_loss(loss)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"make_psl_step: reduction must be 'sum' or 'mean', got {reduction!r}.")
    b = int(num_prefs)
    if b != num_prefs or b < 1:
        raise ValueError(f"make_psl_step: num_prefs must be a positive integer, got {num_prefs!r}.")
    beta = float(concentration)
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"make_psl_step: concentration must be > 0, got {concentration!r}.")
    if not callable(objective):
        raise ValueError("make_psl_step: objective must be callable.")
    m = getattr(model, "num_objectives", None)
    if m is None:
        raise ValueError("make_psl_step: the model needs a num_objectives attribute.")
    m = check_num_objectives(m)
    normalise = _normaliser(ideal, nadir, m)
    tx = optax.adam(1e-3) if optimizer is None else optimizer
    graphdef, _, rest = nnx.split(model, nnx.Param, ...)

    def _losses(y: Any, *args: Any) -> Array:
        f = jnp.asarray(objective(y, *args))
        if f.shape != (m,):
            raise ValueError(f"make_psl_step: objective must return [{m}] losses, got {f.shape}.")
        return normalise(f)

    def single(params: Any, pref: Array, *args: Any) -> Array:
        return _losses(nnx.merge(graphdef, params, rest)(pref), *args)

    def epo_alpha(params: Any, prefs: Array, *args: Any) -> Array:
        f = jax.vmap(lambda p: single(params, p, *args))(prefs)
        jac = jax.vmap(lambda p: jax.jacrev(single)(params, p, *args))(prefs)
        g = jax.vmap(gram)(jac)
        alpha = jax.vmap(lambda gi, fi, pi: epo_weights(gi, fi, pref=pi)[0])(g, f, prefs)
        return jax.lax.stop_gradient(alpha)

    def value_and_grads(params: Any, prefs: Array, *args: Any) -> tuple[Array, Array, Any]:
        def outputs(params_: Any) -> Any:
            return jax.vmap(nnx.merge(graphdef, params_, rest))(prefs)

        ys, model_vjp = jax.vjp(outputs, params)
        alpha = epo_alpha(params, prefs, *args) if loss == "epo" else None

        def window_loss(ys_: Any) -> tuple[Array, Array]:
            f = jax.vmap(lambda y: _losses(y, *args))(ys_)
            if alpha is not None:
                return _reduce(jnp.sum(alpha * f, axis=1), reduction), f
            return psl_loss(f, prefs, loss, mu=mu, lam=lam, ref=ref, reduction=reduction), f

        (value, f), g_ys = jax.value_and_grad(window_loss, has_aux=True)(ys)
        # An infinite ∂f/∂y at a saturated output (e.g. √x₁ at x₁ = 0 on F2/F5, where the
        # sigmoid's derivative is 0) would turn the whole update into NaN: such entries are
        # zeroed, their chain-rule limit 0·∞ being 0.
        g_ys = jax.tree_util.tree_map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), g_ys)
        (grads,) = model_vjp(g_ys)
        return value, f, grads

    def init(model_: nnx.Module) -> PSLState:
        params = nnx.state(model_, nnx.Param)
        return PSLState(params, tx.init(params), jnp.zeros((), jnp.int32))

    def step(state: PSLState, key: Array, *args: Any) -> tuple[PSLState, PSLMetrics]:
        prefs = sample_prefs(key, m, b, beta)
        value, f, grads = value_and_grads(state.params, prefs, *args)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return PSLState(params, opt_state, state.step + 1), PSLMetrics(value, jnp.mean(f, 0))

    return init, step


def fit_psl(
    model: nnx.Module,
    problem: Any,
    loss: str = "stch",
    *,
    steps: int = 2000,
    num_prefs: int = 10,
    concentration: float = 1.0,
    optimizer: optax.GradientTransformation | None = None,
    normalize: bool = True,
    ideal: Any = None,
    nadir: Any = None,
    key: Array | int = 0,
    progress: bool = True,
    chunk: int = 100,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    **loss_kwargs: Any,
) -> PSLResult:
    r"""Train a Pareto-set model; defaults are the STCH PSL protocol (METHODS.md §1.3).

    Adam 1e-3, 2000 steps, 10 Dir(1) preferences per step, objectives normalised by the
    problem's ideal/nadir, loss summed over the window (Lin et al., ICML 2024; official
    ``Xi-L/STCH`` ``STCH_PSL/run_stch_psl.py``). Steps run as a ``lax.scan`` in compiled chunks
    of ``chunk`` steps, each drawing its preferences from ``fold_in(key, step)``.

    Args:
      model: the ``nnx.Module`` ``model(pref)``; updated in place with the trained parameters.
      problem: a :class:`paretojax.problems.Problem` (objective ``problem.fn``; ideal/nadir
        taken from it when ``normalize``) or a callable ``objective(model(pref)) -> [m]``.
      loss: one of :data:`PSL_LOSSES`.
      steps, num_prefs, concentration, optimizer: see :func:`make_psl_step`.
      normalize: normalise with ``ideal``/``nadir`` (default: the problem's).
      key: PRNG key or integer seed for the preference sampling.
      progress: draw a progress bar (stderr).
      chunk: steps per compiled chunk (progress-bar granularity).
      checkpoint_dir: save the :class:`PSLState`, the key and the history there (orbax,
        :mod:`paretojax.checkpoint`) and **resume automatically** from its latest checkpoint;
        preferences are drawn from ``fold_in(key, step)``, so a resumed run equals an
        uninterrupted one and its history is complete. A checkpoint of another loss, model,
        problem, settings or key raises ``ValueError``; so does a corrupt one. A custom
        ``optimizer`` is only checked through its state's structure.
      checkpoint_every: steps between checkpoints (default ``max(1, steps // 10)``; chunks are
        cut at its multiples); one is also written at the last step.
      **loss_kwargs: ``mu``, ``lam``, ``ref``, ``reduction`` of :func:`make_psl_step`.

    Returns:
      :class:`PSLResult` ``(model, state, history)``.

    Example:
      >>> import paretojax as pj
      >>> from flax import nnx
      >>> prob = pj.problems.get("stch_f1")
      >>> model = pj.ParetoSetMLP(2, prob.n_var, hidden=(32,), rngs=nnx.Rngs(0))
      >>> res = pj.fit_psl(model, prob, "stch", steps=50, progress=False)
      >>> res.history.loss.shape, bool(res.history.loss[-1] < res.history.loss[0])
      ((50,), True)
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"fit_psl: steps must be a positive integer, got {steps}.")
    chunk = max(1, min(int(chunk), steps))
    if callable(getattr(problem, "fn", None)) and hasattr(problem, "n_obj"):
        objective = problem.fn
        if normalize and ideal is None and nadir is None:
            ideal, nadir = problem.ideal, problem.nadir
    elif callable(problem):
        objective = problem
    else:
        raise ValueError("fit_psl: problem must be a Problem or a callable objective.")
    if not normalize:
        ideal = nadir = None
    init, step = make_psl_step(
        model, objective, loss, optimizer, num_prefs=num_prefs, concentration=concentration,
        ideal=ideal, nadir=nadir, **loss_kwargs,
    )
    key = jax.random.key(key) if isinstance(key, int) else key
    ckpt = None
    if checkpoint_dir is not None:
        from paretojax.checkpoint import LoopCheckpoint

        every = max(1, steps // 10) if checkpoint_every is None else int(checkpoint_every)
        chunk = min(chunk, max(1, every))
        config = json.loads(json.dumps({
            "problem": getattr(problem, "name", getattr(problem, "__name__", None)),
            "model": type(model).__name__,
            "loss": loss,
            "num_prefs": num_prefs,
            "concentration": float(concentration),
            "optimizer": "adam(1e-3)" if optimizer is None else "custom",
            "ideal": None if ideal is None else np.asarray(ideal, np.float64).tolist(),
            "nadir": None if nadir is None else np.asarray(nadir, np.float64).tolist(),
            "loss_kwargs": {k: repr(v) for k, v in sorted(loss_kwargs.items())},
        }))
        ckpt = LoopCheckpoint(checkpoint_dir, kind="paretojax.fit_psl", config=config,
                              every=every, steps=steps)

    @jax.jit
    def run_chunk(state: PSLState, start: Array, n: Array) -> tuple[PSLState, PSLMetrics]:
        def body(st: PSLState, i: Array) -> tuple[PSLState, PSLMetrics]:
            new, met = step(st, jax.random.fold_in(key, start + i))
            valid = i < n  # a short chunk is padded and masked (one compile)
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(valid, a, b), new, st)
            return new, met

        return jax.lax.scan(body, state, jnp.arange(chunk))

    state = init(model)
    hist: list[PSLMetrics] = []
    done = 0
    try:
        if ckpt is not None:
            done, state, saved, _ = ckpt.resume(state, key)
            if done:
                hist.append(PSLMetrics(jnp.asarray(saved["loss"]), jnp.asarray(saved["losses"])))
        with Progress(steps, f"psl-{loss}", enabled=progress) as bar:
            if done:
                bar.update(done)
            while done < steps:
                end = steps if ckpt is None else min((done // ckpt.every + 1) * ckpt.every, steps)
                n = min(chunk, end - done)
                state, met = run_chunk(state, jnp.asarray(done, jnp.int32),
                                       jnp.asarray(n, jnp.int32))
                hist.append(PSLMetrics(met.loss[:n], met.losses[:n]))
                done += n
                if ckpt is not None and ckpt.due(done):
                    ckpt.save(done, state, key, {
                        "loss": np.concatenate([np.asarray(h.loss) for h in hist]),
                        "losses": np.concatenate([np.asarray(h.losses) for h in hist]),
                    })
                bar.update(n, loss=float(met.loss[n - 1]))
    finally:
        if ckpt is not None:
            ckpt.close()
    nnx.update(model, state.params)
    history = PSLMetrics(
        jnp.concatenate([h.loss for h in hist]), jnp.concatenate([h.losses for h in hist])
    )
    return PSLResult(model, state, history)
