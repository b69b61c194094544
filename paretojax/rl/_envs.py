r"""Vector-reward environments written in JAX (pure, ``vmap``-able over copies).

An environment is a :class:`VectorEnv`: pure ``reset(key) -> (state, obs)`` and
``step(state, action) -> (state, obs, reward[m], done)`` functions plus its known Pareto front
(maximisation convention: larger rewards are better). Episodes have a fixed horizon; once
``done`` the state is frozen and rewards are zero, so a rollout is a plain ``lax.scan`` and many
copies run under ``jax.vmap``.

* :func:`deep_sea_treasure` — Vamplew, Dazeley, Berry, Issabekov, Dekker, "Empirical evaluation
  methods for multiobjective reinforcement learning algorithms", Machine Learning 84, 2011.
  Rewards (treasure, −1 per step); ten Pareto-optimal treasures, a non-convex front.
* :func:`two_goal` — a continuous-control toy with a concave front: a point mass moves in the
  plane for ``horizon`` steps and is rewarded at the end by two Gaussian bumps,
  :math:`r_i = \exp(-\lVert x_T - g_i\rVert^2 / 2\sigma^2)`. The Pareto set is the segment
  :math:`[g_1, g_2]`; with :math:`\lVert g_1-g_2\rVert = 2` and :math:`\sigma = 0.6` the front
  bulges towards the origin, so linear scalarization only ever finds its two ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = ["VectorEnv", "deep_sea_treasure", "two_goal", "DST_TREASURES"]


class VectorEnv(NamedTuple):
    """A vector-reward environment (pure functions; maximisation convention).

    Attributes:
      name: identifier.
      num_objectives: m.
      obs_dim: observation size (a flat float vector).
      num_actions: number of discrete actions, or ``None`` for continuous actions.
      action_dim: continuous action size (``None`` for discrete).
      horizon: fixed episode length T (the rollout always runs T steps).
      reset: ``key -> (state, obs)``.
      step: ``(state, action) -> (state, obs, reward [m], done)``.
      pareto_front: ``n -> [n', m]`` points of the true front (discrete envs ignore ``n``).
      hv_ref: reference point for the hypervolume of *negated* returns (minimisation).
      reward_scale: ``[m]`` divisors that bring each return to O(1) for training.
      ideal: ``[m]`` the best attainable return of each objective (utopia for TCH).
    """

    name: str
    num_objectives: int
    obs_dim: int
    num_actions: int | None
    action_dim: int | None
    horizon: int
    reset: Callable[[Array], tuple[Any, Array]]
    step: Callable[[Any, Array], tuple[Any, Array, Array, Array]]
    pareto_front: Callable[[int], np.ndarray]
    hv_ref: np.ndarray
    reward_scale: np.ndarray
    ideal: np.ndarray


# --- Deep Sea Treasure ------------------------------------------------------------------------

#: (row, col, value) of the ten treasures of Vamplew et al. (2011): min steps = row + col.
DST_TREASURES = (
    (1, 0, 1.0), (2, 1, 2.0), (3, 2, 3.0), (4, 3, 5.0), (4, 4, 8.0),
    (4, 5, 16.0), (7, 6, 24.0), (7, 7, 50.0), (9, 8, 74.0), (10, 9, 124.0),
)  # fmt: skip
_DST_ROWS, _DST_COLS = 11, 10


def _dst_map() -> tuple[np.ndarray, np.ndarray]:
    """Treasure values and a seabed mask (cells below each treasure are rock)."""
    treasure = np.zeros((_DST_ROWS, _DST_COLS), np.float32)
    rock = np.zeros((_DST_ROWS, _DST_COLS), bool)
    for r, c, v in DST_TREASURES:
        treasure[r, c] = v
        rock[r + 1 :, c] = True
    return treasure, rock


class DSTState(NamedTuple):
    """Deep Sea Treasure state: submarine position and whether the episode ended."""

    row: Array
    col: Array
    done: Array


def deep_sea_treasure(horizon: int = 25) -> VectorEnv:
    r"""Deep Sea Treasure (Vamplew et al., 2011): rewards (treasure value, −1 per step).

    The submarine starts at the top-left cell; actions 0..3 move up, down, left, right (moves
    into rock or off the grid leave it in place); reaching a treasure ends the episode. The true
    Pareto front is the ten points ``(v, −(row + col))`` of :data:`DST_TREASURES`, which is not
    convex: linear scalarization can only reach its convex-hull vertices.

    Example:
      >>> import jax, paretojax as pj
      >>> env = pj.rl.deep_sea_treasure()
      >>> s, obs = env.reset(jax.random.key(0))
      >>> s, obs, r, done = env.step(s, 1)                  # down: the first treasure
      >>> r.tolist(), bool(done)
      ([1.0, -1.0], True)
    """
    if horizon < 19:
        raise ValueError(f"horizon must be >= 19 (the farthest treasure), got {horizon}")
    treasure_np, rock_np = _dst_map()
    treasure, rock = jnp.asarray(treasure_np), jnp.asarray(rock_np)
    moves = jnp.asarray([[-1, 0], [1, 0], [0, -1], [0, 1]], jnp.int32)
    n_cells = _DST_ROWS * _DST_COLS

    def obs_of(s: DSTState) -> Array:
        return jax.nn.one_hot(s.row * _DST_COLS + s.col, n_cells, dtype=jnp.float32)

    def reset(key: Array) -> tuple[DSTState, Array]:
        del key  # deterministic start
        s = DSTState(jnp.int32(0), jnp.int32(0), jnp.bool_(False))
        return s, obs_of(s)

    def step(s: DSTState, action: Array) -> tuple[DSTState, Array, Array, Array]:
        mv = moves[jnp.asarray(action, jnp.int32)]
        r = jnp.clip(s.row + mv[0], 0, _DST_ROWS - 1)
        c = jnp.clip(s.col + mv[1], 0, _DST_COLS - 1)
        blocked = rock[r, c]
        r = jnp.where(blocked | s.done, s.row, r)
        c = jnp.where(blocked | s.done, s.col, c)
        value = jnp.where(s.done, 0.0, treasure[r, c])
        reward = jnp.stack([value, jnp.where(s.done, 0.0, -1.0)])
        done = s.done | (value > 0)
        ns = DSTState(r, c, done)
        return ns, obs_of(ns), reward, done

    def front(n: int = 10) -> np.ndarray:
        del n
        return np.asarray([[v, -(r + c)] for r, c, v in DST_TREASURES], np.float64)

    return VectorEnv(
        name="deep_sea_treasure",
        num_objectives=2,
        obs_dim=n_cells,
        num_actions=4,
        action_dim=None,
        horizon=horizon,
        reset=reset,
        step=step,
        pareto_front=front,
        hv_ref=np.asarray([0.0, float(horizon)]),
        reward_scale=np.asarray([124.0, float(horizon)]),
        ideal=np.asarray([124.0, -1.0]),
    )


# --- Two-goal point mass ----------------------------------------------------------------------


class TwoGoalState(NamedTuple):
    """Two-goal state: position and step counter."""

    pos: Array
    t: Array


def two_goal(horizon: int = 4, sigma: float = 0.6, max_step: float = 0.75) -> VectorEnv:
    r"""Two-goal point mass with a concave front (continuous actions).

    The agent starts at the origin; each step moves it by ``max_step · tanh(a)``, ``a ∈ R²``.
    After ``horizon`` steps it receives :math:`r_i = \exp(-\lVert x_T-g_i\rVert^2/2\sigma^2)`
    with :math:`g_1 = (-1, 1)`, :math:`g_2 = (1, 1)`. Observation: ``(x, t/T)``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> env = pj.rl.two_goal()
      >>> s, obs = env.reset(jax.random.key(0))
      >>> obs.shape, env.pareto_front(5).shape
      ((3,), (5, 2))
    """
    if horizon < 1 or sigma <= 0 or max_step <= 0:
        raise ValueError("two_goal needs horizon >= 1, sigma > 0 and max_step > 0")
    goals = jnp.asarray([[-1.0, 1.0], [1.0, 1.0]], jnp.float32)

    def obs_of(s: TwoGoalState) -> Array:
        return jnp.concatenate([s.pos, (s.t / horizon)[None]]).astype(jnp.float32)

    def reset(key: Array) -> tuple[TwoGoalState, Array]:
        del key
        s = TwoGoalState(jnp.zeros((2,), jnp.float32), jnp.float32(0.0))
        return s, obs_of(s)

    def rewards_at(pos: Array) -> Array:
        d2 = jnp.sum((pos[None, :] - goals) ** 2, axis=-1)
        return jnp.exp(-d2 / (2.0 * sigma**2))

    def step(s: TwoGoalState, action: Array) -> tuple[TwoGoalState, Array, Array, Array]:
        active = s.t < horizon
        pos = jnp.where(active, s.pos + max_step * jnp.tanh(action), s.pos)
        t = s.t + 1.0
        last = active & (t >= horizon)
        reward = jnp.where(last, rewards_at(pos), jnp.zeros((2,), jnp.float32))
        ns = TwoGoalState(pos, t)
        return ns, obs_of(ns), reward, t >= horizon

    def front(n: int = 100) -> np.ndarray:
        lam = np.linspace(0.0, 1.0, n)[:, None]
        g = np.asarray(goals, np.float64)
        x = (1 - lam) * g[0] + lam * g[1]
        d2 = ((x[:, None, :] - g[None]) ** 2).sum(-1)
        return np.exp(-d2 / (2.0 * sigma**2))

    reach = horizon * max_step
    if reach < np.sqrt(2.0):
        raise ValueError(f"horizon * max_step = {reach:.2f} cannot reach the goals (needs ≥ 1.42)")
    return VectorEnv(
        name="two_goal",
        num_objectives=2,
        obs_dim=3,
        num_actions=None,
        action_dim=2,
        horizon=horizon,
        reset=reset,
        step=step,
        pareto_front=front,
        hv_ref=np.asarray([0.0, 0.0]),
        reward_scale=np.asarray([1.0, 1.0]),
        ideal=np.asarray([1.0, 1.0]),
    )
