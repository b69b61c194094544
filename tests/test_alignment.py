"""Multi-objective alignment of the tiny LM: rewards, DPO/ARM losses, Panacea, GenARM, PARM."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import paretojax as pj
from paretojax import alignment as al

L = 10


@pytest.fixture(scope="module")
def setup():
    base = al.pretrain_lm(jax.random.key(0), steps=150, batch=64, length=L, hidden=32)
    pairs = al.preference_pairs(jax.random.key(1), base, 256, L)
    return base, pairs


def test_scripted_rewards_and_corpus():
    y = jnp.array([[1, 2, 3, 4, 5, 6], [3, 3, 3, 3, 3, 3]])
    np.testing.assert_allclose(al.scripted_rewards(y), [[2 / 6, 2 / 6], [0.0, 1.0]])
    np.testing.assert_allclose(al.scripted_rewards(y, al.DEFAULT_TOKEN_SETS)[:, 2], [1 / 6, 0.0])
    x = al.markov_corpus(jax.random.key(0), 500, 6)
    assert x.shape == (500, 6) and int(x.min()) >= 1 and int(x.max()) <= 7
    # the same chain every call: bigram statistics of two independent draws agree
    x2 = al.markov_corpus(jax.random.key(1), 500, 6)
    h1 = np.bincount(np.asarray(x[:, 1:] * 8 + x[:, :-1]).ravel(), minlength=64) / x[:, 1:].size
    h2 = np.bincount(np.asarray(x2[:, 1:] * 8 + x2[:, :-1]).ravel(), minlength=64) / x[:, 1:].size
    assert np.abs(h1 - h2).max() < 0.03
    with pytest.raises(ValueError, match="token_sets"):
        al.scripted_rewards(y, [()])


def test_pretrained_lm_learns_the_chain(setup):
    base, _ = setup
    x = al.markov_corpus(jax.random.key(9), 256, L)
    nll = -float(al.sequence_logprob(base, x).mean()) / L
    assert nll < np.log(7) - 0.25  # clearly better than uniform over the 7 symbols
    s = al.generate(jax.random.key(3), base, 64, L)
    assert s.shape == (64, L) and int(s.min()) >= 1  # BOS never emitted


def test_dpo_loss_at_reference_and_its_gradient(setup):
    base, pairs = setup
    ra, rb = al.sequence_logprob(base, pairs.a), al.sequence_logprob(base, pairs.b)
    loss = al.dpo_losses(base, pairs, ra, rb, beta=0.5)
    np.testing.assert_allclose(loss, np.log(2.0) * np.ones(2), rtol=1e-6)  # policy == reference
    # one gradient step on objective 0 raises the winners' relative log-probability
    graphdef, params, rest = nnx.split(base, nnx.Param, ...)
    f = lambda p: al.dpo_losses(nnx.merge(graphdef, p, rest), pairs, ra, rb)[0]  # noqa: E731
    g = jax.grad(f)(params)
    stepped = jax.tree.map(lambda p, d: p - 0.05 * d, params, g)
    assert float(f(stepped)) < float(f(params))


def test_panacea_preference_moves_rewards_monotonically(setup):
    base, pairs = setup
    pol = al.panacea_finetune(jax.random.key(3), base, pairs, steps=150)
    prefs = jnp.array([[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    front = al.evaluate_front(jax.random.key(2), base, prefs, mode="panacea", policy=pol,
                              length=L)
    r = front.rewards
    assert np.all(np.diff(r[:, 0]) <= 0.03) and r[0, 0] > r[-1, 0] + 0.2
    assert np.all(np.diff(r[:, 1]) >= -0.03) and r[-1, 1] > r[0, 1] + 0.2
    base_front = al.evaluate_front(jax.random.key(2), base, prefs, length=L)
    assert front.hv > base_front.hv + 0.05


def test_parm_front_at_least_as_good_as_genarm_with_one_arm(setup):
    base, pairs = setup
    prefs = pj.linspace_prefs(5)
    arms = al.train_genarm(jax.random.key(4), base, pairs, steps=120)
    # equal ARM-training budget: GenARM trains m = 2 ARMs for 120 steps, PARM one for 240
    parm = al.train_parm(jax.random.key(5), base, pairs, steps=240, lr=3e-2, rank=8)
    g = al.evaluate_front(jax.random.key(2), base, prefs, mode="genarm", arms=arms, length=L)
    p = al.evaluate_front(jax.random.key(2), base, prefs, mode="parm", arms=[parm], length=L)
    b = al.evaluate_front(jax.random.key(2), base, prefs, length=L)
    assert len(arms) == 2  # GenARM: m reward models; PARM: one
    assert p.hv >= g.hv - 0.03 and p.hv > b.hv + 0.05
    # a one-hot preference pushes its objective above the base model's level
    for i in range(2):
        row = int(np.argmax(np.asarray(prefs)[:, i]))
        assert p.rewards[row, i] > b.rewards[row, i] + 0.2


def test_bad_input(setup):
    base, pairs = setup
    with pytest.raises(ValueError, match="simplex"):
        al.evaluate_front(jax.random.key(0), base, jnp.array([[0.9, 0.9]]))
    with pytest.raises(ValueError, match="one ARM per objective"):
        al.evaluate_front(jax.random.key(0), base, pj.linspace_prefs(2), mode="genarm", arms=[base])
    with pytest.raises(ValueError, match="unknown mode"):
        al.evaluate_front(jax.random.key(0), base, pj.linspace_prefs(2), mode="ppo")
    with pytest.raises(ValueError, match="arm_weights"):
        al.generate(jax.random.key(0), base, 2, arms=[base], arm_weights=jnp.ones(3))
