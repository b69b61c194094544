r"""Multi-objective alignment of a tiny autoregressive model (Panacea, GenARM, PARM).

A character-level GRU is pre-trained in-process on synthetic Markov-chain text; scripted rewards
that compete for positions define m conflicting objectives; preference pairs are sampled from
the base model. Panacea fine-tunes SVD-LoRA adapters with per-objective DPO losses; GenARM guides
decoding with m autoregressive reward models; PARM with one preference-aware (PBLoRA) ARM.

Example (see ``notebooks/alignment.ipynb`` for the whole pipeline):
  >>> import jax.numpy as jnp, paretojax as pj
  >>> pj.alignment.scripted_rewards(jnp.array([[1, 3, 3, 6]])).tolist()   # helpful, harmless
  [[0.25, 0.5]]
"""

from paretojax.alignment._lm import (
    DEFAULT_TOKEN_SETS as DEFAULT_TOKEN_SETS,
    CharLM as CharLM,
    generate as generate,
    markov_corpus as markov_corpus,
    scripted_rewards as scripted_rewards,
    sequence_logprob as sequence_logprob,
)
from paretojax.alignment._train import (
    AlignmentFront as AlignmentFront,
    PreferencePairs as PreferencePairs,
    arm_losses as arm_losses,
    dpo_losses as dpo_losses,
    evaluate_front as evaluate_front,
    panacea_finetune as panacea_finetune,
    preference_pairs as preference_pairs,
    pretrain_lm as pretrain_lm,
    train_genarm as train_genarm,
    train_parm as train_parm,
)

__all__ = [
    "DEFAULT_TOKEN_SETS",
    "AlignmentFront",
    "CharLM",
    "PreferencePairs",
    "arm_losses",
    "dpo_losses",
    "evaluate_front",
    "generate",
    "markov_corpus",
    "panacea_finetune",
    "preference_pairs",
    "pretrain_lm",
    "scripted_rewards",
    "sequence_logprob",
    "train_genarm",
    "train_parm",
]
