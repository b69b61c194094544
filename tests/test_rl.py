"""Multi-objective RL: environments, the per-objective policy gradient, and the three trainers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import paretojax as pj
from paretojax import rl
from paretojax.rl._reinforce import _forward


def test_dst_dynamics_and_front():
    env = rl.deep_sea_treasure()
    s, _ = env.reset(jax.random.key(0))
    # right along the surface 9 times, then down to the 124 treasure: (124, -19)
    total = jnp.zeros(2)
    for a in [3] * 9 + [1] * 10:
        s, _, r, done = env.step(s, a)
        total = total + r
    assert total.tolist() == [124.0, -19.0] and bool(done)
    s, _, r, done = env.step(s, 1)  # frozen after the end
    assert r.tolist() == [0.0, 0.0] and bool(done)
    # rock below the first treasure blocks the move: left edge column 0, row 2 is rock
    s, _ = env.reset(jax.random.key(0))
    s, _, _, _ = env.step(s, 3)  # (0, 1)
    s, _, _, _ = env.step(s, 1)  # (1, 1)
    s, _, _, _ = env.step(s, 2)  # into (1, 0): the first treasure
    assert (int(s.row), int(s.col)) == (1, 0) and bool(s.done)
    front = env.pareto_front(0)
    assert front.shape == (10, 2)
    nd = np.asarray(pj.nondominated(jnp.asarray(-front)))
    assert nd.all()  # all ten treasures are Pareto optimal
    with pytest.raises(ValueError, match="horizon"):
        rl.deep_sea_treasure(horizon=5)


def test_two_goal_front_is_concave_and_exact():
    env = rl.two_goal()
    f = env.pareto_front(101)
    # linear scalarization prefers the ends for every preference: the middle is below the chord
    mid = f[50]
    assert mid.sum() < 0.5 * (f[0].sum() + f[-1].sum()) - 0.4
    # greedy policy reaching a goal earns reward 1 there
    s, _ = env.reset(jax.random.key(0))
    for _ in range(env.horizon):
        s, _, r, done = env.step(s, jnp.arctanh(jnp.array([-1.0, 1.0]) / env.horizon / 0.75))
    assert bool(done) and abs(float(r[0]) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="reach"):
        rl.two_goal(horizon=1)


def test_vmap_over_env_copies():
    env = rl.deep_sea_treasure()
    s, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 5))
    s, obs, r, d = jax.vmap(env.step)(s, jnp.array([0, 1, 2, 3, 1]))
    assert obs.shape == (5, env.obs_dim) and r.shape == (5, 2)
    assert d.tolist() == [False, True, False, False, True]


def test_score_function_gradient_matches_reparameterised_gradient():
    # both estimate ∇E[R_i]; the score-function Jacobian row i must agree with the pathwise one
    env = rl.two_goal(horizon=2, max_step=1.0)
    params = rl.init_policy(jax.random.key(0), env, hidden=(8,))
    params["layers"][-1] = (
        0.3 * jax.random.normal(jax.random.key(3), params["layers"][-1][0].shape),
        jnp.array([-0.4, 0.6]),
    )
    E = 40000
    (_, _), J = pj.value_and_jacobian(
        lambda p: rl.policy_objectives(p, env, jax.random.key(1), num_episodes=E), has_aux=True
    )(params)

    def pathwise(p):
        def ep(k):
            s, obs = env.reset(k)
            eps = jax.random.normal(k, (env.horizon, 2))
            tot = jnp.zeros(2)
            for t in range(env.horizon):
                a = _forward(p, obs, None) + jnp.exp(p["log_std"]) * eps[t]
                s, obs, r, _ = env.step(s, a)
                tot = tot + r
            return tot

        return -jax.vmap(ep)(jax.random.split(jax.random.key(2), E)).mean(0)

    Jp = jax.jacrev(pathwise)(params)
    a, b = np.asarray(J["layers"][-1][1]), np.asarray(Jp["layers"][-1][1])  # output bias rows
    assert np.abs(b).max() > 0.02  # a real signal
    np.testing.assert_allclose(a, b, atol=0.15 * np.abs(b).max())


def test_conditioned_tch_beats_linear_on_concave_front():
    env = rl.two_goal()
    prefs = pj.linspace_prefs(6)
    key = jax.random.key(0)
    lin = rl.train_linear(env, prefs, steps=120, key=key, hidden=(16,), num_episodes=24)
    cond = rl.train_conditioned(env, steps=120, key=key, hidden=(16,), num_episodes=24,
                                eval_prefs=prefs)
    # linear scalarization only reaches the two ends (HV ≈ 0.008); TCH covers the middle
    assert lin.hv < 0.02
    assert cond.hv > 0.06 and cond.hv > 4 * lin.hv
    assert cond.hv <= cond.hv_true + 1e-9
    # moving the preference towards an objective raises that objective's return (within noise)
    r = cond.returns[:, 0] if prefs[0, 0] > prefs[-1, 0] else cond.returns[::-1, 0]
    assert np.all(np.diff(r) <= 0.05)
    assert r[0] > r[-1] + 0.5


def test_balanced_policies_improve_both_objectives():
    env = rl.two_goal()
    res = rl.train_balanced(env, pj.upgrad(), num_policies=3, steps=60, key=jax.random.key(0),
                            hidden=(16,), num_episodes=24)
    assert res.returns.shape == (3, 2) and res.history.shape == (60, 2)
    # a common ascent direction: the mean training return of BOTH objectives rises
    assert np.all(res.history[-5:].mean(0) > res.history[:5].mean(0) + 0.1)


def test_bad_input():
    env = rl.two_goal()
    with pytest.raises(ValueError, match="simplex"):
        rl.train_linear(env, jnp.array([[0.7, 0.7]]), steps=1)
    with pytest.raises(ValueError, match=r"\[K, 2\]"):
        rl.train_linear(env, jnp.array([0.5, 0.5]), steps=1)
    with pytest.raises(ValueError, match="scalarization"):
        rl.train_conditioned(env, scalarization="pbi", steps=1)
    with pytest.raises(ValueError, match="steps"):
        rl.train_balanced(env, pj.mgda(), steps=0)
