r"""MOO-LD: multi-objective (overdamped) Langevin dynamics for a finite set of particles.

K particles ``x_k`` follow the multi-objective drift of a finite-set rule (MGDA by default)
plus isotropic Gaussian noise at an annealed temperature:

.. math::

    x_k \leftarrow \Pi_{[lb+\epsilon,\,ub-\epsilon]}\Big(x_k - \eta\,J_k^\top\alpha_k
    + \sqrt{2\eta T_t}\,\xi_k\Big),\qquad \xi_k \sim \mathcal N(0, I),\quad
    T_t = T_0\,\max(0, 1 - t/T_{\text{anneal}})\ \ (\texttt{schedule="linear"})

with ``α_k`` from any finite-set rule (a per-solution :class:`~paretojax.Weighting` vmapped over
K — ``min_norm(J_kJ_kᵀ)`` for the default MGDA drift — or a :class:`SetWeighting`).
With the MGDA drift the stationary measure of the continuous dynamics concentrates on the Pareto
set as ``T → 0`` (the drift vanishes exactly on Pareto-stationary points, so the noise diffuses
particles *along* the set while the drift pulls them back onto it); annealing ``T`` to zero makes
the final iterates Pareto-stationary. This is the Langevin baseline of the particle methods
(Liu, Tong, Liu, "Profiling Pareto Front With Multi-Objective Stein Variational Gradient
Descent", NeurIPS 2021, use the same MGDA drift with an SVGD interaction instead of noise; Ren,
Xu, Zhang, Cai, "Multi-Objective Optimization via Wasserstein–Fisher–Rao Gradient Flow",
AISTATS 2024, add a dominance potential and birth–death moves to overdamped Langevin dynamics).
METHODS.md has no entry for MOO-LD: the algorithm above (MGDA drift, linear annealing, clamp
after each step as in LibMOON's protocol) is the paretojax definition; ``T₀ = 1e-3`` default.

Randomness comes from an explicit key carried in the state (split every step). Everything is
pure and ``jit``/``scan``-able; :func:`run_moo_ld` scans all steps inside one ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from paretojax.core.jacobian import combine, gram, value_and_jacobian
from paretojax.pareto_set._driver import (
    CLAMP_EPS,
    SetWeighting,
    _clamp,
    _lift,
    finite_set_weighting,
)

Array = jax.Array
PyTree = Any

__all__ = ["MOOLDState", "MOOLDResult", "langevin_temperature", "moo_ld_step", "run_moo_ld"]

_SCHEDULES = ("linear", "constant")


class MOOLDState(NamedTuple):
    """Carry of :func:`moo_ld_step`: drift-rule state, PRNG key and step counter."""

    method_state: Any
    key: Array
    count: Array


class MOOLDResult(NamedTuple):
    """Output of :func:`run_moo_ld`: final particles, objectives, objective history."""

    x: Array
    f: Array
    f_history: Array


def langevin_temperature(count: Any, t0: float, anneal_steps: int, schedule: str = "linear"):
    r"""``T_t = T₀ max(0, 1 − t/T_anneal)`` (``"linear"``) or ``T₀`` (``"constant"``).

    Example:
      >>> import paretojax as pj
      >>> [round(float(pj.pareto_set.langevin_temperature(t, 1.0, 4)), 2) for t in (0, 2, 4, 9)]
      [1.0, 0.5, 0.0, 0.0]
    """
    if schedule not in _SCHEDULES:
        raise ValueError(f"langevin_temperature: schedule must be one of {_SCHEDULES}, got "
                         f"{schedule!r}.")
    t = jnp.asarray(count, jnp.float32)
    if schedule == "constant":
        return jnp.asarray(t0, jnp.float32) * jnp.ones_like(t)
    return jnp.asarray(t0, jnp.float32) * jnp.maximum(0.0, 1.0 - t / max(int(anneal_steps), 1))


def moo_ld_step(
    problem_fn: Callable[[PyTree], Array],
    lr: float,
    *,
    num_solutions: int,
    drift: Any = "mgda",
    temperature: float = 1e-3,
    anneal_steps: int = 500,
    schedule: str = "linear",
    lower: Any = None,
    upper: Any = None,
    clamp_eps: float = CLAMP_EPS,
) -> tuple[Callable[[PyTree, Array], MOOLDState], Callable[..., Any]]:
    r"""``(init, step)`` of MOO-LD on K stacked particles (see the module for the update).

    Args:
      problem_fn: ``f(x_k) -> [m]`` for one particle.
      lr: the step ``η`` (the noise scale is ``√(2ηT)``, so ``lr`` is not an optax argument).
      num_solutions: K.
      drift: ``"mgda"`` (default), any name of :func:`finite_set_weighting`, a
        :class:`~paretojax.Weighting` or a :class:`SetWeighting`.
      temperature: ``T₀`` (1e-3; ``0`` gives the deterministic drift alone).
      anneal_steps: steps over which the linear schedule reaches 0.
      schedule: ``"linear"`` or ``"constant"``.
      lower, upper: box bounds (clamp to ``[lb + eps, ub − eps]`` after each step).

    Returns:
      ``init(x, key) -> MOOLDState`` and
      ``step(x, state, prefs) -> (x, state, (losses [K, m], alpha [K, m]))``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> init, step = pj.pareto_set.moo_ld_step(prob.fn, 1e-2, num_solutions=3, lower=prob.lower,
      ...                             upper=prob.upper)
      >>> x = jnp.zeros((3, 10)); st = init(x, jax.random.key(0))
      >>> x, st, (f, a) = jax.jit(step)(x, st, None)
      >>> f.shape, int(st.count)
      ((3, 2), 1)
    """
    if float(temperature) < 0 or not jnp.isfinite(temperature):
        raise ValueError(f"moo_ld_step: temperature must be finite and ≥ 0, got {temperature}.")
    if float(lr) <= 0:
        raise ValueError(f"moo_ld_step: lr must be > 0, got {lr}.")
    if schedule not in _SCHEDULES:
        raise ValueError(f"moo_ld_step: schedule must be one of {_SCHEDULES}, got {schedule!r}.")
    if drift == "mgda":
        from paretojax.weighting import mgda_weighting

        drift = mgda_weighting()
    w = finite_set_weighting(drift)
    rule = w if isinstance(w, SetWeighting) else _lift(w, num_solutions)
    vj = jax.vmap(value_and_jacobian(problem_fn))

    def init(x: PyTree, key: Array) -> MOOLDState:
        del x
        return MOOLDState(method_state=None if rule.init is None else rule.init(),
                          key=key, count=jnp.zeros((), jnp.int32))

    def step(x: PyTree, state: MOOLDState, prefs: Any):
        losses, jac = vj(x)
        k, m = losses.shape
        g = jax.vmap(gram)(jac) if rule.uses_gram else jnp.zeros((k, m, 0), losses.dtype)
        if prefs is None:
            prefs = jnp.full((k, m), 1.0 / m, losses.dtype)
        alpha, mstate = rule.weights(g, losses, state.method_state, prefs)
        alpha = jax.lax.stop_gradient(jnp.asarray(alpha))
        alpha = jnp.where(jnp.all(jnp.isfinite(alpha), axis=1, keepdims=True), alpha, 0.0)
        drift_u = jax.vmap(combine)(alpha.astype(losses.dtype), jac)
        temp = langevin_temperature(state.count, temperature, anneal_steps, schedule)
        key, sub = jax.random.split(state.key)
        leaves, tree = jax.tree_util.tree_flatten(x)
        keys = jax.random.split(sub, len(leaves))
        noise = jax.tree_util.tree_unflatten(
            tree, [jax.random.normal(kk, a.shape, a.dtype) for kk, a in zip(keys, leaves, strict=True)])
        scale = jnp.sqrt(2.0 * lr * temp)
        x = jax.tree_util.tree_map(
            lambda a, d, n: a - (lr * d).astype(a.dtype) + (scale * n).astype(a.dtype),
            x, drift_u, noise)
        x = _clamp(x, lower, upper, clamp_eps)
        return x, MOOLDState(mstate, key, state.count + 1), (losses, alpha)

    return init, step


def run_moo_ld(
    problem: Any,
    num_particles: int | None = None,
    steps: int = 500,
    lr: float = 1e-2,
    key: Array | None = None,
    *,
    x0: Any = None,
    prefs: Any = None,
    drift: Any = "mgda",
    temperature: float = 1e-3,
    anneal_steps: int | None = None,
    schedule: str = "linear",
    clamp: bool = True,
) -> MOOLDResult:
    """Run MOO-LD for ``steps`` iterations in one compiled ``lax.scan``.

    ``key`` is required (it seeds the start ``U(−1/√n, 1/√n)`` when ``x0`` is not given, and
    the Langevin noise). ``anneal_steps`` defaults to ``steps`` (T reaches 0 at the end).
    ``prefs [K, m]`` are only needed by preference-based drifts (e.g. ``drift="epo"``).

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> res = pj.pareto_set.run_moo_ld(prob, 4, steps=20, key=jax.random.key(0))
      >>> res.f.shape, res.f_history.shape
      ((4, 2), (20, 4, 2))
    """
    if key is None:
        raise ValueError("run_moo_ld: MOO-LD is stochastic; pass an explicit key.")
    if int(steps) < 1:
        raise ValueError(f"run_moo_ld: steps must be ≥ 1, got {steps}.")
    fn = getattr(problem, "fn", problem)
    kx, kn = jax.random.split(key)
    if x0 is None:
        n = getattr(problem, "n_var", None)
        if n is None or num_particles is None:
            raise ValueError("run_moo_ld: give x0, or a Problem and num_particles.")
        if int(num_particles) < 1:
            raise ValueError(f"run_moo_ld: num_particles must be ≥ 1, got {num_particles}.")
        s = 1.0 / float(n) ** 0.5
        x0 = jax.random.uniform(kx, (int(num_particles), n), jnp.float32, -s, s)
    x0 = jnp.asarray(x0)
    if x0.ndim != 2:
        raise ValueError(f"run_moo_ld: x0 must be [K, n], got shape {x0.shape}.")
    k = x0.shape[0]
    if prefs is not None:
        prefs = jnp.asarray(prefs, x0.dtype)
        if prefs.ndim != 2 or prefs.shape[0] != k:
            raise ValueError(f"run_moo_ld: prefs must be [{k}, m], got {prefs.shape}.")
    lower = getattr(problem, "lower", None) if clamp else None
    upper = getattr(problem, "upper", None) if clamp else None
    init, step = moo_ld_step(fn, lr, num_solutions=k, drift=drift, temperature=temperature,
                             anneal_steps=int(steps if anneal_steps is None else anneal_steps),
                             schedule=schedule, lower=lower, upper=upper)

    @jax.jit
    def go(x0, key, prefs):
        def body(carry, _):
            x, st = carry
            x, st, (f, _) = step(x, st, prefs)
            return (x, st), f

        (x, _), fh = jax.lax.scan(body, (x0, init(x0, key)), None, length=int(steps))
        return x, jax.vmap(fn)(x), fh

    x, f, fh = go(x0, kn, prefs)
    return MOOLDResult(x=x, f=f, f_history=fh)
