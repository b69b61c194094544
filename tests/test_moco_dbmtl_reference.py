"""MoCo and DB-MTL against trajectories produced by the LibMTL reference code itself.

The golden numbers below were produced by running LibMTL's ``weighting/MoCo.py`` (commit
8b8f1d03) and ``weighting/DB_MTL.py`` (commit 7b0f56a7) of github.com/median-research-group/LibMTL
unmodified, with LibMTL 1.1.5's ``AbsWeighting``, torch 2.13.0 CPU, ``torch.set_default_dtype
(torch.float64)``: one shared parameter ``θ ∈ R^4`` (``rep_grad=False``), three tasks
``L_i(θ) = ½‖A_i θ − b_i‖² + c_i`` with the ``A, b, c, θ₀`` below, and five steps of
``weighting.backward(losses, **kw)`` followed by ``torch.optim.SGD(lr=0.05).step()`` (the LibMTL
trainer's order). ``θ`` after each step (and MoCo's returned ``λ``) were printed with
``tolist()``. The installed LibMTL 1.1.5 wheel does not ship these two methods, hence hard-coded.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paretojax.balancing._db_mtl import db_mtl
from paretojax.weighting._moco import moco

A = np.array([
    [[0.0, 0.3, -0.27, -0.89], [-0.45, -0.99, 0.06, 1.34], [-0.49, -0.62, 0.49, 0.36],
     [0.11, -0.93, -0.03, 0.7]],
    [[-1.34, -0.46, -1.9, -1.29], [-1.84, -0.24, -1.27, 0.27], [0.16, -0.19, -2.52, -0.54],
     [-0.05, 0.11, -1.53, -0.48]],
    [[-0.98, -0.81, 1.06, -0.81], [-0.03, 0.88, -0.58, -0.11], [0.11, 0.06, -1.23, 0.08],
     [1.36, -1.55, 0.86, 0.12]],
])
B = np.array([[-0.64, 2.0, 0.76, -1.2], [0.07, 0.58, -0.19, 0.68], [-0.07, 0.67, 1.44, -0.68]])
C = np.array([0.1, 0.2, 0.3])
THETA0 = np.array([0.2, -0.46, 0.13, -1.19])

MOCO_CASES = [
    (
        dict(beta=0.5, beta_sigma=0.5, gamma=0.1, gamma_sigma=0.5, rho=0.0),  # LibMTL defaults
        [[0.17529194045816898, -0.4544613171696482, 0.11560301035050202, -1.1338123216748683],
         [0.14355724416581872, -0.44588120314360047, 0.09737285234240652, -1.061109028206093],
         [0.10916432345493816, -0.4364114361492211, 0.07814029308509193, -0.9810799736176149],
         [0.07397760780587939, -0.42698354378169306, 0.0588587260574819, -0.897739338555523],
         [0.03893740711737751, -0.4180307114131661, 0.039962651581715566, -0.8132849480946324]],
        [[0.2606936590773226, 0.3632660636597805, 0.37604027726289685],
         [0.2498421690021611, 0.3783981910340106, 0.3717596399638283],
         [0.24898453598699344, 0.38338162021577576, 0.36763384379723074],
         [0.2518897033642101, 0.3833802562785471, 0.3647300403572427],
         [0.2564277744724694, 0.38121283514239945, 0.36235939038513115]],
    ),
    (
        dict(beta=0.3, beta_sigma=0.2, gamma=0.5, gamma_sigma=0.1, rho=0.1),
        [[0.18633821370694828, -0.4525080360753642, 0.11923353669826786, -1.1599220870940323],
         [0.16604314687647453, -0.4394891488785404, 0.10693522541603526, -1.1154154299056889],
         [0.14321467399407664, -0.4197034423502931, 0.0938416711322143, -1.0655208793758146],
         [0.11838230541051094, -0.3999178811328651, 0.08455369476703935, -1.0094872706086402],
         [0.09430827870991072, -0.37311740776102276, 0.07097095287671806, -0.9549101588229486]],
        [[0.2104929405061649, 0.38247881334277956, 0.40702824615105554],
         [0.17053811264882282, 0.4639804252904569, 0.3654814620607202],
         [0.1294254870276496, 0.5177155785666372, 0.35285893440571325],
         [0.12534972897446636, 0.5542753958823032, 0.3203748751432304],
         [0.09882198186264411, 0.5561039298398445, 0.34507408829751124]],
    ),
]

DB_MTL_CASES = [
    (
        dict(beta=0.9, sigma=0.0),  # LibMTL defaults DB_beta, DB_beta_sigma
        [[0.1938821184113601, -0.4578701014781696, 0.12968806669183242, -1.1766257604197796],
         [0.18224773318272905, -0.45380676110593193, 0.1290739293166683, -1.1511686919218045],
         [0.16562925929599298, -0.44797075552035304, 0.12814556032539254, -1.114748400304763],
         [0.1444990732163175, -0.44049010212984774, 0.12687062468305818, -1.0683317551240203],
         [0.11927815255932972, -0.43146155309059264, 0.12519646157580272, -1.0127487603982337]],
    ),
    (
        dict(beta=0.8, sigma=0.5),
        [[0.18776423630788092, -0.4557402029910431, 0.12937613347196691, -1.1632515196641937],
         [0.1541821020250502, -0.44393477506591705, 0.12747914706336022, -1.0896327962737429],
         [0.10536055364426844, -0.4262986583775346, 0.12398631368510102, -0.9817506776855573],
         [0.04836070165458439, -0.40460945739874593, 0.11834596562995568, -0.8537732274160345],
         [-0.012224704844208616, -0.3794943136685624, 0.10977333985332828, -0.7138223729069326]],
    ),
]


def _losses(theta: jax.Array) -> jax.Array:
    r = jnp.einsum("ijk,k->ij", jnp.asarray(A), theta) - jnp.asarray(B)
    return 0.5 * jnp.sum(r**2, axis=1) + jnp.asarray(C)


def _trajectory(tx: optax.GradientTransformationExtraArgs, steps: int = 5):
    """``steps`` SGD(0.05) steps on the method's update; θ and the method state after each."""
    tx = optax.with_extra_args_support(optax.chain(tx, optax.sgd(0.05)))
    theta = jnp.asarray(THETA0)
    state = tx.init(theta)

    @jax.jit
    def step(th, st):
        losses, jac = _losses(th), jax.jacrev(_losses)(th)
        u, st = tx.update(jac, st, th, task_losses=losses)
        return optax.apply_updates(th, u), st

    thetas, states = [], []
    for _ in range(steps):
        theta, state = step(theta, state)
        thetas.append(np.asarray(theta))
        states.append(state)
    return np.stack(thetas), states


@pytest.mark.parametrize("kw, theta_ref, lam_ref", MOCO_CASES)
def test_moco_trajectory_matches_libmtl(x64, kw, theta_ref, lam_ref):
    thetas, states = _trajectory(moco(num_tasks=3, **kw))
    np.testing.assert_allclose(thetas, theta_ref, rtol=1e-12, atol=1e-14)
    lams = np.stack([np.asarray(s[0].inner.weights) for s in states])
    assert lams.dtype == np.float64  # λ is not rounded to float32 under x64
    np.testing.assert_allclose(lams, lam_ref, rtol=1e-12)


@pytest.mark.parametrize("kw, theta_ref", DB_MTL_CASES)
def test_db_mtl_trajectory_matches_libmtl(x64, kw, theta_ref):
    thetas, _ = _trajectory(db_mtl(num_tasks=3, **kw))
    np.testing.assert_allclose(thetas, theta_ref, rtol=1e-12, atol=1e-14)


def test_moco_float32_trajectory_close_to_libmtl():
    """Default precision: the same trajectory to float32 accuracy."""
    kw, theta_ref, lam_ref = MOCO_CASES[0]
    thetas, states = _trajectory(moco(num_tasks=3, **kw))
    np.testing.assert_allclose(thetas, theta_ref, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(states[-1][0].inner.weights), lam_ref[-1], rtol=1e-5)
