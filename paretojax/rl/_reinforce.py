r"""Multi-objective policy gradients: REINFORCE with one return per objective.

For a policy :math:`\pi_\theta` and vector returns :math:`R \in R^m`, the objectives are
:math:`f_i(\theta) = -E[R_i] / c_i` (minimisation, scaled by ``env.reward_scale`` c). Their
gradients come from the score-function estimator with a per-objective batch-mean baseline,

.. math:: \nabla f_i \approx -\frac{1}{E c_i}\sum_e \nabla\log\pi_\theta(\tau_e)\,(R_{e,i} - \bar R_i),

so one rollout batch gives the m-row Jacobian (``pj.value_and_jacobian`` of the surrogate vector)
and the estimated objective values; any paretojax rule then turns them into an update:

* :func:`train_linear` — K policies, one per preference, linear scalarization :math:`w = p`
  (Williams, Machine Learning 1992; the MORL baseline of Van Moffaert & Nowé, JMLR 2014);
* :func:`train_balanced` — K independently seeded policies, each stepped by a gradient-balancing
  transform (``pj.mgda()``, ``pj.upgrad()``, …) applied to the per-objective policy gradients;
* :func:`train_conditioned` — one preference-conditioned policy :math:`\pi(a\mid s, p)` trained
  over Dirichlet-sampled preferences with the weights :math:`w = \partial s/\partial f` of a
  scalarization (Tchebycheff by default, which reaches non-convex parts of the front;
  cf. Yang, Sun, Narasimhan, NeurIPS 2019, and Basaklar et al., ICLR 2023).

Training is one ``lax.scan`` inside one ``jit``; K policies or sampled preferences are ``vmap``
axes. Evaluation uses the greedy policy (arg-max action / mean action), so the reported fronts are
deterministic returns.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.jacobian import combine, value_and_jacobian
from paretojax.core.simplex import linspace_prefs, sample_dirichlet
from paretojax.metrics import hypervolume_host
from paretojax.rl._envs import VectorEnv
from paretojax.scalarization import ls_loss, stch_loss, tch_loss

Array = jax.Array
PyTree = Any

__all__ = [
    "MORLResult",
    "init_policy",
    "rollout",
    "policy_objectives",
    "evaluate_policy",
    "front_hypervolume",
    "train_linear",
    "train_balanced",
    "train_conditioned",
]


class MORLResult(NamedTuple):
    """Outcome of a MORL run.

    Attributes:
      params: trained policy parameters (stacked on a leading K axis for K policies).
      returns: ``[K, m]`` greedy returns (one row per policy or evaluation preference).
      prefs: ``[K, m]`` the preferences the rows belong to (``None`` for balanced runs).
      hv: hypervolume of the negated greedy returns w.r.t. ``env.hv_ref``.
      hv_true: hypervolume of the env's true front (same reference).
      history: ``[steps, m]`` mean training returns (averaged over policies / preferences).
    """

    params: PyTree
    returns: np.ndarray
    prefs: np.ndarray | None
    hv: float
    hv_true: float
    history: np.ndarray


def init_policy(
    key: Array, env: VectorEnv, *, hidden: tuple[int, ...] = (64, 64), conditioned: bool = False
) -> dict[str, Any]:
    """Initialise an MLP policy for ``env`` (a preference-conditioned one takes ``[obs, p]``).

    Discrete envs get logits over ``env.num_actions``; continuous envs a Gaussian mean
    (``tanh``-squashed by the env) and a learned state-independent ``log_std`` (init −0.5).

    Example:
      >>> import jax, paretojax as pj
      >>> p = pj.rl.init_policy(jax.random.key(0), pj.rl.two_goal(), hidden=(8,))
      >>> [w.shape for w, _ in p["layers"]], p["log_std"].shape
      ([(3, 8), (8, 2)], (2,))
    """
    in_dim = env.obs_dim + (env.num_objectives if conditioned else 0)
    out_dim = env.num_actions if env.num_actions is not None else env.action_dim
    sizes = (in_dim, *hidden, out_dim)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    last = len(sizes) - 2
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = jnp.sqrt(2.0 / a) if i != last else 0.01  # small last layer: near-uniform start
        layers.append((scale * jax.random.normal(k, (a, b), jnp.float32), jnp.zeros((b,))))
    params: dict[str, Any] = {"layers": layers}
    if env.num_actions is None:
        params["log_std"] = jnp.full((env.action_dim,), -0.5, jnp.float32)
    return params


def _forward(params: dict[str, Any], obs: Array, pref: Array | None) -> Array:
    h = obs if pref is None else jnp.concatenate([obs, pref.astype(obs.dtype)])
    layers = params["layers"]
    for w, b in layers[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = layers[-1]
    return h @ w + b


def _act(params, env: VectorEnv, obs, pref, key, greedy: bool):
    """Sample (or pick greedily) an action; return it with its log-probability and entropy."""
    out = _forward(params, obs, pref)
    if env.num_actions is not None:
        logp_all = jax.nn.log_softmax(out)
        a = jnp.argmax(out) if greedy else jax.random.categorical(key, out)
        ent = -jnp.sum(jnp.exp(logp_all) * logp_all)
        return a, logp_all[a], ent
    log_std = params["log_std"]
    eps = jax.random.normal(key, out.shape)
    a = out if greedy else out + jnp.exp(log_std) * jax.lax.stop_gradient(eps)
    a = jax.lax.stop_gradient(a)
    logp = jnp.sum(-0.5 * ((a - out) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi))
    ent = jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e))
    return a, logp, ent


def rollout(
    params: dict[str, Any],
    env: VectorEnv,
    key: Array,
    num_episodes: int,
    pref: Array | None = None,
    *,
    greedy: bool = False,
) -> tuple[Array, Array, Array]:
    """Run ``num_episodes`` episodes in parallel (``vmap`` of a ``lax.scan`` over the horizon).

    Returns ``(returns [E, m], log_prob [E], entropy [E])``; ``log_prob`` (the sum over the
    episode's live steps) is differentiable w.r.t. ``params``.

    Example:
      >>> import jax, paretojax as pj
      >>> env = pj.rl.deep_sea_treasure()
      >>> p = pj.rl.init_policy(jax.random.key(0), env, hidden=(16,))
      >>> R, logp, ent = pj.rl.rollout(p, env, jax.random.key(1), 8)
      >>> R.shape, logp.shape
      ((8, 2), (8,))
    """

    def episode(k: Array):
        k0, k1 = jax.random.split(k)
        s, obs = env.reset(k0)

        def body(carry, kt):
            s, obs, done = carry
            a, logp, ent = _act(params, env, obs, pref, kt, greedy)
            ns, nobs, r, ndone = env.step(s, a)
            live = 1.0 - done.astype(jnp.float32)
            return (ns, nobs, ndone), (r, logp * live, ent * live)

        done0 = jnp.bool_(False)
        _, (r, logp, ent) = jax.lax.scan(body, (s, obs, done0), jax.random.split(k1, env.horizon))
        return r.sum(0), logp.sum(0), ent.sum(0)

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def policy_objectives(
    params: dict[str, Any],
    env: VectorEnv,
    key: Array,
    *,
    num_episodes: int = 64,
    pref: Array | None = None,
    entropy: float = 0.0,
) -> tuple[Array, Array]:
    r"""Surrogate loss vector whose Jacobian is the per-objective policy gradient.

    Returns ``(surrogate [m], f [m])`` where ``f = −mean(R)/c`` are the estimated objective values
    (use it as ``aux`` with ``pj.value_and_jacobian(..., has_aux=True)``). An entropy bonus
    ``entropy · H`` is subtracted from every row (it keeps exploration alive in every objective).

    Example:
      >>> import jax, paretojax as pj
      >>> env = pj.rl.two_goal()
      >>> p = pj.rl.init_policy(jax.random.key(0), env, hidden=(8,))
      >>> vj = pj.value_and_jacobian(lambda q: pj.rl.policy_objectives(q, env, jax.random.key(1)),
      ...                            has_aux=True)
      >>> (surr, f), J = vj(p)
      >>> surr.shape, J["log_std"].shape
      ((2,), (2, 2))
    """
    R, logp, ent = rollout(params, env, key, num_episodes, pref)
    scale = jnp.asarray(env.reward_scale, jnp.float32)
    adv = jax.lax.stop_gradient((R - R.mean(0, keepdims=True)) / scale[None, :])
    surrogate = -jnp.mean(logp[:, None] * adv, axis=0) - entropy * jnp.mean(ent)
    f = jax.lax.stop_gradient(-R.mean(0) / scale)
    return surrogate, f


def evaluate_policy(
    params: dict[str, Any], env: VectorEnv, pref: Array | None = None
) -> Array:
    """Greedy return ``[m]`` of one policy (deterministic for both built-in envs).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> env = pj.rl.deep_sea_treasure()
      >>> p = pj.rl.init_policy(jax.random.key(0), env, hidden=(8,))
      >>> R = pj.rl.evaluate_policy(p, env)
      >>> R.shape, bool(jnp.array_equal(R, pj.rl.evaluate_policy(p, env)))  # deterministic
      ((2,), True)
    """
    R, _, _ = rollout(params, env, jax.random.key(0), 1, pref, greedy=True)
    return R[0]


def front_hypervolume(returns: Any, env: VectorEnv) -> float:
    """Hypervolume of negated returns ``[n, m]`` w.r.t. ``env.hv_ref`` (host, exact).

    Example:
      >>> import paretojax as pj
      >>> env = pj.rl.deep_sea_treasure()
      >>> round(pj.rl.front_hypervolume(env.pareto_front(0), env), 1)
      1155.0
    """
    y = -np.asarray(returns, np.float64)
    ref = -np.asarray(env.hv_ref, np.float64) if env.name == "two_goal" else np.asarray(
        [-env.hv_ref[0], env.hv_ref[1]], np.float64
    )
    return float(hypervolume_host(y, ref))


def _check_prefs(prefs: Any, m: int) -> Array:
    p = np.asarray(prefs, np.float64)
    if p.ndim != 2 or p.shape[1] != m or p.shape[0] < 1:
        raise ValueError(f"prefs must have shape [K, {m}] with K >= 1, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(np.abs(p.sum(1) - 1) > 1e-5):
        raise ValueError("prefs must be finite, non-negative rows summing to 1 (on the simplex)")
    return jnp.asarray(p, jnp.float32)


def _check_steps(steps: int, num_episodes: int) -> None:
    if steps < 1 or num_episodes < 2:
        raise ValueError(f"need steps >= 1 and num_episodes >= 2, got {steps}, {num_episodes}")


def _finish(env, params, returns, prefs, history) -> MORLResult:
    returns = np.asarray(returns, np.float64)
    return MORLResult(
        params=params,
        returns=returns,
        prefs=None if prefs is None else np.asarray(prefs),
        hv=front_hypervolume(returns, env),
        hv_true=front_hypervolume(env.pareto_front(1000), env),
        history=np.asarray(history),
    )


def _train_k_policies(env, prefs, init_fn, update_fn, *, steps, key, num_episodes, entropy,
                      hidden):
    """K policies (one per row of ``prefs``) trained in one ``jit``: ``lax.scan`` over steps,
    ``vmap`` over policies; ``update_fn(J, state, params, f, pref) -> (updates, state)``."""
    key = jax.random.key(0) if key is None else key
    k_init, k_run = jax.random.split(key)
    K = prefs.shape[0]
    params = jax.vmap(lambda k: init_policy(k, env, hidden=hidden))(jax.random.split(k_init, K))
    vj = value_and_jacobian(
        lambda p, k: policy_objectives(p, env, k, num_episodes=num_episodes, entropy=entropy),
        has_aux=True,
    )

    def one(p, s, k, pref):
        (_, f), J = vj(p, k)
        upd, s = update_fn(J, s, p, f, pref)
        return optax.apply_updates(p, upd), s, f

    @jax.jit
    def run(params, key):
        state = jax.vmap(init_fn)(params)

        def body(carry, k):
            p, s = carry
            p, s, f = jax.vmap(one)(p, s, jax.random.split(k, K), prefs)
            return (p, s), -f.mean(0) * jnp.asarray(env.reward_scale, jnp.float32)

        (params, _), hist = jax.lax.scan(body, (params, state), jax.random.split(key, steps))
        returns = jax.vmap(lambda p: evaluate_policy(p, env))(params)
        return params, returns, hist

    return run(params, k_run)


def train_linear(
    env: VectorEnv,
    prefs: Any,
    *,
    steps: int = 300,
    key: Array | None = None,
    lr: float = 1e-2,
    num_episodes: int = 64,
    entropy: float = 0.0,
    hidden: tuple[int, ...] = (64, 64),
) -> MORLResult:
    r"""K policies, one per preference row, each ascending :math:`\sum_i p_i E[R_i]/c_i`.

    Example:
      >>> import jax, paretojax as pj
      >>> env = pj.rl.two_goal()
      >>> res = pj.rl.train_linear(env, pj.linspace_prefs(3), steps=5, num_episodes=8,
      ...                          hidden=(8,), key=jax.random.key(0))
      >>> res.returns.shape
      (3, 2)
    """
    prefs = _check_prefs(prefs, env.num_objectives)
    _check_steps(steps, num_episodes)
    opt = optax.adam(lr)

    def update(J, s, p, f, pref):
        return opt.update(combine(pref, J), s, p)

    params, returns, hist = _train_k_policies(
        env, prefs, opt.init, update, steps=steps, key=key, num_episodes=num_episodes,
        entropy=entropy, hidden=hidden)
    return _finish(env, params, returns, prefs, hist)


def train_balanced(
    env: VectorEnv,
    method: optax.GradientTransformation,
    *,
    num_policies: int = 4,
    steps: int = 300,
    key: Array | None = None,
    lr: float = 1e-2,
    num_episodes: int = 64,
    entropy: float = 0.0,
    hidden: tuple[int, ...] = (64, 64),
) -> MORLResult:
    r"""K independently seeded policies stepped by ``optax.chain(method, optax.adam(lr))``.

    ``method`` is any paretojax transform (``pj.mgda()``, ``pj.upgrad()``, …); it receives the
    per-objective policy gradients (the Jacobian rows of :func:`policy_objectives`) and the
    estimated objective values as ``task_losses``. Each policy converges to some Pareto-stationary
    policy; their spread comes only from the seeds.

    Example:
      >>> import jax, paretojax as pj
      >>> res = pj.rl.train_balanced(pj.rl.two_goal(), pj.mgda(), num_policies=2, steps=5,
      ...                            num_episodes=8, hidden=(8,), key=jax.random.key(0))
      >>> res.returns.shape
      (2, 2)
    """
    _check_steps(steps, num_episodes)
    if num_policies < 1:
        raise ValueError(f"num_policies must be >= 1, got {num_policies}")
    tx = optax.chain(method, optax.adam(lr))

    def update(J, s, p, f, pref):
        return tx.update(J, s, p, task_losses=f)

    dummy = jnp.zeros((num_policies, env.num_objectives), jnp.float32)  # no preference
    params, returns, hist = _train_k_policies(
        env, dummy, tx.init, update, steps=steps, key=key, num_episodes=num_episodes,
        entropy=entropy, hidden=hidden)
    return _finish(env, params, returns, None, hist)


_SCALARIZATIONS = {"tch": tch_loss, "stch": stch_loss, "ls": ls_loss}


def train_conditioned(
    env: VectorEnv,
    *,
    scalarization: str = "tch",
    steps: int = 300,
    key: Array | None = None,
    lr: float = 1e-2,
    num_episodes: int = 64,
    prefs_per_step: int = 8,
    concentration: float = 1.0,
    entropy: float = 0.0,
    hidden: tuple[int, ...] = (64, 64),
    eval_prefs: Any = None,
    mu: float = 0.05,
) -> MORLResult:
    r"""One preference-conditioned policy :math:`\pi(a \mid s, p)` for the whole front.

    Each step samples ``prefs_per_step`` preferences ~ Dirichlet(concentration), estimates
    :math:`(f, J)` for each with :func:`policy_objectives` (``vmap``), weights the rows with
    :math:`w = \partial s(f; p)/\partial f` of the scalarization (``"tch"`` with the ideal point
    ``z = −ideal/c − 0.01``, ``"stch"`` with ``mu``, or ``"ls"``), and averages the combined
    updates. Evaluated greedily on ``eval_prefs`` (default 21 linspace preferences).

    Example:
      >>> import jax, paretojax as pj
      >>> res = pj.rl.train_conditioned(pj.rl.two_goal(), steps=5, num_episodes=8, hidden=(8,),
      ...                               prefs_per_step=2, eval_prefs=pj.linspace_prefs(3))
      >>> res.returns.shape
      (3, 2)
    """
    if scalarization not in _SCALARIZATIONS:
        raise ValueError(f"scalarization must be one of {sorted(_SCALARIZATIONS)}")
    _check_steps(steps, num_episodes)
    if prefs_per_step < 1 or concentration <= 0:
        raise ValueError("prefs_per_step must be >= 1 and concentration > 0")
    m = env.num_objectives
    if eval_prefs is None:
        eval_prefs = linspace_prefs(21) if m == 2 else sample_dirichlet(jax.random.key(1), m, 21)
    eval_prefs = _check_prefs(eval_prefs, m)
    key = jax.random.key(0) if key is None else key
    scale = jnp.asarray(env.reward_scale, jnp.float32)
    z = -jnp.asarray(env.ideal, jnp.float32) / scale - 0.01
    base = _SCALARIZATIONS[scalarization]
    kw = {"mu": mu} if scalarization == "stch" else {}

    def s_of(f, pref):
        return base(f, pref, z=z, **kw)

    opt = optax.adam(lr)
    k_init, k_run = jax.random.split(key)
    params = init_policy(k_init, env, hidden=hidden, conditioned=True)
    vj = value_and_jacobian(
        lambda p, k, pref: policy_objectives(
            p, env, k, num_episodes=num_episodes, pref=pref, entropy=entropy
        ),
        has_aux=True,
    )

    def direction(p, k, pref):
        (_, f), J = vj(p, k, pref)
        w = jax.grad(s_of)(f, pref)
        return combine(w, J), f

    @jax.jit
    def run(params, key):
        state = opt.init(params)

        def body(carry, k):
            p, s = carry
            kp, ke = jax.random.split(k)
            prefs = sample_dirichlet(kp, m, prefs_per_step, concentration)
            g, f = jax.vmap(direction, in_axes=(None, 0, 0))(
                p, jax.random.split(ke, prefs_per_step), prefs
            )
            g = jax.tree.map(lambda x: x.mean(0), g)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), -f.mean(0) * scale

        (params, _), hist = jax.lax.scan(body, (params, state), jax.random.split(key, steps))
        returns = jax.vmap(lambda q: evaluate_policy(params, env, q))(eval_prefs)
        return params, returns, hist

    params, returns, hist = run(params, k_run)
    return _finish(env, params, returns, eval_prefs, hist)
