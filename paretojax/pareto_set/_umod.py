r"""UMOD: uniform designs on the Pareto front by preference adjustment (METHODS.md §6).

Zhang, Li, Lin, Zhang, Chen, Zhang, "Gliding over the Pareto Front with Uniform Designs",
NeurIPS 2024. Reference behaviour: LibMOON ``libmoon/solver/gradient/methods/umod_solver.py``
(+ ``base_solver.py``; angle parametrisation).

The fill distance of the K objective vectors is replaced by its surrogate, the minimum pairwise
distance (``Lmin``, ≤ 4× the optimal fill distance), maximised through the preferences. With
preferences parametrised by angles ``θ ∈ [0, π/2]^{m−1}``
(``p₁ = cos²θ₁, p₂ = sin²θ₁cos²θ₂, …, p_m = Π sin²θ_j``; LibMOON ``angle2pref``), alternate:

(a) ``period`` finite-set steps of mTCH (:func:`paretojax.run_finite_set` semantics) on the
    current preferences, every ``(p, f)`` pair appended to a history buffer;
(b) fit a Pareto-front model ``θ ↦ f̂(θ)`` (MLP ``(m−1) → 128 → 128 → m``, ReLU, MSE, Adam 1e-3,
    ``fit_steps``) on the historical pairs (minibatches of ``batch_size``; by default the
    transient first half of each round is skipped, see ``skip_fraction``);
(c) move the angles by ``adjust_steps`` Adam (1e-3) steps maximising the *soft* Lmin
    ``−(1/κ) log Σ_{j≠k} exp(−κ‖f̂(θ_j) − f̂(θ_k)‖)`` (κ = 20; METHODS.md: softmin instead of the
    hard Lmin for a smooth ascent), clamped to the range of the initial angles (flag
    ``clamp_to_initial=False``: ``[0, π/2]`` as LibMOON).

The last phase (a) follows the last adjustment, so the returned solutions match the returned
preferences. Defaults 2000/2000/2000 (LibMOON). The front model is warm-started from the previous
round (LibMOON re-fits a fresh one; flag ``refit=True``). Everything (the three phases, all
rounds) runs in one ``jit``; the history is a preallocated ``[steps, K, ·]`` buffer with a mask.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.pareto_set._driver import finite_set_step, finite_set_weighting

Array = jax.Array

__all__ = ["UMODResult", "angle_to_pref", "pref_to_angle", "soft_lmin_loss", "run_umod"]


class UMODResult(NamedTuple):
    """Output of :func:`run_umod`.

    Attributes:
      x: final solutions ``[K, n]``.
      f: their objectives ``[K, m]``.
      prefs: the adjusted preferences ``[K, m]``.
      prefs_history: preferences after each round ``[rounds, K, m]``.
      f_history: objectives before each step ``[steps, K, m]``.
    """

    x: Array
    f: Array
    prefs: Array
    prefs_history: Array
    f_history: Array


def angle_to_pref(theta: Array) -> Array:
    r"""Angles ``[…, m−1]`` → preferences ``[…, m]`` on the simplex (squared spherical coords).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.pareto_set.angle_to_pref(jnp.array([[0.0], [jnp.pi / 4]])).round(3).tolist()
      [[1.0, 0.0], [0.5, 0.5]]
    """
    t = jnp.asarray(theta)
    c2 = jnp.cos(t) ** 2
    s2 = jnp.sin(t) ** 2
    # p_i = (Π_{j<i} s2_j) · c2_i for i < m, p_m = Π s2_j
    cum = jnp.cumprod(jnp.concatenate([jnp.ones_like(s2[..., :1]), s2], axis=-1), axis=-1)
    return jnp.concatenate([cum[..., :-1] * c2, cum[..., -1:]], axis=-1)


def pref_to_angle(pref: Array) -> Array:
    r"""Inverse of :func:`angle_to_pref` for preferences on the simplex (``[…, m] → […, m−1]``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> p = jnp.array([[0.2, 0.3, 0.5]])
      >>> q = pj.pareto_set.angle_to_pref(pj.pareto_set.pref_to_angle(p))
      >>> [round(v, 5) for v in q[0].tolist()]
      [0.2, 0.3, 0.5]
    """
    p = jnp.clip(jnp.asarray(pref), 0.0, None)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    rest = jnp.cumsum(p[..., ::-1], axis=-1)[..., ::-1]  # Σ_{j≥i} p_j
    ratio = jnp.where(rest[..., :-1] > 0, p[..., :-1] / jnp.where(rest[..., :-1] > 0,
                                                                 rest[..., :-1], 1.0), 1.0)
    return jnp.arccos(jnp.sqrt(jnp.clip(ratio, 0.0, 1.0)))


def soft_lmin_loss(f: Array, kappa: float = 20.0) -> Array:
    r"""Soft minimum pairwise distance ``−(1/κ) log Σ_{j≠k} exp(−κ‖f_j − f_k‖)`` (to maximise).

    Safe at coincident points (the distance uses ``√(d² + 10⁻¹²)``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> round(float(pj.pareto_set.soft_lmin_loss(p)), 4)
      0.3797
    """
    y = jnp.asarray(f)
    k = y.shape[0]
    d = jnp.sqrt(jnp.sum((y[:, None, :] - y[None, :, :]) ** 2, axis=-1) + 1e-12)
    off = ~jnp.eye(k, dtype=bool)
    return -jax.nn.logsumexp(jnp.where(off, -kappa * d, -jnp.inf)) / kappa


def _mlp_init(key: Array, sizes: list[int]) -> list:
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (a, b), jnp.float32) * jnp.sqrt(2.0 / a), jnp.zeros((b,)))
            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]


def _mlp(params: list, t: Array) -> Array:
    h = t
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b.reshape((1,) * (h.ndim - 1) + b.shape))
    w, b = params[-1]
    return h @ w + b.reshape((1,) * (h.ndim - 1) + b.shape)


def run_umod(
    problem: Any,
    prefs: Any,
    steps: int = 6000,
    lr: float = 1e-2,
    key: Array | None = None,
    *,
    period: int = 2000,
    fit_steps: int = 2000,
    adjust_steps: int = 2000,
    fit_lr: float = 1e-3,
    adjust_lr: float = 1e-3,
    hidden: int = 128,
    kappa: float = 20.0,
    refit: bool = False,
    batch_size: int = 256,
    skip_fraction: float = 0.5,
    clamp_to_initial: bool = True,
    method: Any = "mtch",
    x0: Any = None,
    **method_kwargs: Any,
) -> UMODResult:
    """Run UMOD: ``steps // period`` rounds of (mTCH steps → fit the front model → adjust prefs).

    Args:
      problem: a :class:`paretojax.problems.Problem` (start ``U(−1/√n, 1/√n)`` from ``key``).
      prefs: initial preferences ``[K, m]`` (positive rows on the simplex).
      steps: total finite-set steps (a multiple of ``period``; ``steps // period − 1``
        adjustments).
      lr: SGD learning rate of the finite-set steps (1e-2).
      key: PRNG key (start and front-model initialisation; required).
      period, fit_steps, adjust_steps: LibMOON 2000 / 2000 / 2000.
      fit_lr, adjust_lr: Adam learning rates of the fit and the adjustment (1e-3).
      hidden: front-model width (128, two hidden layers).
      kappa: soft-Lmin sharpness (20).
      refit: re-initialise the front model every round (LibMOON) instead of warm-starting.
      batch_size: pairs per fit step, drawn uniformly from the history (LibMOON fits on the
        whole history each step; a minibatch keeps the cost independent of its length).
      skip_fraction: the first ``skip_fraction·period`` steps of each round (the transient
        after a preference change, far from the front) are left out of the fit (0: LibMOON).
      clamp_to_initial: clamp the angles to the range spanned by the initial preferences (the
        front model is only fitted there; outside it the Lmin ascent exploits extrapolation
        and piles solutions onto the extremes). False: ``[0, π/2]`` (LibMOON).
      method: the per-preference rule (``"mtch"``; any :func:`finite_set_weighting` name).
      x0: explicit start ``[K, n]``.
      method_kwargs: forwarded to the rule's factory (e.g. ``gradient="unweighted"``).

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> res = pj.pareto_set.run_umod(prob, pj.linspace_prefs(4, 0.01), steps=40, key=jax.random.key(0),
      ...                   period=20, fit_steps=20, adjust_steps=20)
      >>> res.f.shape, res.prefs_history.shape
      ((4, 2), (2, 4, 2))
    """
    if key is None:
        raise ValueError("run_umod: pass an explicit key.")
    p0 = jnp.asarray(prefs, jnp.float32)
    if p0.ndim != 2 or p0.shape[1] < 2:
        raise ValueError(f"run_umod: prefs must be [K, m] with m ≥ 2, got {p0.shape}.")
    if bool(jnp.any(p0 < 0)) or not bool(jnp.allclose(jnp.sum(p0, axis=1), 1.0, atol=1e-4)):
        raise ValueError("run_umod: prefs must lie on the simplex (p ≥ 0, Σp = 1).")
    k, m = p0.shape
    period, steps = int(period), int(steps)
    if period < 1 or steps < period or steps % period:
        raise ValueError(f"run_umod: steps ({steps}) must be a positive multiple of period "
                         f"({period}).")
    rounds = steps // period
    kx, km = jax.random.split(key)
    if x0 is None:
        n = problem.n_var
        s = 1.0 / float(n) ** 0.5
        x0 = jax.random.uniform(kx, (k, n), jnp.float32, -s, s)
    x0 = jnp.asarray(x0)
    rule = finite_set_weighting(method, **method_kwargs)
    init, step = finite_set_step(problem.fn, rule, optax.sgd(lr), num_solutions=k,
                                 lower=problem.lower, upper=problem.upper)
    sizes = [m - 1, int(hidden), int(hidden), m]
    fit_opt, adj_opt = optax.adam(fit_lr), optax.adam(adjust_lr)
    half_pi = jnp.pi / 2

    skip = int(period * float(skip_fraction))

    def fit(params, th_hist, f_hist, n_rounds, key):
        def loss(pp, rows, sols):
            pred = _mlp(pp, th_hist[rows, sols])
            return jnp.mean(jnp.sum((pred - f_hist[rows, sols]) ** 2, axis=-1))

        def body(c, kk):
            pp, st = c
            # minibatch of history pairs: a finished round, a step past its transient, a solution
            k1, k2, k3 = jax.random.split(kk, 3)
            b = int(batch_size)
            rows = (jax.random.randint(k1, (b,), 0, n_rounds) * period
                    + jax.random.randint(k2, (b,), skip, period))
            sols = jax.random.randint(k3, (b,), 0, k)
            g = jax.grad(loss)(pp, rows, sols)
            u, st = fit_opt.update(g, st, pp)
            return (optax.apply_updates(pp, u), st), None

        keys = jax.random.split(key, int(fit_steps))
        (params, _), _ = jax.lax.scan(body, (params, fit_opt.init(params)), keys)
        return params

    def adjust(params, theta, th_lo, th_hi):
        def loss(th):
            return -soft_lmin_loss(_mlp(params, th), kappa)

        def body(c, _):
            th, st = c
            g = jax.grad(loss)(th)
            u, st = adj_opt.update(g, st, th)
            lo, hi = th_lo[None, :], th_hi[None, :]
            return (jnp.clip(optax.apply_updates(th, u), lo, hi), st), None

        (theta, _), _ = jax.lax.scan(body, (theta, adj_opt.init(theta)), None,
                                     length=int(adjust_steps))
        return theta

    @jax.jit
    def go(x0, p0, km):
        theta0 = pref_to_angle(p0)
        if clamp_to_initial:
            th_lo, th_hi = jnp.min(theta0, axis=0), jnp.max(theta0, axis=0)
        else:
            th_lo, th_hi = jnp.zeros((m - 1,)), jnp.full((m - 1,), half_pi)
        params0 = _mlp_init(km, sizes)
        th_hist0 = jnp.zeros((steps, k, m - 1), jnp.float32)
        f_hist0 = jnp.zeros((steps, k, m), jnp.float32)

        def one_round(carry, r):
            x, st, theta, params, th_hist, f_hist = carry
            pref = angle_to_pref(theta)

            def body(c, _):
                xx, ss = c
                xx, ss, (f, _) = step(xx, ss, pref)
                return (xx, ss), f

            (x, st), fr = jax.lax.scan(body, (x, st), None, length=period)
            f_hist = jax.lax.dynamic_update_slice(f_hist, fr.astype(f_hist.dtype),
                                                  (r * period, 0, 0))
            th_rep = jnp.broadcast_to(theta, (period, k, m - 1))
            th_hist = jax.lax.dynamic_update_slice(th_hist, th_rep, (r * period, 0, 0))
            def do_adjust(args):
                params, theta = args
                kr = jax.random.fold_in(km, r)
                start = _mlp_init(kr, sizes) if refit else params
                params = fit(start, th_hist, f_hist, r + 1,
                             jax.random.fold_in(kr, 1))
                return params, adjust(params, theta, th_lo, th_hi)

            params, theta = jax.lax.cond(r < rounds - 1, do_adjust, lambda a: a,
                                         (params, theta))
            return (x, st, theta, params, th_hist, f_hist), angle_to_pref(theta)

        carry0 = (x0, init(x0), theta0, params0, th_hist0, f_hist0)
        (x, _, theta, _, _, f_hist), ph = jax.lax.scan(one_round, carry0, jnp.arange(rounds))
        return x, jax.vmap(problem.fn)(x), angle_to_pref(theta), ph, f_hist

    x, f, p, ph, fh = go(x0, p0, km)
    return UMODResult(x=x, f=f, prefs=p, prefs_history=ph, f_history=fh)
