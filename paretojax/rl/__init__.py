r"""Multi-objective reinforcement learning: vector-reward JAX environments and policy gradients.

Environments (:func:`deep_sea_treasure`, :func:`two_goal`) are pure and ``vmap``-able; the
trainers turn per-objective REINFORCE gradients into updates with paretojax's rules — linear
scalarization per preference, any gradient-balancing transform, or one preference-conditioned
policy trained with a Tchebycheff scalarization.

Example (the trainers' own docstrings and ``notebooks/rl.ipynb`` train policies):
  >>> import paretojax as pj
  >>> env = pj.rl.two_goal()
  >>> env.num_objectives, env.pareto_front(3).round(3).tolist()
  (2, [[1.0, 0.004], [0.249, 0.249], [0.004, 1.0]])
"""

from paretojax.rl._envs import (
    DST_TREASURES as DST_TREASURES,
    VectorEnv as VectorEnv,
    deep_sea_treasure as deep_sea_treasure,
    two_goal as two_goal,
)
from paretojax.rl._reinforce import (
    MORLResult as MORLResult,
    evaluate_policy as evaluate_policy,
    front_hypervolume as front_hypervolume,
    init_policy as init_policy,
    policy_objectives as policy_objectives,
    rollout as rollout,
    train_balanced as train_balanced,
    train_conditioned as train_conditioned,
    train_linear as train_linear,
)

__all__ = [
    "DST_TREASURES",
    "MORLResult",
    "VectorEnv",
    "deep_sea_treasure",
    "evaluate_policy",
    "front_hypervolume",
    "init_policy",
    "policy_objectives",
    "rollout",
    "train_balanced",
    "train_conditioned",
    "train_linear",
    "two_goal",
]
