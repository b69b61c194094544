r"""A tiny character-level GRU language model, synthetic text and scripted conflicting rewards.

Everything is generated in-process: the "pre-training corpus" is drawn from a fixed random
Markov chain over ``vocab − 1`` symbols (token 0 is BOS), and each objective rewards the fraction
of positions that hold one of its tokens (:func:`scripted_rewards`). Because every position can
serve only one objective, the objectives conflict and the attainable mean rewards form a simplex-
shaped front — the toy analogue of "helpful vs harmless vs brief".

:class:`CharLM` exposes two dense layers (``proj`` and ``out``) that can be wrapped by the
preference adapters of :mod:`paretojax.manifold` (Panacea SVD-LoRA, PBLoRA); its ``pref``
argument is passed to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.manifold._adapters import PanaceaDense, PBLoRADense

Array = jax.Array

__all__ = [
    "CharLM",
    "markov_corpus",
    "scripted_rewards",
    "DEFAULT_TOKEN_SETS",
    "sequence_logprob",
    "generate",
]

#: objective i rewards tokens in set i: "helpful" {1, 2}, "harmless" {3, 4}, "brief" {5}.
DEFAULT_TOKEN_SETS: tuple[tuple[int, ...], ...] = ((1, 2), (3, 4), (5,))


def markov_corpus(key: Array, num: int, length: int = 12, vocab: int = 8,
                  concentration: float = 1.0) -> Array:
    """``[num, length]`` sequences from a random Markov chain over tokens ``1..vocab−1``.

    The chain (initial distribution and transition rows ~ Dirichlet(concentration)) is fixed by
    the NumPy seed 1234, so every call samples the same "language"; ``key`` draws the text.

    Example:
      >>> import jax, paretojax as pj
      >>> x = pj.alignment.markov_corpus(jax.random.key(0), 4)
      >>> x.shape, int(x.min()) >= 1
      ((4, 12), True)
    """
    if num < 1 or length < 2 or vocab < 3:
        raise ValueError("markov_corpus needs num >= 1, length >= 2 and vocab >= 3")
    s = vocab - 1
    # the "language" is fixed (host-side, once): only the text drawn from it depends on ``key``
    rng = np.random.default_rng(1234)
    start = jnp.asarray(rng.dirichlet(np.full(s, concentration)), jnp.float32)
    trans = jnp.asarray(rng.dirichlet(np.full(s, concentration), size=s), jnp.float32)

    def one(k):
        ks = jax.random.split(k, length)
        first = jax.random.categorical(ks[0], jnp.log(start))

        def body(tok, kt):
            nxt = jax.random.categorical(kt, jnp.log(trans[tok]))
            return nxt, nxt

        _, rest = jax.lax.scan(body, first, ks[1:])
        return jnp.concatenate([first[None], rest]) + 1

    return jax.vmap(one)(jax.random.split(key, num)).astype(jnp.int32)


def scripted_rewards(seqs: Array, token_sets: Sequence[Sequence[int]] = DEFAULT_TOKEN_SETS[:2]
                     ) -> Array:
    r"""Rewards ``[..., m]``: :math:`r_i(y) = \frac1T\sum_t [y_t \in S_i]` for token sets ``S_i``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.alignment.scripted_rewards(jnp.array([1, 2, 3, 6])).tolist()
      [0.5, 0.25]
    """
    sets = [tuple(int(t) for t in s) for s in token_sets]
    if len(sets) < 1 or any(len(s) == 0 for s in sets):
        raise ValueError("token_sets must be a non-empty list of non-empty token tuples")
    seqs = jnp.asarray(seqs)
    return jnp.stack([jnp.isin(seqs, jnp.asarray(s)).mean(-1) for s in sets], axis=-1)


def _dense(layer: Any, x: Array, pref: Array | None) -> Array:
    if isinstance(layer, (PanaceaDense, PBLoRADense)):
        if pref is None:
            raise ValueError("this model has preference adapters: pass pref=")
        return layer(x, pref)
    return layer(x)


class CharLM(nnx.Module):
    r"""Character-level GRU LM: embed → GRU → ``proj`` (dense, ReLU) → ``out`` (logits).

    ``proj`` and ``out`` are :class:`flax.nnx.Linear` layers; replace them by
    :class:`paretojax.manifold.PanaceaDense` / :class:`~paretojax.manifold.PBLoRADense` to make
    the model preference-conditioned (then pass ``pref`` to every call).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, rngs=nnx.Rngs(0))
      >>> lm(jnp.ones((2, 5), jnp.int32)).shape               # next-token logits per position
      (2, 5, 8)
    """

    def __init__(self, vocab: int = 8, embed: int = 16, hidden: int = 64, *, rngs: nnx.Rngs):
        self.vocab, self.hidden = vocab, hidden
        self.embed = nnx.Embed(vocab, embed, rngs=rngs)
        self.cell = nnx.GRUCell(embed, hidden, rngs=rngs)
        self.proj = nnx.Linear(hidden, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, vocab, rngs=rngs)

    def head(self, h: Array, pref: Array | None = None) -> Array:
        return _dense(self.out, jax.nn.relu(_dense(self.proj, h, pref)), pref)

    def step(self, carry: Array, token: Array, pref: Array | None = None) -> tuple[Array, Array]:
        """One decoding step: ``(carry [B, H], token [B]) -> (carry, logits [B, V])``."""
        carry, h = self.cell(carry, self.embed(token))
        return carry, self.head(h, pref)

    def __call__(self, tokens: Array, pref: Array | None = None) -> Array:
        """Logits ``[B, T, V]`` for predicting ``tokens[:, t]`` from ``BOS, tokens[:, :t]``."""
        b = tokens.shape[0]
        inp = jnp.concatenate([jnp.zeros((b, 1), tokens.dtype), tokens[:, :-1]], axis=1)
        x = self.embed(inp)

        def body(carry, xt):
            carry, h = self.cell(carry, xt)
            return carry, h

        _, hs = jax.lax.scan(body, jnp.zeros((b, self.hidden)), jnp.swapaxes(x, 0, 1))
        return self.head(jnp.swapaxes(hs, 0, 1), pref)


def sequence_logprob(model: CharLM, tokens: Array, pref: Array | None = None) -> Array:
    r""":math:`\log\pi(y) = \sum_t \log\pi(y_t\mid y_{<t})` for each row of ``tokens [B, T]``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> tok = jnp.array([[3, 5]])
      >>> logp = jax.nn.log_softmax(lm(tok), axis=-1)[0]  # [T, V]
      >>> bool(jnp.allclose(pj.alignment.sequence_logprob(lm, tok), logp[0, 3] + logp[1, 5]))
      True
    """
    logp = jax.nn.log_softmax(model(tokens, pref), axis=-1)
    return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0].sum(-1)


def generate(
    key: Array,
    base: CharLM,
    num: int,
    length: int = 12,
    *,
    arms: Sequence[CharLM] = (),
    arm_weights: Array | None = None,
    arm_pref: Array | None = None,
    guidance: float = 1.0,
    base_pref: Array | None = None,
) -> Array:
    r"""Sample ``[num, length]`` tokens (never BOS), optionally guided by reward models.

    .. math:: \log\tilde\pi(y_t\mid y_{<t}) = \log\pi_\text{base}(y_t\mid y_{<t})
              + g\sum_j w_j \log\pi_{\text{ARM}_j}(y_t\mid y_{<t}; p)

    GenARM (Xu et al., ICLR 2025) passes m ARMs and ``arm_weights = p``; PARM (Lin et al.,
    ICML 2025) passes one preference-aware ARM with ``arm_pref = p`` and ``arm_weights = [1]``.
    ``g = 1/β`` is the guidance strength. Each ARM costs one extra model step per token.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> lm = pj.alignment.CharLM(8, hidden=16, rngs=nnx.Rngs(0))
      >>> toks = pj.alignment.generate(jax.random.key(1), lm, 4, length=6)
      >>> (toks.shape, bool(jnp.all(toks > 0)))  # token 0 (BOS) is never sampled
      ((4, 6), True)
    """
    k = len(arms)
    w = jnp.ones((k,)) if arm_weights is None else jnp.asarray(arm_weights)
    if w.shape != (k,):
        raise ValueError(f"arm_weights must have shape ({k},), got {w.shape}")
    carry0 = jnp.zeros((num, base.hidden))
    if k:
        # the k ARMs share one graph: stack their states once and vmap the decoding step
        graphdef, _ = nnx.split(arms[0])
        states = jax.tree.map(lambda *xs: jnp.stack(xs), *[nnx.state(a) for a in arms])
        arm_carry0 = jnp.zeros((k, num, arms[0].hidden))

        def arm_step(st, c, tok):
            return nnx.merge(graphdef, st).step(c, tok, arm_pref)
    else:
        states, arm_carry0 = None, jnp.zeros((0,))

    def body(state, kt):
        tok, cb, ca = state
        cb, logits = base.step(cb, tok, base_pref)
        score = jax.nn.log_softmax(logits, axis=-1)
        if k:
            ca, la = jax.vmap(arm_step, in_axes=(0, 0, None))(states, ca, tok)
            score = score + guidance * jnp.einsum("k,kbv->bv", w, jax.nn.log_softmax(la, -1))
        score = score.at[:, 0].set(-jnp.inf)  # never emit BOS
        nxt = jax.random.categorical(kt, score, axis=-1).astype(jnp.int32)
        return (nxt, cb, ca), nxt

    tok0 = jnp.zeros((num,), jnp.int32)
    _, toks = jax.lax.scan(body, (tok0, carry0, arm_carry0), jax.random.split(key, length))
    return jnp.swapaxes(toks, 0, 1)
