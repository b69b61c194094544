r"""Multi-objective alignment of the tiny LM: Panacea fine-tuning, GenARM and PARM guidance.

Pipeline (all in-process, CPU-sized):

1. :func:`pretrain_lm` — maximum likelihood on :func:`~paretojax.alignment.markov_corpus`.
2. :func:`preference_pairs` — pairs ``(a, b)`` sampled from the base model and, per objective
   i, the label :math:`s_i = \mathrm{sign}(r_i(a) - r_i(b))` from the scripted rewards (ties
   carry no signal and are masked).
3. Three ways to serve any preference p ∈ Δ^{m−1}:

   * **Panacea** (Zhong et al., NeurIPS 2024): SVD-LoRA adapters with p in the singular values,
     trained with the DPO loss of each objective (Rafailov et al., NeurIPS 2023)

     .. math:: \ell_i(\theta; p) = -E\,\log\sigma\big(\beta s_i[(\log\pi_\theta(a;p)-\log\pi_0(a))
               - (\log\pi_\theta(b;p)-\log\pi_0(b))]\big)

     scalarised as :math:`\sum_i p_i\ell_i` over p ~ Dirichlet (vmapped window);
   * **GenARM** (Xu et al., ICLR 2025): m autoregressive reward models (ARMs) with
     :math:`r(y) = \sum_t\log\pi_\text{ARM}(y_t\mid y_{<t})`, each trained on its objective's
     pairs with :math:`-\log\sigma(\beta_r s_i(r(a)-r(b)))`, combined by p at decoding time
     (m extra model steps per token);
   * **PARM** (Lin et al., ICML 2025): one preference-aware ARM with PBLoRA adapters trained with
     :math:`\sum_i p_i\ell_i^{\text{ARM}}` over p ~ Dirichlet(0.5), one extra step per token.

Training loops are ``lax.scan`` over steps inside one ``jit``; preferences are ``vmap`` axes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from paretojax.alignment._lm import (
    DEFAULT_TOKEN_SETS,
    CharLM,
    generate,
    markov_corpus,
    scripted_rewards,
    sequence_logprob,
)
from paretojax.core.simplex import sample_dirichlet
from paretojax.manifold._adapters import AdapterParam, PanaceaDense, PBLoRADense
from paretojax.metrics import hypervolume_host

Array = jax.Array

__all__ = [
    "PreferencePairs",
    "AlignmentFront",
    "pretrain_lm",
    "preference_pairs",
    "dpo_losses",
    "arm_losses",
    "panacea_finetune",
    "train_genarm",
    "train_parm",
    "evaluate_front",
]


class PreferencePairs(NamedTuple):
    """Pairs ``a, b [N, T]`` with per-objective labels ``sign [N, m]`` ∈ {−1, 0, +1}."""

    a: Array
    b: Array
    sign: Array


class AlignmentFront(NamedTuple):
    """Mean scripted rewards ``[K, m]`` of samples for each preference row ``prefs [K, m]``,
    their hypervolume (reference: the origin of reward space) and the decoding time per batch."""

    prefs: np.ndarray
    rewards: np.ndarray
    hv: float
    seconds_per_batch: float


def _fit(model: nnx.Module, wrt: Any, loss_fn, steps: int, lr: float, key: Array) -> nnx.Module:
    """Adam on the ``wrt`` part of ``model`` for ``loss_fn(model, key)``, one compiled scan."""
    graphdef, params, rest = nnx.split(model, wrt, ...)
    opt = optax.adam(lr)

    def loss(p, k):
        return loss_fn(nnx.merge(graphdef, p, rest), k)

    @jax.jit
    def run(params, key):
        def body(carry, k):
            p, s = carry
            val, g = jax.value_and_grad(loss)(p, k)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), val

        (params, _), hist = jax.lax.scan(body, (params, opt.init(params)),
                                         jax.random.split(key, steps))
        return params, hist

    params, _ = run(params, key)
    return nnx.merge(graphdef, params, rest)


def pretrain_lm(key: Array, *, steps: int = 300, batch: int = 128, length: int = 12,
                vocab: int = 8, hidden: int = 64, lr: float = 1e-2) -> CharLM:
    """Train :class:`CharLM` by maximum likelihood on fresh Markov-chain text every step.

    Example:
      >>> import jax, paretojax as pj
      >>> lm = pj.alignment.pretrain_lm(jax.random.key(0), steps=2, batch=8, hidden=16)
      >>> lm.hidden
      16
    """
    k_init, k_run = jax.random.split(key)
    model = CharLM(vocab, hidden=hidden, rngs=nnx.Rngs(int(jax.random.randint(k_init, (), 0, 2**30))))

    def nll(m, k):
        x = markov_corpus(k, batch, length, vocab)
        return -sequence_logprob(m, x).mean() / length

    return _fit(model, nnx.Param, nll, steps, lr, k_run)


def preference_pairs(key: Array, base: CharLM, num: int, length: int = 12,
                     token_sets: Sequence[Sequence[int]] = DEFAULT_TOKEN_SETS[:2]
                     ) -> PreferencePairs:
    """Sample ``num`` pairs from ``base`` and label them with the scripted rewards.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> pairs = pj.alignment.preference_pairs(jax.random.key(1), lm, 8, length=6)
      >>> (pairs.a.shape, pairs.sign.shape)  # [N, T] and [N, m]
      ((8, 6), (8, 2))
      >>> set(pairs.sign.ravel().tolist()) <= {-1.0, 0.0, 1.0}
      True
    """
    ka, kb = jax.random.split(key)
    a = generate(ka, base, num, length)
    b = generate(kb, base, num, length)
    sign = jnp.sign(scripted_rewards(a, token_sets) - scripted_rewards(b, token_sets))
    return PreferencePairs(a, b, sign)


def _masked_logsigmoid_mean(margin: Array, sign: Array) -> Array:
    """``−mean log σ(margin)`` over pairs with a label, per objective (``[N, m] -> [m]``)."""
    mask = (sign != 0).astype(margin.dtype)
    return -(jax.nn.log_sigmoid(margin) * mask).sum(0) / jnp.maximum(mask.sum(0), 1.0)


def dpo_losses(model: CharLM, pairs: PreferencePairs, ref_a: Array, ref_b: Array,
               beta: float = 0.5, pref: Array | None = None) -> Array:
    r"""DPO loss of every objective ``[m]`` (ref log-probs ``ref_a, ref_b [N]`` precomputed).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> a, b = jnp.array([[1, 2, 3], [4, 5, 6]]), jnp.array([[2, 2, 1], [6, 6, 4]])
      >>> pairs = pj.alignment.PreferencePairs(a, b, sign=jnp.array([[1., -1.], [1., 0.]]))
      >>> logprob = pj.alignment.sequence_logprob
      >>> ra, rb = logprob(lm, pairs.a), logprob(lm, pairs.b)  # the reference = the policy
      >>> [round(float(v), 4) for v in pj.alignment.dpo_losses(lm, pairs, ra, rb)]  # log 2
      [0.6931, 0.6931]
    """
    da = sequence_logprob(model, pairs.a, pref) - ref_a
    db = sequence_logprob(model, pairs.b, pref) - ref_b
    return _masked_logsigmoid_mean(beta * pairs.sign * (da - db)[:, None], pairs.sign)


def arm_losses(arm: CharLM, pairs: PreferencePairs, beta: float = 0.5,
               pref: Array | None = None) -> Array:
    r"""ARM loss of every objective ``[m]``: :math:`-E\log\sigma(\beta s_i(r(a) - r(b)))`.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> a, b = jnp.array([[1, 2, 3], [4, 5, 6]]), jnp.array([[2, 2, 1], [6, 6, 4]])
      >>> pairs = pj.alignment.PreferencePairs(a, b, sign=jnp.array([[1., -1.], [1., 0.]]))
      >>> tie = pairs._replace(b=pairs.a)  # r(a) − r(b) = 0
      >>> [round(float(v), 4) for v in pj.alignment.arm_losses(lm, tie)]  # −log σ(0) = log 2
      [0.6931, 0.6931]
    """
    ra = sequence_logprob(arm, pairs.a, pref)
    rb = sequence_logprob(arm, pairs.b, pref)
    return _masked_logsigmoid_mean(beta * pairs.sign * (ra - rb)[:, None], pairs.sign)


def _clone(model: nnx.Module) -> nnx.Module:
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree.map(jnp.array, state))


def _wrap(model: CharLM, kind: str, m: int, rank: int, seed: int) -> CharLM:
    """A copy of ``model`` whose ``proj``/``out`` layers carry preference adapters."""
    new = _clone(model)
    rngs = nnx.Rngs(seed)
    if kind == "panacea":
        new.proj = PanaceaDense(new.proj, rank, m, rngs=rngs)
        new.out = PanaceaDense(new.out, rank, m, rngs=rngs)
    else:
        new.proj = PBLoRADense(new.proj, m, r1=rank, r2=rank, rngs=rngs)
        new.out = PBLoRADense(new.out, m, r1=rank, r2=rank, rngs=rngs)
    return new


def panacea_finetune(key: Array, base: CharLM, pairs: PreferencePairs, *, steps: int = 300,
                     lr: float = 1e-2, beta: float = 0.5, rank: int = 4,
                     prefs_per_step: int = 4, concentration: float = 1.0) -> CharLM:
    """Panacea: SVD-LoRA adapters on a copy of ``base``, DPO losses scalarised by p (LS).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> a, b = jnp.array([[1, 2, 3], [4, 5, 6]]), jnp.array([[2, 2, 1], [6, 6, 4]])
      >>> pairs = pj.alignment.PreferencePairs(a, b, sign=jnp.array([[1., -1.], [1., 0.]]))
      >>> pol = pj.alignment.panacea_finetune(jax.random.key(2), lm, pairs, steps=2, rank=2)
      >>> type(pol.proj).__name__
      'PanaceaDense'
      >>> pol(jnp.ones((1, 3), jnp.int32), jnp.array([0.3, 0.7])).shape
      (1, 3, 8)
    """
    m = pairs.sign.shape[1]
    ref_a, ref_b = sequence_logprob(base, pairs.a), sequence_logprob(base, pairs.b)
    model = _wrap(base, "panacea", m, rank, 0)

    def loss(mdl, k):
        prefs = sample_dirichlet(k, m, prefs_per_step, concentration)
        per = jax.vmap(lambda p: p @ dpo_losses(mdl, pairs, ref_a, ref_b, beta, p))(prefs)
        return per.mean()

    return _fit(model, AdapterParam, loss, steps, lr, key)


def train_genarm(key: Array, base: CharLM, pairs: PreferencePairs, *, steps: int = 300,
                 lr: float = 1e-2, beta: float = 0.5) -> list[CharLM]:
    """GenARM: m ARMs initialised from ``base``, ARM i trained on objective i's labels.

    The m trainings are one ``vmap`` over stacked copies (objective index as the batch axis).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> a, b = jnp.array([[1, 2, 3], [4, 5, 6]]), jnp.array([[2, 2, 1], [6, 6, 4]])
      >>> pairs = pj.alignment.PreferencePairs(a, b, sign=jnp.array([[1., -1.], [1., 0.]]))
      >>> arms = pj.alignment.train_genarm(jax.random.key(2), lm, pairs, steps=2)
      >>> (len(arms), type(arms[0]).__name__)  # one ARM per objective
      (2, 'CharLM')
    """
    m = pairs.sign.shape[1]
    graphdef, state = nnx.split(_clone(base))
    opt = optax.adam(lr)

    def loss(st, i, k):
        del k
        return arm_losses(nnx.merge(graphdef, st), pairs, beta)[i]

    @jax.jit
    def run(state, key):
        def one(i, key):
            def body(carry, k):
                p, s = carry
                g = jax.grad(loss)(p, i, k)
                upd, s = opt.update(g, s, p)
                return (optax.apply_updates(p, upd), s), None

            (p, _), _ = jax.lax.scan(body, (state, opt.init(state)), jax.random.split(key, steps))
            return p

        return jax.vmap(one)(jnp.arange(m), jax.random.split(key, m))

    stacked = run(state, key)
    return [nnx.merge(graphdef, jax.tree.map(lambda x, j=j: x[j], stacked)) for j in range(m)]


def train_parm(key: Array, base: CharLM, pairs: PreferencePairs, *, steps: int = 300,
               lr: float = 1e-2, beta: float = 0.5, rank: int = 4, prefs_per_step: int = 4,
               concentration: float = 0.5) -> CharLM:
    """PARM: one preference-aware ARM (PBLoRA adapters on a copy of ``base``), Σ p_i ℓ_i.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> a, b = jnp.array([[1, 2, 3], [4, 5, 6]]), jnp.array([[2, 2, 1], [6, 6, 4]])
      >>> pairs = pj.alignment.PreferencePairs(a, b, sign=jnp.array([[1., -1.], [1., 0.]]))
      >>> arm = pj.alignment.train_parm(jax.random.key(2), lm, pairs, steps=2, rank=2)
      >>> type(arm.out).__name__
      'PBLoRADense'
    """
    m = pairs.sign.shape[1]
    model = _wrap(base, "pblora", m, rank, 0)

    def loss(mdl, k):
        prefs = sample_dirichlet(k, m, prefs_per_step, concentration)
        return jax.vmap(lambda p: p @ arm_losses(mdl, pairs, beta, p))(prefs).mean()

    return _fit(model, AdapterParam, loss, steps, lr, key)


def evaluate_front(key: Array, base: CharLM, prefs: Any, *, mode: str = "base",
                   policy: CharLM | None = None, arms: Sequence[CharLM] = (),
                   guidance: float = 2.0, num: int = 256, length: int = 12,
                   token_sets: Sequence[Sequence[int]] = DEFAULT_TOKEN_SETS[:2]
                   ) -> AlignmentFront:
    """Mean rewards of ``num`` samples per preference for one serving mode.

    ``mode``: ``"base"`` (the frozen model, the same for every p), ``"panacea"`` (``policy``
    with adapters), ``"genarm"`` (``base`` guided by the m ``arms`` weighted by p), ``"parm"``
    (``base`` guided by one preference-aware ARM ``arms[0]``). Preferences are a ``vmap`` axis.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> prefs = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> front = pj.alignment.evaluate_front(jax.random.key(1), lm, prefs, num=8, length=6)
      >>> (front.rewards.shape, front.hv >= 0)
      ((2, 2), True)
    """
    prefs = jnp.asarray(prefs, jnp.float32)
    if prefs.ndim != 2 or not bool(jnp.all(jnp.abs(prefs.sum(1) - 1) < 1e-5)) or bool(
        jnp.any(prefs < 0)
    ):
        raise ValueError("prefs must be [K, m] rows on the simplex")
    if mode == "base":
        sample = lambda p, k: generate(k, base, num, length)  # noqa: E731
    elif mode == "panacea":
        if policy is None:
            raise ValueError("mode='panacea' needs policy=")
        sample = lambda p, k: generate(k, policy, num, length, base_pref=p)  # noqa: E731
    elif mode == "genarm":
        if len(arms) != prefs.shape[1]:
            raise ValueError(f"mode='genarm' needs one ARM per objective ({prefs.shape[1]})")
        sample = lambda p, k: generate(  # noqa: E731
            k, base, num, length, arms=arms, arm_weights=p, guidance=guidance)
    elif mode == "parm":
        if len(arms) != 1:
            raise ValueError("mode='parm' needs exactly one preference-aware ARM")
        sample = lambda p, k: generate(  # noqa: E731
            k, base, num, length, arms=arms, arm_pref=p, guidance=guidance)
    else:
        raise ValueError(f"unknown mode {mode!r}")

    fn = jax.jit(jax.vmap(lambda p, k: scripted_rewards(sample(p, k), token_sets).mean(0)))
    keys = jax.random.split(key, prefs.shape[0])
    jax.block_until_ready(fn(prefs, keys))  # compile
    t = time.perf_counter()
    rewards = np.asarray(jax.block_until_ready(fn(prefs, keys)), np.float64)
    dt = (time.perf_counter() - t) / prefs.shape[0]
    hv = hypervolume_host(-rewards, np.zeros(rewards.shape[1]))
    return AlignmentFront(np.asarray(prefs), rewards, hv, dt)
